"""The encoding of days the billing engine uses: bitmaps of a month's days (bit n-1 for day
n), the POS of each day in lanes, and the engine's spelling of a few operations on DuckDB
and Spark. Encoding constants only: no policy number, no rule.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from bhpolicy.engines import current_dialect

# Day bitmaps: bit n-1 of an int64 is day n of the month. The POS of each day is kept in
# lanes: 4 int64 values of 9 days x 7 bits (a two-digit POS needs 7). Encoding constants, not
# policy numbers.
LANES, LANE_DAYS, LANE_BITS = 4, 9, 7

NO_BITS = ibis.literal(0, "int64")


@ibis.udf.scalar.builtin(name="bigint")  # type: ignore[untyped-decorator]
def _spark_bigint(value: int) -> int:  # type: ignore[empty-body]
    """Spark's cast to BIGINT as a function: Ibis prints an int64 literal as a bare number,
    which Spark types INT, and a shift of an INT wraps at 32 bits."""


def int64(value: int) -> ir.IntegerValue:
    """``value`` as an int64 the engine shifts as one (see :func:`_spark_bigint`)."""
    if current_dialect() == "spark":
        return _spark_bigint(ibis.literal(value, "int64"))
    return ibis.literal(value, "int64")


def one() -> ir.IntegerValue:
    return int64(1)


@ibis.udf.agg.builtin(name="bit_or")  # type: ignore[untyped-decorator]
def _spark_bit_or(value: int) -> int:  # type: ignore[empty-body]
    """The bitwise OR aggregate (DuckDB and Spark both have it; Ibis has no Spark rule)."""


@ibis.udf.agg.builtin(name="bit_and")  # type: ignore[untyped-decorator]
def _spark_bit_and(value: int) -> int:  # type: ignore[empty-body]
    """The bitwise AND aggregate, as :func:`spark_bit_or`."""


def bit_or(value: ir.IntegerValue, where: ir.BooleanValue | None = None
            ) -> ir.IntegerScalar:
    """``value.bit_or(where=...)``; on Spark the builtin of the same name."""
    if current_dialect() == "spark":
        return _spark_bit_or(value, where=where)
    return value.bit_or(where=where)


def bit_and(value: ir.IntegerValue, where: ir.BooleanValue | None = None
             ) -> ir.IntegerScalar:
    if current_dialect() == "spark":
        return _spark_bit_and(value, where=where)
    return value.bit_and(where=where)


def day_index(date: ir.DateValue) -> ir.IntegerValue:
    return date.day().cast("int64") - 1


def month_of(date: ir.DateValue) -> ir.DateValue:
    """The first day of the date's month, as a date (DuckDB's date_trunc gives a timestamp,
    which would change how the month is written in line ids)."""
    return plus_days(date, (1 - date.day()).cast("int32"))


def not_bits(bits: ir.IntegerValue) -> ir.IntegerValue:
    """Bitwise NOT (as XOR: Ibis prints ``~(a << b)`` without the parentheses)."""
    return bits ^ ibis.literal(-1, "int64")


def has(bits: ir.IntegerValue, bit: ir.IntegerValue) -> ir.BooleanValue:
    return (bits.fill_null(0) & bit) != 0


@ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
def bit_count(value: int) -> int:  # type: ignore[empty-body]
    """Set bits of an integer (DuckDB and Spark both have bit_count)."""


def count(bits: ir.IntegerValue) -> ir.IntegerValue:
    return bit_count(bits).cast("int64")


def bit_union(terms: list[ir.IntegerValue]) -> ir.IntegerValue:
    """The bitwise OR of ``terms`` as a balanced tree (the same bits as OR-ing them one
    after the other). A database sets up each expression of a statement every time it runs
    it, at a cost that grows with the tree's depth as well as its size: a chain of 31 ORs is
    31 deep, the balanced tree 5 (the one-member billing plan runs thousands of such
    nodes on a handful of rows)."""
    if not terms:
        return NO_BITS
    while len(terms) > 1:
        terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def lane_slot(row: ir.Table, prefix: str, d0: ir.IntegerValue) -> ir.IntegerValue:
    """The 7-bit field of day index ``d0`` in the lanes ``<prefix>0..3``."""
    lane = ibis.cases(*[(d0 // LANE_DAYS == j, row[f"{prefix}{j}"]) for j in range(LANES)])
    return (lane >> ((d0 % LANE_DAYS) * LANE_BITS)) & (2**LANE_BITS - 1)


def disagreeing_days(row: ir.Table) -> ir.IntegerValue:
    """Bitmap of days whose qualifying contacts have more than one POS (OR != AND): the
    longest contact decides there, so those days are looked up in the contacts."""
    days: list[ir.IntegerValue] = []
    for j in range(LANES):
        diff = row[f"pos_or{j}"].fill_null(0) ^ row[f"pos_and{j}"].fill_null(-1)
        for k in range(LANE_DAYS):
            slot = (diff >> (k * LANE_BITS)) & (2**LANE_BITS - 1)
            days.append(ibis.ifelse(slot != 0, ibis.literal(1 << (j * LANE_DAYS + k), "int64"),
                                    NO_BITS))
    return bit_union(days) & row.pos_bits.fill_null(0)


def day_pos_lanes(row: ir.Table) -> dict[str, ir.IntegerValue]:
    """``pos<j>``: each day's POS in lanes. Where the day's POS codes agree (OR == AND) the
    lanes of the first pass, where they do not the longest contact's (``fix<j>``, from the
    days read again; every such day is read again)."""
    lanes: dict[str, ir.IntegerValue] = {}
    for j in range(LANES):
        diff = row[f"pos_or{j}"].fill_null(0) ^ row[f"pos_and{j}"].fill_null(-1)
        slots = [ibis.literal((2**LANE_BITS - 1) << (k * LANE_BITS), "int64")
                 for k in range(LANE_DAYS)]
        mask = bit_union([ibis.ifelse((diff & slot) != 0, slot, NO_BITS) for slot in slots])
        lanes[f"pos{j}"] = ((row[f"pos_or{j}"].fill_null(0) & not_bits(mask)) |
                            (row[f"fix{j}"].fill_null(0) & mask))
    return lanes


_TWO_DIGITS = "".join(f"{n:02d}" for n in range(100))


def two_digits(n: ir.IntegerValue) -> ir.StringValue:
    """0-99 as two digits, looked up in a constant (cheaper than formatting a number)."""
    return ibis.literal(_TWO_DIGITS).substr(n * 2, 2)


def days_of(bits: ir.IntegerValue) -> ir.IntegerValue:
    """Day indexes (0-30) whose bit is set, one row each (unnested)."""
    return ibis.range(0, 31).filter(lambda i: ((bits >> i) & 1) == 1).unnest()


def date_of_day(month: ir.DateValue, d0: ir.IntegerValue) -> ir.DateValue:
    """Day index ``d0`` of ``month`` (a date plus whole days stays a date: cheaper than
    building the date from its parts)."""
    return plus_days(month, d0.cast("int32"))


@ibis.udf.scalar.builtin(name="add")  # type: ignore[untyped-decorator]
def _duckdb_add(date: dt.date, days: int) -> dt.date:  # type: ignore[empty-body]
    """DuckDB's ``add(DATE, INTEGER)`` (its ``+``): a date."""


@ibis.udf.scalar.builtin(name="date_add")  # type: ignore[untyped-decorator]
def _spark_date_add(date: dt.date, days: int) -> dt.date:  # type: ignore[empty-body]
    """Spark's ``date_add(DATE, INT)``: a date."""


def plus_days(date: ir.DateValue, days: ir.IntegerValue) -> ir.DateValue:
    """``date`` plus whole ``days`` as a date (Ibis's date + interval is a timestamp on
    DuckDB), in the engine's spelling."""
    if current_dialect() == "spark":
        return _spark_date_add(date, days)
    return _duckdb_add(date, days)
