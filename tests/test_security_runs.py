"""Runs are atomic and owner-only, CSV outputs cannot run formulas, an output that cannot be
written is one line with exit code 2 (issue 14 items 2, 6 and 7)."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import duckdb
import pytest

from bhpolicy.io.outputs import atomic_write_text, neutralise_value
from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    auth,
    contact,
    days,
    member,
    write_csv,
)
from tests.test_cli import run

FORMULA = "=HYPERLINK(\"http://evil.example\",\"click\")"
# (CSV inputs are trimmed, so a leading tab or CR is tested on the writer itself below)
PAYLOADS = [FORMULA, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


def _inputs(folder: Path, **member_fields: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, days("2026-03", 1, 3)),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member(**member_fields)]),
             write_csv(folder / "authorizations.csv", AUTH_FIELDS, [auth()])]
    return ["--contacts", str(paths[0]), "--members", str(paths[1]),
            "--authorizations", str(paths[2])]


def _csv_cells(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_csv_outputs_neutralise_formula_cells_and_parquet_keeps_them(tmp_path: Path,
                                                                    payload: str) -> None:
    """OWASP CSV injection: a text cell starting = + - @ tab or CR gets a leading apostrophe
    in every CSV written; the Parquet file keeps the value as given."""
    args = _inputs(tmp_path / "in", last_name=payload, first_name=payload, city=payload,
                   address_line=payload)
    out = tmp_path / "out"
    result = run("bill", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    cells = _csv_cells(out / "subscribers.csv")
    # the csv reader strips nothing: a neutralised cell begins with the apostrophe
    assert f"'{payload}" in cells
    assert payload not in cells
    for name in ("lines", "member_months", "unbilled_days", "subscribers", "errors"):
        for cell in _csv_cells(out / f"{name}.csv"):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
    raw = duckdb.execute(f"SELECT last_name FROM '{out / 'subscribers.parquet'}'").fetchall()
    assert raw == [(payload,)]


def test_csv_ready_neutralises_every_formula_start_in_text_columns_only() -> None:
    import ibis

    from bhpolicy.io.outputs import csv_ready

    values = ["=1+1", "+1+1", "-1+2", "@A1", "\tx", "\rx", "ok", "-1", None]
    import pyarrow as pa

    table = ibis.memtable(pa.table({"text": values, "number": list(range(len(values)))}))
    got = csv_ready(table).to_pyarrow().to_pydict()
    assert got["text"] == ["'=1+1", "'+1+1", "'-1+2", "'@A1", "'\tx", "'\rx", "ok", "-1",
                           None]
    assert got["number"] == list(range(len(values)))


def test_plain_numbers_stay_numbers_in_csv(tmp_path: Path) -> None:
    """A cell such as -1 is a number to a spreadsheet, not a formula; it is not changed, and
    numeric columns stay numeric."""
    assert neutralise_value("-1") == "-1"
    assert neutralise_value("-1.50") == "-1.50"
    assert neutralise_value("-1+2") == "'-1+2"
    out = tmp_path / "out"
    result = run("bill", *_inputs(tmp_path / "in"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    with (out / "lines.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["units"].isdigit() for r in rows)


def test_audit_csv_outputs_neutralise_formula_cells(tmp_path: Path) -> None:
    from tests.audit_helpers import CLAIM_FIELDS

    folder = tmp_path / "in"
    folder.mkdir()
    # psychosocial rehabilitation on day 31 of the episode: a finding (SC "Allowable")
    claim = {"claim_id": FORMULA, "member_id": "M1", "from_date": "2026-04-10",
             "to_date": "2026-04-10", "hcpcs": "H2017", "modifiers": "", "revenue_code": "",
             "bill_type": "", "provider_id": "@1234567893", "pos": "11", "units": "1",
             "paid_amount": "10.00", "authorization_id": ""}
    claims = write_csv(folder / "claims.csv", CLAIM_FIELDS, [claim])
    members = write_csv(folder / "members.csv", MEMBER_FIELDS, [member()])
    auths = write_csv(folder / "auths.csv", AUTH_FIELDS, [auth()])
    out = tmp_path / "out"
    result = run("audit", "--claims", str(claims), "--members", str(members),
                 "--authorizations", str(auths), "--out", str(out))
    assert result.returncode == 0, result.stderr
    cells = _csv_cells(out / "findings.csv")
    assert f"'{FORMULA}" in cells and FORMULA not in cells
    assert "'@1234567893" in cells


def test_run_folder_has_a_manifest_written_last(tmp_path: Path) -> None:
    """manifest.json: version, packs and revisions, as-of date, every input's path, size and
    SHA-256, row counts, start and finish, and every output with its hash."""
    args = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = run("bill", *args, "--out", str(out), "--as-of", "2026-06-30")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tool"] == "bhpolicy" and manifest["command"] == "bill"
    assert manifest["as_of"] == "2026-06-30"
    assert {p["id"] for p in manifest["policies"]} == {"SC.CP.BH.500"}
    assert all(p["revision"] for p in manifest["policies"])
    contacts = manifest["inputs"]["contacts"]
    assert contacts["path"].endswith("contacts.csv") and len(contacts["sha256"]) == 64
    assert contacts["bytes"] == (tmp_path / "in" / "contacts.csv").stat().st_size
    assert manifest["counts"]["rejected_rows"] == 0
    assert manifest["started_at"] <= manifest["finished_at"]
    listed = {o["file"] for o in manifest["outputs"]}
    on_disk = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert listed == on_disk


def test_rerun_with_fewer_formats_leaves_no_stale_files(tmp_path: Path) -> None:
    args = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert run("bill", *args, "--out", str(out)).returncode == 0
    assert (out / "lines.csv").exists()
    assert run("bill", *args, "--out", str(out), "--formats", "parquet",
               "--no-html").returncode == 0
    assert not (out / "lines.csv").exists() and not (out / "report.html").exists()
    assert (out / "lines.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name or ".old-" in p.name]


def test_out_folder_not_a_bhpolicy_run_is_never_emptied(tmp_path: Path) -> None:
    documents = tmp_path / "Documents"
    documents.mkdir()
    (documents / "taxes.txt").write_text("mine")
    result = run("bill", *_inputs(tmp_path / "in"), "--out", str(documents))
    assert result.returncode == 2
    assert "holds no bhpolicy manifest.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert (documents / "taxes.txt").read_text() == "mine"


def test_failed_run_leaves_the_previous_run_untouched(tmp_path: Path) -> None:
    """A run that fails part-way (here: a DuckDB failure while writing) leaves the folder as
    the last finished run left it, and no staging folder behind."""
    args = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert run("bill", *args, "--out", str(out)).returncode == 0
    before = (out / "manifest.json").read_text()
    # an unreadable members file fails the next run before anything is written
    (tmp_path / "in" / "members.csv").write_text("nothing,useful\n1,2\n")
    failed = run("bill", *args, "--out", str(out))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert (out / "manifest.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_837p_refuses_a_run_without_a_finished_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("bill", *_inputs(tmp_path / "in"), "--out", str(out)).returncode == 0
    (out / "manifest.json").unlink()  # as a killed run would leave it
    result = run("claims", "837p", "--run", str(out), "--config",
                 str(Path(__file__).parent.parent / "examples" / "submitter.toml"),
                 "--out", str(tmp_path / "claims.x12"))
    assert result.returncode == 2
    assert "not a finished bhpolicy run" in result.stderr
    assert not (tmp_path / "claims.x12").exists()


def test_already_billed_from_an_unfinished_run_is_refused(tmp_path: Path) -> None:
    args = _inputs(tmp_path / "in")
    first = tmp_path / "first"
    assert run("bill", *args, "--out", str(first)).returncode == 0
    (first / "manifest.json").unlink()
    result = run("bill", *args, "--out", str(tmp_path / "second"), "--already-billed",
                 str(first / "lines.csv"))
    assert result.returncode == 2 and "not a finished bhpolicy run" in result.stderr


def test_every_output_file_is_owner_only(tmp_path: Path) -> None:
    """The process umask is 077: lines, subscribers, errors, report and manifest are 0600
    and the run folder 0700, whatever the caller's umask."""
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        result = run("bill", *_inputs(tmp_path / "in"), "--out", str(out))
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.mark.parametrize("where", ["under_a_file", "read_only", "dev_full"])
def test_unwritable_output_is_one_line_with_exit_2(tmp_path: Path, where: str) -> None:
    args = _inputs(tmp_path / "in")
    if where == "under_a_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
        result = run("bill", *args, "--out", str(out))
    elif where == "read_only":
        if os.geteuid() == 0:
            # root ignores permission bits: a folder on a read-only mount is what fails
            pytest.skip("root writes through permission bits; /proc stands in below")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = run("bill", *args, "--out", str(locked / "out"))
    else:
        cases = Path(__file__).parent.parent / "examples" / "cases" / "sc-initial-meets.json"
        result = run("check", str(cases), "--format", "json", "--out", "/dev/full")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")


def test_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    """/proc refuses new files for root too: the stand-in for a read-only disk."""
    result = run("bill", *_inputs(tmp_path / "in"), "--out", "/proc/bhpolicy-out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: /proc/bhpolicy-out")


def test_atomic_write_leaves_old_file_when_it_fails(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while writing: one line, the old file untouched, no temporary left."""
    from bhpolicy.io import outputs

    target = tmp_path / "report.html"
    atomic_write_text(target, "old")

    def full(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)
    with pytest.raises(outputs.OutputError, match="no space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_check_out_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    cases = Path(__file__).parent.parent / "examples" / "cases" / "batch.jsonl"
    out = tmp_path / "d.jsonl"
    result = run("check", str(cases), "--format", "json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().count("\n") == sum(1 for line in cases.read_text().splitlines()
                                              if line.strip())
    assert [p.name for p in tmp_path.iterdir()] == ["d.jsonl"]


def test_contact_dates_outside_the_plausible_range_do_not_blow_up(tmp_path: Path) -> None:
    """One contact dated 9999-12-31 and one 0001-01-01: the run still finishes quickly, the
    per-day parameter table spans only plausible dates, the other days are billed."""
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [*days("2026-03", 1, 3), contact("9999-12-31"), contact("0001-01-01")]
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, rows),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
             write_csv(folder / "authorizations.csv", AUTH_FIELDS, [auth()])]
    out = tmp_path / "out"
    result = run("bill", "--contacts", str(paths[0]), "--members", str(paths[1]),
                 "--authorizations", str(paths[2]), "--out", str(out), timeout=120)
    assert result.returncode == 1, result.stderr
    with (out / "errors.csv").open() as handle:
        errors = list(csv.DictReader(handle))
    assert [e["field"] for e in errors] == ["contact_date", "contact_date"]
    billable = duckdb.execute(f"SELECT count(*) FROM '{out / 'lines.parquet'}' "
                              "WHERE status = 'billable'").fetchone()
    assert billable is not None and billable[0] == 3
