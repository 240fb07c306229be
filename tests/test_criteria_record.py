"""What a determination tells a reviewer (issue 15 items 8 and 9): the missing list asks
only for what could change the outcome; facts appear by their labels from facts.yaml; the
record names the member and request, the determination date, the documents reviewed, and
carries a signature block on refer and pend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.criteria.cases import parse_case
from bhpolicy.criteria.evaluate import determine
from tests.criteria_helpers import AS_OF, REGISTRY, SC_INITIAL_MEETS, node, run

CS: dict[str, Any] = {
    "ipoc_meets_requirements": True,
    "authorization_start": "2026-03-16",
    "authorization_end": "2026-09-15",
    "service_days_by_month": {"2026-04": 11, "2026-05": 17, "2026-06": 9, "2026-07": 12},
    "goals_achieved_new_goals_indicated": False,
    "satisfactory_progress_continued_act_effective": False,
    "moderate_progress_interventions_need_change": False,
    "no_progress_or_regression": False,
}


# ---- item 8: ask only for what could change the outcome ------------------------------

def test_II_B_5_reasons_are_not_asked_for_when_II_B_5_already_fails() -> None:
    # II.B.5 needs functioning effectively AND (a or b); functioning is false, so neither
    # a (regression history) nor b (symptoms expected to persist) can change II.B.5.
    result = run({**CS, "functioning_effectively_discharge_otherwise_indicated": False},
                 request_type="continued_stay", request_date="2026-08-20")
    assert node(result, "II.B.5")["status"] == "not_met"
    asked = {m["fact"] for m in result.missing}
    assert "regression_history_without_act" not in asked
    assert "symptoms_expected_to_persist" not in asked


def test_II_B_5_reasons_are_asked_for_while_II_B_5_is_open() -> None:
    result = run({**CS, "functioning_effectively_discharge_otherwise_indicated": True},
                 request_type="continued_stay", request_date="2026-08-20")
    assert result.outcome == "pend"
    assert {m["fact"] for m in result.missing} == {"regression_history_without_act",
                                                   "symptoms_expected_to_persist"}


def test_III_D_engagement_is_not_asked_for_when_its_period_fails() -> None:
    # III.D needs three months without improvement; two months fail it whatever the
    # engagement record says, so only III.A-III.C remain to ask about.
    result = run({"no_significant_improvement_since": "2026-05-01"}, request_type="discharge",
                 request_date="2026-06-30")
    asked = {m["fact"] for m in result.missing}
    assert "engagement_strategies_documented_without_results" not in asked
    assert "alternative_treatment_identified" not in asked
    # III.D.3 cannot meet III.D now, but were it true beside III.A the record would
    # contradict itself (facts.yaml: exclusive, III) and pend: it is asked for as that
    assert asked == {"ipoc_goals_achieved_less_intensive_adequate",
                     "moved_out_referral_and_transition_done",
                     "chose_to_withdraw_reengagement_failed", "more_intensive_care_indicated"}
    risk = next(m for m in result.missing if m["fact"] == "more_intensive_care_indicated")
    assert [o["fact"] for o in risk["would_conflict_with"]] == [
        "ipoc_goals_achieved_less_intensive_adequate"]


def test_nothing_is_asked_for_once_a_criterion_is_not_met() -> None:
    # I is all_of: under 18 on the request date (I.A) fails it; no document can change that
    facts = {"birth_date": "2010-01-01", "primary_diagnosis": "F20.0"}
    result = run(facts)
    assert result.outcome == "refer"
    assert result.missing == []
    assert "information missing" not in result.rationale


# ---- item 9: the reviewer's record -----------------------------------------------------

def test_fact_details_use_the_labels_of_facts_yaml() -> None:
    result = run({**SC_INITIAL_MEETS, "impairment_basic_functioning": False,
                  "impairment_safe_living": False})
    detail = node(result, "I.D.3")["detail"]
    assert detail == "Significant difficulty keeping a safe living situation: no"
    assert "impairment_safe_living" not in detail
    missing = {m["fact"]: m["label"] for m in result.missing}
    assert missing["impairment_employment_or_household"] == (
        "Significant difficulty keeping employment or household responsibilities")
    assert "missing: Significant difficulty keeping employment" in node(result, "I.D.2")["detail"]


def test_every_fact_has_a_label() -> None:
    from bhpolicy.criteria.loader import criteria_for

    for alias in ("sc-act", "mn-act"):
        facts = criteria_for(REGISTRY.get(alias)).facts.facts
        assert all(spec.label.strip() for spec in facts.values())


def test_record_names_member_request_and_determination_date() -> None:
    raw = {"case_id": "C-9", "member_id": "M-100", "policy": "sc-act",
           "request_type": "initial", "request_date": "2026-03-10", "facts": SC_INITIAL_MEETS}
    data = determine(parse_case(raw, REGISTRY, "t", as_of=dt.date(2026, 3, 12))).to_json()
    assert (data["case_id"], data["member_id"]) == ("C-9", "M-100")
    assert (data["request_type"], data["request_date"]) == ("initial", "2026-03-10")
    assert data["determination_date"] == "2026-03-12"


def test_documents_reviewed_are_the_sources_of_the_facts_given() -> None:
    data = run(SC_INITIAL_MEETS).to_json()
    reviewed = {d["document"]: [f["fact"] for f in d["facts"]]
                for d in data["documents_reviewed"]}
    assert reviewed == {
        "member_record": ["birth_date"],
        "diagnostic_assessment": ["primary_diagnosis", "diagnosis_confirmed",
                                  "serious_persistent_illness"],
        "functional_assessment": ["impairment_basic_functioning"],
        "admission_history": ["psychiatric_admissions"],
        "ipoc": ["services_expected_to_meet_needs", "planned_service_days_per_month"],
    }
    titles = [d["title"] for d in data["documents_reviewed"]]
    assert "Functional assessment" in titles


def test_signature_block_on_refer_and_pend_only() -> None:
    meets = run(SC_INITIAL_MEETS).to_json()
    assert meets["outcome"] == "meets_criteria" and meets["reviewer_signature"] is None
    refer = run({**SC_INITIAL_MEETS, "primary_diagnosis": "F33.2"}).to_json()
    pend = run({**SC_INITIAL_MEETS, "planned_service_days_per_month": None}).to_json()
    for data, outcome in ((refer, "refer"), (pend, "pend")):
        assert data["outcome"] == outcome
        block = data["reviewer_signature"]
        assert {"reviewer_name", "credentials", "decision", "decision_date",
                "signature"} <= set(block)
        assert block["reviewer_name"] is None and block["signature"] is None
    assert "438.210" in refer["reviewer_signature"]["reason"]


def test_determination_date_is_the_run_date() -> None:
    assert run(SC_INITIAL_MEETS).to_json()["determination_date"] == AS_OF.isoformat()
