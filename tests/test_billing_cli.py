"""``bhpolicy synth`` and ``bhpolicy bill`` end to end; the HTML report (golden file and a
real browser)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

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
from tests.support.browser import needs_chromium, open_page
from tests.test_cli import check_golden, run


def fixed_inputs(folder: Path) -> list[str]:
    """A small deterministic run with every kind of line and no-line day."""
    folder.mkdir(parents=True, exist_ok=True)
    contacts = [
        *days("2026-03", 1, 17),
        contact("2026-03-20", minutes=7), contact("2026-03-21", group=True),
        contact("2026-03-22", mode="phone"), contact("2026-03-23", participant="collateral"),
        contact("2026-05-02"), *days("2026-04", 1, 4)]
    ids = iter(range(1, 1000))
    for row in contacts:  # stable contact ids whatever ran before
        row["contact_id"] = f"F{next(ids):03d}"
    paths = [write_csv(folder / "contacts.csv", CONTACT_FIELDS, contacts),
             write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
             write_csv(folder / "authorizations.csv", AUTH_FIELDS, [auth()])]
    return ["--contacts", str(paths[0]), "--members", str(paths[1]),
            "--authorizations", str(paths[2])]


def test_synth_then_bill(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    made = run("synth", "--members", "30", "--months", "2", "--out", str(data))
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    billed = run("bill", "--contacts", str(data / "contacts.csv"), "--members",
                 str(data / "members.csv"), "--authorizations",
                 str(data / "authorizations.csv"), "--out", str(out))
    assert billed.returncode == 0, billed.stderr
    assert "rejected input rows: 0" in billed.stdout
    for name in ("lines", "member_months", "unbilled_days", "other_provider_contacts"):
        assert (out / f"{name}.parquet").exists() and (out / f"{name}.csv").exists()
    assert (out / "report.html").exists()
    with (out / "lines.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["status"] for r in rows} >= {"billable", "held"}
    with (out / "subscribers.csv").open() as handle:
        subscribers = list(csv.DictReader(handle))
    assert {r["member_id"] for r in rows} <= {s["member_id"] for s in subscribers}
    assert all(len(s["medicaid_id"]) == 10 for s in subscribers)  # leading zeros kept


def test_bad_rows_exit_non_zero_with_errors_file(tmp_path: Path) -> None:
    args = fixed_inputs(tmp_path / "in")
    contacts = Path(args[1])
    contacts.write_text(contacts.read_text() +
                        "BAD1,M1,1234567893,S1,2026-03-09,ten,in_person,member,false,12\n")
    out = tmp_path / "out"
    result = run("bill", *args, "--out", str(out))
    assert result.returncode == 1
    assert "rejected input rows: 1" in result.stdout
    with (out / "errors.csv").open() as handle:
        errors = list(csv.DictReader(handle))
    assert errors == [{"file": str(contacts), "row": "28", "field": "minutes",
                       "reason": "not a whole number", "value": "ten",
                       "provider_id": "1234567893"}]


def test_missing_column_is_one_line(tmp_path: Path) -> None:
    args = fixed_inputs(tmp_path / "in")
    contacts = Path(args[1])
    text = contacts.read_text().splitlines()
    contacts.write_text("\n".join(line.rsplit(",", 1)[0] for line in text).replace(
        ",group", ",grp") + "\n")
    result = run("bill", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {contacts}: header: missing column 'group'"


def test_report_golden(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("bill", *fixed_inputs(tmp_path / "in"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    check_golden("billing-report.html", (out / "report.html").read_text())


@needs_chromium
def test_report_in_a_real_browser(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("bill", *fixed_inputs(tmp_path / "in"), "--out", str(out)).returncode == 0
    with open_page(out / "report.html") as page:
        totals = page.inner_text("#totals")
        assert "billable\t19" in totals and "held\t3" in totals
        assert page.inner_text("#rejected") == "0"
        march = page.locator('.cal[data-member="M1"][data-month="2026-03-01"]')
        assert march.locator("td.billable").count() == 15
        assert march.locator("td.held").count() == 2
        assert march.locator("td.none").count() == 4
        assert "I.F" in page.inner_text("body")  # care continues past the cap
        page.screenshot(path=str(out / "report.png"), full_page=True)


def test_out_of_memory_is_one_line(tmp_path: Path) -> None:
    args = fixed_inputs(tmp_path / "in")
    result = run("bill", *args, "--out", str(tmp_path / "out"), "--memory-limit", "1MB",
                 "--threads", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "memory" in lines[0].lower()


def test_disk_store_bills_like_memory(tmp_path: Path) -> None:
    """--store disk keeps the work tables in a temp database file (for runs larger than
    memory); the outputs are the same and the file is removed."""
    args = fixed_inputs(tmp_path / "in")
    temp = tmp_path / "duckdb-temp"
    runs = {}
    for store in ("memory", "disk"):
        out = tmp_path / store
        result = run("bill", *args, "--out", str(out), "--store", store, "--no-html",
                     env={"TMPDIR": str(temp)})
        assert result.returncode == 0, result.stderr
        runs[store] = sorted((out / "lines.csv").read_text().splitlines())
    assert runs["memory"] == runs["disk"]
    assert not list((temp / "bhpolicy-duckdb").glob("run-*.duckdb*"))


def test_memory_limit_parsing() -> None:
    from bhpolicy.domain.runs import memory_bytes
    from bhpolicy.errors import BhpolicyError

    assert memory_bytes("2GB") == 2 * 10**9 and memory_bytes("512MiB") == 512 * 2**20
    with pytest.raises(BhpolicyError):
        memory_bytes("lots")
