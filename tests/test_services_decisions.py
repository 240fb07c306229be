"""Decisions, extensions, peer-to-peer offers and appeals through the service layer, on SQLite
and PostgreSQL. The limits checked (14 extension days, 60 appeal days, 10 days' advance
notice, age 21) are read from review.yaml in the test, never typed in."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from bhpolicy.db import Database
from bhpolicy.policy import load_registry
from bhpolicy.services import requests as rq
from bhpolicy.services.errors import Conflict, Forbidden, Invalid, ServiceError
from bhpolicy.services.review_rules import review_rules
from bhpolicy.services.schemas import (
    AppealCreate,
    DecisionCreate,
    ExtensionCreate,
    PeerToPeerCreate,
    RequestCreate,
    RequestView,
)
from tests.support.db import NOW, Actors, example_case, request_body

SC = review_rules(load_registry().get("sc-act"))
HOUR = dt.timedelta(hours=1)
DENY = {"kind": "deny", "criteria": ["I.D"],
        "reason": "Only one functional impairment is documented."}


def value(name: str, on: dt.date | None = None) -> int:
    return SC.value(name, on or NOW.date()).number


def referred(database: Database, actors: Actors, case: str | dict[str, Any] = "sc-initial-refer",
             **kwargs: Any) -> RequestView:
    view = rq.create_request(database, actors.intake,
                             RequestCreate.model_validate(request_body(case, **kwargs)), None, NOW)
    assert view.status == "referred"
    return view


def decide(database: Database, actor: Any, view: RequestView, at: dt.datetime = NOW + HOUR,
           version: int | None = None, **fields: Any) -> RequestView:
    return rq.decide(database, actor, view.id, DecisionCreate.model_validate(fields), version, at)


def test_partial_and_deny_only_by_a_licensed_reviewer_with_reason_and_sections(
        database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    with pytest.raises(Forbidden):
        decide(database, actors.intake, view, **DENY)
    with pytest.raises(Forbidden, match="licence"):
        decide(database, actors.unlicensed_reviewer, view, **DENY)
    with pytest.raises(Forbidden, match="licence"):
        decide(database, actors.unlicensed_reviewer, view, kind="partial", units=30,
               criteria=["I.D"], reason="fewer days")
    for fields, element in [
            ({**DENY, "reason": None}, "reason"), ({**DENY, "reason": "   "}, "reason"),
            ({**DENY, "criteria": []}, "criteria"), ({**DENY, "criteria": ["IX.Z"]},
                                                      "criteria[0]"),
            ({**DENY, "units": 3}, "units"),
            ({"kind": "partial", "criteria": ["I.D"], "reason": "r"}, "kind"),
            ({"kind": "partial", "units": 999, "criteria": ["I.D"], "reason": "r"}, "units"),
            ({"kind": "approve", "units": 30}, "kind"),
            ({"kind": "approve", "modifiers": ["U3"]}, "kind")]:
        with pytest.raises(Invalid) as caught:
            decide(database, actors.reviewer, view, **fields)
        assert caught.value.element == element, fields
    done = decide(database, actors.reviewer, view, kind="partial", units=30,
                  period={"start": "2026-12-05", "end": "2027-01-03"}, criteria=["I.D"],
                  reason="Thirty days to document a second impairment.")
    assert done.status == "partially_approved"
    decision = done.decisions[0]
    assert decision.adverse and decision.reviewer == "reviewer" and decision.criteria == ["I.D"]
    assert decision.granted is not None and decision.granted.units == 30
    assert done.decision_notice_at == NOW + HOUR and done.time_left_seconds is None


def test_unlicensed_reviewer_may_approve_exactly_what_was_asked(database: Database,
                                                                actors: Actors) -> None:
    done = decide(database, actors.unlicensed_reviewer, referred(database, actors),
                  kind="approve")
    assert done.status == "approved" and not done.decisions[0].adverse
    assert [n.kind for n in done.notices] == ["approval"]


def test_second_decision_conflicts(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    decide(database, actors.reviewer, view, version=view.version, **DENY)
    with pytest.raises(Conflict):
        decide(database, actors.second_reviewer, view, version=view.version, kind="approve")
    with pytest.raises(Conflict):
        decide(database, actors.second_reviewer, view, kind="approve")


def test_racing_decisions_one_wins(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def attempt(actor: Any, fields: dict[str, Any]) -> None:
        barrier.wait()
        try:
            results.append(decide(database, actor, view, **fields).status)
        except ServiceError as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(actors.reviewer, DENY)),
               threading.Thread(target=attempt, args=(actors.second_reviewer,
                                                      {"kind": "approve"}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1, results
    final = rq.get_request(database, actors.reviewer, view.id, NOW + HOUR)
    assert len(final.decisions) == 1 and len(final.notices) == 1


def test_adverse_notice_carries_every_438_404_b_element(database: Database,
                                                        actors: Actors) -> None:
    done = decide(database, actors.reviewer, referred(database, actors), **DENY)
    [ref] = done.notices
    assert ref.kind == "adverse"
    notice = rq.get_notice(database, actors.intake, ref.id)
    sent = notice.sent_at.date()
    assert notice.placeholder_wording
    assert notice.recipients == ["member", "requesting provider (copy)"]
    assert "not approved" in notice.decision.text and "438.404(b)(1)" in notice.decision.citation
    assert DENY["reason"] in notice.reasons
    assert [(c.section, c.policy_id) for c in notice.criteria] == [("I.D", "SC.CP.BH.500")]
    assert notice.criteria[0].summary
    assert notice.records_and_criteria and "free" in notice.records_and_criteria.text
    assert "438.404(b)(2)" in notice.records_and_criteria.citation
    assert notice.plan_appeal and notice.plan_appeal.days == value("appeal_filing_days")
    assert notice.plan_appeal.by == sent + dt.timedelta(days=value("appeal_filing_days"))
    assert "State fair hearing" in notice.plan_appeal.text
    assert notice.state_fair_hearing and "438.408(f)" in notice.state_fair_hearing.citation
    assert notice.expedited_appeal and "438.404(b)(5)" in notice.expedited_appeal.citation
    assert notice.continued_benefits and "438.404(b)(6)" in notice.continued_benefits.citation
    assert notice.continued_benefits.by == sent + dt.timedelta(
        days=value("continued_benefits_request_days"))
    assert notice.advance_notice is None and notice.effective_date is None


def test_ending_act_in_progress_needs_advance_notice(database: Database,
                                                     actors: Actors) -> None:
    case = example_case("sc-continued-stay")
    case["facts"]["ipoc_meets_requirements"] = False
    view = referred(database, actors, case, birth_date="1980-01-01")
    assert view.request_type == "continued_stay"
    done = decide(database, actors.reviewer, view, kind="deny", criteria=["II.A"],
                  reason="The IPOC does not meet the documentation requirements.")
    [ref] = done.notices
    assert ref.kind == "termination"
    notice = rq.get_notice(database, actors.reviewer, ref.id)
    advance = dt.timedelta(days=value("termination_advance_notice_days"))
    assert notice.effective_date is not None
    assert notice.effective_date >= notice.sent_at.date() + advance
    assert notice.advance_notice and "431.211" in notice.advance_notice.citation
    assert notice.plan_appeal and notice.continued_benefits  # every adverse element too


def test_extension_once_up_to_the_maximum_with_notice(database: Database,
                                                      actors: Actors) -> None:
    view = referred(database, actors)
    most = value("extension_max_days", view.received_at.date())
    ext = ExtensionCreate.model_validate
    with pytest.raises(Forbidden):
        rq.extend(database, actors.intake, view.id,
                  ext({"reason": "member_request", "days": 1}), NOW)
    with pytest.raises(Invalid) as caught:
        rq.extend(database, actors.reviewer, view.id,
                  ext({"reason": "member_request", "days": most + 1}), NOW)
    assert caught.value.element == "days"
    with pytest.raises(Invalid) as caught:
        rq.extend(database, actors.reviewer, view.id,
                  ext({"reason": "plan_need_documented", "days": 3}), NOW)
    assert caught.value.element == "note"
    done = rq.extend(database, actors.reviewer, view.id,
                     ext({"reason": "provider_request", "days": most}), NOW + HOUR)
    assert done.extended_until == view.due_by + dt.timedelta(days=most)
    assert done.deadline == done.extended_until and done.due_by == view.due_by
    assert done.extension_reason == "provider_request"
    [ref] = done.notices
    notice = rq.get_notice(database, actors.reviewer, ref.id)
    assert ref.kind == "extension" and notice.extension is not None
    assert notice.extension.new_deadline == done.extended_until
    assert "grievance" in notice.extension.grievance.text
    with pytest.raises(Conflict, match="once"):
        rq.extend(database, actors.reviewer, view.id,
                  ext({"reason": "member_request", "days": 1}), NOW + 2 * HOUR)
    # the extended deadline is the one the sweep keeps
    assert rq.sweep_overdue(database, view.due_by + HOUR) == 0
    assert rq.sweep_overdue(database, done.deadline + HOUR) == 1


def test_extension_only_before_the_deadline(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    with pytest.raises(Conflict, match="deadline"):
        rq.extend(database, actors.reviewer, view.id, ExtensionCreate(
            reason="member_request", days=2), view.due_by + HOUR)


def test_expedited_is_never_downgraded(database: Database, actors: Actors) -> None:
    view = referred(database, actors, urgency="expedited")
    done = rq.extend(database, actors.reviewer, view.id,
                     ExtensionCreate(reason="member_request", days=2), NOW + HOUR)
    assert done.urgency == "expedited"
    assert done.deadline == view.due_by + dt.timedelta(days=2)
    decided = decide(database, actors.reviewer, view, at=NOW + 2 * HOUR, **DENY)
    assert decided.urgency == "expedited"
    first = rq.create_request(database, actors.intake, RequestCreate.model_validate(
        request_body(urgency="expedited")), "exp-2", NOW)
    with pytest.raises(Invalid):  # the same request again as standard: another body
        rq.create_request(database, actors.intake, RequestCreate.model_validate(
            request_body(urgency="standard")), "exp-2", NOW)
    assert rq.get_request(database, actors.intake, first.id, NOW).urgency == "expedited"


def test_peer_to_peer_offer_is_logged(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    with pytest.raises(Forbidden):
        rq.offer_peer_to_peer(database, actors.intake, view.id, PeerToPeerCreate(), NOW)
    done = rq.offer_peer_to_peer(database, actors.reviewer, view.id,
                                 PeerToPeerCreate(note="Called the team lead."), NOW + HOUR)
    assert [(p.by, p.note) for p in done.peer_to_peer] == [("reviewer", "Called the team lead.")]
    assert done.history[-1].action == "requests.peer_to_peer"
    assert "Called" not in str(done.history[-1].detail)


def test_appeal_goes_to_a_reviewer_not_involved(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    with pytest.raises(Conflict, match="nothing adverse"):
        rq.file_appeal(database, actors.intake, view.id, AppealCreate(), NOW)
    denied = decide(database, actors.reviewer, view, **DENY)
    filed = rq.file_appeal(database, actors.intake, view.id,
                           AppealCreate(expedited=True, continue_benefits=True), NOW + 2 * HOUR)
    assert filed.status == "appeal_pending" and filed.appeals[0].expedited
    assert filed.appeals[0].due_by == NOW + 2 * HOUR + dt.timedelta(
        hours=value("expedited_appeal_decision_hours"))
    with pytest.raises(Conflict):
        rq.file_appeal(database, actors.intake, view.id, AppealCreate(), NOW + 3 * HOUR)
    with pytest.raises(Conflict, match="appeal"):
        decide(database, actors.second_reviewer, view, at=NOW + 3 * HOUR, kind="approve")
    with pytest.raises(Forbidden, match="not involved"):
        decide(database, actors.reviewer, view, at=NOW + 3 * HOUR, kind="approve", appeal=True)
    upheld = decide(database, actors.second_reviewer, view, at=NOW + 4 * HOUR, appeal=True,
                    **DENY)
    assert upheld.status == "denied" and upheld.appeals[0].decided
    assert [d.on_appeal for d in upheld.decisions] == [False, True]
    notice = rq.get_notice(database, actors.intake, upheld.notices[-1].id)
    assert notice.plan_appeal is None  # the plan appeal is done: the State hearing remains
    assert notice.state_fair_hearing and "not involved" not in notice.decision.text
    assert "took no part" in notice.decision.text
    assert denied.decision_notice_at == upheld.decision_notice_at  # the first clock stopped
    with pytest.raises(Conflict, match="State fair hearing"):
        rq.file_appeal(database, actors.intake, view.id, AppealCreate(), NOW + 5 * HOUR)


def test_appeal_after_the_filing_days_refused(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    decide(database, actors.reviewer, view, **DENY)
    late = NOW + HOUR + dt.timedelta(days=value("appeal_filing_days") + 1)
    with pytest.raises(Invalid, match=r"438\.402"):
        rq.file_appeal(database, actors.intake, view.id, AppealCreate(), late)


def test_missed_deadline_may_be_appealed(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    rq.sweep_overdue(database, view.due_by + HOUR)
    filed = rq.file_appeal(database, actors.intake, view.id, AppealCreate(),
                           view.due_by + 2 * HOUR)
    assert filed.status == "appeal_pending"
    done = decide(database, actors.reviewer, view, at=view.due_by + 3 * HOUR, appeal=True,
                  kind="approve")
    assert done.status == "approved"


def test_member_under_21_refer_reason_and_no_denial_on_age_alone(database: Database,
                                                                 actors: Actors) -> None:
    case = example_case("sc-initial-meets")
    case["facts"]["birth_date"] = "2009-01-01"  # 17 on the request date: I.A not met
    view = referred(database, actors, case)
    limit = value("epsdt_age_under_years")
    assert view.determination["epsdt"]["citation"].startswith("SSA 1905(r)(5)")
    assert f"under {limit}" in view.determination["rationale"]
    assert "age alone cannot justify a denial" in view.determination["rationale"]
    with pytest.raises(Invalid, match="EPSDT"):
        decide(database, actors.reviewer, view, kind="deny", criteria=["I.A"],
               reason="Under the minimum age.")
    done = decide(database, actors.reviewer, view, kind="deny", criteria=["I.A", "I.D"],
                  reason="No functional impairment is documented beside the age.")
    notice = rq.get_notice(database, actors.reviewer, done.notices[0].id)
    assert notice.epsdt is not None and f"under {limit}" in notice.epsdt.text


def test_adult_referral_has_no_epsdt_sentence(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    assert "epsdt" not in view.determination
    assert "EPSDT" not in view.determination["rationale"]


def test_fee_for_service_notice_names_the_state_hearing(database: Database,
                                                        actors: Actors) -> None:
    case = example_case("mn-initial")
    case["facts"]["locus_level"] = 2  # below the level the manual asks for: refer
    view = referred(database, actors, case)
    rules = review_rules(load_registry().get("mn-act"))
    section = view.determination["not_met"][0]["section"]
    done = decide(database, actors.reviewer, view, kind="deny", criteria=[section],
                  reason="The LOCUS level is below what the manual requires.")
    notice = rq.get_notice(database, actors.reviewer, done.notices[0].id)
    assert notice.plan_appeal is None
    hearing = rules.value("state_fair_hearing_days", NOW.date())
    assert notice.state_fair_hearing and str(hearing.number) in notice.state_fair_hearing.text
    assert "431.221(d)" in notice.state_fair_hearing.citation
    assert notice.expedited_appeal and notice.continued_benefits and notice.records_and_criteria
    with pytest.raises(Invalid, match="fee-for-service"):
        rq.file_appeal(database, actors.intake, view.id, AppealCreate(), NOW + 2 * HOUR)


def test_overdue_appeal_flagged_at_the_minute_with_a_hearing_notice(
        database: Database, actors: Actors) -> None:
    """42 CFR 438.408(b)(2): a standard appeal is resolved within 30 days; past that the
    appeal is flagged and escalated, and the member is told the State fair hearing is open
    now (438.408(c)(3)). The appeal stays open; nothing is decided automatically."""
    view = referred(database, actors)
    decide(database, actors.reviewer, view, **DENY)
    filed = rq.file_appeal(database, actors.intake, view.id, AppealCreate(), NOW + 2 * HOUR)
    due = filed.appeals[0].due_by
    assert due == NOW + 2 * HOUR + dt.timedelta(days=value("appeal_decision_days"))
    assert rq.sweep_overdue(database, due) == 0  # at the deadline: not late yet
    assert rq.sweep_overdue(database, due + dt.timedelta(minutes=1)) == 1
    assert rq.sweep_overdue(database, due + 2 * HOUR) == 0  # flagged once
    later = rq.get_request(database, actors.reviewer, view.id, due + 2 * HOUR)
    assert later.status == "appeal_pending" and later.escalated
    assert later.appeals[0].overdue_flagged_at == due + dt.timedelta(minutes=1)
    assert later.history[-1].action == "requests.appeal_overdue"
    notice = rq.get_notice(database, actors.intake, later.notices[-1].id)
    assert notice.kind == "appeal_overdue" and "438.408(c)(3)" in notice.decision.citation
    assert notice.plan_appeal is None and notice.state_fair_hearing is not None
    assert notice.continued_benefits is not None
    done = decide(database, actors.second_reviewer, view, at=due + 3 * HOUR, appeal=True,
                  kind="approve")
    assert done.status == "approved"  # still decided by a reviewer after the flag


def test_overdue_appeal_flagged_when_the_queue_is_read(database: Database,
                                                       actors: Actors) -> None:
    view = referred(database, actors)
    decide(database, actors.reviewer, view, **DENY)
    filed = rq.file_appeal(database, actors.intake, view.id, AppealCreate(expedited=True),
                           NOW + 2 * HOUR)
    after = filed.appeals[0].due_by + dt.timedelta(minutes=1)
    rq.list_requests(database, actors.reviewer, now=after)
    seen = rq.get_request(database, actors.reviewer, view.id, after)
    assert seen.appeals[0].overdue_flagged_at == after


def test_late_request_for_continued_benefits_is_recorded_not_granted(
        database: Database, actors: Actors) -> None:
    """42 CFR 438.420(b): benefits continue only when asked for within 10 days of the notice
    (or by the effective date, if later). A later request is kept as late; the appeal is
    still taken."""
    view = referred(database, actors)
    denied = decide(database, actors.reviewer, view, **DENY)
    assert denied.decision_notice_at is not None
    days = value("continued_benefits_request_days")
    late = denied.decision_notice_at + dt.timedelta(days=days + 1)
    filed = rq.file_appeal(database, actors.intake, view.id,
                           AppealCreate(continue_benefits=True), late)
    appeal = filed.appeals[0]
    assert not appeal.continue_benefits and appeal.continue_benefits_late
    assert filed.history[-1].detail["continue_benefits_late"] is True


def test_continued_benefits_asked_in_time(database: Database, actors: Actors) -> None:
    view = referred(database, actors)
    denied = decide(database, actors.reviewer, view, **DENY)
    assert denied.decision_notice_at is not None
    on_time = denied.decision_notice_at + dt.timedelta(
        days=value("continued_benefits_request_days"))
    filed = rq.file_appeal(database, actors.intake, view.id,
                           AppealCreate(continue_benefits=True), on_time)
    assert filed.appeals[0].continue_benefits and not filed.appeals[0].continue_benefits_late


def test_reason_code_recorded_and_checked_against_the_plans_list(
        database: Database, actors: Actors, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    view = referred(database, actors)
    with pytest.raises(Exception, match="reason_code"):
        DecisionCreate.model_validate({**DENY, "reason_code": "bad code"})
    codes = tmp_path / "886.txt"
    codes.write_text("# the plan's licensed copy\nAB\nC1\n", encoding="utf-8")
    monkeypatch.setenv("BHPOLICY_REVIEW_REASON_CODES", str(codes))
    with pytest.raises(Invalid) as caught:
        decide(database, actors.reviewer, view, reason_code="ZZ", **DENY)
    assert caught.value.element == "reason_code"
    done = decide(database, actors.reviewer, view, reason_code="C1", **DENY)
    assert done.decisions[0].reason_code == "C1"
