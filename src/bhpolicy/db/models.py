"""The tables of ``bhpolicy serve``. Each class's docstring states its grain.

Rows that record what happened (determinations, decisions, notices, information received,
peer-to-peer offers, appeals, audit events) are only ever inserted: a later determination is a
new row, never an overwrite. A request's id is bhpolicy's own (``PA-`` and 12 base32
characters), never a member or Medicaid id. Member reference and birth date are PHI: stored
here, never logged and never written into an audit row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bhpolicy.db.types import UTCDateTime, json_type

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(), dict[str, Any]: json_type(), list[Any]: json_type()}


class User(Base):
    """One row a person or system that signs in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    licence: Mapped[str | None] = mapped_column(String(200))
    # The provider organisation a provider-system account acts for (e.g. its NPI); a FHIR
    # inquiry sees only requests of its own organisation.
    organization: Mapped[str | None] = mapped_column(String(80))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    active: Mapped[bool] = mapped_column(default=True)


class ApiToken(Base):
    """One row a bearer token; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """One row a signed-in browser session; the cookie value is kept only as its SHA-256."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cookie_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]


class Request(Base):
    """One row a prior-authorization request. ``version`` rises with every change, so a
    decision made on a stale view is refused (409)."""

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key"),
        Index("ix_requests_status_due_by", "status", "due_by"),
    )
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(40))
    request_type: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str] = mapped_column(String(5))
    modifiers: Mapped[list[Any]]
    period_start: Mapped[dt.date]
    period_end: Mapped[dt.date]
    units: Mapped[int]
    urgency: Mapped[str] = mapped_column(String(10))
    member_reference: Mapped[str] = mapped_column(String(40))
    member_birth_date: Mapped[dt.date]
    provider_npi: Mapped[str] = mapped_column(String(10))
    provider_name: Mapped[str] = mapped_column(String(100))
    case: Mapped[dict[str, Any]]  # the case as received, facts added by information rows
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))  # of the latest determination
    received_at: Mapped[dt.datetime]
    due_by: Mapped[dt.datetime] = mapped_column(index=True)
    clock: Mapped[dict[str, Any]]  # the limits applied, with their citations
    extended_until: Mapped[dt.datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(String(40))
    decision_notice_at: Mapped[dt.datetime | None]  # the clock stops here
    overdue_flagged_at: Mapped[dt.datetime | None]
    escalated: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    first_answer: Mapped[dict[str, Any] | None] = mapped_column(json_type(), deferred=True)
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's own form)


class Determination(Base):
    """One row a determination of a request by the engine (seq 1, 2, ...), never rewritten."""

    __tablename__ = "determinations"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"))
    request: Mapped[Request] = relationship()
    seq: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]]  # the determination JSON with its whole trace
    made_at: Mapped[dt.datetime]


class Decision(Base):
    """One row a reviewer's decision (or the automatic approval of exactly what was asked)."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"))
    request: Mapped[Request] = relationship()
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    adverse: Mapped[bool]
    automatic: Mapped[bool] = mapped_column(default=False)
    on_appeal: Mapped[bool] = mapped_column(default=False)
    period_start: Mapped[dt.date | None]
    period_end: Mapped[dt.date | None]
    units: Mapped[int | None]
    service_code: Mapped[str | None] = mapped_column(String(5))
    modifiers: Mapped[list[Any]]
    criteria: Mapped[list[Any]]  # sections of the policy the decision rests on
    reason: Mapped[str | None] = mapped_column(Text)
    # X12 886 health care services review decision reason code, when the reviewer gave one.
    reason_code: Mapped[str | None] = mapped_column(String(3))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime]


class Notice(Base):
    """One row a written notice (to the member, copied to the requesting provider)."""

    __tablename__ = "notices"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    request: Mapped[Request] = relationship()
    kind: Mapped[str] = mapped_column(String(20))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    decision: Mapped[Decision | None] = relationship()
    content: Mapped[dict[str, Any]]
    sent_at: Mapped[dt.datetime]
    effective_date: Mapped[dt.date | None]


class Information(Base):
    """One row a delivery of facts or documents for a request."""

    __tablename__ = "information"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    request: Mapped[Request] = relationship()
    facts: Mapped[dict[str, Any]]
    documents: Mapped[list[Any]]
    received_at: Mapped[dt.datetime]
    received_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class PeerToPeer(Base):
    """One row an offer of a peer-to-peer conversation to the requesting provider."""

    __tablename__ = "peer_to_peer"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    request: Mapped[Request] = relationship()
    offered_at: Mapped[dt.datetime]
    offered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)


class Appeal(Base):
    """One row a plan appeal of an adverse determination."""

    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    request: Mapped[Request] = relationship()
    filed_at: Mapped[dt.datetime]
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expedited: Mapped[bool]
    continue_benefits: Mapped[bool] = mapped_column(default=False)
    # Continued benefits were asked for after the days the rules allow (recorded, not granted).
    continue_benefits_late: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    due_by: Mapped[dt.datetime]
    overdue_flagged_at: Mapped[dt.datetime | None]
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    decision: Mapped[Decision | None] = relationship()


class AuditEvent(Base):
    """One row a write: who, when, what and which ids; never PHI. Append-only (on PostgreSQL
    a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str | None] = mapped_column(String(40), index=True)
    detail: Mapped[dict[str, Any]]
