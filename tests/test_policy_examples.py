"""The policy examples (policies/<pack>/examples/*.yaml) in one batch: the billing examples
of both packs in one engine run, the audit examples in one audit run (two: with and without
a contact log), the cases one by one. Every billing rule, criterion and audit rule of each
pack has an example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bhpolicy.errors import DataFileError
from bhpolicy.policy.example_coverage import catalogue, uncovered
from bhpolicy.policy.example_schema import ExampleResult
from bhpolicy.policy.examples import run_examples
from bhpolicy.policy.registry import PolicyRegistry, builtin_policy_root, load_pack, load_registry


@pytest.fixture(scope="module")
def results() -> list[ExampleResult]:
    return run_examples(load_registry())


def test_every_example_gives_what_the_policy_expects(results: list[ExampleResult]) -> None:
    problems = [f"{r.where}: {p}" for r in results for p in r.problems]
    assert not problems, "\n".join(problems)
    assert {r.kind for r in results} == {"billing", "criteria", "audit"}
    assert {r.pack for r in results} == {"sc-act", "mn-act"}


def test_every_rule_and_criterion_has_an_example(results: list[ExampleResult]) -> None:
    missing = uncovered(load_registry(), results)
    assert not missing, "no example for: " + ", ".join(missing)


def test_the_catalogue_holds_each_kind_of_rule() -> None:
    sc, mn = (catalogue(load_registry().get(a)) for a in ("sc-act", "mn-act"))
    assert {"over_monthly_cap", "team_size_modifier", "place_of_service_excluded"} <= sc[
        "billing"]
    assert "over_monthly_cap" not in mn["billing"] and "per_diem_day" in mn["billing"]
    assert {"I.A", "I.B.4", "II.B.5", "III.D.2"} <= sc["criteria"]
    assert {"MN.MA", "MN.FUNCTIONAL"} <= mn["criteria"]
    assert "per_diem.contributing_agency_billed" in mn["audit"]


def _registry_with(tmp_path: Path, file: str, text: str) -> PolicyRegistry:
    folder = tmp_path / "sc-act"
    shutil.copytree(builtin_policy_root() / "sc-act", folder)
    shutil.rmtree(folder / "examples")
    (folder / "examples").mkdir()
    (folder / "examples" / file).write_text(text)
    pack = load_pack(folder)
    return PolicyRegistry(tuple(pack if p.alias == "sc-act" else p
                                for p in load_registry().packs))


WRONG = """examples:
  - name: a 7-minute contact said to bill
    kind: billing
    section: Prior Authorization, Continuity of Care, and Reimbursement
    input:
      authorizations: [{start: 2026-03-01, end: 2026-03-31, team_size: small}]
      contacts: [{date: 2026-03-02, minutes: 7}]
    expected:
      lines: [{date: 2026-03-02, status: billable}]
  - name: a case said to meet
    kind: criteria
    section: I.A
    input: {request_type: initial, request_date: 2026-03-10, facts: {birth_date: "2010-01-01"}}
    expected: {outcome: meets_criteria, met: [I.A]}
"""


def test_a_wrong_expectation_is_reported_naming_file_example_and_difference(
        tmp_path: Path) -> None:
    results = run_examples(_registry_with(tmp_path, "wrong.yaml", WRONG))
    mine = {r.name: r for r in results if r.file.endswith("wrong.yaml")}
    billing = mine["a 7-minute contact said to bill"]
    assert "line M1 2026-03-02: expected, but no line" in billing.problems
    assert any("under_min_minutes" in p and "not expected" in p for p in billing.problems)
    case = mine["a case said to meet"]
    assert "criterion I.A is not_met, expected met" in case.problems
    assert any(p.startswith("outcome is refer") for p in case.problems)
    assert case.where.split("/")[-1] == "wrong.yaml: example 'a case said to meet'"


def test_a_bad_example_file_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    bad = WRONG.replace("status: billable", "status: paid")
    with pytest.raises(DataFileError) as caught:
        run_examples(_registry_with(tmp_path, "bad.yaml", bad))
    assert "bad.yaml" in str(caught.value) and "examples.0" in str(caught.value)
