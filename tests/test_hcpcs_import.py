"""The CMS HCPCS Level II file importer, against samples built to the record layout."""

from __future__ import annotations

import csv
import datetime as dt
import textwrap
from pathlib import Path

import pytest
from openpyxl import Workbook

from bhpolicy.catalog.hcpcs_file import read_fixed_width, read_hcpcs_file
from bhpolicy.catalog.store import ImportedCatalog, load_catalog, write_import
from bhpolicy.catalog.units import unit_from_descriptor
from bhpolicy.errors import DataFileError
from tests.conftest import REPO
from tests.support.hcpcs_records import modifier, procedure, record

EXAMPLE = REPO / "examples" / "hcpcs" / "HCPC_sample_ANWEB.txt"
LONG_H0019 = ("Behavioral health; long-term residential (nonmedical, nonacute care in a "
              "residential treatment program where stay is typically longer than 30 days), "
              "without room and board, per diem")


def write(tmp_path: Path, lines: list[str], name: str = "HCPC.txt") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    return path


def test_builder_puts_fields_at_layout_positions() -> None:
    line = record("H0040", 1, "3", "Assertive community treatment program, per diem",
                  short="ACT PER DIEM", added="20030101", effective="20240101",
                  terminated="20261231", action="N")
    assert len(line) == 320
    assert line[0:5] == "H0040"          # 1-5
    assert line[5:10] == "00001"         # 6-10
    assert line[10] == "3"               # 11
    assert line[11:91].rstrip() == "Assertive community treatment program, per diem"  # 12-91
    assert line[91:119].rstrip() == "ACT PER DIEM"  # 92-119
    assert line[268:276] == "20030101"   # 269-276
    assert line[276:284] == "20240101"   # 277-284
    assert line[284:292] == "20261231"   # 285-292
    assert line[292] == "N"              # 293


def test_reads_fields_dates_and_continuations(tmp_path: Path) -> None:
    lines = (procedure("H0019", 100, LONG_H0019, added="19990101")
             + procedure("H0040", 200, "Assertive community treatment program, per diem",
                         short="Assert comm tx pgm per diem", added="20030101",
                         effective="20030101", action="N")
             + procedure("H2040", 300, "Coordinated specialty care, team-based, for first "
                         "episode psychosis, per month", terminated="20271231", action="D")
             + modifier("U1", 400, "Medicaid level of care 1, as defined by each state"))
    result = read_fixed_width(write(tmp_path, lines))
    records = {r.code: r for r in result.records}
    assert sorted(records) == ["H0019", "H0040", "H2040"]
    assert records["H0019"].long_descriptor == LONG_H0019  # joined from 3 records
    assert records["H0019"].unit == "per_diem"  # read from the descriptor text
    assert records["H0040"].short_descriptor == "Assert comm tx pgm per diem"
    assert records["H0040"].added_date == dt.date(2003, 1, 1)
    assert records["H0040"].action_code == "N"
    assert records["H2040"].unit == "per_month"
    assert records["H2040"].termination_date == dt.date(2027, 12, 31)
    assert result.modifier_records == 1


def test_trailing_filler_may_be_trimmed(tmp_path: Path) -> None:
    lines = [record("H0040", 1, "3", "Assertive community treatment program, per diem",
                    action="N", length=293)]
    assert read_fixed_width(write(tmp_path, lines)).records[0].code == "H0040"


def test_shipped_example_file_reads() -> None:
    result = read_hcpcs_file(EXAMPLE)
    codes = {r.code: r for r in result.records}
    assert len(codes) == 13
    assert codes["H0019"].long_descriptor == LONG_H0019
    assert codes["H2012"].unit == "per_hour"
    assert codes["H0036"].unit == "per_15_minutes"


GOOD = "Assertive community treatment program, per diem"


@pytest.mark.parametrize(
    ("lines", "where", "field"),
    [
        # record id not 3, 4, 7 or 8
        ([record("H0040", 1, "5", GOOD)], "line 1", "record identification code"),
        # continuation with no first record before it
        ([record("H0040", 2, "4", "more text")], "line 1", "record identification code"),
        # continuation of a different code
        ([*procedure("H0039", 1, "Assertive community treatment, face-to-face, per 15 min"),
          record("H0040", 2, "4", "more")], "line 2", "record identification code"),
        # first-line record cut before the action code
        ([record("H0040", 1, "3", GOOD, length=200)], "line 1", "action code"),
        # record longer than the layout
        ([record("H0040", 1, "3", GOOD) + "XX"], "line 1", "320"),
        # a date that is not YYYYMMDD
        ([record("H0040", 1, "3", GOOD, added="2003-1-1")], "line 1", "code added date"),
        ([record("H0040", 1, "3", GOOD, terminated="20261331")], "line 1", "termination date"),
        # not a Level II code
        ([record("99213", 1, "3", "Office visit")], "line 1", "HCPCS code"),
        # unknown action code
        ([record("H0040", 1, "3", GOOD, action="Z")], "line 1", "action code"),
        # the same code twice
        ([record("H0040", 1, "3", GOOD), record("H0040", 2, "3", GOOD)], "line 2", "HCPCS code"),
        # empty long description
        ([record("H0040", 1, "3", "")], "line 1", "long description"),
        # record too short to hold a record id
        (["H0040"], "line 1", "record identification code"),
    ],
)
def test_malformed_file_is_rejected_naming_file_line_field(
    tmp_path: Path, lines: list[str], where: str, field: str
) -> None:
    path = write(tmp_path, lines)
    with pytest.raises(DataFileError) as err:
        read_hcpcs_file(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert where in message
    assert field in message


def test_file_with_no_procedures_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no HCPCS procedure records"):
        read_hcpcs_file(write(tmp_path, modifier("U1", 1, "x")))


WRAPPED = textwrap.wrap(LONG_H0019, 80)
HEADER = ["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "ADD DT",
          "ACT EFF DT", "TERM DT", "ACTION CD"]


def _rows() -> list[list[object]]:
    return [
        HEADER,
        ["H0019", "00100", "3", WRAPPED[0], "", "19990101", "", "", "N"],
        ["H0019", "00101", "4", WRAPPED[1], "", "", "", "", ""],
        ["H0019", "00102", "4", WRAPPED[2], "", "", "", "", ""],
        ["H0040", "00200", "3", GOOD, "", 20030101, "", "", "N"],
        ["", "00300", "7", "Medicaid level of care 1", "", "", "", "", ""],
    ]


def test_spreadsheet_xlsx_form(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in _rows():
        sheet.append(row)
    path = tmp_path / "HCPC2026_JAN_ANWEB.xlsx"
    book.save(path)
    records = {r.code: r for r in read_hcpcs_file(path).records}
    assert records["H0019"].long_descriptor == LONG_H0019
    assert records["H0040"].added_date == dt.date(2003, 1, 1)
    assert records["H0040"].unit == "per_diem"


def test_spreadsheet_csv_form_and_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "HCPC.csv"
    rows = _rows()
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert len(read_hcpcs_file(path).records) == 2
    rows[4][5] = "2003-13-45"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DataFileError, match=r"row 5: field 'code added date'"):
        read_hcpcs_file(path)


def test_spreadsheet_without_code_column(tmp_path: Path) -> None:
    path = tmp_path / "HCPC.csv"
    path.write_text("A,B\n1,2\n")
    with pytest.raises(DataFileError, match=r"row 1: field 'code'"):
        read_hcpcs_file(path)


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("Assertive community treatment program, per diem", "per_diem"),
        ("Assertive community treatment, face-to-face, per 15 minutes", "per_15_minutes"),
        ("Behavioral health day treatment, per hour", "per_hour"),
        ("Coordinated specialty care, team-based, for first episode psychosis, per month",
         "per_month"),
        ("Skills training, per session", "per_session"),
        ("Alcohol and/or drug services; methadone administration", None),
    ],
)
def test_unit_from_descriptor(text: str, unit: str | None) -> None:
    assert unit_from_descriptor(text) == unit


def test_import_replaces_descriptor_and_keeps_our_text(isolated_home: Path) -> None:
    result = read_hcpcs_file(EXAMPLE)
    changed = [r.model_copy(update={"long_descriptor": r.long_descriptor + " (revised)"})
               if r.code == "H2020" else r for r in result.records]
    write_import(isolated_home, ImportedCatalog(
        source_file="x.txt", source_title="CMS HCPCS file x", imported_at="2026-11-23",
        records=changed))
    catalog = load_catalog(isolated_home)
    h2020 = catalog.get("H2020")
    assert h2020.official_descriptor.value.endswith("(revised)")
    assert h2020.official_descriptor.source == "cms-import"
    assert h2020.plain_language is not None  # ours stays on top
    assert any(c.field == "official descriptor" for c in h2020.conflicts)
    h0019 = catalog.get("H0019")  # a code we do not curate is now covered
    assert h0019.unit is not None and h0019.unit.value == "per_diem"
    assert h0019.plain_language is None
    # the shipped descriptor equals the file's: no conflict is invented
    assert not any(c.field == "official descriptor" for c in catalog.get("H0040").conflicts)
