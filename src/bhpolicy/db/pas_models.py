"""Tables of the FHIR API (Da Vinci PAS): the Bundles received, kept as they came, and the
Subscriptions of provider systems with the notifications owed to them. Each class's
docstring states its grain. A Bundle holds PHI (the member, diagnoses, documents): it is stored
here, never logged and never copied into an audit row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bhpolicy.db.models import Base


class PasBundleRow(Base):
    """One row a PAS request Bundle received through ``Claim/$submit`` (a new request, kind
    ``submit``, or a Claim update, kind ``update``), its text exactly as posted. A retried
    Bundle (same sender, same Bundle.identifier) adds no row."""

    __tablename__ = "pas_bundles"
    __table_args__ = (UniqueConstraint("received_by", "bundle_system", "bundle_value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    bundle_system: Mapped[str] = mapped_column(String(200))  # Bundle.identifier ("" if none)
    bundle_value: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime]
    received_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raw: Mapped[str] = mapped_column(Text)  # the body as received (UTF-8 text)
    sha256: Mapped[str] = mapped_column(String(64))  # of the body's bytes


class PasSubscriptionRow(Base):
    """One row a Subscription (FHIR R4 Subscriptions backport, PAS profile-subscription) a
    provider system made for the final results of its organisation's pended requests. It is
    never deleted: a deleted subscription is ``off``."""

    __tablename__ = "pas_subscriptions"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organization: Mapped[str] = mapped_column(String(80), index=True)
    endpoint: Mapped[str] = mapped_column(String(500))  # the only URL its notices go to
    base_url: Mapped[str] = mapped_column(String(300))  # the FHIR base it was made through
    status: Mapped[str] = mapped_column(String(10))  # active | off
    resource: Mapped[dict[str, Any]]  # the Subscription as answered (id, status active)
    events: Mapped[int] = mapped_column(default=0)  # events since the subscription began
    created_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class PasNotificationRow(Base):
    """One row a notification owed to a subscription: the final result (a decision) of one
    request, delivered once with retries and backoff."""

    __tablename__ = "pas_notifications"
    __table_args__ = (UniqueConstraint("subscription_id", "decision_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("pas_subscriptions.id"))
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    event_number: Mapped[int]
    created_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    delivered_at: Mapped[dt.datetime | None]
    given_up_at: Mapped[dt.datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(60))  # HTTP status or error kind
