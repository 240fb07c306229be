"""Shared steps of the request use cases: loading a request the actor may see, guarding its
state, numbering what is added, the audit row, and one transaction with races answered 409."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bhpolicy.db import Database
from bhpolicy.db.models import AuditEvent, Decision, Determination, Notice, Request
from bhpolicy.services import notices
from bhpolicy.services.errors import Conflict, NotFound
from bhpolicy.services.permissions import OWN_REQUESTS_ONLY, HasRole
from bhpolicy.services.schemas import RequestView
from bhpolicy.services.users import Actor
from bhpolicy.services.views import load_rows, request_view

STATUS_OF = {"meets_criteria": "approved", "pend": "pended", "refer": "referred"}
T = TypeVar("T")


def audit_event(now: dt.datetime, actor: Actor | None, action: str, request_id: str,
                **detail: Any) -> AuditEvent:
    """The audit row of a write on a request: ids, kinds and statuses only, never PHI."""
    return AuditEvent(at=now, user_id=actor.id if actor else None, action=action,
                      object_type="request", object_id=request_id, detail=detail)


def automatic_approval(request: Request, seq: int, now: dt.datetime) -> tuple[Decision, Notice]:
    """Exactly what was asked, nothing else, when the case meets every criterion."""
    decision = Decision(request_id=request.id, seq=seq, kind="approve", adverse=False,
                        automatic=True, on_appeal=False, period_start=request.period_start,
                        period_end=request.period_end, units=request.units,
                        service_code=request.service_code, modifiers=list(request.modifiers),
                        criteria=[], reason=None, reviewer_id=None, decided_at=now)
    return decision, notices.approval_notice(request, decision, now)


def load(session: Session, actor: HasRole, request_id: str, *,
          for_update: bool = False) -> Request:
    query = select(Request).where(Request.id == request_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    request = session.scalars(query).first()
    if request is None or (actor.role in OWN_REQUESTS_ONLY and
                           request.created_by != getattr(actor, "id", None)):
        raise NotFound(f"no request {request_id}")
    return request


def undecided(request: Request, doing: str) -> None:
    if request.decision_notice_at is not None:
        raise Conflict(f"request {request.id} is decided already; cannot {doing}")


def view(session: Session, request: Request, now: dt.datetime) -> RequestView:
    session.flush()
    return request_view(request, load_rows(session, request.id), now)


def next_seq(session: Session, model: type[Decision] | type[Determination],
              request_id: str) -> int:
    current = session.scalar(select(func.max(model.seq)).where(model.request_id == request_id))
    return (current or 0) + 1


def written(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction; a lost race is a 409."""
    try:
        with db.transaction() as session:
            return work(session)
    except (StaleDataError, IntegrityError):
        raise Conflict("the request was changed by someone else at the same time; "
                       "reload it and try again") from None
