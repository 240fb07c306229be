"""Subscriptions to final results (the use case behind PAS's R4 Subscriptions, rest-hook,
full resource), without any FHIR or HTTP of its own.

A provider system subscribes for its organisation (a subscription covers the requests made by
users of that organisation, and only such a user may make or end it). When a request that was
pended (its first determination was not an approval) gets a decision, every active
subscription of its organisation is owed one notification; :func:`deliver_due` (run by the web
app's background sweep) enqueues what is owed and posts what is due, outside any transaction,
to the subscription's own endpoint and nowhere else, retrying with backoff and giving up after
the last delay. The notification body is made by ``render`` (the FHIR layer's), the post by
``post`` (an HTTP client): this module decides only who is owed what and when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bhpolicy.db import Database
from bhpolicy.db.models import Decision, Determination, Request, User
from bhpolicy.db.pas_models import PasBundleRow, PasNotificationRow, PasSubscriptionRow
from bhpolicy.services import audit
from bhpolicy.services.clock import aware
from bhpolicy.services.errors import Forbidden, NotFound
from bhpolicy.services.ids import new_id
from bhpolicy.services.inquiry import Found
from bhpolicy.services.permissions import require
from bhpolicy.services.users import Actor
from bhpolicy.services.views import load_rows, request_view

# Waits after the 1st, 2nd, ... failed delivery; after the last one the notification is given
# up (recorded, and still readable through Claim/$inquire).
BACKOFF = (dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10),
           dt.timedelta(hours=1), dt.timedelta(hours=6))
BATCH = 50  # notifications posted by one sweep


@dataclass(frozen=True)
class Subscription:
    id: str
    organization: str
    endpoint: str
    base_url: str
    status: str
    resource: dict[str, Any]
    events: int


@dataclass(frozen=True)
class Delivery:
    """What a render gets: the subscription, the event's number and the request as it stands."""

    subscription: Subscription
    event_number: int
    found: Found


Post = Callable[[str, bytes], int]            # (endpoint, body) -> HTTP status
Render = Callable[[Delivery, dt.datetime], bytes]


def _subscription(row: PasSubscriptionRow) -> Subscription:
    return Subscription(row.id, row.organization, row.endpoint, row.base_url, row.status,
                        dict(row.resource), row.events)


def _own_organization(actor: Actor, organization: str | None = None) -> str:
    if not actor.organization:
        raise Forbidden("only a provider-system user with an organisation on record may "
                        "subscribe (bhpolicy users add --organization)")
    if organization is not None and organization != actor.organization:
        raise Forbidden("a subscription covers only the caller's own organisation")
    return actor.organization


def create_subscription(db: Database, actor: Actor, organization: str, endpoint: str,
                        base_url: str, resource: dict[str, Any],
                        now: dt.datetime) -> Subscription:
    """Store an active subscription of ``actor``'s organisation (``resource`` is the
    Subscription to answer with; its id and status are set here)."""
    require(actor, "requests.create")
    own = _own_organization(actor, organization)
    now = aware(now)
    subscription_id = new_id("SUB")
    answer = {**resource, "id": subscription_id, "status": "active"}
    with db.transaction() as session:
        session.add(PasSubscriptionRow(
            id=subscription_id, owner_id=actor.id, organization=own, endpoint=endpoint,
            base_url=base_url, status="active", resource=answer, events=0, created_at=now))
        audit.record(session, now, actor.id, "subscriptions.create", "subscription",
                     subscription_id)
    return Subscription(subscription_id, own, endpoint, base_url, "active", answer, 0)


def _load(session: Any, actor: Actor, subscription_id: str) -> PasSubscriptionRow:
    row = session.get(PasSubscriptionRow, subscription_id)
    if row is None or not actor.organization or row.organization != actor.organization:
        raise NotFound(f"no subscription {subscription_id}")
    assert isinstance(row, PasSubscriptionRow)
    return row


def get_subscription(db: Database, actor: Actor, subscription_id: str) -> Subscription:
    require(actor, "requests.read")
    with db.read() as session:
        return _subscription(_load(session, actor, subscription_id))


def end_subscription(db: Database, actor: Actor, subscription_id: str,
                     now: dt.datetime) -> Subscription:
    """Turn a subscription off: nothing more is enqueued or posted for it."""
    require(actor, "requests.create")
    now = aware(now)
    with db.transaction() as session:
        row = _load(session, actor, subscription_id)
        row.status = "off"
        row.ended_at = now
        row.resource = {**row.resource, "status": "off"}
        audit.record(session, now, actor.id, "subscriptions.end", "subscription", row.id)
        return _subscription(row)


def _enqueue(db: Database, now: dt.datetime) -> int:
    """Add a notification for every final result owed to an active subscription: a decision
    on a request that was pended first, made by a user of the subscription's organisation,
    decided after the subscription began."""
    first_outcome = (select(Determination.outcome)
                     .where(Determination.request_id == Request.id, Determination.seq == 1)
                     .scalar_subquery())
    query = (select(PasSubscriptionRow.id, Decision.id, Decision.request_id)
             .join(User, User.organization == PasSubscriptionRow.organization)
             .join(Request, Request.created_by == User.id)
             .join(Decision, Decision.request_id == Request.id)
             .where(PasSubscriptionRow.status == "active",
                    Decision.decided_at >= PasSubscriptionRow.created_at,
                    first_outcome != "meets_criteria",
                    Request.id.in_(select(PasBundleRow.request_id)),
                    ~select(PasNotificationRow.id).where(
                        PasNotificationRow.subscription_id == PasSubscriptionRow.id,
                        PasNotificationRow.decision_id == Decision.id).exists())
             .order_by(Decision.decided_at, Decision.id))
    with db.read() as session:
        owed = list(session.execute(query))
    added = 0
    for subscription_id, decision_id, request_id in owed:
        try:
            with db.transaction() as session:
                row = session.get(PasSubscriptionRow, subscription_id)
                if row is None or row.status != "active":
                    continue
                row.events += 1
                session.add(PasNotificationRow(
                    subscription_id=subscription_id, request_id=request_id,
                    decision_id=decision_id, event_number=row.events, created_at=now,
                    attempts=0, next_attempt_at=now))
            added += 1
        except IntegrityError:  # enqueued by a sweep running beside this one
            continue
    return added


def deliver_due(db: Database, now: dt.datetime, *, post: Post, render: Render) -> int:
    """Enqueue what is owed, then post each notification that is due; returns how many were
    delivered. A failure (an HTTP status other than 2xx, or ``post`` raising) is retried after
    the next wait of :data:`BACKOFF`; no database transaction is open while posting."""
    now = aware(now)
    _enqueue(db, now)
    with db.read() as session:
        due = list(session.execute(
            select(PasNotificationRow, PasSubscriptionRow)
            .join(PasSubscriptionRow,
                  PasSubscriptionRow.id == PasNotificationRow.subscription_id)
            .where(PasNotificationRow.delivered_at.is_(None),
                   PasNotificationRow.given_up_at.is_(None),
                   PasNotificationRow.next_attempt_at <= now,
                   PasSubscriptionRow.status == "active")
            .order_by(PasNotificationRow.next_attempt_at, PasNotificationRow.id)
            .limit(BATCH)))
        work: list[tuple[int, int, Subscription, Delivery]] = []
        for note, sub in due:  # each row a (notification, subscription) pair
            request = session.get(Request, note.request_id)
            kept = session.scalars(select(PasBundleRow.raw)
                                   .where(PasBundleRow.request_id == note.request_id)
                                   .order_by(PasBundleRow.id.desc()).limit(1)).first()
            if request is None or kept is None:  # pragma: no cover (enqueued with both)
                continue
            found = Found(request_view(request, load_rows(session, request.id), now), kept)
            subscription = _subscription(sub)
            work.append((note.id, note.attempts, subscription,
                         Delivery(subscription, note.event_number, found)))
    delivered = 0
    for note_id, attempts, subscription, delivery in work:
        try:
            status = post(subscription.endpoint, render(delivery, now))
            result = f"HTTP {status}"
            ok = 200 <= status < 300
        except Exception as exc:  # the receiver's trouble, not ours: its kind, no message
            result, ok = type(exc).__name__[:60], False
        values: dict[str, Any] = {"attempts": attempts + 1, "last_result": result}
        if ok:
            values["delivered_at"] = now
            delivered += 1
        elif attempts < len(BACKOFF):
            values["next_attempt_at"] = now + BACKOFF[attempts]
        else:
            values["given_up_at"] = now
        with db.transaction() as session:
            session.execute(update(PasNotificationRow)
                            .where(PasNotificationRow.id == note_id).values(**values))
    return delivered
