"""``bhpolicy check`` and ``bhpolicy schema case`` end to end, with golden files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO
from tests.test_cli import check_golden, run

CASES = REPO / "examples" / "cases"
EXAMPLES = sorted(p.name for p in CASES.glob("*.json"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_case_golden_json(name: str) -> None:
    result = run("check", str(CASES / name), "--format", "json")
    assert result.returncode == 0, result.stderr
    check_golden(f"check-{Path(name).stem}.json", result.stdout)


def test_batch_golden_text_and_html() -> None:
    text = run("check", str(CASES / "batch.jsonl"), "--format", "text")
    assert text.returncode == 0, text.stderr
    check_golden("check-batch.txt", text.stdout)
    html = run("check", str(CASES / "batch.jsonl"), "--format", "html")
    assert html.returncode == 0
    check_golden("check-batch.html", html.stdout)


def test_outcomes_of_examples() -> None:
    lines = run("check", str(CASES / "batch.jsonl"), "--format", "json").stdout.splitlines()
    outcomes = {d["case_id"]: d["outcome"] for d in map(json.loads, lines)}
    assert outcomes == {"MN-INIT-001": "meets_criteria", "SC-CS-001": "meets_criteria",
                        "SC-DC-001": "meets_criteria", "SC-INIT-001": "meets_criteria",
                        "SC-INIT-002": "pend", "SC-INIT-003": "refer"}


def test_batch_with_bad_cases_goes_on(tmp_path: Path) -> None:
    good = (CASES / "sc-initial-meets.json").read_text().replace("\n", " ")
    bad_date = good.replace('"1990-04-02"', '"1990-13-02"').replace("SC-INIT-001", "BAD-1")
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join([good, "{not json", bad_date, good]) + "\n")
    errors = tmp_path / "errors.txt"
    result = run("check", str(path), "--format", "json", "--errors", str(errors))
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2
    lines = errors.read_text().splitlines()
    assert lines[0].startswith(f"{path}: line 2: not JSON")
    assert lines[1] == (f"{path}: line 3: case 'BAD-1': field facts.birth_date: '1990-13-02' "
                        "is not a date (YYYY-MM-DD)")
    assert "Traceback" not in result.stderr


def test_single_bad_case_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"case_id": "X", "policy": "sc-act", "request_type": "renewal",
                                "request_date": "2026-03-01", "facts": {}}))
    result = run("check", str(path))
    assert result.returncode == 1
    assert "case 'X': field request_type: 'renewal' is not one of" in result.stderr


def test_schema_accepts_examples_and_rejects_wrong_fields() -> None:
    result = run("schema", "case")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in EXAMPLES:
        validator.validate(json.loads((CASES / name).read_text()))
    bad = json.loads((CASES / "mn-initial.json").read_text())
    bad["facts"]["impaired_domains"] = ["cooking"]
    assert not validator.is_valid(bad)
    bad = json.loads((CASES / "sc-initial-meets.json").read_text())
    bad["facts"]["locus_level"] = 4  # a Minnesota fact in a South Carolina case
    assert not validator.is_valid(bad)
