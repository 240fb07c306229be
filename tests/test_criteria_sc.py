"""SC.CP.BH.500 criteria, one test per criterion, each citing its section and edge."""

from __future__ import annotations

from typing import Any

import pytest

from bhpolicy.criteria.cases import CaseError
from tests.criteria_helpers import SC_INITIAL_MEETS, node, run, status


def with_(**changes: Any) -> dict[str, Any]:
    facts = {**SC_INITIAL_MEETS, **changes}
    return {k: v for k, v in facts.items() if v is not None}


def test_complete_initial_case_meets_criteria() -> None:
    result = run(SC_INITIAL_MEETS)
    assert result.outcome == "meets_criteria"
    assert result.to_json()["policy_id"] == "SC.CP.BH.500"
    assert result.to_json()["policy_revision"] == "02/26"


# I.A: 18 or older on the request date (2026-03-10).
@pytest.mark.parametrize(("birth", "expected"), [
    ("2008-03-10", "met"),       # 18th birthday on the request date
    ("2008-03-11", "not_met"),   # one day short
    ("1950-01-01", "met"),
])
def test_I_A_age_on_request_date(birth: str, expected: str) -> None:
    assert status(with_(birth_date=birth), "I.A") == expected


def test_I_A_leap_day_birthday_uses_pack_convention() -> None:
    # born 2008-02-29; 2026-02-28 is not yet the 18th birthday under "mar1"
    assert status(with_(birth_date="2008-02-29"), "I.A", request_date="2026-02-28") == "not_met"
    assert status(with_(birth_date="2008-02-29"), "I.A", request_date="2026-03-01") == "met"


# I.B: confirmed primary diagnosis in groups 1-4 (crosswalk in the pack).
@pytest.mark.parametrize(("code", "group_node", "expected"), [
    ("F20.0", "I.B.1", "met"),             # schizophrenia
    ("F31.2", "I.B.2", "met"),             # bipolar disorder
    ("F25.0", "I.B.3", "met"),             # schizoaffective (the policy's example)
    ("F20.81", "I.B.3", "met"),            # schizophreniform: other psychotic
    ("F29", "I.B.3", "met"),
    ("F33.1", "I.B.4", "needs_judgment"),  # other psychiatric illness: reviewer judges
    ("F21", "I.B.4", "needs_judgment"),    # schizotypal: psychiatric, outside groups 1-3
    ("F43.12", "I.B.4", "needs_judgment"),  # chronic PTSD: I.B.4 is open-ended
    ("F99", "I.B.4", "needs_judgment"),    # the last code of the psychiatric range
])
def test_I_B_diagnosis_groups(code: str, group_node: str, expected: str) -> None:
    assert status(with_(primary_diagnosis=code), group_node) == expected


# I.B.4 "Other psychiatric illnesses, eligible depending on level of long-term disability"
# names no diagnosis: only a code outside the psychiatric range (F01-F99) fails I.B.
@pytest.mark.parametrize("code", ["Z00.00", "G30.9", "E11.9"])
def test_I_B_4_only_codes_outside_the_psychiatric_range_are_not_met(code: str) -> None:
    facts = with_(primary_diagnosis=code, serious_persistent_illness=None)
    result = run(facts)
    assert node(result, "I.B.4")["status"] == "not_met"
    assert node(result, "I.B")["status"] == "not_met"
    assert "F01-F99" in node(result, "I.B.4")["detail"]


def test_I_B_4_judgment_carries_the_reviewers_question() -> None:
    result = run(with_(primary_diagnosis="F43.12"))
    assert result.outcome == "refer"
    (judgment,) = result.judgments
    assert judgment["section"] == "I.B.4"
    assert "long-term disability" in judgment["question"]
    assert "not in" not in judgment["detail"]


def test_I_B_4_other_psychiatric_never_meets_automatically() -> None:
    result = run(with_(primary_diagnosis="F33.2"))
    assert result.outcome == "refer"
    assert [j["section"] for j in result.judgments] == ["I.B.4"]


def test_I_B_unconfirmed_diagnosis_is_not_met() -> None:
    assert status(with_(diagnosis_confirmed=False), "I.B") == "not_met"


@pytest.mark.parametrize(("code", "message"), [
    ("F20", "category, not a billable code"),
    ("F20.99", "not in the ICD-10-CM code set"),
    ("banana", "not an ICD-10-CM code"),
])
def test_I_B_bad_codes_are_errors(code: str, message: str) -> None:
    with pytest.raises(CaseError, match=f"field facts.primary_diagnosis: .*{message}"):
        run(with_(primary_diagnosis=code))


# I.C: serious and persistent illness, and services expected to meet needs (both).
def test_I_C_needs_both_parts() -> None:
    assert status(with_(services_expected_to_meet_needs=False), "I.C") == "not_met"
    assert status(with_(serious_persistent_illness=None), "I.C") == "unknown"


# I.D: at least one of three functional impairments (parameter min_functional_impairments).
def test_I_D_one_of_three() -> None:
    none = with_(impairment_basic_functioning=False, impairment_employment_or_household=False,
                 impairment_safe_living=False)
    assert status(none, "I.D") == "not_met"
    assert status(with_(impairment_basic_functioning=False, impairment_safe_living=True),
                  "I.D") == "met"
    assert status(with_(impairment_basic_functioning=None), "I.D") == "unknown"


# I.E.1: two or more admissions in (request - 12 months, request].
@pytest.mark.parametrize(("admissions", "expected"), [
    (["2026-01-15"], "not_met"),                        # one admission
    (["2025-06-01", "2026-01-15"], "met"),              # two
    (["2025-03-10", "2026-01-15"], "not_met"),          # first is exactly 12 months back
    (["2025-03-11", "2026-01-15"], "met"),              # one day inside the window
    (["2025-06-01", "2026-03-10"], "met"),              # on the request date
])
def test_I_E_1_admissions_window(admissions: list[str], expected: str) -> None:
    assert status(with_(psychiatric_admissions=admissions), "I.E.1.admissions") == expected


def test_I_E_1_emergency_use_needs_judgment() -> None:
    facts = with_(psychiatric_admissions=["2026-01-15"], psychiatric_emergency_use=True,
                  intractable_symptoms=False, co_occurring_substance_use=False,
                  justice_involvement=False, survival_needs_or_housing=False,
                  residential_could_live_more_independently=False,
                  difficulty_with_office_based_services=False)
    result = run(facts)
    assert node(result, "I.E.1.emergency")["status"] == "needs_judgment"
    assert result.outcome == "refer"


# I.E.3: co-occurring disorders for more than six months before the request (2026-03-10).
@pytest.mark.parametrize(("since", "expected"), [
    ("2025-09-10", "not_met"),  # exactly six months
    ("2025-09-09", "met"),      # six months and a day
    ("2025-08-10", "met"),      # seven months
])
def test_I_E_3_more_than_six_months(since: str, expected: str) -> None:
    facts = with_(co_occurring_substance_use=True, co_occurring_since=since)
    assert status(facts, "I.E.3") == expected


def test_I_E_3_absent_disorder_is_not_met_and_unknown_onset_is_unknown() -> None:
    assert status(with_(co_occurring_substance_use=False), "I.E.3") == "not_met"
    assert status(with_(co_occurring_substance_use=True), "I.E.3") == "unknown"


@pytest.mark.parametrize("fact_name,node_id", [
    ("intractable_symptoms", "I.E.2"),
    ("justice_involvement", "I.E.4"),
    ("survival_needs_or_housing", "I.E.5"),
    ("residential_could_live_more_independently", "I.E.6"),
    ("difficulty_with_office_based_services", "I.E.7"),
])
def test_I_E_indicators_each_count(fact_name: str, node_id: str) -> None:
    facts = with_(psychiatric_admissions=[], **{fact_name: True})
    assert status(facts, node_id) == "met"
    assert status(facts, "I.E") == "met"


# I.F: at least 9 service days a month planned; days past 15 never fail I.F.
@pytest.mark.parametrize(("planned", "expected"), [(8, "not_met"), (9, "met"), (15, "met"),
                                                   (16, "met"), (None, "unknown")])
def test_I_F_planned_days(planned: int | None, expected: str) -> None:
    assert status(with_(planned_service_days_per_month=planned), "I.F") == expected


def test_pend_lists_missing_facts_and_documents() -> None:
    result = run(with_(impairment_basic_functioning=None, planned_service_days_per_month=None))
    assert result.outcome == "pend"
    documents = {m["fact"]: m["document"] for m in result.missing}
    assert documents["planned_service_days_per_month"] == "ipoc"
    assert documents["impairment_basic_functioning"] == "functional_assessment"
    assert any("I.F" in m["sections"] for m in result.missing)


def test_unknown_is_never_coerced_to_not_met() -> None:
    result = run({"birth_date": "1990-04-02"})
    assert result.outcome == "pend"
    assert not result.not_met


# ---- II: continued stay --------------------------------------------------------------

CS: dict[str, Any] = {
    "ipoc_meets_requirements": True,
    "goals_achieved_new_goals_indicated": True,
    "authorization_start": "2026-03-16",
    "authorization_end": "2026-09-15",
    "service_days_by_month": {"2026-03": 2, "2026-04": 11, "2026-05": 17, "2026-06": 9,
                              "2026-07": 12, "2026-08": 3},
}


def cs(**changes: Any) -> dict[str, Any]:
    facts = {**CS, **changes}
    return {k: v for k, v in facts.items() if v is not None}


def cs_status(facts: dict[str, Any], node_id: str) -> str:
    return status(facts, node_id, request_type="continued_stay", request_date="2026-08-20")


def test_II_meets_with_partial_months_left_out() -> None:
    # March (from the 16th) and August (request on the 20th) are partial: not under minimum.
    result = run(CS, request_type="continued_stay", request_date="2026-08-20")
    assert result.outcome == "meets_criteria"
    ii_c = node(result, "II.C")
    assert ii_c["facts_used"]["whole_months"] == ["2026-04", "2026-05", "2026-06", "2026-07"]


def test_II_A_ipoc_required() -> None:
    assert cs_status(cs(ipoc_meets_requirements=False), "II.A") == "not_met"


def test_II_B_4_needs_both_a_and_b() -> None:
    base = cs(goals_achieved_new_goals_indicated=False,
              satisfactory_progress_continued_act_effective=False,
              moderate_progress_interventions_need_change=False,
              functioning_effectively_discharge_otherwise_indicated=False,
              no_progress_or_regression=True, diagnosis_reassessed_for_co_occurring=True)
    assert cs_status({**base, "treatment_plan_updated": False}, "II.B.4") == "not_met"
    assert cs_status({**base, "treatment_plan_updated": True}, "II.B.4") == "met"
    assert cs_status(base, "II.B.4") == "unknown"


def test_II_B_5_needs_one_of_a_or_b() -> None:
    base = cs(goals_achieved_new_goals_indicated=False,
              functioning_effectively_discharge_otherwise_indicated=True,
              regression_history_without_act=False)
    assert cs_status({**base, "symptoms_expected_to_persist": False}, "II.B.5") == "not_met"
    assert cs_status({**base, "symptoms_expected_to_persist": True}, "II.B.5") == "met"


def test_II_C_month_under_nine_days_fails() -> None:
    days = {**CS["service_days_by_month"], "2026-06": 8}
    assert cs_status(cs(service_days_by_month=days), "II.C") == "not_met"


def test_II_C_days_past_fifteen_count() -> None:
    days = {**CS["service_days_by_month"], "2026-05": 22}
    assert cs_status(cs(service_days_by_month=days), "II.C") == "met"


def test_II_C_months_before_the_minimum_was_stated_are_not_short() -> None:
    # I.F's nine-day minimum is dated from 02/26 (revision log; the pack's
    # monthly_min_service_days is null before it): December 2025 and January 2026 at 5 days
    # are not short; February 2026 at 8 would be
    facts = cs(authorization_start="2025-12-01", authorization_end="2026-05-31",
               service_days_by_month={"2025-12": 5, "2026-01": 5, "2026-02": 9,
                                      "2026-03": 9})
    result = run(facts, request_type="continued_stay", request_date="2026-04-20")
    ii_c = node(result, "II.C")
    assert ii_c["status"] == "met"
    assert ii_c["facts_used"]["months_without_a_minimum"] == ["2025-12", "2026-01"]
    short = {**facts, "service_days_by_month": {"2025-12": 5, "2026-01": 5, "2026-02": 8,
                                                "2026-03": 9}}
    result = run(short, request_type="continued_stay", request_date="2026-04-20")
    assert node(result, "II.C")["status"] == "not_met"
    assert "2026-02 (8)" in node(result, "II.C")["detail"]


def test_II_C_without_counts_is_unknown() -> None:
    days = {k: v for k, v in CS["service_days_by_month"].items() if k != "2026-06"}
    assert cs_status(cs(service_days_by_month=days), "II.C") == "unknown"


# ---- III: transition / discharge -----------------------------------------------------

def dc(**facts: Any) -> str:
    return run(facts, request_type="discharge", request_date="2026-06-30").to_json()[
        "discharge_indications_met"]


@pytest.mark.parametrize(("fact_name", "section"), [
    ("ipoc_goals_achieved_less_intensive_adequate", "III.A"),
    ("moved_out_referral_and_transition_done", "III.B"),
    ("chose_to_withdraw_reengagement_failed", "III.C"),
])
def test_III_A_to_C_each_indicate_discharge(fact_name: str, section: str) -> None:
    assert dc(**{fact_name: True}) == [section]


@pytest.mark.parametrize(("since", "expected"), [
    ("2026-04-01", []),          # under three months before 2026-06-30
    ("2026-03-30", ["III.D"]),   # three calendar months complete on 2026-06-30
    ("2026-03-31", ["III.D"]),   # 31 March + 3 months = 30 June (month end)
])
def test_III_D_three_month_minimum(since: str, expected: list[str]) -> None:
    assert dc(no_significant_improvement_since=since,
              engagement_strategies_documented_without_results=True,
              behaviors_worsened=True) == expected


def test_III_D_two_versus_three_months() -> None:
    facts = {"no_significant_improvement_since": "2026-04-15",
             "engagement_strategies_documented_without_results": True,
             "alternative_treatment_identified": True}
    assert run(facts, request_type="discharge", request_date="2026-06-15").to_json()[
        "discharge_indications_met"] == []  # two months
    assert run(facts, request_type="discharge", request_date="2026-07-15").to_json()[
        "discharge_indications_met"] == ["III.D"]  # three months


def test_no_discharge_indication_refers_or_pends() -> None:
    result = run({"ipoc_goals_achieved_less_intensive_adequate": False},
                 request_type="discharge", request_date="2026-06-30")
    assert result.outcome == "pend"
    assert "No discharge indication" in result.rationale


# ---- input errors name the case and the field -------------------------------------

@pytest.mark.parametrize(("facts", "message"), [
    ({"birth_date": "1990-02-30"}, "field facts.birth_date: not a date (YYYY-MM-DD)"),
    ({"birth_date": "1990-W10-1"}, "field facts.birth_date: not a date (YYYY-MM-DD)"),
    ({"birth_date": "1990-04-02\n"}, "field facts.birth_date: not a date (YYYY-MM-DD)"),
    ({"birth_date": "\u0661\u0669\u0669\u0660-04-02"},
     "field facts.birth_date: not a date (YYYY-MM-DD)"),  # Arabic-Indic digits
    ({"service_days_by_month": {"2026-01\n": 3}},
     "field facts.service_days_by_month[0]: month is not YYYY-MM"),
    ({"planned_service_days_per_month": "12"},
     "field facts.planned_service_days_per_month: expected a whole number"),
    ({"planned_service_days_per_month": 10**40},
     "field facts.planned_service_days_per_month: outside 0..31"),
    ({"diagnosis_confirmed": "yes"}, "field facts.diagnosis_confirmed: expected true or false"),
    ({"locus_level": 4}, "field facts.locus_level: not a fact of SC.CP.BH.500"),
    ({"service_days_by_month": {"2026-01": 3, "2026-02": 29}},
     "field facts.service_days_by_month[1]: expected a whole number of days, 0 to the "
     "month's 28"),
    ({"primary_diagnosis": "F20"}, "field facts.primary_diagnosis: a category"),
])
def test_bad_facts_name_case_and_field(facts: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError) as caught:
        run(facts)
    assert str(caught.value).startswith("test: case 'T-1': " + message)


@pytest.mark.parametrize("facts", [
    {"birth_date": "1990-02-30"},
    {"planned_service_days_per_month": 99},
    {"primary_diagnosis": "F20.99"},
    {"primary_diagnosis": "F20"},
    {"service_days_by_month": {"2026-02": 29}},
    {"psychiatric_admissions": ["2026-01-15", "2026-01-15"]},
    {"birth_date": "2027-01-01"},
])
def test_errors_never_echo_a_value(facts: dict[str, Any]) -> None:
    # issue 14 item 8: errors name the case and field, never what the field holds (PHI)
    with pytest.raises(CaseError) as caught:
        run(facts)
    message = str(caught.value)
    for value in facts.values():
        for text in (value if isinstance(value, (list, dict)) else [value]):
            assert str(text) not in message
    assert "Schizophrenia" not in message and "\n" not in message


# Revision Log: a request inside the policy's life is determined under the criteria in
# force on its date. 02/26 added the I.F frequency and II.C ("Service frequency limits
# outlined in I.F. continue to be met"); the 03/25 text is read as 02/26's without them;
# the 02/24 criteria are not in the pack (referred); before 02/24 there was no policy.
EARLY = {**SC_INITIAL_MEETS, "psychiatric_admissions": ["2025-03-15", "2025-10-01"]}


@pytest.mark.parametrize(("request_date", "planned_days", "outcome", "has_I_F"), [
    ("2025-12-01", 3, "meets_criteria", False),  # 03/25: no frequency criterion yet
    ("2026-01-31", 3, "meets_criteria", False),  # last day before 02/26
    ("2026-02-01", 3, "refer", True),  # 02/26: I.F, at least 9 days a month
    ("2026-02-01", 9, "meets_criteria", True),
])
def test_criteria_in_force_on_the_request_date(request_date: str, planned_days: int,
                                               outcome: str, has_I_F: bool) -> None:
    result = run({**EARLY, "planned_service_days_per_month": planned_days},
                 request_date=request_date)
    assert result.outcome == outcome
    assert ("I.F" in [c["id"] for c in result.trace["children"]]) == has_I_F
    # the determination carries the revision in force on the request date
    assert result.to_json()["policy_revision"] == ("02/26" if has_I_F else "03/25")


def test_II_C_enters_with_02_26() -> None:
    facts = {"ipoc_meets_requirements": True, "goals_achieved_new_goals_indicated": True,
             "satisfactory_progress_continued_act_effective": False,
             "moderate_progress_interventions_need_change": False,
             "no_progress_or_regression": False,
             "functioning_effectively_discharge_otherwise_indicated": False}
    before = run(facts, request_type="continued_stay", request_date="2026-01-20")
    assert before.outcome == "meets_criteria"
    assert [c["id"] for c in before.trace["children"]] == ["II.A", "II.B"]
    after = run(facts, request_type="continued_stay", request_date="2026-02-01")
    assert [c["id"] for c in after.trace["children"]] == ["II.A", "II.B", "II.C"]
    assert after.outcome == "pend"  # II.C needs the authorization and its day counts


@pytest.mark.parametrize("request_date", ["2024-02-01", "2025-02-28"])
def test_request_under_the_02_24_criteria_is_referred(request_date: str) -> None:
    """The 03/25 log entry says the criteria were reworded and restructured (the former
    I.C removed, continued stay replaced); the 02/24 text is not in the pack, so such a
    request is accepted and referred with the reviewer's question, never decided."""
    result = run({"birth_date": "1990-04-02"}, request_date=request_date)
    assert result.outcome == "refer"
    (judgment,) = result.judgments
    assert "02/24" in judgment["question"] and "Revision Log" in judgment["section"]
    assert result.missing == [] and result.not_met == []


def test_request_before_the_first_revision_is_an_error() -> None:
    with pytest.raises(CaseError, match=r"field request_date: before 2024-02-01, the first "
                       r"revision of SC\.CP\.BH\.500"):
        run({"birth_date": "1990-04-02"}, request_date="2024-01-31")


# issue 14 item 4: a request after the run's as-of date, or a date before 1900, is rejected.
def test_request_after_the_as_of_date_is_rejected() -> None:
    import datetime as dt

    assert run(SC_INITIAL_MEETS, request_date="2026-03-10",
               as_of=dt.date(2026, 3, 10)).outcome == "meets_criteria"
    with pytest.raises(CaseError, match="field request_date: after the run's as-of date "
                       "2026-03-09"):
        run(SC_INITIAL_MEETS, request_date="2026-03-10", as_of=dt.date(2026, 3, 9))


@pytest.mark.parametrize(("facts", "field"), [
    ({"birth_date": "1899-12-31"}, "facts.birth_date"),
    ({"birth_date": "0001-01-01"}, "facts.birth_date"),
    ({"psychiatric_admissions": ["2025-06-01", "1850-01-01"]},
     r"facts.psychiatric_admissions\[1\]"),
])
def test_dates_before_1900_are_implausible(facts: dict[str, Any], field: str) -> None:
    assert status(with_(birth_date="1900-01-01"), "I.A") == "met"
    with pytest.raises(CaseError, match=f"field {field}: before 1900-01-01, not a plausible"):
        run(with_(**facts))


def test_months_before_1900_are_implausible() -> None:
    with pytest.raises(CaseError, match=r"service_days_by_month\[0\]: before 1900-01-01"):
        run(cs(service_days_by_month={"0000-01": 3}), request_type="continued_stay",
            request_date="2026-08-20")


def test_crosswalk_must_name_the_installed_code_set_release(tmp_path: Any) -> None:
    import shutil

    from bhpolicy.criteria.loader import criteria_for
    from bhpolicy.errors import DataFileError
    from bhpolicy.policy import load_registry
    from bhpolicy.policy.registry import builtin_policy_root

    pack = tmp_path / "sc-old"
    shutil.copytree(builtin_policy_root() / "sc-act", pack)
    policy = pack / "policy.yaml"
    policy.write_text(policy.read_text().replace("id: SC.CP.BH.500", "id: SC.OLD")
                      .replace("alias: sc-act", "alias: sc-old"))
    crosswalk = pack / "diagnosis_crosswalk.yaml"
    crosswalk.write_text(crosswalk.read_text().replace("April-2026", "October-2024"))
    with pytest.raises(DataFileError, match="expects ICD-10-CM October-2024"):
        criteria_for(load_registry([tmp_path]).get("sc-old"))
