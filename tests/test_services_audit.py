"""The audit log: every write adds exactly one row saying who, what and which ids, and no row
holds PHI (member reference, birth date, provider name, facts, reasons or notes)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from bhpolicy.db import Database
from bhpolicy.db.models import AuditEvent
from bhpolicy.services import requests as rq
from bhpolicy.services import users
from bhpolicy.services.audit import read_audit
from bhpolicy.services.errors import Forbidden
from bhpolicy.services.schemas import (
    AppealCreate,
    DecisionCreate,
    ExtensionCreate,
    InformationCreate,
    PeerToPeerCreate,
    RequestCreate,
)
from tests.support.db import NOW, Actors, example_case, request_body

HOUR = dt.timedelta(hours=1)
REASON = "Reviewer wrote SECRET-REASON about the member."
NOTE = "Spoke to SECRET-NOTE at the clinic."


def audit_count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_one_audit_row_per_write_and_no_phi(database: Database, actors: Actors) -> None:
    case = example_case("sc-initial-pend")
    body = request_body(case)
    steps = [
        ("requests.create", lambda: rq.create_request(
            database, actors.intake, RequestCreate.model_validate(body), "idem", NOW)),
    ]
    before = audit_count(database)
    view = steps[0][1]()
    assert audit_count(database) == before + 1
    rid = view.id
    more = [
        ("requests.add_information", lambda: rq.add_information(
            database, actors.intake, rid, InformationCreate.model_validate(
                {"facts": {"impairment_safe_living": False}}), NOW + HOUR)),
        ("requests.extend", lambda: rq.extend(database, actors.reviewer, rid, ExtensionCreate(
            reason="plan_need_documented", days=3, note=NOTE), NOW + HOUR)),
        ("requests.peer_to_peer", lambda: rq.offer_peer_to_peer(
            database, actors.reviewer, rid, PeerToPeerCreate(note=NOTE), NOW + HOUR)),
        ("requests.decide", lambda: rq.decide(database, actors.reviewer, rid, DecisionCreate(
            kind="deny", criteria=["I.D"], reason=REASON), None, NOW + 2 * HOUR)),
        ("requests.appeal", lambda: rq.file_appeal(
            database, actors.intake, rid, AppealCreate(reason=REASON), NOW + 3 * HOUR)),
        ("requests.decide", lambda: rq.decide(database, actors.second_reviewer, rid,
                                              DecisionCreate(kind="approve", appeal=True),
                                              None, NOW + 4 * HOUR)),
    ]
    for action, call in more:
        count = audit_count(database)
        call()
        with database.read() as session:
            rows = list(session.scalars(select(AuditEvent).where(AuditEvent.id > 0)
                                        .order_by(AuditEvent.id.desc()).limit(1)))
        assert audit_count(database) == count + 1, action
        assert rows[0].action == action and rows[0].object_id == rid
    # a replayed POST writes nothing
    count = audit_count(database)
    rq.create_request(database, actors.intake, RequestCreate.model_validate(body), "idem", NOW)
    assert audit_count(database) == count
    other = rq.create_request(database, actors.intake, RequestCreate.model_validate(
        request_body()), None, NOW)
    count = audit_count(database)
    assert rq.sweep_overdue(database, other.due_by + HOUR) == 1
    assert audit_count(database) == count + 1
    events = read_audit(database, actors.admin, limit=500)
    assert {e.action for e in events} >= {"users.add", "requests.create", "requests.overdue",
                                          "requests.decide", "requests.appeal"}
    text = json.dumps([e.model_dump(mode="json") for e in events])
    phi = [body["member"]["reference"], body["member"]["birth_date"],
           body["requesting_provider"]["name"], body["requesting_provider"]["npi"],
           case["facts"]["primary_diagnosis"], case["facts"]["co_occurring_since"],
           "SECRET-REASON", "SECRET-NOTE", "LICSW"]
    for value in phi:
        assert value not in text, value
    assert all(e.at.tzinfo == dt.UTC for e in events)


def test_audit_read_is_admin_only_and_pages(database: Database, actors: Actors) -> None:
    with pytest.raises(Forbidden):
        read_audit(database, actors.reviewer)
    newest = read_audit(database, actors.admin, limit=3)
    assert len(newest) == 3 and newest[0].id > newest[1].id > newest[2].id
    older = read_audit(database, actors.admin, limit=3, before_id=newest[-1].id)
    assert older and all(e.id < newest[-1].id for e in older)
    assert newest[0].action == "users.add" and newest[0].user is None  # from the CLI


def test_sessions_and_users_are_audited(database: Database, actors: Actors) -> None:
    count = audit_count(database)
    cookie, _ = users.open_session(database, actors.reviewer, now=NOW)
    users.close_session(database, cookie, now=NOW)
    users.add_user(database, "newbie", "analyst", by=actors.admin, now=NOW)
    assert audit_count(database) == count + 3
    actions = [e.action for e in read_audit(database, actors.admin, limit=3)]
    assert actions == ["users.add", "session.close", "session.open"]
