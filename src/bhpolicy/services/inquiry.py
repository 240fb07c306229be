"""Finding earlier requests by example (the use case behind PAS ``Claim/$inquire``), without
any FHIR: the member id and the requesting provider's NPI always, narrowed by service code,
period, request type, status and bhpolicy's own request ids.

Who sees what: the roles that may read requests (``requests.read``); a provider-system user
only the requests created by users of its own organisation (``users.organization``; with no
organisation recorded, only its own). Anything else is simply not found: a match the caller
may not see is not disclosed, not even as a count. Only requests that came in as PAS Bundles
are found (the answer is built from the Bundle kept beside the request)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from bhpolicy.db import Database
from bhpolicy.db.models import Request, User
from bhpolicy.db.pas_models import PasBundleRow
from bhpolicy.services.clock import aware
from bhpolicy.services.permissions import OWN_REQUESTS_ONLY, require
from bhpolicy.services.schemas import RequestView
from bhpolicy.services.users import Actor
from bhpolicy.services.views import load_rows, request_view

FOUND_MAX = 100  # answers to one inquiry, newest first


@dataclass(frozen=True)
class Found:
    view: RequestView
    bundle: str  # the latest PAS Bundle kept beside the request, as received


def visible_to(actor: Actor) -> ColumnElement[bool] | None:
    """The clause limiting requests to those ``actor`` may see."""
    if actor.role not in OWN_REQUESTS_ONLY:
        return None
    if actor.organization:
        colleagues = select(User.id).where(User.organization == actor.organization)
        return Request.created_by.in_(colleagues)
    return Request.created_by == actor.id


def find_requests(db: Database, actor: Actor, member_identifier: str,
                  provider_npi: str | Collection[str], *, now: dt.datetime,
                  service_codes: Collection[str] = (),
                  period: tuple[dt.date, dt.date] | None = None,
                  request_types: Collection[str] = (), statuses: Collection[str] = (),
                  request_ids: Collection[str] = (),
                  ended_on_or_after: dt.date | None = None,
                  limit: int = FOUND_MAX) -> list[Found]:
    """The requests of member ``member_identifier`` asked for by a provider with one of the
    NPIs ``provider_npi``, that ``actor`` may see, each as it stands now.

    Narrowed by any of: ``service_codes`` (HCPCS), ``period`` (overlapping the requested
    period), ``request_types`` (initial, continued_stay), ``statuses``, ``request_ids`` and
    ``ended_on_or_after`` (the requested period ends on or after this day)."""
    require(actor, "requests.read")
    now = aware(now)
    npis = [provider_npi] if isinstance(provider_npi, str) else list(provider_npi)
    if not member_identifier or not npis:
        return []
    query = (select(Request)
             .where(Request.member_reference == member_identifier,
                    Request.provider_npi.in_(npis),
                    Request.id.in_(select(PasBundleRow.request_id)))
             .order_by(Request.received_at.desc(), Request.id)
             .limit(max(1, min(limit, FOUND_MAX))))
    clause = visible_to(actor)
    if clause is not None:
        query = query.where(clause)
    if service_codes:
        query = query.where(Request.service_code.in_(list(service_codes)))
    if period is not None:
        query = query.where(Request.period_start <= period[1], Request.period_end >= period[0])
    if request_types:
        query = query.where(Request.request_type.in_(list(request_types)))
    if statuses:
        query = query.where(Request.status.in_(list(statuses)))
    if request_ids:
        query = query.where(Request.id.in_(list(request_ids)))
    if ended_on_or_after is not None:
        query = query.where(Request.period_end >= ended_on_or_after)
    found: list[Found] = []
    with db.read() as session:
        for request in session.scalars(query):
            kept = session.scalars(select(PasBundleRow.raw)
                                   .where(PasBundleRow.request_id == request.id)
                                   .order_by(PasBundleRow.id.desc()).limit(1)).first()
            if kept is None:  # pragma: no cover (the query asked for a kept Bundle)
                continue
            found.append(Found(request_view(request, load_rows(session, request.id), now),
                               kept))
    return found
