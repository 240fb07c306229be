"""Broken and hostile input files through each command (issue 14, items 5, 6 and 9): a bad
CSV row is an error row (file, row, field, reason) and the other rows go on; a small CSV file
read with Python's csv module (team roster, CARC/RARC lists, HCPCS csv) that cannot be read
is one line naming the file and its line or row, never a traceback; a run's own lines file is
accepted as ``--already-billed``. Shapes on each spec are tried in test_readers.py; these run
one CLI test per command, in process."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bhpolicy.catalog.hcpcs_file import read_hcpcs_file
from bhpolicy.cli import app
from bhpolicy.domain.reasons import read_code_list
from tests.billing_helpers import CONTACT_FIELDS, contact, days, write_csv
from tests.conftest import REPO
from tests.support.dates import AS_OF_TEXT
from tests.test_billing_cli import fixed_inputs

MARK = "RAWTEXT"  # in every broken row: errors.csv never copies a raw row


def broken_rows(width: int) -> bytes:
    """A ragged row, a row with a byte that is not UTF-8, and a row with an open quote (last:
    it runs to the end of the file), for a file of ``width`` columns."""
    fill = b"," * (width - 1)
    return (f"{MARK},x\n".encode() + MARK.encode() + b"\xff" + fill + b"\n" +
            b'"' + MARK.encode() + fill + b"\n")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def errors_by_file(out: Path) -> dict[str, list[tuple[str, str, str]]]:
    with (out / "errors.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert MARK not in (out / "errors.csv").read_text()
    found: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        found.setdefault(Path(row["file"]).name, []).append(
            (row["row"], row["field"], row["reason"]))
    return found


def break_file(path: Path) -> int:
    """Append the broken rows; the number of the first."""
    text = path.read_bytes()
    width = len(text.splitlines()[0].split(b","))
    crlf = text.splitlines(keepends=True)[0].endswith(b"\r\n")  # the file's line ending
    with path.open("ab") as handle:
        handle.write(broken_rows(width).replace(b"\n", b"\r\n") if crlf else
                     broken_rows(width))
    return len(text.splitlines()) + 1


def assert_broken_rows(found: list[tuple[str, str, str]], first: int) -> None:
    assert [int(r) for r, _, _ in found] == [first, first + 1, first + 2]
    reasons = [why for _, _, why in found]
    assert "ragged" in reasons[0] and "not UTF-8" in reasons[1] and "quote" in reasons[2]


def one_line_error(result: Any, *words: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_bill_keeps_broken_rows_of_each_input_apart(tmp_path: Path) -> None:
    args = fixed_inputs(tmp_path / "in")
    billed = tmp_path / "in" / "already_billed.csv"
    billed.write_text("line_id,member_id,service_date,hcpcs,provider_id\n"
                      "L0,M1,2026-04-04,H0040,1234567893\n")
    inputs = [Path(a) for a in args[1::2]] + [billed]
    firsts = {p.name: break_file(p) for p in inputs}
    out = tmp_path / "out"
    result = invoke("bill", *args, "--already-billed", str(billed), "--as-of", AS_OF_TEXT,
                    "--out", str(out))
    assert result.exit_code == 1, result.stdout + result.stderr
    found = errors_by_file(out)
    assert set(found) == set(firsts)
    for name, first in firsts.items():
        assert_broken_rows(found[name], first)
    with (out / "lines.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    assert {r["status"] for r in lines} >= {"billable", "already_billed"}


def test_audit_keeps_broken_rows_of_each_input_apart(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(REPO / "examples" / "audit", folder)
    contacts = write_csv(folder / "contacts.csv", CONTACT_FIELDS, days("2026-04", 1, 3))
    inputs = {"claims": folder / "other_claims.csv", "act-claims": folder / "act_claims.csv",
              "members": folder / "members.csv",
              "authorizations": folder / "authorizations.csv", "contacts": contacts}
    firsts = {p.name: break_file(p) for p in inputs.values()}
    out = tmp_path / "out"
    options = [part for option, path in inputs.items() for part in (f"--{option}", str(path))]
    result = invoke("audit", *options, "--as-of", AS_OF_TEXT, "--out", str(out))
    assert result.exit_code == 1, result.stdout + result.stderr
    found = errors_by_file(out)
    assert set(found) == set(firsts)
    for name, first in firsts.items():
        assert_broken_rows(found[name], first)
    assert (out / "findings.csv").read_text().count("\n") > 1


# Item 9: a run's own lines file, as it is, as --already-billed.
@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    folder = tmp_path_factory.mktemp("first")
    args = fixed_inputs(folder / "in")
    out = folder / "out"
    result = invoke("bill", *args, "--as-of", AS_OF_TEXT, "--out", str(out))
    assert result.exit_code == 0, result.stdout + result.stderr
    return args, out


def lines_of(out: Path) -> dict[str, dict[str, str]]:
    with (out / "lines.csv").open() as handle:
        return {r["service_date"]: r for r in csv.DictReader(handle)}


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_runs_lines_file_is_accepted_as_already_billed(
        tmp_path: Path, first_run: tuple[list[str], Path], form: str) -> None:
    args, first = first_run
    out = tmp_path / "second"
    result = invoke("bill", *args, "--already-billed", str(first / f"lines.{form}"),
                    "--as-of", AS_OF_TEXT, "--out", str(out))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (out / "errors.csv").read_text().count("\n") == 1  # the header only
    before, after = lines_of(first), lines_of(out)
    billable = [day for day, line in before.items() if line["status"] == "billable"]
    assert billable and all(after[day]["status"] == "already_billed" for day in billable)


def test_held_lines_of_a_runs_lines_file_were_not_billed(
        tmp_path: Path, first_run: tuple[list[str], Path]) -> None:
    args, first = first_run
    out = tmp_path / "second"
    result = invoke("bill", *args, "--already-billed", str(first / "lines.csv"),
                    "--as-of", AS_OF_TEXT, "--out", str(out))
    assert result.exit_code == 0, result.stdout + result.stderr
    before, after = lines_of(first), lines_of(out)
    held = [day for day, line in before.items() if line["status"] == "held"]
    assert held and all(after[day]["status"] == "held" for day in held)


# The small CSV files read with Python's csv module.
SMALL_BROKEN = {
    "not UTF-8": (b"\xff\xfe,x\n", ["line 3", "not UTF-8"]),
    "a 300 KB field": (b"x" * 300_000 + b",y\n", ["row 3", "field longer than"]),
    "an open quote": (b'"open,x\n', ["row 3", "cannot read"]),
}


def small_file(path: Path, header: str, good: str, broken: bytes) -> Path:
    path.write_bytes(f"{header}\n{good}\n".encode() + broken)
    return path


@pytest.mark.parametrize("shape", list(SMALL_BROKEN))
def test_team_check_unreadable_roster_is_one_line(tmp_path: Path, shape: str) -> None:
    broken, words = SMALL_BROKEN[shape]
    roster = small_file(tmp_path / "roster.csv",
                        "staff_id,name,role,credentials,degree,degree_field,experience",
                        "T1,J. Np,psychiatrist,PMHNP,master,nursing,", broken)
    one_line_error(invoke("team", "check", str(roster), "--policy", "mn-act"), str(roster),
                   *words)


def test_team_check_ragged_roster_row_goes_on_and_bom_crlf_are_read(tmp_path: Path) -> None:
    text = (REPO / "examples" / "team" / "mn-roster.csv").read_text()
    rows = text.splitlines()
    rows[1] = rows[1].replace("J. Np", '"J.\nNp"')  # a quoted line break: still row 2
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([*rows, "T9,short"]).encode() + b"\r\n")
    result = invoke("team", "check", str(roster), "--policy", "mn-act")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: {roster}: row {len(rows) + 1}, 2 fields where " \
        "the header has 7 (a ragged row)"
    assert "covered  Psychiatrist" in result.stdout


def test_team_check_huge_experience_months_is_a_row_error(tmp_path: Path) -> None:
    roster = small_file(tmp_path / "roster.csv",
                        "staff_id,name,role,credentials,degree,degree_field,experience",
                        "T1,J. Np,psychiatrist,PMHNP,master,nursing,supervision=" + "9" * 5000,
                        b"")
    result = invoke("team", "check", str(roster), "--policy", "mn-act")
    assert result.exit_code == 1 and "row 2, field experience" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("shape", [*SMALL_BROKEN, "ragged"])
def test_reasons_check_unreadable_code_list_is_one_line(tmp_path: Path, shape: str) -> None:
    broken, words = SMALL_BROKEN.get(shape, (b"15,x,,extra\n", ["row 3", "ragged"]))
    carc = small_file(tmp_path / "carc.csv", "code,description,stop_date", "119,x,", broken)
    one_line_error(invoke("reasons", "check", "--policy", "sc-act", "--carc", str(carc)),
                   str(carc), *words)


def test_code_list_with_bom_crlf_and_quoted_line_breaks_is_read(tmp_path: Path) -> None:
    carc = tmp_path / "carc.csv"
    carc.write_bytes(b"\xef\xbb\xbfcode,description,stop_date\r\n119,\"two\r\nlines\",\r\n"
                     b"15,x,2020-01-01\r\n")
    codes = read_code_list(carc)
    assert codes["119"].description == "two\r\nlines"
    assert str(codes["15"].stop_date) == "2020-01-01"


HCPCS_HEADER = "HCPC,SEQNUM,RECID,LONG DESCRIPTION,SHORT DESCRIPTION,ADD DT,ACT EFF DT,TERM DT," \
    "ACTION CD"
HCPCS_GOOD = "H0040,00200,3,Assertive community treatment program per diem,,20030101,,,N"


@pytest.mark.parametrize("shape", [*SMALL_BROKEN, "ragged"])
def test_codes_import_unreadable_csv_is_one_line(tmp_path: Path, shape: str) -> None:
    broken, words = SMALL_BROKEN.get(shape, (HCPCS_GOOD.encode() + b",extra\n",
                                             ["row 3", "ragged"]))
    path = small_file(tmp_path / "HCPC.csv", HCPCS_HEADER, HCPCS_GOOD, broken)
    one_line_error(invoke("codes", "import", str(path)), str(path), *words)


def test_hcpcs_csv_with_bom_crlf_and_a_blank_line_keeps_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "HCPC.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HCPCS_HEADER}\r\n{HCPCS_GOOD}\r\n\r\n".encode() +
                     HCPCS_GOOD.replace("20030101", "2003-13-45").encode() + b"\r\n")
    with pytest.raises(Exception, match="row 4: field 'code added date'"):
        read_hcpcs_file(path)
    path.write_bytes(b"\xef\xbb\xbf" + f"{HCPCS_HEADER}\r\n{HCPCS_GOOD}\r\n".encode())
    assert [r.code for r in read_hcpcs_file(path).records] == ["H0040"]


def test_bill_contact_after_the_as_of_date_is_one_rejected_row(tmp_path: Path) -> None:
    """Item 4: one contact dated 9999-12-31 is a rejected row (after the as-of date)."""
    args = fixed_inputs(tmp_path / "in")
    contacts = Path(args[1])
    with contacts.open("a", newline="") as handle:
        csv.DictWriter(handle, CONTACT_FIELDS).writerow(contact("9999-12-31"))
    out = tmp_path / "out"
    result = invoke("bill", *args, "--as-of", AS_OF_TEXT, "--out", str(out))
    assert result.exit_code == 1, result.stdout + result.stderr
    [(_, field, why)] = errors_by_file(out)["contacts.csv"]
    assert field == "contact_date" and why.startswith(f"after the as-of date {AS_OF_TEXT}: ")
    assert "9999" not in why
