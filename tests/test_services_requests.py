"""Requests through the service layer, on SQLite and PostgreSQL: the clock, determinations,
idempotency, information, the overdue sweep, the queue, and who may see what.

Numbers below are read from the pack's review.yaml in the test (never typed in), so the tests
check that the service applies the data: sc-act in force on 2026-12-01 gives 7 calendar days
standard and 72 hours expedited (42 CFR 438.210(d) as amended by CMS-0057-F)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bhpolicy.db import Database
from bhpolicy.db.models import Determination, Request
from bhpolicy.policy import load_registry
from bhpolicy.services import requests as rq
from bhpolicy.services.errors import Forbidden, Invalid, NotFound
from bhpolicy.services.review_rules import review_rules
from bhpolicy.services.schemas import InformationCreate, RequestCreate
from tests.support.db import NOW, Actors, example_case, request_body

MINUTE = dt.timedelta(minutes=1)
SC = review_rules(load_registry().get("sc-act"))


def body(*args: Any, **kwargs: Any) -> RequestCreate:
    return RequestCreate.model_validate(request_body(*args, **kwargs))


def days(name: str) -> dt.timedelta:
    return dt.timedelta(days=SC.value(name, NOW.date()).number)


def test_standard_clock_from_receipt(database: Database, actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body(), None, NOW)
    assert view.status == "referred" and view.urgency == "standard"
    assert view.received_at == NOW and view.received_at.tzinfo == dt.UTC
    assert view.due_by == NOW + days("standard_decision_days")
    assert view.time_left_seconds == int(days("standard_decision_days").total_seconds())
    assert "438.210(d)(1)" in view.clock[0].citation and view.clock[0].value == 7
    assert view.determination["outcome"] == "refer"
    assert view.id.startswith("PA-") and "SYN" not in view.id


def test_expedited_clock_in_hours(database: Database, actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body(urgency="expedited"), None, NOW)
    hours = SC.value("expedited_decision_hours", NOW.date())
    assert view.due_by == NOW + dt.timedelta(hours=hours.number)
    assert hours.citation.startswith("42 CFR 438.210(d)(2)")


def test_pend_lists_documents_and_does_not_stop_the_clock(database: Database,
                                                           actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body("sc-initial-pend"), None, NOW)
    assert view.status == "pended"
    assert {d.document for d in view.missing_documents} == {"functional_assessment", "ipoc"}
    later = NOW + dt.timedelta(days=3)
    again = rq.get_request(database, actors.reviewer, view.id, later)
    assert again.due_by == view.due_by
    assert again.time_left_seconds == view.time_left_seconds - 3 * 86400
    past = view.due_by + MINUTE
    assert rq.get_request(database, actors.reviewer, view.id, past).overdue


def test_information_adds_a_determination_and_keeps_the_first(database: Database,
                                                                actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body("sc-initial-pend"), None, NOW)
    later = NOW + dt.timedelta(days=2)
    info = InformationCreate.model_validate({
        "facts": {"impairment_basic_functioning": True, "planned_service_days_per_month": 12},
        "documents": [{"document": "functional_assessment", "received": "2026-12-02"},
                      {"document": "ipoc", "received": "2026-12-02"}]})
    after = rq.add_information(database, actors.intake, view.id, info, later)
    assert [d.outcome for d in after.determinations] == ["pend", "meets_criteria"]
    assert after.determinations[0].result == view.determination  # kept as it was
    assert after.status == "approved" and after.due_by == view.due_by
    assert after.decisions[0].automatic and after.notices[0].kind == "approval"
    assert after.information[0].facts == ["impairment_basic_functioning",
                                           "planned_service_days_per_month"]
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Determination)) == 2


def test_information_errors_name_the_element(database: Database, actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body("sc-initial-pend"), None, NOW)
    bad_doc = InformationCreate.model_validate(
        {"documents": [{"document": "lab_report", "received": "2026-12-01"}]})
    with pytest.raises(Invalid) as caught:
        rq.add_information(database, actors.intake, view.id, bad_doc, NOW)
    assert caught.value.element == "documents[0].document"
    bad_fact = InformationCreate.model_validate({"facts": {"planned_service_days_per_month": 99}})
    with pytest.raises(Invalid) as caught:
        rq.add_information(database, actors.intake, view.id, bad_fact, NOW)
    assert caught.value.element == "facts.facts.planned_service_days_per_month"
    assert "99" not in str(caught.value)


def test_only_exactly_what_was_asked_is_approved_automatically(database: Database,
                                                               actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body("sc-initial-meets", units=60), None,
                             NOW)
    assert view.status == "approved" and view.decision_notice_at == NOW
    decision = view.decisions[0]
    assert decision.automatic and not decision.adverse and decision.reviewer is None
    assert decision.granted is not None
    assert (decision.granted.units, decision.granted.code, decision.granted.modifiers) == (
        60, "H0040", ["U1"])
    assert decision.granted.period == view.period
    assert view.time_left_seconds is None and not view.overdue


def test_idempotency(database: Database, actors: Actors) -> None:
    first = rq.create_request(database, actors.intake, body(), "key-1", NOW)
    again = rq.create_request(database, actors.intake, body(), "key-1", NOW + MINUTE)
    assert again == first
    with pytest.raises(Invalid) as caught:
        rq.create_request(database, actors.intake, body(units=30), "key-1", NOW)
    assert caught.value.status == 422 and caught.value.element == "Idempotency-Key"
    other = rq.create_request(database, actors.provider, body(), "key-1", NOW)  # another user
    assert other.id != first.id
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 2


def test_case_errors_are_one_line_422s_without_values(database: Database,
                                                      actors: Actors) -> None:
    case = example_case("sc-initial-refer")
    case["facts"]["primary_diagnosis"] = "Z99.999"
    with pytest.raises(Invalid) as caught:
        rq.create_request(database, actors.intake, body(case), None, NOW)
    assert caught.value.element == "case.facts.primary_diagnosis"
    assert "Z99" not in str(caught.value) and "\n" not in str(caught.value)
    mismatch = request_body()
    mismatch["member"]["reference"] = "SOMEONE-ELSE"
    with pytest.raises(Invalid) as caught:
        rq.create_request(database, actors.intake, RequestCreate.model_validate(mismatch),
                          None, NOW)
    assert caught.value.element == "case.member_id" and "SOMEONE" not in str(caught.value)
    with pytest.raises(Invalid):
        rq.create_request(database, actors.intake, body(),
                          None, dt.datetime(2026, 12, 1, 9, 0))  # naive: refused


def test_overdue_flagged_at_the_minute_escalated_never_denied(database: Database,
                                                              actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body(), None, NOW)
    assert rq.sweep_overdue(database, view.due_by - MINUTE) == 0
    assert rq.sweep_overdue(database, view.due_by) == 0  # at the deadline: still in time
    flagged_at = view.due_by + MINUTE
    assert rq.sweep_overdue(database, flagged_at) == 1
    assert rq.sweep_overdue(database, flagged_at + MINUTE) == 0  # once
    after = rq.get_request(database, actors.reviewer, view.id, flagged_at)
    assert after.overdue and after.escalated and after.overdue_flagged_at == flagged_at
    assert after.status == "referred" and after.decisions == []  # never denied
    assert [n.kind for n in after.notices] == ["missed_deadline"]
    notice = rq.get_notice(database, actors.reviewer, after.notices[0].id)
    assert notice.missed_deadline is not None and "438.404(c)(5)" in notice.missed_deadline.citation
    assert notice.plan_appeal is not None and notice.continued_benefits is not None
    assert [e.action for e in after.history] == ["requests.create", "requests.overdue"]
    assert after.history[1].by is None


def test_overdue_applied_on_read(database: Database, actors: Actors) -> None:
    view = rq.create_request(database, actors.intake, body(), None, NOW)
    late = view.due_by + MINUTE
    queue = rq.list_requests(database, actors.reviewer, overdue=True, now=late)
    assert [s.id for s in queue] == [view.id] and queue[0].escalated
    assert rq.list_requests(database, actors.reviewer, overdue=False, now=late) == []


def test_queue_sorted_by_deadline_and_filtered(database: Database, actors: Actors) -> None:
    standard = rq.create_request(database, actors.intake, body(), None, NOW)
    expedited = rq.create_request(database, actors.intake, body(urgency="expedited"), None,
                                  NOW + dt.timedelta(hours=1))
    approved = rq.create_request(database, actors.intake, body("sc-initial-meets"), None, NOW)
    queue = rq.list_requests(database, actors.analyst, now=NOW)
    assert queue[0].id == expedited.id
    assert [s.deadline for s in queue] == sorted(s.deadline for s in queue)
    assert {s.id for s in rq.list_requests(database, actors.intake, status="referred",
                                            now=NOW)} == {standard.id, expedited.id}
    assert [s.id for s in rq.list_requests(database, actors.intake, urgency="expedited",
                                            now=NOW)] == [expedited.id]
    assert approved.id in {s.id for s in rq.list_requests(database, actors.admin,
                                                          status="approved", now=NOW)}
    with pytest.raises(Forbidden):
        rq.list_requests(database, actors.provider, now=NOW)
    with pytest.raises(Forbidden):
        rq.list_requests(database, actors.biller, now=NOW)


def test_provider_system_sees_only_its_own(database: Database, actors: Actors) -> None:
    mine = rq.create_request(database, actors.provider, body(), None, NOW)
    assert rq.get_request(database, actors.provider, mine.id, NOW).id == mine.id
    with pytest.raises(NotFound):
        rq.get_request(database, actors.other_provider, mine.id, NOW)
    with pytest.raises(NotFound):
        rq.get_request(database, actors.intake, "PA-AAAAAAAAAAAA", NOW)


def _count_statements(database: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


def test_statement_counts(database: Database, actors: Actors) -> None:
    """A POST is a handful of statements; the queue is one query whatever its length."""
    for _ in range(5):
        rq.create_request(database, actors.intake, body(), None, NOW)
    seen = _count_statements(database)
    rq.create_request(database, actors.intake, body("sc-initial-meets"), "k", NOW)
    writes = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert len(writes) <= 7, writes
    seen.clear()
    rq.list_requests(database, actors.reviewer, now=NOW)
    queries = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) <= 2, queries


def test_racing_retries_with_one_key_make_one_request(database: Database,
                                                      actors: Actors) -> None:
    import threading

    barrier = threading.Barrier(3)
    answers: list[Any] = []

    def post() -> None:
        barrier.wait()
        try:
            answers.append(rq.create_request(database, actors.provider, body(), "retry-1", NOW))
        except Exception as exc:  # the test shows which
            answers.append(exc)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({a.id for a in answers}) == 1, answers
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 1
