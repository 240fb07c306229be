"""Read an input file into an Ibis table: every column as text, converted on purpose.

Ids, NPIs, ZIPs and POS keep their leading zeros. Each row gets ``_file`` and ``_line`` (the
CSV line, header being line 1; for Parquet the record number from 1). A row with a problem
(missing field, bad date, negative minutes, unknown value) goes to the errors table with file,
row, field and reason; every other row goes on. Extra columns are kept and ignored.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir

from bhpolicy.errors import DataFileError

Kind = str  # text | date | int | bool | enum | pos | decimal
DECIMAL = "decimal(18, 2)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    required: bool = True
    values: tuple[str, ...] = ()
    minimum: int | None = None


CONTACTS = (
    Column("contact_id"), Column("member_id"), Column("provider_id"),
    Column("staff_id", required=False), Column("contact_date", "date"),
    Column("minutes", "int", minimum=0),
    Column("mode", "enum", values=("in_person", "video", "phone")),  # = billing.params.MODES
    Column("participant", "enum", values=("member", "family", "collateral")),
    Column("group", "bool"), Column("pos", "pos", required=False),
)
MEMBERS = (
    Column("member_id"), Column("medicaid_id"), Column("last_name"), Column("first_name"),
    Column("birth_date", "date"), Column("sex", "enum", values=("F", "M", "U")),
    Column("address_line", required=False), Column("city", required=False),
    Column("state", required=False), Column("zip", required=False),
    Column("primary_dx"),
)
AUTHORIZATIONS = (
    Column("authorization_id"), Column("member_id"), Column("policy"),
    Column("provider_id"), Column("team_size", "enum", required=False,
                                  values=("small", "large")),
    Column("start_date", "date"), Column("end_date", "date"),
    Column("billing_code", required=False), Column("contributing_provider_ids", required=False),
    Column("payer_id", required=False),
)
ALREADY_BILLED = (
    Column("line_id"), Column("member_id"), Column("service_date", "date"),
    Column("hcpcs"), Column("provider_id"),
)
# Claim lines (other services, or ACT claims already billed) for the audit.
CLAIMS = (
    Column("claim_id"), Column("member_id"), Column("from_date", "date"),
    Column("to_date", "date"), Column("hcpcs", required=False),
    Column("modifiers", required=False), Column("revenue_code", required=False),
    Column("bill_type", required=False), Column("provider_id"),
    Column("pos", "pos", required=False), Column("units", "decimal", required=False),
    Column("paid_amount", "decimal", required=False),
    Column("authorization_id", required=False),
    Column("rendering_taxonomy", required=False), Column("diagnosis", required=False),
)
OPTIONAL_COLUMNS = {"billing_code", "contributing_provider_ids", "staff_id", "pos",
                    "team_size", "address_line", "city", "state", "zip", "hcpcs",
                    "modifiers", "revenue_code", "bill_type", "units", "paid_amount",
                    "authorization_id", "payer_id", "rendering_taxonomy", "diagnosis"}


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def load_raw(con: ibis.BaseBackend, path: Path, name: str, columns: tuple[Column, ...]
             ) -> ir.Table:
    """The file as a table of text columns plus ``_file`` and ``_line``."""
    if not path.is_file():
        raise DataFileError(str(path), "file", "does not exist")
    source = _quote(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            relation = (f"SELECT file_row_number + 1 AS _line, * EXCLUDE (file_row_number) "
                        f"FROM read_parquet({source}, file_row_number=true)")
            con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {name}_raw AS {relation}")
        else:
            # CSV has no row-number column: number rows while loading, in file order.
            con.raw_sql("SET preserve_insertion_order = true")
            con.raw_sql(
                f"CREATE OR REPLACE TEMP TABLE {name}_raw AS SELECT row_number() OVER () + 1 "
                f"AS _line, * FROM read_csv({source}, all_varchar=true, header=true)")
            con.raw_sql("SET preserve_insertion_order = false")
    except Exception as exc:  # DuckDB raises several types for unreadable files
        message = str(exc).splitlines()[0]
        raise DataFileError(str(path), "file", f"cannot read ({message})") from None
    table = con.table(f"{name}_raw")
    present = set(table.columns)
    for column in columns:
        if column.name not in present and column.name not in OPTIONAL_COLUMNS:
            raise DataFileError(str(path), "header", f"missing column {column.name!r}")
    # CSV columns are text already; Parquet columns keep a native date, integer or boolean
    # type where the spec expects one (validate() checks it), anything else becomes text.
    native = {c.name: c.kind for c in columns if c.kind in ("date", "int", "bool", "decimal")}
    text = {c: table[c] if _native_ok(table[c], native.get(c)) else table[c].cast("string")
            for c in table.columns if c != "_line"}
    for column in columns:
        if column.name not in present:
            text[column.name] = ibis.null().cast("string")
    return table.select(_line=table["_line"].cast("int64"), _file=ibis.literal(str(path)),
                        **text)


def _native_ok(value: ir.Value, kind: str | None) -> bool:
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


def read_validated(con: ibis.BaseBackend, path: Path, name: str, columns: tuple[Column, ...],
                   materialize: bool = True, extra: ExtraChecks | None = None,
                   keep_errors: KeepErrors | None = None, also_keep: AlsoKeep | None = None
                   ) -> tuple[ir.Table, ir.Table]:
    """:func:`load_raw` then :func:`validate`. CSV text is trimmed; Parquet strings are taken
    as stored (an empty string is still missing), which spares a trim of every value."""
    return validate(load_raw(con, path, name, columns), columns,
                    (con, name) if materialize else None,
                    trim_text=path.suffix.lower() != ".parquet", extra=extra,
                    keep_errors=keep_errors, also_keep=also_keep)


def validate(raw: ir.Table, columns: tuple[Column, ...],
             materialize: tuple[ibis.BaseBackend, str] | None = None,
             trim_text: bool = True, extra: ExtraChecks | None = None,
             keep_errors: KeepErrors | None = None, also_keep: AlsoKeep | None = None
             ) -> tuple[ir.Table, ir.Table]:
    """Split ``raw`` into typed good rows and error rows (file, row, field, reason, value).

    A row's first problem is reported, in column order. With ``materialize`` (connection,
    name) the checked rows are stored once in a temp table, so the file is read once. With
    ``keep_errors`` (which stores the error rows, few) the rows are checked once: the good
    rows are then every row but those, converted without running the checks again. With
    ``also_keep`` as well, the good rows it picks are stored in the same pass (``_field``
    null); :func:`kept_good_rows` reads them back. Columns beyond the spec's are ignored
    (dropped before the checks, so lookups joined by ``extra`` cannot clash with them).

    Three projections, each reading the one before: text cleaned once (trimmed, empty as
    null), then converted once, then checked. Written as one expression, every check and
    every CASE branch would trim and convert the same value again."""
    native = {c.name for c in columns if _native_ok(raw[c.name], c.kind)}
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
            continue
        if c.kind == "date":
            checks.append((~empty & t.isnull(), c.name, "not a date (YYYY-MM-DD)"))
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
                               for c in columns], else_=ibis.null().cast("string")))

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
        if materialize is not None:  # one scan of the file; errors and good rows are filters
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


def error_rows(table: ir.Table, condition: ir.BooleanValue, field: str, reason: ir.Value | str
               ) -> ir.Table:
    """Rows of an already-validated table that a cross-table rule rejects, as error rows."""
    bad = table.filter(condition)
    why = reason if not isinstance(reason, str) else ibis.literal(reason)
    return bad.select(file=bad._file, row=bad._line, field=ibis.literal(field),
                      reason=why.cast("string"), value=bad[field].cast("string"))
