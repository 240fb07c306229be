"""Minnesota ACT eligibility (DHS provider manual, Eligible Recipients)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bhpolicy.criteria.cases import CaseError, parse_case
from bhpolicy.criteria.evaluate import determine
from bhpolicy.policy import load_registry
from bhpolicy.policy.registry import builtin_policy_root
from tests.criteria_helpers import node, run

MN: dict[str, Any] = {
    "ma_eligible": True,
    "birth_date": "1985-10-12",
    "serious_mental_illness_primary": True,
    "in_team_target_population": True,
    "locus_level": 4,
    "impaired_domains": ["mental_health_symptoms", "self_care_and_independent_living",
                         "housing_and_transportation_needs"],
}


def mn(**changes: Any) -> dict[str, Any]:
    return {**MN, **changes}


def mn_status(facts: dict[str, Any], node_id: str) -> str:
    return str(node(run(facts, policy="mn-act", request_date="2026-09-01"), node_id)["status"])


def test_complete_case_meets() -> None:
    result = run(MN, policy="mn-act", request_date="2026-09-01")
    assert result.outcome == "meets_criteria"
    assert result.to_json()["policy_id"] == "MN.DHS.ACT"


@pytest.mark.parametrize(("fact_name", "node_id"), [
    ("ma_eligible", "MN.MA"),
    ("serious_mental_illness_primary", "MN.SMI"),
    ("in_team_target_population", "MN.TARGET"),
])
def test_each_yes_no_condition(fact_name: str, node_id: str) -> None:
    assert mn_status(mn(**{fact_name: False}), node_id) == "not_met"


def test_adult_on_request_date() -> None:
    assert mn_status(mn(birth_date="2008-09-01"), "MN.AGE") == "met"
    assert mn_status(mn(birth_date="2008-09-02"), "MN.AGE") == "not_met"


@pytest.mark.parametrize(("level", "expected"), [(3, "not_met"), (4, "met"), (5, "not_met")])
def test_locus_level_four_as_the_page_reads(level: int, expected: str) -> None:
    assert mn_status(mn(locus_level=level), "MN.LOCUS") == expected


def test_locus_four_or_higher_is_a_pack_setting(tmp_path: Path) -> None:
    pack = tmp_path / "mn-gte"
    shutil.copytree(builtin_policy_root() / "mn-act", pack)
    policy = pack / "policy.yaml"
    policy.write_text(policy.read_text().replace("id: MN.DHS.ACT", "id: MN.DHS.ACT.GTE")
                      .replace("alias: mn-act", "alias: mn-act-gte"))
    params = pack / "parameters.yaml"
    params.write_text(params.read_text().replace("value: eq", "value: gte"))
    registry = load_registry([tmp_path])
    raw = {"case_id": "G", "policy": "mn-act-gte", "request_type": "initial",
           "request_date": "2026-09-01", "facts": mn(locus_level=5)}
    assert determine(parse_case(raw, registry, "t")).outcome == "meets_criteria"


def test_two_versus_three_impaired_domains() -> None:
    assert mn_status(mn(impaired_domains=MN["impaired_domains"][:2]), "MN.FUNCTIONAL") == \
        "not_met"
    assert mn_status(MN, "MN.FUNCTIONAL") == "met"


def test_unknown_domain_is_an_error() -> None:
    with pytest.raises(CaseError, match=r"facts\.impaired_domains\[0\]: not one of "
                       r"functional_domains \(mental_health_symptoms, "):
        run(mn(impaired_domains=["cooking", "mental_health_symptoms"]), policy="mn-act",
            request_date="2026-09-01")


def test_locus_out_of_range_is_an_error() -> None:
    with pytest.raises(CaseError, match=r"facts\.locus_level: outside 1\.\.6$"):
        run(mn(locus_level=7), policy="mn-act", request_date="2026-09-01")


def test_mn_has_no_continued_stay_criteria() -> None:
    with pytest.raises(CaseError, match="no continued_stay criteria"):
        run(MN, policy="mn-act", request_type="continued_stay", request_date="2026-09-01")


# Item 7: each bullet of "Eligible Recipients" is its own citation, and a rationale names
# the bullets that decide it.
@pytest.mark.parametrize(("changes", "citation"), [
    ({"ma_eligible": False}, "Eligible Recipients: MA eligibility"),
    ({"birth_date": "2008-09-02"}, "Eligible Recipients: age 18 or older"),
    ({"serious_mental_illness_primary": False}, "Eligible Recipients: serious mental illness"),
    ({"in_team_target_population": False}, "Eligible Recipients: target population"),
    ({"locus_level": 3}, "Eligible Recipients: LOCUS level 4"),
    ({"impaired_domains": ["mental_health_symptoms"]},
     "Eligible Recipients: functional assessment"),
])
def test_each_bullet_has_its_own_citation(changes: dict[str, Any], citation: str) -> None:
    result = run(mn(**changes), policy="mn-act", request_date="2026-09-01")
    assert [n["section"] for n in result.not_met] == [citation]
    assert f"not met: {citation})" in result.rationale


def test_rationale_names_every_unmet_bullet() -> None:
    result = run(mn(locus_level=3, in_team_target_population=False), policy="mn-act",
                 request_date="2026-09-01")
    assert ("not met: Eligible Recipients: target population, Eligible Recipients: LOCUS "
            "level 4") in result.rationale
    sections = [c["section"] for c in result.trace["children"]]
    assert len(set(sections)) == len(sections)


# Item 5: the flag of serious mental illness as the primary diagnosis must be borne out by
# the primary diagnosis (a mental disorder, ICD-10-CM F01-F99); Z00.00 contradicts it.
def test_smi_flag_with_a_diagnosis_outside_the_mental_disorders_pends() -> None:
    result = run(mn(primary_diagnosis="Z00.00"), policy="mn-act", request_date="2026-09-01")
    assert result.outcome == "pend"
    conflicts = result.to_json()["data_conflict"]
    assert [c["facts"] for c in conflicts] == [
        ["serious_mental_illness_primary", "primary_diagnosis"]]
    assert conflicts[0]["section"] == "Eligible Recipients: serious mental illness"
    assert node(result, "MN.SMI")["status"] == "unknown"
    assert "in conflict" in node(result, "MN.SMI")["detail"]
    assert not result.missing  # the record holds the facts; nothing to ask for


@pytest.mark.parametrize("code", ["F31.2", "F17.210"])
def test_smi_flag_with_a_mental_disorder_is_consistent(code: str) -> None:
    # only consistency is checked: whether F17 is serious is the assessment's finding
    result = run(mn(primary_diagnosis=code), policy="mn-act", request_date="2026-09-01")
    assert result.outcome == "meets_criteria"
    assert result.to_json()["data_conflict"] == []


def test_no_smi_flag_with_any_diagnosis_is_no_conflict() -> None:
    result = run(mn(primary_diagnosis="Z00.00", serious_mental_illness_primary=False),
                 policy="mn-act", request_date="2026-09-01")
    assert result.outcome == "refer"
    assert result.to_json()["data_conflict"] == []
