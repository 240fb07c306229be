"""Issue 15 item 5: a case's facts are checked against each other before any criterion
reads them. Impossible values reject the case (one line naming case and field); facts the
pack declares contradictory pend it with a data_conflict, and it is never approved."""

from __future__ import annotations

from typing import Any

import pytest

from bhpolicy.criteria.cases import CaseError
from tests.criteria_helpers import SC_INITIAL_MEETS, node, run

CS: dict[str, Any] = {
    "ipoc_meets_requirements": True,
    "authorization_start": "2026-03-16",
    "authorization_end": "2026-09-15",
    "service_days_by_month": {"2026-04": 11, "2026-05": 17, "2026-06": 9, "2026-07": 12},
    "satisfactory_progress_continued_act_effective": True,
    "no_progress_or_regression": True,
    "diagnosis_reassessed_for_co_occurring": True,
    "treatment_plan_updated": True,
}


def continued(**changes: Any) -> Any:
    facts = {k: v for k, v in {**CS, **changes}.items() if v is not None}
    return run(facts, request_type="continued_stay", request_date="2026-08-20")


def rejected(facts: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(CaseError) as caught:
        run(facts, **kwargs)
    return str(caught.value)


# ---- contradictions pend ------------------------------------------------------------

def test_progress_and_no_progress_both_true_pends_with_the_conflict() -> None:
    # II.B.2 (satisfactory progress) and II.B.4 (no progress or regression) for one plan
    result = continued()
    assert result.outcome == "pend"
    data = result.to_json()
    assert data["data_conflict"][0]["facts"] == [
        "satisfactory_progress_continued_act_effective", "no_progress_or_regression"]
    assert data["data_conflict"][0]["section"] == "II.B"
    assert node(result, "II.B.4")["status"] != "met"  # no longer shown as met
    assert node(result, "II.B.2")["status"] == "unknown"
    assert "in conflict in the record" in node(result, "II.B.4.progress")["detail"]
    assert "contradicts itself" in result.rationale


def test_functioning_effectively_and_no_progress_both_true_pends() -> None:
    # II.B.5 ("functioning effectively with ACT services") against II.B.4 ("fails to make
    # progress or demonstrates regression"): the record describes one member both ways
    result = continued(satisfactory_progress_continued_act_effective=None,
                       functioning_effectively_discharge_otherwise_indicated=True,
                       regression_history_without_act=True)
    assert result.outcome == "pend"
    assert [c["facts"] for c in result.to_json()["data_conflict"]] == [
        ["functioning_effectively_discharge_otherwise_indicated", "no_progress_or_regression"]]


def test_a_conflict_is_never_approved_even_when_another_route_has_its_facts() -> None:
    # II.B.5's facts are all given, but II.B.5 and II.B.2 each contradict II.B.4: pend,
    # naming both conflicts, never an approval through the other route
    result = continued(functioning_effectively_discharge_otherwise_indicated=True,
                       regression_history_without_act=True)
    assert result.outcome == "pend"
    assert len(result.to_json()["data_conflict"]) == 2


def test_a_fact_that_would_create_a_conflict_is_asked_for() -> None:
    # II.B.4 is met (no progress, a and b) and II.B.5's functioning is not stated: were it
    # true, the record would contradict itself (facts.yaml: exclusive, II.B), so it is
    # asked for, naming the fact it would clash with; the other II.B routes are not
    result = continued(satisfactory_progress_continued_act_effective=False)
    assert result.outcome == "meets_criteria"
    asked = {m["fact"]: m for m in result.missing}
    assert set(asked) == {"functioning_effectively_discharge_otherwise_indicated",
                          "goals_achieved_new_goals_indicated",
                          "moderate_progress_interventions_need_change"}
    entry = asked["functioning_effectively_discharge_otherwise_indicated"]
    assert [o["fact"] for o in entry["would_conflict_with"]] == ["no_progress_or_regression"]
    assert entry["sections"] == ["II.B"]


def test_one_of_the_exclusive_facts_alone_is_no_conflict() -> None:
    result = continued(satisfactory_progress_continued_act_effective=False)
    assert result.outcome == "meets_criteria"  # through II.B.4 with a and b
    assert result.to_json()["data_conflict"] == []


@pytest.mark.parametrize("progress", ["goals_achieved_new_goals_indicated",
                                      "moderate_progress_interventions_need_change"])
def test_every_kind_of_progress_contradicts_no_progress(progress: str) -> None:
    result = continued(satisfactory_progress_continued_act_effective=None, **{progress: True})
    assert result.outcome == "pend"
    assert result.to_json()["data_conflict"][0]["facts"] == [progress,
                                                            "no_progress_or_regression"]


def test_less_and_more_intensive_care_both_indicated_pends() -> None:
    # III.A (a less intensive level would do) against III.D.3 (more intensive indicated)
    facts = {"ipoc_goals_achieved_less_intensive_adequate": True,
             "more_intensive_care_indicated": True,
             "no_significant_improvement_since": "2026-03-01",
             "engagement_strategies_documented_without_results": True}
    result = run(facts, request_type="discharge", request_date="2026-06-30")
    assert result.outcome == "pend"
    assert result.to_json()["discharge_indications_met"] == []


def test_serious_illness_with_a_diagnosis_outside_f01_f99_pends() -> None:
    # I.C asserts a serious and persistent mental illness; Z00.00 is a general examination
    result = run({**SC_INITIAL_MEETS, "primary_diagnosis": "Z00.00"})
    assert result.outcome == "pend"
    assert result.to_json()["data_conflict"][0]["facts"] == ["serious_persistent_illness",
                                                            "primary_diagnosis"]


# ---- impossible values reject the case ----------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    # a birth after the request would give a negative age (I.A)
    ({"birth_date": "2026-03-11"}, "field facts.birth_date: after the request date"),
    # admissions after the request are not history (I.E.1)
    ({"psychiatric_admissions": ["2025-06-01", "2026-03-11"]},
     "field facts.psychiatric_admissions[1]: after the request date"),
    # one admission listed twice is not two admissions (I.E.1)
    ({"psychiatric_admissions": ["2026-01-15", "2025-06-01", "2026-01-15"]},
     "field facts.psychiatric_admissions[2]: the same date as "
     "facts.psychiatric_admissions[0] (listed twice)"),
    # an admission before birth
    ({"psychiatric_admissions": ["1989-06-01", "2026-01-15"]},
     "field facts.psychiatric_admissions[0]: before facts.birth_date"),
    # co-occurring disorders since after the request (I.E.3)
    ({"co_occurring_substance_use": True, "co_occurring_since": "2026-04-01"},
     "field facts.co_occurring_since: after the request date"),
])
def test_impossible_initial_facts_reject_the_case(changes: dict[str, Any],
                                                   message: str) -> None:
    assert rejected({**SC_INITIAL_MEETS, **changes}) == f"test: case 'T-1': {message}"


def test_the_request_date_itself_is_allowed() -> None:
    facts = {**SC_INITIAL_MEETS, "co_occurring_substance_use": True,
             "co_occurring_since": "2026-03-10"}
    assert node(run(facts), "I.E.3")["status"] == "not_met"


def test_discharge_period_starting_after_the_request_is_rejected() -> None:
    # III.D's three months cannot begin after the request
    message = rejected({"no_significant_improvement_since": "2026-07-01"},
                       request_type="discharge", request_date="2026-06-30")
    assert message.endswith("field facts.no_significant_improvement_since: after the "
                            "request date")


def test_authorization_ending_before_it_starts_is_rejected() -> None:
    message = rejected({**CS, "authorization_end": "2026-03-15"},
                       request_type="continued_stay", request_date="2026-08-20")
    assert message.endswith("field facts.authorization_end: before facts.authorization_start")


def test_authorization_may_end_after_the_request() -> None:
    result = continued(satisfactory_progress_continued_act_effective=None,
                       authorization_end="2027-03-15")
    assert result.outcome == "meets_criteria"


@pytest.mark.parametrize(("counts", "message"), [
    ({"2026-04": 11, "2026-09": 3}, "service_days_by_month[1]: after the request date"),
    ({"2026-04": 11, "2026-08": 21},
     "service_days_by_month[1]: more days than the month has had by the request date"),
])
def test_service_days_after_the_request_are_rejected(counts: dict[str, int],
                                                     message: str) -> None:
    # II.C counts days provided; none can lie after the request (2026-08-20)
    text = rejected({**CS, "service_days_by_month": counts}, request_type="continued_stay",
                    request_date="2026-08-20")
    assert text.endswith(message)


def test_service_days_up_to_the_request_date_are_accepted() -> None:
    counts = {**CS["service_days_by_month"], "2026-08": 20}
    result = continued(service_days_by_month=counts,
                       satisfactory_progress_continued_act_effective=None)
    assert result.outcome == "meets_criteria"


def test_a_discharge_indication_beside_a_conflict_still_pends() -> None:
    # III.B is met on its own, but III.A and III.D.3 contradict each other: a reviewer
    # resolves the record before anything is approved
    facts = {"ipoc_goals_achieved_less_intensive_adequate": True,
             "more_intensive_care_indicated": True,
             "moved_out_referral_and_transition_done": True}
    result = run(facts, request_type="discharge", request_date="2026-06-30")
    assert result.outcome == "pend"
    assert result.indications_met == ["III.B"]
    assert "indications met apart from the facts in conflict: III.B" in result.rationale
