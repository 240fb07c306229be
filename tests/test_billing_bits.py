"""The bitmap helpers of billing.bits, run on DuckDB against plain Python: the balanced OR
(bit_union), the days whose POS codes disagree (disagreeing_days) and each day's POS in the
lanes (day_pos_lanes)."""

from __future__ import annotations

import functools
import operator

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhpolicy.billing.bits import (
    LANE_BITS,
    LANE_DAYS,
    LANES,
    bit_union,
    day_pos_lanes,
    disagreeing_days,
)

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FIELD = 2**LANE_BITS - 1
MONTH_DAYS = 31


def _one_row(values: list[int]) -> int:
    t = ibis.memtable({"x": [0]})
    got = ibis.duckdb.connect().execute(
        t.select(u=bit_union([ibis.literal(v, "int64") for v in values])))["u"][0]
    return int(got)


@pytest.mark.parametrize("n", range(41))
def test_bit_union_keeps_every_one_of_n_distinct_bits(n: int) -> None:
    assert _one_row([1 << i for i in range(n)]) == (1 << n) - 1


@settings(max_examples=40, deadline=None)
@given(st.lists(INT64, max_size=40))
def test_bit_union_is_the_or_of_every_term(values: list[int]) -> None:
    assert _one_row(values) == functools.reduce(operator.or_, values, 0)


# A day: no contact (None), or the lowest and highest POS code of its contacts, equal about
# half the time (the codes agree).
DAY = st.one_of(st.none(), st.integers(0, 99).flatmap(
    lambda low: st.tuples(st.just(low), st.one_of(st.just(low), st.integers(0, 99)))))
MONTH = st.lists(DAY, min_size=MONTH_DAYS, max_size=MONTH_DAYS)


def _lanes(days: list[tuple[int, int] | None]) -> tuple[list[int | None], list[int | None]]:
    """The month's POS OR and AND lanes as month_facts writes them: bit_or of code << shift
    and bit_and of (code << shift) | every other bit, over a day's contacts; a lane without
    a contact is null (no row to aggregate)."""
    ors: list[int | None] = [None] * LANES
    ands: list[int | None] = [None] * LANES
    for d0, day in enumerate(days):
        if day is None:
            continue
        low, high = day
        j, shift = d0 // LANE_DAYS, (d0 % LANE_DAYS) * LANE_BITS
        others = ~(FIELD << shift)
        ors[j] = (ors[j] or 0) | (low << shift) | (high << shift)
        lane_and = -1 if ands[j] is None else ands[j]
        ands[j] = lane_and & ((low << shift) | others) & ((high << shift) | others)
    return ors, ands


def _table(columns: dict[str, list[int | None]]) -> ibis.Table:
    return ibis.memtable(columns, schema={name: "int64" for name in columns})


@settings(max_examples=40, deadline=None)
@given(MONTH, st.integers(0, 2**MONTH_DAYS - 1))
def test_disagreeing_days_are_the_days_whose_codes_differ(
        days: list[tuple[int, int] | None], pos_bits: int) -> None:
    ors, ands = _lanes(days)
    t = _table({"pos_bits": [pos_bits], **{f"pos_or{j}": [ors[j]] for j in range(LANES)},
                **{f"pos_and{j}": [ands[j]] for j in range(LANES)}})
    got = int(ibis.duckdb.connect().execute(t.select(d=disagreeing_days(t)))["d"][0])
    # a day without a contact never has a POS bit; with one, the bit is pos_bits' own
    expected = sum(1 << d0 for d0, day in enumerate(days) if day is None or day[0] != day[1])
    assert got == expected & pos_bits


@settings(max_examples=40, deadline=None)
@given(MONTH, st.lists(st.integers(0, 99), min_size=MONTH_DAYS, max_size=MONTH_DAYS))
def test_day_pos_lanes_take_the_longest_contacts_pos_where_codes_differ(
        days: list[tuple[int, int] | None], longest: list[int]) -> None:
    ors, ands = _lanes(days)
    fixes, expected = [0] * LANES, [0] * LANES
    for d0, day in enumerate(days):
        shift = (d0 % LANE_DAYS) * LANE_BITS
        fixes[d0 // LANE_DAYS] |= longest[d0] << shift
        agreed = day is not None and day[0] == day[1]
        expected[d0 // LANE_DAYS] |= (day[0] if day is not None and agreed
                                      else longest[d0]) << shift
    t = _table({**{f"pos_or{j}": [ors[j]] for j in range(LANES)},
                **{f"pos_and{j}": [ands[j]] for j in range(LANES)},
                **{f"fix{j}": [fixes[j]] for j in range(LANES)}})
    got = ibis.duckdb.connect().execute(t.select(**day_pos_lanes(t)))
    assert [int(got[f"pos{j}"][0]) for j in range(LANES)] == expected
