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
    with pytest.raises(CaseError, match=r"facts\.impaired_domains: \['cooking'\]"):
        run(mn(impaired_domains=["cooking", "mental_health_symptoms"]), policy="mn-act",
            request_date="2026-09-01")


def test_locus_out_of_range_is_an_error() -> None:
    with pytest.raises(CaseError, match=r"facts\.locus_level: 7 is outside 1\.\.6"):
        run(mn(locus_level=7), policy="mn-act", request_date="2026-09-01")


def test_mn_has_no_continued_stay_criteria() -> None:
    with pytest.raises(CaseError, match="no continued_stay criteria"):
        run(MN, policy="mn-act", request_type="continued_stay", request_date="2026-09-01")
