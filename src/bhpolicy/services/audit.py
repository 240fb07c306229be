"""The audit log: one row for every write, saying who, when, what and which ids. Rows carry
ids, kinds and statuses only, never PHI (no member reference, birth date, fact or free text).
Services only ever insert here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.db import Database
from bhpolicy.db.models import AuditEvent, User
from bhpolicy.services.permissions import HasRole, require
from bhpolicy.services.schemas import AuditEventView

READ_LIMIT_MAX = 500


def record(session: Session, at: dt.datetime, user_id: int | None, action: str,
           object_type: str, object_id: str | None, **detail: Any) -> None:
    session.add(AuditEvent(at=at, user_id=user_id, action=action, object_type=object_type,
                           object_id=object_id, detail=detail))


def read_audit(db: Database, actor: HasRole, limit: int = 100,
               before_id: int | None = None) -> list[AuditEventView]:
    """The latest events, newest first; ``before_id`` pages back."""
    require(actor, "audit.read")
    limit = max(1, min(limit, READ_LIMIT_MAX))
    query = (select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.user_id)
             .order_by(AuditEvent.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    with db.read() as session:
        return [AuditEventView(id=event.id, at=event.at, user=name, action=event.action,
                               object_type=event.object_type, object_id=event.object_id,
                               detail=event.detail)
                for event, name in session.execute(query)]
