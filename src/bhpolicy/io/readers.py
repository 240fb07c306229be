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
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ibis
import ibis.expr.types as ir

from bhpolicy.errors import DataFileError
from bhpolicy.io.columns import OPTIONAL_COLUMNS, Column
from bhpolicy.io.validate import AlsoKeep, ExtraChecks, KeepErrors, native_ok, validate

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
    text = {c.name: (table[c.name] if native_ok(table[c.name], c.kind) else
                     table[c.name].cast("string")) if c.name in present else
            ibis.null().cast("string") for c in columns}
    return table.select(_line=table["_line"].cast("int64"), _file=ibis.literal(path),
                        **text)




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


