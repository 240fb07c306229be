"""Checks of the rows of an input as read: typed good rows and error rows (file, row,
field, reason), never the rejected value in a message.

:func:`validate` converts every spec column once and runs each column's checks (missing,
bad date, out of range, unknown value) and the caller's cross-table checks; :func:`error_rows`
turns a later rule's rejection into the same error rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from bhpolicy.io.bounds import EARLIEST_DATE, LATEST_DATE
from bhpolicy.io.columns import DECIMAL, Column


def native_ok(value: ir.Value, kind: str | None) -> bool:
    dtype = value.type()
    return ((kind == "date" and dtype.is_date()) or (kind == "int" and dtype.is_integer())
            or (kind == "bool" and dtype.is_boolean())
            or (kind == "decimal" and (dtype.is_numeric() and not dtype.is_boolean())))


Check = tuple[ir.BooleanValue, str, str]  # condition, field, reason
# Checks across columns or tables, given the typed rows (``__typed_<column>``): may join a
# lookup and returns the table with the conditions that refer to it.
ExtraChecks = Callable[[ir.Table], tuple[ir.Table, list[Check]]]


# Stores the rows it is given (few) and returns them stored; see validate().
KeepErrors = Callable[[ir.Table], ir.Table]
# Good rows to keep beside the rejected ones, given the typed rows (after ExtraChecks).
AlsoKeep = Callable[[ir.Table], ir.BooleanValue]
# Where validate() stores the checked rows: (connection, name) for a temp table, or a
# function that stores the rows it is given and returns them stored (Spark's stage).
Materialize = tuple[ibis.BaseBackend, str] | Callable[[ir.Table], ir.Table]


def date_checks(c: Column, value: ir.DateValue, as_of: dt.date | None) -> list[Check]:
    """The bounds of a date column: :data:`EARLIEST_DATE` or later, and not after the as-of
    date (a column with ``future``) or :data:`LATEST_DATE`. The reason names the bound, never
    the value."""
    checks: list[Check] = [(value < EARLIEST_DATE, c.name,
                            f"before {EARLIEST_DATE}: implausibly old (a typo?)")]
    if c.future and as_of is not None and as_of < LATEST_DATE:
        checks.append((value > as_of, c.name, f"after the as-of date {as_of}: {c.future}"))
    checks.append((value > LATEST_DATE, c.name,
                   f"after {LATEST_DATE}: later than any date bhpolicy accepts (a typo?)"))
    return checks


def validate(raw: ir.Table, columns: tuple[Column, ...],
             materialize: Materialize | None = None,
             trim_text: bool = True, extra: ExtraChecks | None = None,
             keep_errors: KeepErrors | None = None, also_keep: AlsoKeep | None = None,
             as_of: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
    """Split ``raw`` into typed good rows and error rows (file, row, field, reason, value).

    A row's first problem is reported, in column order. Dates are bounded by
    :func:`date_checks` (with ``as_of`` None, a date of service may be up to LATEST_DATE).
    With ``materialize`` (connection, name) the checked rows are stored once in a temp
    table, so the file is read once (or a function that stores them: Spark's stage).
    With ``keep_errors`` (which stores the error rows, few) the rows are checked once: the
    good rows are then every row but those, converted without running the checks again.
    With ``also_keep`` as well, the good rows it picks are stored in the same pass
    (``_field`` null); :func:`kept_good_rows` reads them back. Columns beyond the spec's are
    ignored (dropped before the checks, so lookups joined by ``extra`` cannot clash with
    them).

    Three projections, each reading the one before: text cleaned once (trimmed, empty as
    null), then converted once, then checked. Written as one expression, every check and
    every CASE branch would trim and convert the same value again."""
    native = {c.name for c in columns if native_ok(raw[c.name], c.kind)}
    cleaned = raw.mutate(**{
        f"__v_{c.name}": raw[c.name] if c.name in native else
        (raw[c.name].strip() if trim_text else raw[c.name]).nullif("") for c in columns})
    converted: dict[str, ir.Value] = {}
    for c in columns:
        v = cleaned[f"__v_{c.name}"]
        if c.name in native:
            converted[c.name] = (v.cast(DECIMAL) if c.kind == "decimal" else
                                 v.cast("int64") if c.kind == "int" else v)
        elif c.kind == "date":
            converted[c.name] = v.try_cast("date")
        elif c.kind == "int":
            converted[c.name] = v.try_cast("int64")
        elif c.kind == "decimal":
            converted[c.name] = v.try_cast(DECIMAL)
        elif c.kind == "bool":  # lower() only where the value is not already lower case
            converted[c.name] = ibis.ifelse(v.isin(["true", "false"]), v == "true",
                                            v.lower() == "true")
        else:
            converted[c.name] = v
    typed_table = cleaned.mutate(**{f"__typed_{n}": e for n, e in converted.items()})
    typed_table = typed_table.select(
        "_line", "_file", *[c.name for c in columns], *[f"__v_{c.name}" for c in columns],
        *[f"__typed_{c.name}" for c in columns])
    unchecked = typed_table
    more: list[Check] = []
    if extra is not None:  # checked after the row's own fields, in the same pass
        typed_table, more = extra(typed_table)

    checks: list[Check] = []
    for c in columns:
        v, t = typed_table[f"__v_{c.name}"], typed_table[f"__typed_{c.name}"]
        empty = v.isnull()
        if c.required:
            checks.append((empty, c.name, "missing"))
        if c.name in native:
            if c.kind == "int" and c.minimum is not None:
                checks.append((t.notnull() & (t < c.minimum), c.name, f"below {c.minimum}"))
            if c.kind == "date":
                checks += date_checks(c, t, as_of)
            continue
        if c.kind == "date":
            checks.append((~empty & t.isnull(), c.name, "not a date (YYYY-MM-DD)"))
            checks += date_checks(c, t, as_of)
        elif c.kind == "int":
            checks.append((~empty & t.isnull(), c.name, "not a whole number"))
            if c.minimum is not None:
                checks.append((t.notnull() & (t < c.minimum), c.name, f"below {c.minimum}"))
        elif c.kind == "decimal":
            checks.append((~empty & t.isnull(), c.name,
                           "not a number (digits and an optional decimal point)"))
        elif c.kind == "bool":
            checks.append((~empty & ~v.isin(["true", "false"]) &
                           ~v.lower().isin(["true", "false"]), c.name, "not true or false"))
        elif c.kind == "enum":
            checks.append((~empty & ~v.isin(list(c.values)), c.name,
                           "not one of " + ", ".join(c.values)))
        elif c.kind == "pos":  # two digits (character tests: cheaper than a regex)
            digits = ((v.length() == 2) & v.substr(0, 1).between("0", "9") &
                      v.substr(1, 1).between("0", "9"))
            checks.append((~empty & ~digits, c.name, "not a two-digit place-of-service code"))
    checks += more

    def flag(table: ir.Table) -> ir.Table:
        return table.mutate(
            _field=ibis.cases(*[(cond.fill_null(False), name) for cond, name, _ in checks],
                              else_=ibis.null().cast("string")),
            _reason=ibis.cases(*[(cond.fill_null(False), why) for cond, _, why in checks],
                               else_=ibis.null().cast("string")))

    def error_table(bad: ir.Table) -> ir.Table:
        return bad.select(
            file=bad._file, row=bad._line, field=bad._field, reason=bad._reason,
            value=ibis.cases(*[(bad._field == c.name, bad[c.name].cast("string"))
                               for c in columns], else_=ibis.null().cast("string")),
            provider_id=_provider(bad))

    if keep_errors is not None:
        # the rows with any problem are found with an OR of the checks (cheap); the CASE
        # that names the first problem runs on those rows only
        any_bad = functools.reduce(operator.or_, [cond for cond, _, _ in checks],
                                   ibis.literal(False))
        wanted = any_bad if also_keep is None else any_bad | also_keep(typed_table)
        # stored without the cleaned text the checks read (the raw and typed values stay)
        kept = keep_errors(flag(typed_table.filter(wanted)).drop(
            *[f"__v_{c.name}" for c in columns]))
        errors = error_table(kept.filter(kept._field.notnull()))
        bad_rows = errors.select(bad_row=errors.row)
        good = unchecked.anti_join(bad_rows, unchecked._line == bad_rows.bad_row)
    else:
        flagged = flag(typed_table)
        if callable(materialize):  # one scan of the file; errors and good rows are filters
            flagged = materialize(flagged)
        elif materialize is not None:
            con, name = materialize
            con.create_table(f"{name}_checked", flagged, temp=True)
            flagged = con.table(f"{name}_checked")
        errors = error_table(flagged.filter(flagged._field.notnull()))
        good = flagged.filter(flagged._field.isnull())
    good = good.select(_file=good._file, _line=good._line,
                       **{c.name: good[f"__typed_{c.name}"] for c in columns})
    return good, errors


def kept_good_rows(kept: ir.Table, columns: tuple[Column, ...]) -> ir.Table:
    """The good rows :func:`validate` stored for ``also_keep`` (typed, under the spec's
    names, with ``row``, ``file`` and the columns ``extra`` joined)."""
    good = kept.filter(kept._field.isnull())
    internal = {"_line", "_file", "_field", "_reason", *[c.name for c in columns],
                *[f"__v_{c.name}" for c in columns], *[f"__typed_{c.name}" for c in columns]}
    return good.select(row=good._line, file=good._file,
                       **{c.name: good[f"__typed_{c.name}"] for c in columns},
                       **{n: good[n] for n in good.columns if n not in internal})


def _provider(table: ir.Table) -> ir.StringValue:
    """The row's provider where the input has one (so an error row reaches that team's
    worklist), else null."""
    if "provider_id" in table.columns:
        return table.provider_id.cast("string")
    return ibis.null("string")


def error_rows(table: ir.Table, condition: ir.BooleanValue, field: str, reason: ir.Value | str
               ) -> ir.Table:
    """Rows of an already-validated table that a cross-table rule rejects, as error rows
    (with the row's provider where the input has one)."""
    bad = table.filter(condition)
    why = reason if not isinstance(reason, str) else ibis.literal(reason)
    return bad.select(file=bad._file, row=bad._line, field=ibis.literal(field),
                      reason=why.cast("string"), value=bad[field].cast("string"),
                      provider_id=_provider(bad))

