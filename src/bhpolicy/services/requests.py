"""Prior-authorization requests: received, determined, decided, noticed, appealed.

Each write is one transaction with one audit row. The clock runs from ``received_at`` (set
here from ``now``; a client cannot give it) to the decision notice; a pend or new information
does not stop it, one extension moves it. A missed deadline is flagged, escalated and noticed,
never turned into a denial. The engine only ever approves exactly what was asked; anything
less, and every denial, is a licensed reviewer's, with a reason and the sections it rests on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from bhpolicy.criteria.loader import criteria_for
from bhpolicy.db import Database
from bhpolicy.db.models import (
    Appeal,
    Decision,
    Determination,
    Information,
    Notice,
    Request,
)
from bhpolicy.services import faults, notices
from bhpolicy.services.clock import aware
from bhpolicy.services.determining import (
    Determined,
    case_pack,
    determine_case,
    parse,
)
from bhpolicy.services.errors import Conflict, Invalid, NotFound
from bhpolicy.services.ids import new_id
from bhpolicy.services.permissions import OWN_REQUESTS_ONLY, HasRole, require
from bhpolicy.services.request_store import (
    STATUS_OF,
    audit_event,
    automatic_approval,
    load,
    next_seq,
    undecided,
    view,
    written,
)
from bhpolicy.services.review_rules import ReviewRules, review_rules
from bhpolicy.services.schemas import (
    InformationCreate,
    NoticeView,
    RequestCreate,
    RequestSummary,
    RequestView,
)
from bhpolicy.services.users import Actor
from bhpolicy.services.views import Rows, deadline, is_overdue, load_rows, request_view, summary

IDEMPOTENCY_KEY_MAX = 200
# A queue line reads only these (not the case, the first answer or the clock's JSON).
SUMMARY_COLUMNS = (Request.id, Request.policy_id, Request.request_type, Request.status,
                   Request.urgency, Request.service_code, Request.received_at, Request.due_by,
                   Request.extended_until, Request.decision_notice_at, Request.escalated,
                   Request.outcome, Request.version, Request.created_by)
LIST_LIMIT_MAX = 1000


def _body_hash(body: RequestCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _limit(value: Any) -> dict[str, Any]:
    return {"name": value.name, "value": value.number, "unit": value.unit,
            "since": value.since.isoformat(), "citation": value.citation}


def _clock(rules: ReviewRules, urgency: str, received_at: dt.datetime
           ) -> tuple[dt.datetime, dict[str, Any]]:
    """The deadline of a request received at ``received_at`` and the limits it applied."""
    on = received_at.date()
    if urgency == "expedited":
        limit = rules.value("expedited_decision_hours", on)
        due = received_at + dt.timedelta(hours=limit.number)
    else:
        limit = rules.value("standard_decision_days", on)
        due = received_at + dt.timedelta(days=limit.number)
    extension = rules.value("extension_max_days", on)
    return due, {"limits": [_limit(limit), _limit(extension)]}


def _check_consistent(body: RequestCreate) -> None:
    case = body.case
    member_id = case.get("member_id")
    if member_id is not None and member_id != body.member.reference:
        raise Invalid("case.member_id: differs from member.reference", "case.member_id")
    facts = case.get("facts")
    if isinstance(facts, dict) and isinstance(facts.get("birth_date"), str) and \
            facts["birth_date"] != body.member.birth_date.isoformat():
        raise Invalid("case.facts.birth_date: differs from member.birth_date",
                      "case.facts.birth_date")


def _replay(db: Database, actor: Actor, key: str, body_hash: str) -> RequestView | None:
    with db.read() as session:
        found = session.execute(select(Request.body_sha256, Request.first_answer).where(
            Request.created_by == actor.id, Request.idempotency_key == key)).first()
    if found is None:
        return None
    if found[0] != body_hash:
        raise Invalid("Idempotency-Key: already used with a different body",
                      "Idempotency-Key")
    return RequestView.model_validate(found[1])


Attach = Callable[[Session, Request], None]


def create_request(db: Database, actor: Actor, body: RequestCreate,
                   idempotency_key: str | None, now: dt.datetime, *,
                   attach: Attach | None = None) -> RequestView:
    """Receive a request, determine its case as of the day received, and answer with it.
    The same Idempotency-Key with the same body returns the first answer (``attach`` is not
    called again then). ``attach(session, request)`` adds rows of the caller's own (e.g. the
    FHIR bundle as received) in the same transaction, after the request is added."""
    require(actor, "requests.create")
    now = aware(now)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise Invalid(f"Idempotency-Key: 1 to {IDEMPOTENCY_KEY_MAX} characters",
                      "Idempotency-Key")
    body_hash = _body_hash(body)
    if idempotency_key is not None:
        replayed = _replay(db, actor, idempotency_key, body_hash)
        if replayed is not None:
            return replayed
    _check_consistent(body)
    pack = case_pack(body.case)
    rules = review_rules(pack)
    determined = determine_case(parse(body.case, now.date()), rules, body.member.birth_date)
    due_by, clock = _clock(rules, body.urgency, now)
    request = Request(
        id=new_id("PA"), policy_id=pack.id, request_type=determined.case.request_type,
        service_code=body.service.code, modifiers=list(body.service.modifiers),
        period_start=body.period.start, period_end=body.period.end, units=body.units,
        urgency=body.urgency, member_reference=body.member.reference,
        member_birth_date=body.member.birth_date, provider_npi=body.requesting_provider.npi,
        provider_name=body.requesting_provider.name, case=body.case,
        status=STATUS_OF[determined.outcome], outcome=determined.outcome, received_at=now,
        due_by=due_by, clock=clock, escalated=False, created_by=actor.id,
        idempotency_key=idempotency_key, body_sha256=body_hash, version=1)
    rows = Rows(names={actor.id: actor.name})
    rows.determinations.append(Determination(request_id=request.id, seq=1,
                                             outcome=determined.outcome,
                                             result=determined.result, made_at=now))
    if determined.outcome == "meets_criteria":
        decision, notice = automatic_approval(request, 1, now)
        request.decision_notice_at = now
        rows.decisions.append(decision)
        rows.notices.append(notice)
    event = audit_event(now, actor, "requests.create", request.id, status=request.status,
                        urgency=request.urgency, policy=pack.id, outcome=determined.outcome,
                        notices=[n.id for n in rows.notices])
    rows.history.append(event)
    view = request_view(request, rows, now)
    request.first_answer = view.model_dump(mode="json")
    try:
        with db.transaction() as session:
            session.add(request)
            session.add_all([*rows.determinations, *rows.decisions, *rows.notices, event])
            if attach is not None:
                session.flush()
                attach(session, request)
            faults.point("before_commit")
    except IntegrityError:
        if idempotency_key is None:
            raise
        replayed = _replay(db, actor, idempotency_key, body_hash)  # a racing retry won
        if replayed is None:
            raise
        return replayed
    faults.point("after_commit_before_reply")
    return view




def add_information(db: Database, actor: Actor, request_id: str, body: InformationCreate,
                    now: dt.datetime, *, attach: Attach | None = None) -> RequestView:
    """Facts or documents for an undecided request: its case is determined again (a new
    determination; the earlier ones are kept). The clock runs on. ``attach(session,
    request)`` adds the caller's own rows in the same transaction."""
    require(actor, "requests.add_information")
    now = aware(now)

    def work(session: Session) -> RequestView:
        request = load(session, actor, request_id, for_update=True)
        undecided(request, "add information")
        pack = case_pack(request.case)
        documents = criteria_for(pack).facts.documents
        for index, item in enumerate(body.documents):
            where = f"documents[{index}]"
            if item.document not in documents:
                raise Invalid(f"{where}.document: not a document of {pack.id} (known: "
                              f"{', '.join(documents)})", f"{where}.document")
            if item.received > now.date():
                raise Invalid(f"{where}.received: after today", f"{where}.received")
        case = dict(request.case)
        facts = dict(case.get("facts") or {})
        for name, value in body.facts.items():
            if value is None:
                facts.pop(name, None)
            else:
                facts[name] = value
        case["facts"] = facts
        rules = review_rules(pack)
        determined: Determined = determine_case(parse(case, now.date(), "facts"), rules,
                                                request.member_birth_date)
        seq = next_seq(session, Determination, request.id)
        session.add(Determination(request_id=request.id, seq=seq, outcome=determined.outcome,
                                  result=determined.result, made_at=now))
        session.add(Information(request_id=request.id, facts=body.facts,
                                documents=[d.model_dump(mode="json") for d in body.documents],
                                received_at=now, received_by=actor.id))
        request.case = case
        request.outcome = determined.outcome
        request.status = STATUS_OF[determined.outcome]
        notice_ids: list[str] = []
        if determined.outcome == "meets_criteria":
            decision, notice = automatic_approval(
                request, next_seq(session, Decision, request.id), now)
            session.add_all([decision, notice])
            request.decision_notice_at = now
            notice_ids.append(notice.id)
        session.add(audit_event(now, actor, "requests.add_information", request.id,
                                determination=seq, outcome=determined.outcome,
                                status=request.status, facts=len(body.facts),
                                documents=len(body.documents), notices=notice_ids))
        if attach is not None:
            session.flush()
            attach(session, request)
        return view(session, request, now)

    return written(db, work)


def get_request(db: Database, actor: HasRole, request_id: str,
                now: dt.datetime) -> RequestView:
    """A request with every determination, decision, notice and its history. An overdue
    request not yet flagged is swept first (the sweep also runs in the background)."""
    require(actor, "requests.read")
    now = aware(now)
    with db.read() as session:
        request = load(session, actor, request_id)
        stale = (request.overdue_flagged_at is None and is_overdue(request, now)) or \
            session.scalar(select(Appeal.id).where(Appeal.request_id == request.id,
                                                   _overdue_appeal_clause(now))) is not None
        if not stale:
            return request_view(request, load_rows(session, request.id), now)
    sweep_overdue(db, now)
    with db.read() as session:
        request = load(session, actor, request_id)
        return request_view(request, load_rows(session, request.id), now)


def _overdue_clause(now: dt.datetime) -> Any:
    return (Request.decision_notice_at.is_(None) &
            (func.coalesce(Request.extended_until, Request.due_by) < now))


def list_requests(db: Database, actor: HasRole, status: str | None = None,
                  urgency: str | None = None, overdue: bool | None = None, *,
                  now: dt.datetime, limit: int = LIST_LIMIT_MAX) -> list[RequestSummary]:
    """The queue, soonest deadline first (one query; overdue requests swept first)."""
    require(actor, "requests.list")
    now = aware(now)
    with db.read() as session:
        unflagged = session.scalar(select(
            select(Request.id).where(_overdue_clause(now),
                                     Request.overdue_flagged_at.is_(None)).exists() |
            select(Appeal.id).where(_overdue_appeal_clause(now)).exists()))
    if unflagged:
        sweep_overdue(db, now)
    query = (select(Request).options(load_only(*SUMMARY_COLUMNS))
             .order_by(func.coalesce(Request.extended_until, Request.due_by), Request.id)
             .limit(max(1, min(limit, LIST_LIMIT_MAX))))
    if status is not None:
        query = query.where(Request.status == status)
    if urgency is not None:
        query = query.where(Request.urgency == urgency)
    if overdue is True:
        query = query.where(_overdue_clause(now))
    elif overdue is False:
        query = query.where(~_overdue_clause(now))
    if actor.role in OWN_REQUESTS_ONLY:
        query = query.where(Request.created_by == getattr(actor, "id", None))
    with db.read() as session:
        return [summary(request, now) for request in session.scalars(query)]


def get_notice(db: Database, actor: HasRole, notice_id: str,
               now: dt.datetime | None = None) -> NoticeView:
    require(actor, "notices.read")
    with db.read() as session:
        notice = session.get(Notice, notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id}")
        try:
            request = load(session, actor, notice.request_id)
        except NotFound:
            raise NotFound(f"no notice {notice_id}") from None
        return notices.notice_view(notice, request)


def _overdue_appeal_clause(now: dt.datetime) -> Any:
    return (Appeal.decision_id.is_(None) & Appeal.overdue_flagged_at.is_(None) &
            (Appeal.due_by < now))


def sweep_overdue(db: Database, now: dt.datetime) -> int:
    """Flag and escalate every request past its deadline with no decision notice, and send
    each a missed-deadline notice; likewise every plan appeal past its resolution time (its
    notice says the State fair hearing may be asked for now). Never denies. Returns how many
    requests and appeals were flagged."""
    now = aware(now)
    with db.read() as session:
        ids = list(session.scalars(select(Request.id).where(
            _overdue_clause(now), Request.overdue_flagged_at.is_(None))))
        appeal_ids = list(session.scalars(select(Appeal.id).where(
            _overdue_appeal_clause(now))))
    flagged = sum(_flag_overdue_appeal(db, appeal_id, now) for appeal_id in appeal_ids)
    for request_id in ids:
        def work(session: Session, request_id: str = request_id) -> bool:
            request = load(session, _SYSTEM, request_id, for_update=True)
            if request.overdue_flagged_at is not None or not is_overdue(request, now):
                return False
            notice = notices.missed_deadline_notice(request, deadline(request), now)
            request.overdue_flagged_at = now
            request.escalated = True
            session.add(notice)
            session.add(audit_event(now, None, "requests.overdue", request.id,
                                    status=request.status, notices=[notice.id]))
            return True
        try:
            flagged += written(db, work)
        except Conflict:
            continue  # changed under us (decided in time after all, or flagged by another)
    return flagged


def _flag_overdue_appeal(db: Database, appeal_id: int, now: dt.datetime) -> int:
    def work(session: Session) -> int:
        appeal = session.get(Appeal, appeal_id)
        if appeal is None or appeal.decision_id is not None or \
                appeal.overdue_flagged_at is not None or not aware(appeal.due_by) < now:
            return 0
        request = load(session, _SYSTEM, appeal.request_id, for_update=True)
        notice = notices.appeal_overdue_notice(request, aware(appeal.due_by), now)
        appeal.overdue_flagged_at = now
        request.escalated = True
        session.add(notice)
        session.add(audit_event(now, None, "requests.appeal_overdue", request.id,
                                status=request.status, notices=[notice.id]))
        return 1
    try:
        return written(db, work)
    except Conflict:
        return 0


class _System:
    role = "system"
    id = None


_SYSTEM = _System()

from bhpolicy.services.decisions import (  # noqa: E402  (re-exported: the contract's names)
    decide,
    extend,
    file_appeal,
    offer_peer_to_peer,
)

__all__ = ["add_information", "create_request", "decide", "extend", "file_appeal",
           "get_notice", "get_request", "list_requests", "offer_peer_to_peer",
           "sweep_overdue"]
