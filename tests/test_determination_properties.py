"""Properties of the three-valued evaluation (issue 4): adding a met fact never turns
meets_criteria into refer (or pend), for random partial cases of every request type; the
missing list asks for exactly the facts that could change the outcome (issue 15 item 8);
a case whose facts contradict each other is never approved (issue 15 item 5)."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from hypothesis import assume, given, settings
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
    "birth_date": "2010-01-01", "primary_diagnosis": "Z00.00", "diagnosis_confirmed": False,
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
    # a contradiction (Z00.00 with a serious illness) pends by design: tested below
    assume(not before.case.conflicts and not after.case.conflicts)
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
    assume(not before.case.conflicts and not after.case.conflicts)
    assert set(before.indications_met) <= set(after.indications_met)
    assert RANK[after.outcome] >= RANK[before.outcome] or before.outcome == "refer"


# ---- issue 15 item 8: the missing list holds exactly the facts that matter --------------
# A fact matters when, for some values of the other unknown facts, setting it true rather
# than false changes the outcome. Checked by brute force over yes/no facts, with the other
# facts fixed so that no drawn value makes a declared contradiction (that pends by design).

CS_FIXED: dict[str, Any] = {
    "authorization_start": "2026-03-16", "authorization_end": "2026-09-15",
    "service_days_by_month": {"2026-04": 11, "2026-05": 17, "2026-06": 9, "2026-07": 12}}
CONFIGS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("continued_stay", "2026-08-20", {**CS_FIXED, "no_progress_or_regression": True,
                                       "goals_achieved_new_goals_indicated": False,
                                       "satisfactory_progress_continued_act_effective": False,
                                       "moderate_progress_interventions_need_change": False},
     ["ipoc_meets_requirements", "diagnosis_reassessed_for_co_occurring",
      "treatment_plan_updated", "functioning_effectively_discharge_otherwise_indicated",
      "regression_history_without_act", "symptoms_expected_to_persist"]),
    ("continued_stay", "2026-08-20", {**CS_FIXED, "no_progress_or_regression": False},
     ["ipoc_meets_requirements", "goals_achieved_new_goals_indicated",
      "satisfactory_progress_continued_act_effective",
      "moderate_progress_interventions_need_change",
      "functioning_effectively_discharge_otherwise_indicated",
      "regression_history_without_act", "symptoms_expected_to_persist"]),
    ("discharge", "2026-06-30", {"no_significant_improvement_since": "2026-03-01",
                                 "more_intensive_care_indicated": False},
     ["ipoc_goals_achieved_less_intensive_adequate", "moved_out_referral_and_transition_done",
      "chose_to_withdraw_reengagement_failed",
      "engagement_strategies_documented_without_results", "alternative_treatment_identified",
      "behaviors_worsened"]),
    ("discharge", "2026-06-30", {"no_significant_improvement_since": "2026-04-15",
                                 "ipoc_goals_achieved_less_intensive_adequate": False,
                                 "moved_out_referral_and_transition_done": False,
                                 "chose_to_withdraw_reengagement_failed": False},
     ["engagement_strategies_documented_without_results", "alternative_treatment_identified",
      "behaviors_worsened", "more_intensive_care_indicated"]),
    ("initial", "2026-03-10", {"birth_date": "1990-04-02", "primary_diagnosis": "F20.0",
                               "psychiatric_admissions": ["2026-01-15"],
                               "psychiatric_emergency_use": False,
                               "co_occurring_substance_use": False,
                               "impairment_safe_living": False,
                               "residential_could_live_more_independently": False,
                               "difficulty_with_office_based_services": False,
                               "planned_service_days_per_month": 12},
     ["diagnosis_confirmed", "serious_persistent_illness", "services_expected_to_meet_needs",
      "impairment_basic_functioning", "impairment_employment_or_household",
      "intractable_symptoms", "justice_involvement", "survival_needs_or_housing"]),
]


@st.composite
def partial_case(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    index = draw(st.integers(0, len(CONFIGS) - 1))
    known = {name: draw(st.sampled_from([True, False, None])) for name in CONFIGS[index][3]}
    return index, known


def _outcome(index: int, facts: dict[str, Any]) -> str:
    return _outcome_of(index, tuple(sorted(facts.items())))


@functools.cache
def _outcome_of(index: int, facts: tuple[tuple[str, bool], ...]) -> str:
    return _determine(index, dict(facts)).outcome


@settings(max_examples=40)
@given(partial_case())
def test_missing_lists_exactly_the_facts_that_could_change_the_outcome(
        drawn: tuple[int, dict[str, Any]]) -> None:
    index, known = drawn
    given_facts = {k: v for k, v in known.items() if v is not None}
    unknown = [k for k, v in known.items() if v is None]
    result = _determine(index, given_facts)
    listed = {m["fact"] for m in result.missing}
    if result.case.conflicts:
        # a record already in conflict pends whatever is added: no document changes that
        # until a reviewer resolves the conflict, so what it lists is what the record
        # without the facts in conflict still lacks (for the reviewer to ask for then)
        assert result.outcome == "pend"
        conflicted = {n for c in result.case.conflicts for n in c.facts}
        stripped = _determine(index, {k: v for k, v in given_facts.items()
                                      if k not in conflicted})
        assert listed <= {m["fact"] for m in stripped.missing} | conflicted
        return
    matters = set()
    for name in unknown:
        others = [n for n in unknown if n != name]
        for values in itertools.product([True, False], repeat=len(others)):
            completion = {**given_facts, **dict(zip(others, values, strict=True))}
            if (_outcome(index, {**completion, name: True}) !=
                    _outcome(index, {**completion, name: False})):
                matters.add(name)
                break
    assert listed == matters


def _determine(index: int, facts: dict[str, Any]) -> Any:
    request_type, request_date, fixed, _ = CONFIGS[index]
    return run({**fixed, **facts}, request_type=request_type, request_date=request_date)


# ---- issue 15 item 5: a record that contradicts itself is never approved ---------------

EXCLUSIVE_FACTS = ["goals_achieved_new_goals_indicated",
                   "satisfactory_progress_continued_act_effective",
                   "moderate_progress_interventions_need_change", "no_progress_or_regression",
                   "ipoc_meets_requirements", "diagnosis_reassessed_for_co_occurring",
                   "treatment_plan_updated",
                   "functioning_effectively_discharge_otherwise_indicated",
                   "regression_history_without_act"]


@given(st.fixed_dictionaries({name: st.sampled_from([True, False, None])
                              for name in EXCLUSIVE_FACTS}))
def test_a_case_in_conflict_always_pends(known: dict[str, Any]) -> None:
    facts = {**CS_FIXED, **{k: v for k, v in known.items() if v is not None}}
    result = run(facts, request_type="continued_stay", request_date="2026-08-20")
    # II.B.1-3 and II.B.5 each contradict II.B.4 (facts.yaml: exclusive)
    progress = [known[n] for n in (*EXCLUSIVE_FACTS[:3],
                                   "functioning_effectively_discharge_otherwise_indicated")]
    if known["no_progress_or_regression"] and True in progress:
        assert result.outcome == "pend"
        assert result.to_json()["data_conflict"]
    else:
        assert result.to_json()["data_conflict"] == []
