"""The CSV and Parquet readers keep a bad row apart and read the rest (issue 14, items 4, 5
and 9): every CSV input of ``bill`` and ``audit`` is read by :func:`read_validated`, so each
broken-row shape is tried on each spec here, directly; the CLI tests are in
test_security_readers.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest

from bhpolicy.errors import DataFileError
from bhpolicy.io.bounds import EARLIEST_DATE, LATEST_DATE
from bhpolicy.io.columns import ALREADY_BILLED, AUTHORIZATIONS, CLAIMS, CONTACTS, MEMBERS, Column
from bhpolicy.io.readers import MAX_ROW_BYTES, read_validated
from tests.support.dates import AS_OF

SPECS = {"contacts": CONTACTS, "members": MEMBERS, "authorizations": AUTHORIZATIONS,
         "already_billed": ALREADY_BILLED, "claims": CLAIMS}
GOOD = {"date": "2026-03-02", "int": "30", "bool": "false", "pos": "12", "decimal": "1.50",
        "text": "X"}


def good_value(column: Column, row: int) -> str:
    if column.kind == "enum":
        return column.values[0]
    if column.kind == "text":
        return f"{column.name[:3]}{row}"
    return GOOD[column.kind]


def good_line(spec: tuple[Column, ...], row: int) -> bytes:
    return (",".join(good_value(c, row) for c in spec) + "\n").encode()


def header(spec: tuple[Column, ...]) -> bytes:
    return (",".join(c.name for c in spec) + "\n").encode()


def read(path: Path, spec: tuple[Column, ...], as_of: dt.date | None = AS_OF
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    con = ibis.duckdb.connect()
    good, errors = read_validated(con, path, "input", spec, as_of=as_of)
    rows = con.to_pyarrow(good.order_by("_line")).to_pylist()
    bad = con.to_pyarrow(errors.order_by("row")).to_pylist()
    con.disconnect()
    return rows, bad


def broken_row(spec: tuple[Column, ...], row: int) -> dict[str, bytes]:
    """One broken row of each shape (the unquoted-quote one must be the file's last row: an
    open quote runs to the end of the file)."""
    line = good_line(spec, row)
    first, rest = line.split(b",", 1)
    return {
        "too few fields": line.rsplit(b",", 2)[0] + b"\n",
        "too many fields": line.rstrip(b"\n") + b",extra,more\n",
        "a byte that is not UTF-8": first + b"\xff\xfe," + rest,
        "a quote left open": b'"' + line,
        "a row over the size limit": first + b"," + b"x" * (MAX_ROW_BYTES + 10) +
        b"," + rest.split(b",", 1)[1],
    }


REASON_WORDS = {"too few fields": "fewer fields", "too many fields": "more fields",
                "a byte that is not UTF-8": "not UTF-8",
                "a row over the size limit": "longer than",
                "a quote left open": "quote is not closed"}


@pytest.mark.parametrize("input_name", list(SPECS))
def test_each_broken_csv_row_is_one_error_row_and_the_rest_are_read(
        tmp_path: Path, input_name: str) -> None:
    """Good and broken rows alternate (rows 2, 4, 6... good); the row with an open quote is
    last, since an open quote runs to the end of the file."""
    spec = SPECS[input_name]
    shapes = list(REASON_WORDS)
    body, expected = good_line(spec, 2), []
    for number, shape in enumerate(shapes, start=1):
        bad_row = 2 * number + 1
        body += broken_row(spec, bad_row)[shape]
        expected.append((bad_row, shape))
        if shape != "a quote left open":
            body += good_line(spec, bad_row + 1)
    assert shapes[-1] == "a quote left open"
    path = tmp_path / f"{input_name}.csv"
    path.write_bytes(header(spec) + body)
    rows, errors = read(path, spec)
    assert [r["_line"] for r in rows] == [2, 4, 6, 8, 10]
    assert [r[spec[0].name] for r in rows] == [good_value(spec[0], n) for n in (2, 4, 6, 8, 10)]
    assert [(e["file"], e["row"]) for e in errors] == [(str(path), n) for n, _ in expected]
    names = {c.name for c in spec}
    for error, (_, shape) in zip(errors, expected, strict=True):
        assert REASON_WORDS[shape] in error["reason"], shape
        assert error["value"] is None  # the raw row is never copied into errors.csv
        if shape in ("too few fields", "a byte that is not UTF-8", "a quote left open"):
            assert error["field"] in names, shape


@pytest.mark.parametrize("input_name", list(SPECS))
def test_bom_crlf_embedded_line_breaks_and_a_300_kb_field_are_read(
        tmp_path: Path, input_name: str) -> None:
    spec = SPECS[input_name]
    first_text = next(i for i, c in enumerate(spec) if c.kind == "text")
    long_value = "y" * 300_000
    cells = [good_value(c, 3) for c in spec]
    cells[first_text] = f'"{long_value}"'
    multi = [good_value(c, 4) for c in spec]
    multi[first_text] = '"two\nlines, ""quoted"""'
    text = (header(spec).decode() + good_line(spec, 2).decode() + ",".join(cells) + "\n" +
            ",".join(multi) + "\n" + good_line(spec, 5).decode())
    path = tmp_path / f"{input_name}.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    rows, errors = read(path, spec)
    assert errors == []
    # rows are counted as a spreadsheet counts them: a quoted line break stays in its row
    assert [r["_line"] for r in rows] == [2, 3, 4, 5]
    name = spec[first_text].name
    assert rows[1][name] == long_value
    assert rows[2][name] == 'two\r\nlines, "quoted"'
    assert rows[3][spec[-1].name] == good_value(spec[-1], 5)  # no '\r' kept at line ends


def test_rows_after_several_rejected_rows_keep_their_file_row(tmp_path: Path) -> None:
    """DuckDB numbers a rejected row by its place in the file, while the good rows are counted
    as read: the good rows between and after consecutive rejects get the file's numbers."""
    spec = CONTACTS
    lines = [good_line(spec, 2), b"bad,row\n", b"bad,row\n", good_line(spec, 5),
             b"\xff,row\n", good_line(spec, 7), b'multi,"line\nrow"\n', good_line(spec, 9)]
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(spec) + b"".join(lines))
    rows, errors = read(path, spec)
    assert [r["_line"] for r in rows] == [2, 5, 7, 9]
    assert [r["contact_id"] for r in rows] == ["con2", "con5", "con7", "con9"]
    assert [e["row"] for e in errors] == [3, 4, 6, 8]


def test_field_errors_after_a_rejected_row_name_the_file_row(tmp_path: Path) -> None:
    spec = CONTACTS
    late = good_line(spec, 4).replace(b",30,", b",ten,")
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(spec) + good_line(spec, 2) + b"short\n" + late)
    _, errors = read(path, spec)
    assert [(e["row"], e["field"], e["value"]) for e in errors] == [
        (3, "member_id", None), (4, "minutes", "ten")]


def test_header_only_file_is_read_as_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(CONTACTS))
    assert read(path, CONTACTS) == ([], [])


@pytest.mark.parametrize(("content", "where", "problem"), [
    (b"", "header", "empty"),
    (b"\xef\xbb\xbf\r\n", "header", "empty"),
    (b"contact_id,member_\xffid\n", "header", "not UTF-8"),
    (b"contact_id,member_id\nC1,M1\n", "header", "missing column 'provider_id'"),
])
def test_an_unusable_header_is_an_error_for_the_whole_file(
        tmp_path: Path, content: bytes, where: str, problem: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as raised:
        read(path, CONTACTS)
    assert raised.value.where == where and problem in raised.value.problem


def test_a_spec_column_named_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(CONTACTS).replace(b"\n", b",member_id\n"))
    with pytest.raises(DataFileError, match="column 'member_id' appears twice"):
        read(path, CONTACTS)


def test_extra_columns_even_oddly_named_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(CONTACTS).replace(b"\n", b',note,note,"we""ird",,_line\n') +
                     good_line(CONTACTS, 2).replace(b"\n", b",a,b,c,d,e\n"))
    rows, errors = read(path, CONTACTS)
    assert errors == [] and [r["_line"] for r in rows] == [2]
    assert "note" not in rows[0]


def test_a_carriage_return_inside_a_line_names_the_line(tmp_path: Path) -> None:
    """DuckDB's strict parser stops at a lone CR rather than rejecting its row: one line
    naming where it is, not a traceback."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(CONTACTS) + good_line(CONTACTS, 2) +
                     good_line(CONTACTS, 3).replace(b",30,", b",3\r0,"))
    with pytest.raises(DataFileError) as raised:
        read(path, CONTACTS)
    assert raised.value.where == "near line 3" and "carriage return" in raised.value.problem


@pytest.mark.parametrize(("first", "other"), [(b"\n", b"\r\n"), (b"\r\n", b"\n")])
def test_mixed_line_endings_are_read_with_their_row_numbers(tmp_path: Path, first: bytes,
                                                            other: bytes) -> None:
    """DuckDB's strict parser stops at a line ending other than the file's: such a file is
    read again from a copy with LF endings (same lines, same row numbers)."""
    path = tmp_path / "contacts.csv"
    lines = [header(CONTACTS), good_line(CONTACTS, 2), b"short,row\n", good_line(CONTACTS, 4),
             good_line(CONTACTS, 5)]
    path.write_bytes(b"".join(line.replace(b"\n", first) for line in lines[:3]) +
                     b"".join(line.replace(b"\n", other) for line in lines[3:]))
    rows, errors = read(path, CONTACTS)
    assert [r["_line"] for r in rows] == [2, 4, 5]
    assert [(e["file"], e["row"]) for e in errors] == [(str(path), 3)]
    assert rows[2]["pos"] == "12"  # no carriage return left


def test_mixed_line_endings_and_a_lone_cr_name_the_lone_cr(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(header(CONTACTS) + good_line(CONTACTS, 2).replace(b"\n", b"\r\n") +
                     good_line(CONTACTS, 3).replace(b",30,", b",3\r0,"))
    with pytest.raises(DataFileError) as raised:
        read(path, CONTACTS)
    assert raised.value.where == "near line 3" and "carriage return" in raised.value.problem


# Item 4: dates of service are bounded by the as-of date; every date by EARLIEST_DATE and
# LATEST_DATE (documented in bhpolicy.io.bounds), the reason never quoting the value.
SERVICE_DATES = [("contacts", "contact_date"), ("already_billed", "service_date"),
                 ("claims", "from_date"), ("claims", "to_date"), ("members", "birth_date")]


def one_row_file(tmp_path: Path, spec: tuple[Column, ...], **values: str) -> Path:
    cells = [values.get(c.name, good_value(c, 2)) for c in spec]
    path = tmp_path / "input.csv"
    path.write_bytes(header(spec) + (",".join(cells) + "\n").encode())
    return path


@pytest.mark.parametrize(("input_name", "column"), SERVICE_DATES)
def test_a_date_after_the_as_of_date_is_rejected(tmp_path: Path, input_name: str,
                                                 column: str) -> None:
    spec = SPECS[input_name]
    values = {column: "9999-12-31"}
    if column == "from_date":
        values["to_date"] = "9999-12-31"
    rows, errors = read(one_row_file(tmp_path, spec, **values), spec)
    assert rows == []
    assert errors[0]["field"] == column and errors[0]["value"] == "9999-12-31"
    assert errors[0]["reason"].startswith(f"after the as-of date {AS_OF}: ")
    assert "9999" not in errors[0]["reason"]
    on_the_day = {k: AS_OF.isoformat() for k in values}
    assert read(one_row_file(tmp_path, spec, **on_the_day), spec)[1] == []


@pytest.mark.parametrize(("input_name", "column"), [
    *SERVICE_DATES, ("authorizations", "start_date"), ("authorizations", "end_date")])
def test_a_date_before_1900_is_implausibly_old(tmp_path: Path, input_name: str,
                                               column: str) -> None:
    spec = SPECS[input_name]
    rows, errors = read(one_row_file(tmp_path, spec, **{column: "0001-01-01"}), spec)
    assert rows == [] and errors[0]["field"] == column
    assert errors[0]["reason"] == f"before {EARLIEST_DATE}: implausibly old (a typo?)"
    assert read(one_row_file(tmp_path, spec, **{column: str(EARLIEST_DATE)}), spec)[1] == []


def test_an_authorization_may_end_after_the_as_of_date_but_not_after_2199(
        tmp_path: Path) -> None:
    spec = AUTHORIZATIONS
    assert read(one_row_file(tmp_path, spec, end_date="2030-06-30"), spec)[1] == []
    assert read(one_row_file(tmp_path, spec, end_date=str(LATEST_DATE)), spec)[1] == []
    _, errors = read(one_row_file(tmp_path, spec, end_date="9999-12-31"), spec)
    assert errors[0]["field"] == "end_date"
    assert errors[0]["reason"].startswith(f"after {LATEST_DATE}: ")


def test_without_an_as_of_date_only_the_fixed_bounds_apply(tmp_path: Path) -> None:
    spec = CONTACTS
    assert read(one_row_file(tmp_path, spec, contact_date="2150-01-01"), spec, None)[1] == []
    _, errors = read(one_row_file(tmp_path, spec, contact_date="9999-12-31"), spec, None)
    assert errors[0]["reason"].startswith(f"after {LATEST_DATE}: ")


@pytest.mark.parametrize("text", ["infinity", "-infinity", "294247-01-01"])
def test_dates_duckdb_reads_beyond_the_calendar_are_rejected(tmp_path: Path, text: str
                                                             ) -> None:
    spec = CONTACTS
    _, errors = read(one_row_file(tmp_path, spec, contact_date=text), spec)
    assert [e["field"] for e in errors] == ["contact_date"]


def test_typed_parquet_dates_have_the_same_bounds(tmp_path: Path) -> None:
    source = one_row_file(tmp_path, CONTACTS)
    path = tmp_path / "contacts.parquet"
    duckdb.execute(f"COPY (SELECT * REPLACE (DATE '9999-12-31' AS contact_date) FROM "
                   f"read_csv('{source}', all_varchar=true)) TO '{path}'")
    rows, errors = read(path, CONTACTS)
    assert rows == [] and errors[0]["reason"].startswith(f"after the as-of date {AS_OF}")


# Item 9: a run's own lines file is accepted as --already-billed, as it is.
def lines_file(tmp_path: Path, suffix: str, write: Callable[[str, Path], None]) -> Path:
    path = tmp_path / f"lines.{suffix}"
    write("SELECT 'L1' AS line_id, 'M1' AS member_id, DATE '2026-03-02' AS service_date, "
          "'H0040' AS hcpcs, 'U1' AS modifier, '12' AS pos, 1 AS units, NULL::VARCHAR AS "
          "provider_id, 'held' AS status, 'over_monthly_cap' AS reason_id "
          "UNION ALL SELECT 'L2', 'M1', DATE '2026-03-03', 'H0040', 'U1', '12', 1, "
          "'1234567893', 'billable', NULL", path)
    return path


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_held_line_without_provider_is_a_good_already_billed_row(
        tmp_path: Path, suffix: str) -> None:
    def write(query: str, path: Path) -> None:
        duckdb.execute(f"COPY ({query}) TO '{path}'" + (" (HEADER)" if suffix == "csv" else ""))

    rows, errors = read(lines_file(tmp_path, suffix, write), ALREADY_BILLED)
    assert errors == []
    assert [(r["line_id"], r["provider_id"], r["status"]) for r in rows] == [
        ("L1", None, "held"), ("L2", "1234567893", "billable")]


def test_an_already_billed_file_without_provider_or_status_columns_is_read(
        tmp_path: Path) -> None:
    path = tmp_path / "billed.csv"
    path.write_text("line_id,member_id,service_date,hcpcs\nL1,M1,2026-03-02,H0040\n")
    rows, errors = read(path, ALREADY_BILLED)
    assert errors == [] and rows[0]["provider_id"] is None and rows[0]["status"] is None
