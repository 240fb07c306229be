"""A reviewer's work on a request: the decision, the one extension, a peer-to-peer offer, and
the member's appeal (decided by a reviewer who took no part in the first decision).

Only exactly what was asked is an approval. Anything less (fewer units, a shorter period,
another code or modifier) is a partial approval, which like a denial is an adverse benefit
determination: only a reviewer with a licence recorded may make it, with the criteria sections
it rests on and a reason in words, and a notice carrying every required element goes out.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.criteria.loader import criteria_for
from bhpolicy.db import Database
from bhpolicy.db.models import Appeal, Decision, Notice, PeerToPeer, Request
from bhpolicy.services import notices
from bhpolicy.services.clock import aware
from bhpolicy.services.determining import age_sections, case_pack, parse, sections
from bhpolicy.services.determining import under_epsdt_age as _under_age
from bhpolicy.services.errors import Conflict, Forbidden, Invalid
from bhpolicy.services.permissions import require
from bhpolicy.services.reason_codes import check_reason_code
from bhpolicy.services.request_store import audit_event, load, next_seq, undecided, view, written
from bhpolicy.services.review_rules import review_rules
from bhpolicy.services.schemas import (
    AppealCreate,
    DecisionCreate,
    ExtensionCreate,
    PeerToPeerCreate,
    RequestView,
)
from bhpolicy.services.users import Actor

DECIDED_STATUS = {"approve": "approved", "partial": "partially_approved", "deny": "denied"}
ADVERSE_STATUS = frozenset({"partially_approved", "denied"})


def _granted(request: Request, body: DecisionCreate) -> tuple[dict[str, object], bool]:
    """What the decision grants (fields left out are as asked) and whether it is exactly
    what was asked."""
    asked = {"period_start": request.period_start, "period_end": request.period_end,
             "units": request.units, "service_code": request.service_code,
             "modifiers": list(request.modifiers)}
    granted = dict(asked)
    if body.period is not None:
        granted["period_start"], granted["period_end"] = body.period.start, body.period.end
    if body.units is not None:
        granted["units"] = body.units
    if body.code is not None:
        granted["service_code"] = body.code
    if body.modifiers is not None:
        granted["modifiers"] = list(body.modifiers)
    return granted, granted == asked


def _check_kind(request: Request, body: DecisionCreate, granted: dict[str, object],
                exact: bool) -> None:
    if body.kind == "approve" and not exact:
        raise Invalid("kind: granting less or other than was asked is a partial approval "
                      "(kind partial), an adverse determination", "kind")
    if body.kind == "partial":
        if exact:
            raise Invalid("kind: this grants exactly what was asked; use approve", "kind")
        units = granted["units"]
        assert isinstance(units, int)
        if units > request.units:
            raise Invalid("units: more than was asked", "units")
        if body.period is not None and (body.period.start < request.period_start or
                                        body.period.end > request.period_end):
            raise Invalid("period: outside the period asked", "period")
    if body.kind == "deny":
        for name in ("period", "units", "code", "modifiers"):
            if getattr(body, name) is not None:
                raise Invalid(f"{name}: a denial grants nothing", name)


def _check_adverse(actor: Actor, request: Request, body: DecisionCreate) -> None:
    """An adverse decision: a licensed reviewer, a reason, and sections of the criteria."""
    if not actor.licence:
        raise Forbidden("an adverse decision (partial approval or denial) needs a reviewer "
                        "with a licence recorded")
    if not body.reason or not body.reason.strip():
        raise Invalid("reason: a partial approval or denial needs a specific reason in words",
                      "reason")
    if not body.criteria:
        raise Invalid("criteria: name the sections of the criteria not met", "criteria")
    criteria = criteria_for(case_pack(request.case))
    known = sections(criteria, request.request_type)
    for index, section in enumerate(body.criteria):
        if section not in known:
            raise Invalid(f"criteria[{index}]: not a section of the {request.request_type} "
                          f"criteria of {criteria.pack.id}", f"criteria[{index}]")


def _epsdt_age(request: Request, now: dt.datetime) -> int | None:
    case = parse(request.case, max(now.date(), request.received_at.date()))
    return _under_age(review_rules(case_pack(request.case)), request.member_birth_date, case)


def decide(db: Database, actor: Actor, request_id: str, body: DecisionCreate,
           expected_version: int | None, now: dt.datetime) -> RequestView:
    """Record a reviewer's decision and send its notice; a decision racing another, or made
    on a stale version, is a 409."""
    require(actor, "requests.decide")
    now = aware(now)

    def work(session: Session) -> RequestView:
        request = load(session, actor, request_id, for_update=True)
        if expected_version is not None and expected_version != request.version:
            raise Conflict(f"request {request.id} is at version {request.version}, not "
                           f"{expected_version}; reload it", "version")
        appeal = None
        if request.status == "appeal_pending":
            if not body.appeal:
                raise Conflict("an appeal is pending: decide it with appeal true", "appeal")
            appeal = session.scalars(select(Appeal).where(
                Appeal.request_id == request.id, Appeal.decision_id.is_(None))).first()
        elif body.appeal:
            raise Conflict("no appeal is pending on this request", "appeal")
        else:
            undecided(request, "decide again")
        if body.reason_code is not None:
            check_reason_code(body.reason_code)
        granted, exact = _granted(request, body)
        _check_kind(request, body, granted, exact)
        adverse = body.kind != "approve"
        if adverse:
            _check_adverse(actor, request, body)
        if appeal is not None:
            earlier = set(session.scalars(select(Decision.reviewer_id).where(
                Decision.request_id == request.id)))
            if actor.id in earlier:
                raise Forbidden("an appeal is decided by a reviewer not involved in the first "
                                "decision")
        epsdt_age = _epsdt_age(request, now)
        if body.kind == "deny" and epsdt_age is not None:
            ages = age_sections(criteria_for(case_pack(request.case)),
                                request.request_type)
            if set(body.criteria) <= ages:
                raise Invalid(f"criteria: the member is under {epsdt_age}; age alone cannot "
                              "justify a denial (EPSDT)", "criteria")
        decision = Decision(
            request_id=request.id, seq=next_seq(session, Decision, request.id), kind=body.kind,
            adverse=adverse, automatic=False, on_appeal=appeal is not None,
            period_start=granted["period_start"] if body.kind != "deny" else None,
            period_end=granted["period_end"] if body.kind != "deny" else None,
            units=granted["units"] if body.kind != "deny" else None,
            service_code=granted["service_code"] if body.kind != "deny" else None,
            modifiers=granted["modifiers"] if body.kind != "deny" else [],
            criteria=list(body.criteria), reason=body.reason, reason_code=body.reason_code,
            reviewer_id=actor.id, decided_at=now)
        notice = (notices.adverse_notice(request, decision, now, epsdt_age) if adverse
                  else notices.approval_notice(request, decision, now))
        session.add_all([decision, notice])
        if appeal is not None:
            appeal.decision = decision
        request.status = DECIDED_STATUS[body.kind]
        if request.decision_notice_at is None:
            request.decision_notice_at = now  # the clock stops with the notice
        session.add(audit_event(now, actor, "requests.decide", request.id, kind=body.kind,
                                adverse=adverse, on_appeal=appeal is not None,
                                status=request.status, criteria=list(body.criteria),
                                notices=[notice.id]))
        return view(session, request, now)

    return written(db, work)


def extend(db: Database, actor: Actor, request_id: str, body: ExtensionCreate,
           now: dt.datetime) -> RequestView:
    """The one extension, before the deadline, up to the days the rules allow, with its
    notice. The urgency is never changed (an expedited request stays expedited)."""
    require(actor, "requests.extend")
    now = aware(now)

    def work(session: Session) -> RequestView:
        request = load(session, actor, request_id, for_update=True)
        undecided(request, "extend")
        if request.extended_until is not None:
            raise Conflict("the decision time has been extended once already; only one "
                           "extension is allowed")
        if now > request.due_by:
            raise Conflict("the deadline has passed; an extension must be taken before it")
        rules = review_rules(case_pack(request.case))
        on = request.received_at.date()
        reasons = rules.value("extension_reasons", on).value
        if not isinstance(reasons, list) or body.reason not in reasons:
            raise Invalid(f"reason: not an extension reason of {rules.pack_id}", "reason")
        most = rules.value("extension_max_days", on)
        if body.days > most.number:
            raise Invalid(f"days: at most {most.number} ({most.citation})", "days")
        if body.reason == "plan_need_documented" and not (body.note and body.note.strip()):
            raise Invalid("note: document the information needed and how waiting is in the "
                          "member's interest", "note")
        request.extended_until = request.due_by + dt.timedelta(days=body.days)
        request.extension_reason = body.reason
        notice = notices.extension_notice(request, body.reason, body.days,
                                          request.extended_until, now)
        session.add(notice)
        session.add(audit_event(now, actor, "requests.extend", request.id, reason=body.reason,
                                days=body.days, notices=[notice.id]))
        return view(session, request, now)

    return written(db, work)


def offer_peer_to_peer(db: Database, actor: Actor, request_id: str, body: PeerToPeerCreate,
                       now: dt.datetime) -> RequestView:
    """Log an offer of a peer-to-peer conversation to the requesting provider."""
    require(actor, "requests.peer_to_peer")
    now = aware(now)

    def work(session: Session) -> RequestView:
        request = load(session, actor, request_id)
        session.add(PeerToPeer(request_id=request.id, offered_at=now, offered_by=actor.id,
                               note=body.note))
        session.add(audit_event(now, actor, "requests.peer_to_peer", request.id))
        return view(session, request, now)

    return written(db, work)


def _effective_date(session: Session, request: Request) -> dt.date | None:
    """The intended effective date of the latest adverse notice (a termination of care in
    progress), if it has one."""
    return session.scalars(select(Notice.effective_date).where(
        Notice.request_id == request.id, Notice.effective_date.is_not(None))
        .order_by(Notice.sent_at.desc())).first()


def file_appeal(db: Database, actor: Actor, request_id: str, body: AppealCreate,
                now: dt.datetime) -> RequestView:
    """A plan appeal of an adverse determination (a partial approval, a denial, or a missed
    deadline), within the filing days of the rules."""
    require(actor, "requests.appeal")
    now = aware(now)

    def work(session: Session) -> RequestView:
        request = load(session, actor, request_id, for_update=True)
        rules = review_rules(case_pack(request.case))
        if not rules.plan_appeal:
            raise Invalid(f"{rules.pack_id} is fee-for-service: there is no plan appeal; the "
                          "notice names the State fair hearing")
        if request.status == "appeal_pending":
            raise Conflict("an appeal of this request is pending already")
        missed = request.decision_notice_at is None and request.overdue_flagged_at is not None
        if request.status not in ADVERSE_STATUS and not missed:
            raise Conflict("nothing adverse to appeal: the request is not denied, partly "
                           "approved or overdue")
        adverse_at = request.overdue_flagged_at if missed else request.decision_notice_at
        latest = session.scalars(select(Decision).where(Decision.request_id == request.id)
                                 .order_by(Decision.seq.desc())).first()
        if latest is not None and latest.adverse:
            adverse_at = latest.decided_at
        if latest is not None and latest.on_appeal:
            raise Conflict("the plan appeal has been decided; what remains is the State fair "
                           "hearing")
        assert adverse_at is not None
        filing = rules.value("appeal_filing_days", adverse_at.date())
        if now.date() > adverse_at.date() + dt.timedelta(days=filing.number):
            raise Invalid(f"filed after the {filing.number} days allowed ({filing.citation})")
        on = now.date()
        if body.expedited:
            due = now + dt.timedelta(hours=rules.value("expedited_appeal_decision_hours",
                                                       on).number)
        else:
            due = now + dt.timedelta(days=rules.value("appeal_decision_days", on).number)
        benefits = rules.value("continued_benefits_request_days", adverse_at.date())
        last_day = adverse_at.date() + dt.timedelta(days=benefits.number)
        effective = _effective_date(session, request)
        if effective is not None and effective > last_day:
            last_day = effective  # the later of the two (42 CFR 438.420(a))
        timely = now.date() <= last_day
        continued = body.continue_benefits and timely
        late = body.continue_benefits and not timely
        session.add(Appeal(request_id=request.id, filed_at=now, filed_by=actor.id,
                           expedited=body.expedited, continue_benefits=continued,
                           continue_benefits_late=late, reason=body.reason, due_by=due))
        request.status = "appeal_pending"
        session.add(audit_event(now, actor, "requests.appeal", request.id,
                                expedited=body.expedited, continue_benefits=continued,
                                continue_benefits_late=late))
        return view(session, request, now)

    return written(db, work)
