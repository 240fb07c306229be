"""End-to-end through the ``bhpolicy`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden"
EXAMPLE = REPO / "examples" / "hcpcs" / "HCPC_sample_ANWEB.txt"


def run(*args: str, env: dict[str, str] | None = None, timeout: float | None = 600
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bhpolicy.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False, cwd=REPO, timeout=timeout)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BHPOLICY_REGENERATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file {path} missing; regenerate on purpose"
    assert text == path.read_text()


def test_codes_show_prints_the_whole_entry() -> None:
    result = run("codes", "show", "H0040")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ["Assertive community treatment program, per diem", "Also known as",
                     "In plain language", "Clinical context", "Unit of service: per diem",
                     "RVU status", "Documentation needs", "Specialties", "Related codes:",
                     "U1 for SC.CP.BH.500: Small ACT team.", "Payer notes:",
                     "SC.CP.BH.500 I.F", "Sources:"]:
        assert expected in out, expected


def test_conflict_is_shown_before_the_fields() -> None:
    out = run("codes", "show", "h2040").stdout
    assert out.index("! CONFLICT") < out.index("Unit of service")
    assert "Short descriptor: absent (no source gives it)" in out


@pytest.mark.parametrize("code", ["H0040", "H2040"])
def test_codes_show_json_golden(code: str) -> None:
    result = run("codes", "show", code, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["entry"]["code"] == code
    check_golden(f"codes-show-{code}.json", result.stdout)


def test_codes_search_text_and_json() -> None:
    text = run("codes", "search", "asertive comunity tretment", "--limit", "2")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].startswith(" 1. H0040")
    data = json.loads(run("codes", "search", "daily behavior therapy", "--json").stdout)
    assert data["results"][0]["code"] == "H2020"


def test_policies_list_and_show() -> None:
    listing = run("policies", "list")
    assert "SC.CP.BH.500" in listing.stdout and "mn-act" in listing.stdout
    shown = run("policies", "show", "SC.CP.BH.500")
    assert shown.returncode == 0
    for expected in ["issuer: Absolute Total Care", "revision: 02/26",
                     "contact_min_minutes (minutes) section Prior Authorization",
                     "from 2026-02-01: 15", "assumptions:"]:
        assert expected in shown.stdout, expected
    data = json.loads(run("policies", "show", "mn-act", "--as-of", "2024-05-01",
                          "--json").stdout)
    assert data["parameters"]["locus_level"]["in_force"]["value"] == 4
    assert data["parameters"]["locus_level"]["in_force"]["section"] == "Eligible Recipients"


def test_policies_show_as_of_before_a_value_says_so() -> None:
    """Before the pack's first revision (02/24) no value is in force."""
    out = run("policies", "show", "sc-act", "--as-of", "2023-06-01").stdout
    assert "parameter 'monthly_max_billed_days' has no value in force on 2023-06-01" in out


def test_import_then_show_an_imported_code(tmp_path: Path) -> None:
    home = {"BHPOLICY_HOME": str(tmp_path / "home")}
    before = run("codes", "show", "H0019", env=home)
    assert before.returncode == 2 and "bhpolicy codes import" in before.stderr
    imported = run("codes", "import", str(EXAMPLE), "--json", env=home)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["codes"] == 13
    after = run("codes", "show", "H0019", env=home)
    assert after.returncode == 0
    assert "long-term residential" in after.stdout
    assert "Unit of service: per diem [cms-import]" in after.stdout
    assert run("codes", "search", "long-term residential", env=home).stdout.startswith(
        " 1. H0019")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["codes", "show", "ZZ999"], "error: unknown code 'ZZ999'"),
        (["codes", "search", " "], "error: empty query"),
        (["codes", "import", "/nonexistent/HCPC.txt"], "error: /nonexistent/HCPC.txt: file"),
        (["policies", "show", "tx-act"], "error: no policy pack 'tx-act'"),
        (["policies", "show", "sc-act", "--as-of", "2026-02-30"], "error: --as-of"),
        (["--policy-dir", "/nonexistent", "policies", "list"], "error: /nonexistent: folder"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_malformed_import_file_via_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("H0040000015" + " " * 300 + "\n")
    result = run("codes", "import", str(bad))
    assert result.returncode == 2
    assert f"{bad}: line 1: field 'record identification code'" in result.stderr
