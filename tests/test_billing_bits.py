"""The bitmap helpers of billing.bits, run on DuckDB against plain Python: the balanced OR
(union), the days whose POS codes disagree (disagreeing_days) and each day's POS in the
lanes (day_pos_lanes)."""

from __future__ import annotations

import functools
import operator

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from bhpolicy.billing.bits import (
    LANE_BITS,
    LANE_DAYS,
    LANES,
    day_pos_lanes,
    disagreeing_days,
    union,
)

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(INT64, max_size=40))
def test_union_is_the_or_of_every_term(values: list[int]) -> None:
    con = ibis.duckdb.connect()
    t = ibis.memtable({"x": [0]})
    got = con.execute(t.select(u=union([ibis.literal(v, "int64") for v in values])))["u"][0]
    assert int(got) == functools.reduce(operator.or_, values, 0)


def _lanes(codes: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """A day's (OR, AND) of its POS codes packed into the lanes the first pass writes."""
    ors, ands = [0] * LANES, [-1] * LANES
    for d0, (low, high) in enumerate(codes):
        shift = (d0 % LANE_DAYS) * LANE_BITS
        ors[d0 // LANE_DAYS] |= (low | high) << shift
        ands[d0 // LANE_DAYS] &= ~(((2**LANE_BITS - 1) & ~(low & high)) << shift)
    return ors, ands


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), min_size=31, max_size=31),
       st.integers(0, 2**31 - 1))
def test_disagreeing_days_are_the_days_whose_codes_differ(
        codes: list[tuple[int, int]], pos_bits: int) -> None:
    ors, ands = _lanes(codes)
    row = {"pos_bits": [pos_bits], **{f"pos_or{j}": [ors[j]] for j in range(LANES)},
           **{f"pos_and{j}": [ands[j]] for j in range(LANES)}}
    t = ibis.memtable(row, schema={name: "int64" for name in row})
    got = int(ibis.duckdb.connect().execute(t.select(d=disagreeing_days(t)))["d"][0])
    expected = sum(1 << d0 for d0, (low, high) in enumerate(codes) if low != high)
    assert got == expected & pos_bits


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
                min_size=31, max_size=31))
def test_day_pos_lanes_take_the_longest_contacts_pos_where_codes_differ(
        days: list[tuple[int, int, int]]) -> None:
    ors, ands = _lanes([(low, high) for low, high, _ in days])
    fixes, expected = [0] * LANES, [0] * LANES
    for d0, (low, high, longest) in enumerate(days):
        shift = (d0 % LANE_DAYS) * LANE_BITS
        fixes[d0 // LANE_DAYS] |= longest << shift
        expected[d0 // LANE_DAYS] |= (longest if low != high else low) << shift
    row = {**{f"pos_or{j}": [ors[j]] for j in range(LANES)},
           **{f"pos_and{j}": [ands[j]] for j in range(LANES)},
           **{f"fix{j}": [fixes[j]] for j in range(LANES)}}
    t = ibis.memtable(row, schema={name: "int64" for name in row})
    got = ibis.duckdb.connect().execute(t.select(**day_pos_lanes(t)))
    assert [int(got[f"pos{j}"][0]) for j in range(LANES)] == expected
