"""Answers built from rows: a request with everything recorded about it, a queue line, and the
clock (deadline, time left, overdue) as of ``now``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.db.models import (
    Appeal,
    AuditEvent,
    Decision,
    Determination,
    Information,
    Notice,
    PeerToPeer,
    Request,
    User,
)
from bhpolicy.services.notices import granted_of
from bhpolicy.services.schemas import (
    AppealView,
    ClockLimit,
    DecisionView,
    DeterminationView,
    DocumentReceived,
    HistoryEntry,
    InformationView,
    Member,
    MissingDocument,
    NoticeRef,
    PeerToPeerView,
    Period,
    Provider,
    RequestSummary,
    RequestView,
    Service,
)


def deadline(request: Request) -> dt.datetime:
    return request.extended_until or request.due_by


def is_overdue(request: Request, now: dt.datetime) -> bool:
    """Past its deadline with no decision notice sent (a pend does not stop the clock)."""
    return request.decision_notice_at is None and now > deadline(request)


def time_left(request: Request, now: dt.datetime) -> int | None:
    if request.decision_notice_at is not None:
        return None
    return int((deadline(request) - now).total_seconds())


def missing_documents(result: dict[str, Any]) -> list[MissingDocument]:
    by_document: dict[str, MissingDocument] = {}
    for item in result.get("missing", []):
        entry = by_document.setdefault(item["document"], MissingDocument(
            document=item["document"], title=item["document_title"], facts=[]))
        entry.facts.append(item["label"])
    return list(by_document.values())


@dataclass
class Rows:
    """Everything recorded about one request, with the names of the users involved."""

    determinations: list[Determination] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    information: list[Information] = field(default_factory=list)
    peer_to_peer: list[PeerToPeer] = field(default_factory=list)
    appeals: list[Appeal] = field(default_factory=list)
    history: list[AuditEvent] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def load_rows(session: Session, request_id: str) -> Rows:
    rows = Rows()
    rows.determinations = list(session.scalars(select(Determination).where(
        Determination.request_id == request_id).order_by(Determination.seq)))
    rows.decisions = list(session.scalars(select(Decision).where(
        Decision.request_id == request_id).order_by(Decision.seq)))
    rows.notices = list(session.scalars(select(Notice).where(
        Notice.request_id == request_id).order_by(Notice.sent_at, Notice.id)))
    rows.information = list(session.scalars(select(Information).where(
        Information.request_id == request_id).order_by(Information.id)))
    rows.peer_to_peer = list(session.scalars(select(PeerToPeer).where(
        PeerToPeer.request_id == request_id).order_by(PeerToPeer.id)))
    rows.appeals = list(session.scalars(select(Appeal).where(
        Appeal.request_id == request_id).order_by(Appeal.id)))
    rows.history = list(session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "request", AuditEvent.object_id == request_id)
        .order_by(AuditEvent.id)))
    user_ids = {d.reviewer_id for d in rows.decisions if d.reviewer_id is not None}
    user_ids |= {i.received_by for i in rows.information}
    user_ids |= {p.offered_by for p in rows.peer_to_peer} | {a.filed_by for a in rows.appeals}
    user_ids |= {e.user_id for e in rows.history if e.user_id is not None}
    if user_ids:
        rows.names = {user_id: name for user_id, name in session.execute(
            select(User.id, User.name).where(User.id.in_(user_ids)))}
    return rows


def clock_limits(request: Request) -> list[ClockLimit]:
    return [ClockLimit.model_validate(limit) for limit in request.clock.get("limits", [])]


def request_view(request: Request, rows: Rows, now: dt.datetime) -> RequestView:
    names = rows.names
    latest = rows.determinations[-1].result if rows.determinations else {}
    return RequestView(
        id=request.id, policy=request.policy_id, request_type=request.request_type,
        status=request.status,
        urgency=request.urgency,
        member=Member(reference=request.member_reference, birth_date=request.member_birth_date),
        requesting_provider=Provider(npi=request.provider_npi, name=request.provider_name),
        service=Service(code=request.service_code, modifiers=list(request.modifiers)),
        period=Period(start=request.period_start, end=request.period_end),
        units=request.units, received_at=request.received_at, due_by=request.due_by,
        extended_until=request.extended_until,
        extension_reason=request.extension_reason,
        deadline=deadline(request), decision_notice_at=request.decision_notice_at,
        time_left_seconds=time_left(request, now), overdue=is_overdue(request, now),
        overdue_flagged_at=request.overdue_flagged_at, escalated=request.escalated,
        clock=clock_limits(request), determination=latest,
        missing_documents=missing_documents(latest),
        determinations=[DeterminationView(seq=d.seq, outcome=d.outcome, made_at=d.made_at,
                                          result=d.result) for d in rows.determinations],
        decisions=[DecisionView(
            seq=d.seq, kind=d.kind,
            adverse=d.adverse, automatic=d.automatic, on_appeal=d.on_appeal,
            granted=granted_of(d), criteria=list(d.criteria), reason=d.reason,
            reason_code=d.reason_code,
            reviewer=names.get(d.reviewer_id) if d.reviewer_id else None,
            decided_at=d.decided_at) for d in rows.decisions],
        notices=[NoticeRef(id=n.id, kind=n.kind,
                           sent_at=n.sent_at, effective_date=n.effective_date)
                 for n in rows.notices],
        information=[InformationView(
            received_at=i.received_at, by=names.get(i.received_by, "?"),
            facts=sorted(i.facts), documents=[DocumentReceived.model_validate(d)
                                              for d in i.documents])
            for i in rows.information],
        peer_to_peer=[PeerToPeerView(offered_at=p.offered_at, by=names.get(p.offered_by, "?"),
                                     note=p.note) for p in rows.peer_to_peer],
        appeals=[AppealView(filed_at=a.filed_at, by=names.get(a.filed_by, "?"),
                            expedited=a.expedited, continue_benefits=a.continue_benefits,
                            continue_benefits_late=a.continue_benefits_late,
                            overdue_flagged_at=a.overdue_flagged_at, due_by=a.due_by,
                            decided=a.decision_id is not None or a.decision is not None)
                 for a in rows.appeals],
        history=[HistoryEntry(at=e.at, action=e.action,
                              by=names.get(e.user_id) if e.user_id else None,
                              detail=e.detail) for e in rows.history],
        version=request.version)


def summary(request: Request, now: dt.datetime) -> RequestSummary:
    return RequestSummary(
        id=request.id, policy=request.policy_id, request_type=request.request_type,
        status=request.status,
        urgency=request.urgency,
        service_code=request.service_code, received_at=request.received_at,
        due_by=request.due_by, deadline=deadline(request),
        time_left_seconds=time_left(request, now), overdue=is_overdue(request, now),
        escalated=request.escalated, outcome=request.outcome, version=request.version)
