"""Read an input file into an Ibis table: every column as text, converted on purpose.

Ids, NPIs, ZIPs and POS keep their leading zeros. Each row gets ``_file`` and ``_line`` (the
CSV row, header being row 1, counted as a spreadsheet counts them: a quoted field holding line
breaks is one row; for Parquet the record number from 1). A row with a problem (missing
field, bad date, negative minutes, unknown value, and for CSV a row the parser cannot read: a
ragged row, a byte that is not UTF-8, a quote left open, a row over :data:`MAX_ROW_BYTES`)
goes to the errors table with file, row, field and reason; every other row goes on. The raw
text of an unreadable row is never copied into the errors table. Extra columns are ignored.

CSV is read by DuckDB with every parser setting given (comma, double quote, header row,
strict mode), so one hostile row cannot make a sniffer guess another dialect; its rejected
rows come from DuckDB's reject tables, one named pair per scan. Known limits: a blank line
is skipped, and the good rows after one are numbered as if it were not there (DuckDB counts
it when numbering a rejected row); a line ending other than the first line's, or a lone
carriage return, stops DuckDB's strict parser, so the file is one error naming that line.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import operator
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir

from bhpolicy.errors import DataFileError
from bhpolicy.io.bounds import EARLIEST_DATE, LATEST_DATE

Kind = str  # text | date | int | bool | enum | pos | decimal
DECIMAL = "decimal(18, 2)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    required: bool = True
    values: tuple[str, ...] = ()
    minimum: int | None = None
    # a date: why it may not be after the as-of date (a date of service, a birth date); empty:
    # it may be (an authorization's end), up to LATEST_DATE. Every date is EARLIEST_DATE or
    # later (an older one is a typo: not policy).
    future: str = ""


SERVICE = "a future date of service cannot be billed"


CONTACTS = (
    Column("contact_id"), Column("member_id"), Column("provider_id"),
    Column("staff_id", required=False), Column("contact_date", "date", future=SERVICE),
    Column("minutes", "int", minimum=0),
    Column("mode", "enum", values=("in_person", "video", "phone")),  # = billing.params.MODES
    Column("participant", "enum", values=("member", "family", "collateral")),
    Column("group", "bool"), Column("pos", "pos", required=False),
)
MEMBERS = (
    Column("member_id"), Column("medicaid_id"), Column("last_name"), Column("first_name"),
    Column("birth_date", "date", future="a birth date cannot be in the future"),
    Column("sex", "enum", values=("F", "M", "U")),
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
# A run's own lines file (Parquet or CSV, with all its columns) is accepted as it is: its held
# lines have no provider. ``status`` (billable, held, already_billed) is read when present.
ALREADY_BILLED = (
    Column("line_id"), Column("member_id"), Column("service_date", "date", future=SERVICE),
    Column("hcpcs"), Column("provider_id", required=False),
    Column("status", "enum", required=False, values=("billable", "held", "already_billed")),
)
# Claim lines (other services, or ACT claims already billed) for the audit.
CLAIMS = (
    Column("claim_id"), Column("member_id"), Column("from_date", "date", future=SERVICE),
    Column("to_date", "date", future=SERVICE), Column("hcpcs", required=False),
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


# A CSV row longer than this is one rejected row (a 300 KB field is read).
MAX_ROW_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
# Reasons for the rows DuckDB's CSV parser rejects, by its error type (never its message,
# which may quote the row).
_REJECT_REASONS = {
    "MISSING COLUMNS": "fewer fields than the header's {n} columns (a ragged row)",
    "TOO MANY COLUMNS": "more fields than the header's {n} columns (a ragged row)",
    "UNQUOTED VALUE": "a quote is not closed, or text follows a closing quote",
    "INVALID ENCODING": "not UTF-8 text (save the file as UTF-8)",
    "LINE SIZE OVER MAXIMUM": f"row longer than {MAX_ROW_BYTES} bytes",
}


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_header(path: Path, spec: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The header row's column names (trimmed; an empty name becomes ``column_N``; a name
    seen before gets ``_2`` added and is ignored).

    Read here rather than by DuckDB's sniffer, so that the scan is given every setting. A
    missing header (empty file), a header that is not UTF-8 or a column of ``spec`` named
    twice is an error for the whole file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(MAX_HEADER_BYTES)
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    end = head.find(b"\n")
    if end < 0 and len(head) == MAX_HEADER_BYTES:
        raise DataFileError(str(path), "header", f"longer than {MAX_HEADER_BYTES} bytes")
    try:
        text = head[: end if end >= 0 else len(head)].decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise DataFileError(str(path), "header", "not UTF-8 text (save the file as UTF-8)"
                            ) from None
    if not text.strip():
        raise DataFileError(str(path), "header", "empty (no header row)")
    try:
        fields = next(csv.reader([text]))
    except csv.Error as exc:
        raise DataFileError(str(path), "header", f"cannot read ({exc})") from None
    names: list[str] = []
    for number, field in enumerate(fields, start=1):
        name = field.strip() or f"column_{number}"
        if name in spec and name in names:
            raise DataFileError(str(path), "header", f"column {name!r} appears twice")
        while name in names:  # a second column of the same name is renamed (and ignored)
            name += "_2"
        names.append(name)
    return names


MIXED_ENDINGS = "save the file with one kind of line ending"


def _line_end_problem(path: Path) -> tuple[int, str] | None:
    """The first line whose ending DuckDB's strict parser cannot take (a carriage return
    inside a line, or an ending other than the first line's), and why: looked for only once
    the parser has stopped (it stops at such a line instead of rejecting its row). A line
    break inside quotes may be named too: the line is "near"."""
    first = b""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
            if b"\r" in body:
                return number, "a carriage return inside a line (lines end in LF or CRLF)"
            if not line.endswith(b"\n"):
                return None
            end = b"\r\n" if line.endswith(b"\r\n") else b"\n"
            first = first or end
            if end != first:
                kinds = {b"\n": "LF", b"\r\n": "CRLF"}
                return number, (f"ends in {kinds[end]} where the first line ends in "
                                f"{kinds[first]}: {MIXED_ENDINGS}")
    return None


@contextmanager
def _lf_copy(path: Path) -> Iterator[Path]:
    """A temporary owner-only copy of ``path`` with every CRLF made LF (the same lines, so
    the same row numbers), removed on leaving."""
    handle, name = tempfile.mkstemp(suffix=".csv", prefix="bhpolicy-")
    try:
        with os.fdopen(handle, "wb") as out, path.open("rb") as source:
            for line in source:
                out.write(line[:-2] + b"\n" if line.endswith(b"\r\n") else line)
        yield Path(name)
    finally:
        os.unlink(name)


def _load_csv(con: ibis.BaseBackend, path: Path, name: str, columns: tuple[Column, ...]
              ) -> tuple[list[str], ir.Table | None]:
    """Store the spec's columns of a CSV file as ``{name}_raw`` (text, with ``_line``); the
    rows the parser rejects as error rows (None when there are none)."""
    spec = {c.name for c in columns}
    header = csv_header(path, spec)
    kept = [n for n in header if n in spec]
    scan_name, rejects = f"{name}_reject_scan", f"{name}_rejects"
    types = "{" + ", ".join(f"{_quote(n)}: 'VARCHAR'" for n in header) + "}"
    options = (f"header=true, auto_detect=false, delim=',', quote='\"', escape='\"', "
               f"strict_mode=true, null_padding=false, columns={types}, "
               f"max_line_size={MAX_ROW_BYTES}, "
               f"store_rejects=true, rejects_scan='{scan_name}', rejects_table='{rejects}'")
    picked = "".join(f", {_ident(n)}" for n in kept)
    order = con.raw_sql("SELECT current_setting('preserve_insertion_order')").fetchone()

    def scan(source: Path) -> None:
        # CSV has no row-number column: number rows while loading, in file order.
        con.raw_sql(f"DROP TABLE IF EXISTS {rejects}")
        con.raw_sql(f"DROP TABLE IF EXISTS {scan_name}")
        con.raw_sql(f"CREATE OR REPLACE TEMP TABLE {name}_rows AS SELECT row_number() OVER () "
                    f"AS _k{picked} FROM read_csv({_quote(source)}, {options})")

    con.raw_sql("SET preserve_insertion_order = true")
    try:
        scan(path)
    except Exception as exc:  # DuckDB raises several types for unreadable files
        message = str(exc).splitlines()[0]
        problem = _line_end_problem(path) if "invalid state" in message else None
        if problem is None:
            raise DataFileError(str(path), "file", f"cannot read ({message})") from None
        if not problem[1].endswith(MIXED_ENDINGS):
            raise DataFileError(str(path), f"near line {problem[0]}", problem[1]) from None
        # CRLF and LF mixed (a file written on one system, added to on another): read a copy
        # with LF endings, which has the same rows
        with _lf_copy(path) as copy:
            try:
                scan(copy)
            except Exception:
                again = _line_end_problem(copy)
                where, why = (again or problem)
                raise DataFileError(str(path), f"near line {where}", why) from None
    finally:
        con.raw_sql(f"SET preserve_insertion_order = {bool(order and order[0])}")
    count = con.raw_sql(f"SELECT count(DISTINCT line) FROM {rejects}").fetchone()
    if not count or not count[0]:
        con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT _k + 1 AS _line"
                    f"{picked} FROM {name}_rows")
        return header, None
    # DuckDB numbers a rejected row as the file's row; the good rows were numbered without
    # the rejected ones. Good row k follows reject i when fewer than k good rows precede it
    # (r_i - i - 1 < k): its row is k + 1 + the number of such rejects.
    con.raw_sql(
        f"CREATE OR REPLACE TEMP TABLE {name}_gaps AS SELECT max(i) AS i, g FROM ("
        f"SELECT row_number() OVER (ORDER BY line) AS i, line - row_number() OVER "
        f"(ORDER BY line) - 1 AS g FROM (SELECT DISTINCT line FROM {rejects})) GROUP BY g")
    con.raw_sql(
        f"CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT r._k + 1 + coalesce(g.i, 0) AS "
        f"_line{''.join(f', r.{_ident(n)}' for n in kept)} FROM {name}_rows r "
        f"ASOF LEFT JOIN {name}_gaps g ON r._k > g.g")
    reason = "CASE error_type " + " ".join(
        f"WHEN {_quote(kind)} THEN {_quote(text.format(n=len(header)))}"
        for kind, text in _REJECT_REASONS.items()) + \
        " ELSE 'cannot be read as CSV (' || lower(error_type::VARCHAR) || ')' END"
    con.raw_sql(
        f"CREATE OR REPLACE TEMP VIEW {name}_unreadable AS SELECT {_quote(path)} AS file, "
        f"line::BIGINT AS row, column_name::VARCHAR AS field, {reason} AS reason, "
        f"NULL::VARCHAR AS value, NULL::VARCHAR AS provider_id FROM {rejects} "
        f"QUALIFY row_number() OVER (PARTITION BY line ORDER BY byte_position) = 1")
    return header, con.table(f"{name}_unreadable")


def load_raw(con: ibis.BaseBackend, path: Path, name: str, columns: tuple[Column, ...]
             ) -> ir.Table:
    """The file as a table of the spec's columns (text, or a native Parquet type that
    :func:`validate` checks) plus ``_file`` and ``_line``; the rows a CSV parser rejects are
    not in it (see :func:`load_raw_rejects`)."""
    return load_raw_rejects(con, path, name, columns)[0]


def load_raw_rejects(con: ibis.BaseBackend, path: Path, name: str,
                     columns: tuple[Column, ...]) -> tuple[ir.Table, ir.Table | None]:
    """:func:`load_raw`, and the rows the CSV parser rejected as error rows (file, row,
    field, reason, value), or None when there are none."""
    if not path.is_file():
        raise DataFileError(str(path), "file", "does not exist")
    unreadable = None
    if path.suffix.lower() == ".parquet":
        try:
            con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT file_row_number + 1 "
                        f"AS _line, * EXCLUDE (file_row_number) FROM read_parquet("
                        f"{_quote(path)}, file_row_number=true)")
        except Exception as exc:  # DuckDB raises several types for unreadable files
            message = str(exc).splitlines()[0]
            raise DataFileError(str(path), "file", f"cannot read ({message})") from None
        present = set(con.table(f"{name}_raw").columns)
    else:
        header, unreadable = _load_csv(con, path, name, columns)
        present = set(header)
    return spec_columns(con.table(f"{name}_raw"), str(path), columns, present), unreadable


def spec_columns(table: ir.Table, path: str, columns: tuple[Column, ...], present: set[str]
                 ) -> ir.Table:
    """The spec's columns of a file read as ``table`` (with ``_line``; ``present``: the
    file's column names), plus ``_file``; a required column the file lacks is an error for
    the file. Shared by the DuckDB reader and the Spark one."""
    for column in columns:
        if column.name not in present and column.required and \
                column.name not in OPTIONAL_COLUMNS:
            raise DataFileError(path, "header", f"missing column {column.name!r}")
    # CSV columns are text already; Parquet columns keep a native date, integer or boolean
    # type where the spec expects one (validate() checks it), anything else becomes text.
    # Columns beyond the spec's are dropped.
    text = {c.name: (table[c.name] if _native_ok(table[c.name], c.kind) else
                     table[c.name].cast("string")) if c.name in present else
            ibis.null().cast("string") for c in columns}
    return table.select(_line=table["_line"].cast("int64"), _file=ibis.literal(path),
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
                   keep_errors: KeepErrors | None = None, also_keep: AlsoKeep | None = None,
                   as_of: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
    """:func:`load_raw` then :func:`validate`; the error rows include the rows the CSV parser
    rejected. CSV text is trimmed; Parquet strings are taken as stored (an empty string is
    still missing), which spares a trim of every value."""
    raw, unreadable = load_raw_rejects(con, path, name, columns)
    good, errors = validate(raw, columns, (con, name) if materialize else None,
                            trim_text=path.suffix.lower() != ".parquet", extra=extra,
                            keep_errors=keep_errors, also_keep=also_keep, as_of=as_of)
    if unreadable is not None:
        errors = ibis.union(errors, unreadable.cast(errors.schema()))
    return good, errors


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
             materialize: tuple[ibis.BaseBackend, str] | None = None,
             trim_text: bool = True, extra: ExtraChecks | None = None,
             keep_errors: KeepErrors | None = None, also_keep: AlsoKeep | None = None,
             as_of: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
    """Split ``raw`` into typed good rows and error rows (file, row, field, reason, value).

    A row's first problem is reported, in column order. Dates are bounded by
    :func:`date_checks` (with ``as_of`` None, a date of service may be up to LATEST_DATE).
    With ``materialize`` (connection, name) the checked rows are stored once in a temp
    table, so the file is read once. With ``keep_errors`` (which stores the error rows, few)
    the rows are checked once: the good rows are then every row but those, converted without
    running the checks again. With ``also_keep`` as well, the good rows it picks are stored
    in the same pass (``_field`` null); :func:`kept_good_rows` reads them back. Columns
    beyond the spec's are ignored (dropped before the checks, so lookups joined by
    ``extra`` cannot clash with them).

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


def small_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each record of a small CSV file (a roster, a code list) read with Python's csv module,
    as (row, fields): the header is row 1, a quoted field holding line breaks is one row, a
    blank line is counted but not given.

    Whole-file errors, one line naming the file and the line or row: not UTF-8, a quote
    left open or followed by text, a field longer than the csv module's limit."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # after a BOM
        line = data[:start].count(b"\n") + 1
        raise DataFileError(str(path), f"line {line}", "not UTF-8 text (save the file as UTF-8)"
                            ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = (f"a field longer than {csv.field_size_limit()} characters"
                       if "field limit" in str(exc) else f"cannot read ({exc})")
            raise DataFileError(str(path), f"row {row + 1}", problem) from None
        row += 1
        if fields:
            yield row, fields


def ragged(fields: list[str], header: list[str]) -> str | None:
    """Why a row's field count does not fit the header (trailing empty fields, as a
    spreadsheet writes them, are allowed), or None."""
    if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
        return f"{len(fields)} fields where the header has {len(header)} (a ragged row)"
    if len(fields) < len(header):
        return f"{len(fields)} fields where the header has {len(header)} (a ragged row)"
    return None
