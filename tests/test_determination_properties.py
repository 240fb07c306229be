"""Properties of the three-valued evaluation (issue 4): adding a met fact never turns
meets_criteria into refer (or pend), for random partial cases of every request type."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bhpolicy.criteria.evaluate import TraceNode
from tests.criteria_helpers import run

RANK = {"refer": 0, "pend": 1, "meets_criteria": 2}

# For each request type, a value of every fact that satisfies its criterion, and one that
# does not (request dates as in run()'s defaults or given below).
INITIAL_MET: dict[str, Any] = {
    "birth_date": "1990-04-02", "primary_diagnosis": "F20.0", "diagnosis_confirmed": True,
    "serious_persistent_illness": True, "services_expected_to_meet_needs": True,
    "impairment_basic_functioning": True, "impairment_employment_or_household": True,
    "impairment_safe_living": True, "psychiatric_admissions": ["2025-06-01", "2026-01-15"],
    "intractable_symptoms": True, "co_occurring_substance_use": True,
    "co_occurring_since": "2024-01-01", "justice_involvement": True,
    "survival_needs_or_housing": True, "residential_could_live_more_independently": True,
    "difficulty_with_office_based_services": True, "planned_service_days_per_month": 12,
}
INITIAL_NOT: dict[str, Any] = {
    "birth_date": "2010-01-01", "primary_diagnosis": "F21", "diagnosis_confirmed": False,
    "serious_persistent_illness": False, "services_expected_to_meet_needs": False,
    "impairment_basic_functioning": False, "impairment_employment_or_household": False,
    "impairment_safe_living": False, "psychiatric_admissions": ["2026-01-15"],
    "intractable_symptoms": False, "co_occurring_substance_use": False,
    "co_occurring_since": "2026-03-01", "justice_involvement": False,
    "survival_needs_or_housing": False, "residential_could_live_more_independently": False,
    "difficulty_with_office_based_services": False, "planned_service_days_per_month": 3,
    "psychiatric_emergency_use": False,
}
INITIAL_JUDGMENT: dict[str, Any] = {"primary_diagnosis": "F33.1",
                                    "psychiatric_emergency_use": True}

DISCHARGE_MET: dict[str, Any] = {
    "ipoc_goals_achieved_less_intensive_adequate": True,
    "moved_out_referral_and_transition_done": True,
    "chose_to_withdraw_reengagement_failed": True,
    "no_significant_improvement_since": "2026-01-01",
    "engagement_strategies_documented_without_results": True,
    "alternative_treatment_identified": True, "behaviors_worsened": True,
    "more_intensive_care_indicated": True,
}


@st.composite
def initial_case(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A random partial case, and one fact it leaves out (to be added as met)."""
    facts: dict[str, Any] = {}
    names = sorted(set(INITIAL_MET) | set(INITIAL_NOT))
    for name in names:
        choice = draw(st.sampled_from(["met", "not", "judgment", "absent"]))
        if choice == "met" and name in INITIAL_MET:
            facts[name] = INITIAL_MET[name]
        elif choice == "not" and name in INITIAL_NOT:
            facts[name] = INITIAL_NOT[name]
        elif choice == "judgment" and name in INITIAL_JUDGMENT:
            facts[name] = INITIAL_JUDGMENT[name]
    absent = [n for n in INITIAL_MET if n not in facts]
    added = draw(st.sampled_from(absent)) if absent else ""
    return facts, added


@given(initial_case())
def test_adding_a_met_fact_never_lowers_the_initial_outcome(
        drawn: tuple[dict[str, Any], str]) -> None:
    facts, added = drawn
    before = run(facts)
    if not added:
        return
    after = run({**facts, added: INITIAL_MET[added]})
    if before.outcome == "meets_criteria":
        assert after.outcome == "meets_criteria"
    # a criterion that is not met stays not met: a known met fact cannot rescue it
    if before.trace["status"] == "not_met":
        assert after.trace["status"] == "not_met"
    # every section that was met stays met
    assert _met_ids(before.trace) <= _met_ids(after.trace)


def _met_ids(result: TraceNode) -> set[str]:
    found = {result["id"]} if result["status"] == "met" else set()
    for child in result.get("children", []):
        found |= _met_ids(child)
    return found


@given(st.dictionaries(st.sampled_from(sorted(DISCHARGE_MET)), st.just(None), max_size=8),
       st.sampled_from(sorted(DISCHARGE_MET)))
def test_adding_a_met_fact_never_removes_a_discharge_indication(
        absent: dict[str, None], added: str) -> None:
    facts = {k: v for k, v in DISCHARGE_MET.items() if k not in absent and k != added}
    before = run(facts, request_type="discharge", request_date="2026-06-30")
    after = run({**facts, added: DISCHARGE_MET[added]}, request_type="discharge",
                request_date="2026-06-30")
    assert set(before.indications_met) <= set(after.indications_met)
    assert RANK[after.outcome] >= RANK[before.outcome] or before.outcome == "refer"
