"""``bhpolicy audit`` and ``bhpolicy team check`` end to end: synth data, golden findings and
report, a real browser, bad input, and the roster check."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import REPO
from tests.support.browser import needs_chromium, open_page
from tests.test_cli import check_golden, run

EXAMPLES = REPO / "examples" / "audit"
TEAM = REPO / "examples" / "team"


def example_args(out: Path) -> list[str]:
    return ["audit", "--claims", str(EXAMPLES / "other_claims.csv"),
            "--members", str(EXAMPLES / "members.csv"),
            "--authorizations", str(EXAMPLES / "authorizations.csv"),
            "--act-claims", str(EXAMPLES / "act_claims.csv"), "--out", str(out)]


def test_synth_then_audit(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    assert run("synth", "--members", "40", "--months", "2", "--out", str(data)).returncode == 0
    out = tmp_path / "audit"
    result = run("audit", "--claims", str(data / "other_claims.csv"), "--members",
                 str(data / "members.csv"), "--authorizations",
                 str(data / "authorizations.csv"), "--contacts", str(data / "contacts.csv"),
                 "--act-claims", str(data / "act_claims.csv"), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rules = {r["rule_id"] for r in summary["by_rule"]}
    assert {"concurrent.psychosocial_rehabilitation", "per_diem.duplicate_per_diem",
            "per_diem.per_diem_without_contact"} <= rules
    assert summary["rejected_rows"] == 0
    with (out / "findings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["findings"]
    assert all(r["section"] and r["policy_id"] and r["policy_revision"] for r in rows)


def test_findings_golden(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(*example_args(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    with (out / "findings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    check_golden("audit-findings.json", json.dumps(
        {"by_rule": summary["by_rule"], "amount_at_stake": summary["amount_at_stake"],
         "findings": rows}, indent=2, sort_keys=True) + "\n")


def test_report_golden(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(*example_args(out)).returncode == 0
    check_golden("audit-report.html", (out / "report.html").read_text())


@needs_chromium
def test_report_in_a_real_browser(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(*example_args(out)).returncode == 0
    with open_page(out / "report.html") as page:
        assert page.inner_text("#total-findings") == "9"
        assert page.inner_text("#total-amount") == "1610.00"
        assert page.locator("#findings tr").count() == 10  # header + 9
        assert "unverified" in page.inner_text("#unverified")
        assert "concurrent.psychosocial_rehabilitation" in page.inner_text("#by-rule")


def test_bad_rows_exit_1_and_good_rows_go_on(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    text = (EXAMPLES / "other_claims.csv").read_text()
    # the second bad value spans two lines of errors.csv (a quoted cell): still one row
    claims.write_text(text + "BAD,M1,2026-13-01,2026-04-01,90834,,,,999,11,1,5.00,\n"
                      'BAD2,M1,"2026-04-01\n, x",2026-04-01,90834,,,,999,11,1,5.00,\n')
    out = tmp_path / "out"
    args = example_args(out)
    args[2] = str(claims)
    result = run(*args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "rejected input rows: 2" in result.stdout
    errors = (out / "errors.csv").read_text()
    assert "from_date" in errors and "not a date" in errors


def test_a_rejected_value_longer_than_a_csv_line_limit_is_counted(tmp_path: Path) -> None:
    # the value is copied whole into errors.csv; the count reads that file (2.5 MB a line)
    claims = tmp_path / "claims.csv"
    text = (EXAMPLES / "other_claims.csv").read_text()
    claims.write_text(text + "BAD,M1," + "x" * 2_500_000 +
                      ",2026-04-01,90834,,,,999,11,1,5.00,\n")
    out = tmp_path / "out"
    args = example_args(out)
    args[2] = str(claims)
    result = run(*args)
    assert result.returncode == 1, result.stderr
    assert "rejected input rows: 1" in result.stdout


def test_missing_column_is_one_line(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,member_id\nX,M1\n")
    args = example_args(tmp_path / "out")
    args[2] = str(claims)
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "from_date" in result.stderr


def test_contacts_without_act_claims_is_refused(tmp_path: Path) -> None:
    # the contact log is read only against ACT per diems: never ignored in silence
    args = example_args(tmp_path / "out")
    i = args.index("--act-claims")
    args[i:i + 2] = ["--contacts", str(EXAMPLES / "other_claims.csv")]
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--contacts needs --act-claims" in result.stderr
    assert not (tmp_path / "out").exists()


def test_team_check_sc_names_the_missing_roles() -> None:
    """Background section: the eight roles, with degrees, licenses and experience."""
    result = run("team", "check", str(TEAM / "sc-roster.csv"), "--policy", "sc-act")
    assert result.returncode == 0, result.stderr
    check_golden("team-check-sc.txt", result.stdout)
    assert "may bill" not in result.stdout.lower()


def test_team_check_mn_json() -> None:
    """Eligible ACT Providers: the five specialists."""
    result = run("team", "check", str(TEAM / "mn-roster.csv"), "--policy", "mn-act", "--json")
    data = json.loads(result.stdout)
    assert data["missing"] == ["vocational_specialist"]
    psychiatrist = next(r for r in data["roles"] if r["role"] == "psychiatrist")
    assert psychiatrist["covered"] and "provisional" in psychiatrist["notes"][0]


def test_team_check_bad_row_goes_on(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text((TEAM / "mn-roster.csv").read_text() +
                      "T9,Z,registered_nurse,RN,phd,,\n")
    result = run("team", "check", str(roster), "--policy", "mn-act")
    assert result.returncode == 1
    assert "row 7, field degree" in result.stderr
    assert "covered  Registered nurse" in result.stdout
