"""Claim/$submit: a checked PAS request Bundle becomes a serve request (services'
RequestCreate, determined by the same criteria as ``bhpolicy check``), or, for a Claim
update, information added to the request it names; the answer is the PAS response Bundle.

A Claim update names its request by the item's administrationReferenceNumber (the value the
pended ClaimResponse returned) or by ``Claim.related.claim.identifier.value`` (bhpolicy's
request id). ``Bundle.identifier`` is the idempotency key: a retried Bundle returns the first
answer; the same identifier with another body is refused.

Every Bundle that makes or updates a request is kept beside it as received (its text exactly
as posted, with its SHA-256) in the same transaction (db.pas_models.PasBundleRow, written
through the services' ``attach``); a retried Bundle stores nothing new."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.criteria.loader import CriteriaPack, criteria_for
from bhpolicy.db.models import Request
from bhpolicy.db.pas_models import PasBundleRow
from bhpolicy.errors import NotFoundError
from bhpolicy.fhir.bundle import PasBundle, check_bundle
from bhpolicy.fhir.claim import CLAIM, PasClaim, read_claim
from bhpolicy.fhir.facts import Where, check_sources, claim_facts, documents_received
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.outcome import FhirError, invalid
from bhpolicy.fhir.response import build_response
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services import requests
from bhpolicy.services.errors import ServiceError
from bhpolicy.services.schemas import InformationCreate, RequestCreate, RequestView
from bhpolicy.services.users import Actor

_FACT = re.compile(r"facts\.([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Submitted:
    view: RequestView
    claim: PasClaim
    criteria: CriteriaPack


def _paths(claim: PasClaim) -> dict[str, str]:
    """Body elements of RequestCreate -> the FHIRPath of what filled them."""
    item = claim.item.path
    return {
        "member.reference": f"{claim.coverage.path}.identifier",
        "member.birth_date": f"{claim.patient.path}.birthDate",
        "requesting_provider.npi": f"{claim.provider.path}.identifier",
        "requesting_provider.name": f"{claim.provider.path}.name",
        "service.code": f"{item}.productOrService",
        "service.modifiers": f"{item}.modifier",
        "period": f"{item}.servicedPeriod",
        "units": f"{item}.quantity.value",
        "case.request_date": f"{CLAIM}.created",
        "case.policy": f"{claim.coverage.path}.class",
        "case.case_id": f"{CLAIM}.identifier",
    }


def translate(exc: ServiceError | ValidationError, claim: PasClaim, where: Where) -> FhirError:
    """A refusal by services (or by their schema) on the FHIR element that caused it; the
    message is the service's own one line (it holds no value)."""
    paths = _paths(claim)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        element = ".".join(str(p) for p in first["loc"])
        message = f"{element}: {str(first['msg']).splitlines()[0]}"
        status = 422
    else:
        element, message, status = exc.element or "", str(exc), exc.status
    fact = _FACT.search(message) or _FACT.search(element)
    if fact and fact.group(1) in where:
        expression: str | None = where[fact.group(1)]
    elif "request_date" in message:
        expression = paths["case.request_date"]
    else:
        expression = next((p for key, p in paths.items() if element.startswith(key)), None)
    if status == 422 and expression is None:
        expression = CLAIM
    return FhirError(expression, message, status=status)


def _canonical(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def earlier_bundle(db: Any, actor: Actor, bundle: PasBundle) -> PasBundleRow | None:
    """The Bundle this sender sent before under the same Bundle.identifier, if any."""
    with db.read() as session:
        found: PasBundleRow | None = session.scalars(select(PasBundleRow).where(
            PasBundleRow.received_by == actor.id,
            PasBundleRow.bundle_system == bundle.identifier_system[:200],
            PasBundleRow.bundle_value == bundle.identifier_value[:200])).first()
        return found


def _keeper(kind: str, bundle: PasBundle, text: str, actor: Actor,
            now: dt.datetime) -> requests.Attach:
    """The ``attach`` that stores the Bundle as received beside its request."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def attach(session: Session, request: Request) -> None:
        session.add(PasBundleRow(
            request_id=request.id, kind=kind, bundle_system=bundle.identifier_system[:200],
            bundle_value=bundle.identifier_value[:200], received_at=now,
            received_by=actor.id, raw=text, sha256=digest))

    return attach


def _criteria(claim: PasClaim, registry: PolicyRegistry) -> CriteriaPack:
    try:
        pack = registry.get(claim.policy)
        criteria = criteria_for(pack)
    except NotFoundError:
        raise invalid(f"{claim.coverage.path}.class", "names no policy with criteria here "
                      "(the plan value is the pack's id or alias)") from None
    check_sources(criteria)
    return criteria


def submit_bundle(db: Any, actor: Actor, raw: Any, registry: PolicyRegistry,
                  now: dt.datetime, *, received: str | None = None) -> Submitted:
    """Check ``raw`` (the parsed body; ``received`` its text as posted, kept beside the
    request) and make a request of it, or add its information to the request it updates."""
    bundle = check_bundle(raw)
    claim = read_claim(bundle)
    criteria = _criteria(claim, registry)
    facts, where = claim_facts(claim, criteria)
    documents = documents_received(claim, criteria)
    text = received if received is not None else json.dumps(raw, ensure_ascii=False)
    earlier = earlier_bundle(db, actor, bundle)
    if earlier is not None and _canonical(json.loads(earlier.raw)) != _canonical(raw):
        raise invalid("Bundle.identifier", "already used by another Bundle of this sender "
                      "(a retry sends the same Bundle; a new request needs a new identifier)",
                      fsh("Bundle.fsh:7"))
    attach = _keeper("update" if claim.is_update else "submit", bundle, text, actor, now)
    try:
        if claim.is_update and earlier is not None:  # a retried update: the current state
            view = requests.get_request(db, actor, earlier.request_id, now)
        elif claim.is_update:
            request_id = claim.item.admin_reference or claim.related_value
            if not request_id:
                raise invalid(f"{CLAIM}.related[0].claim",
                              "name the request: the item's administrationReferenceNumber or "
                              "related.claim.identifier (the id bhpolicy answered with)",
                              fsh("Claim-update.fsh:235"))
            info = InformationCreate.model_validate({"facts": facts, "documents": documents})
            view = requests.add_information(db, actor, request_id, info, now, attach=attach)
        else:
            if claim.birth_date is None:
                raise invalid(f"{claim.patient.path}.birthDate",
                              "the member's birth date is needed", fsh("Patient.fsh:10"))
            body = RequestCreate.model_validate({
                "case": {"case_id": claim.claim_value[:100], "policy": claim.policy,
                         "request_type": claim.item.request_type,
                         "request_date": claim.created[:10], "facts": facts},
                "member": {"reference": claim.member_id, "birth_date": claim.birth_date},
                "requesting_provider": {"npi": claim.provider_npi, "name": claim.provider_name},
                "service": {"code": claim.item.code, "modifiers": list(claim.item.modifiers)},
                "period": {"start": claim.item.start, "end": claim.item.end},
                "units": claim.item.units,
                "urgency": claim.urgency,
            })
            key = f"{bundle.identifier_system}|{bundle.identifier_value}"[:200]
            view = requests.create_request(db, actor, body, key, now, attach=attach)
    except (ServiceError, ValidationError) as exc:
        raise translate(exc, claim, where) from None
    return Submitted(view, claim, criteria)


def loinc_of(criteria: CriteriaPack) -> dict[str, str]:
    return dict(criteria.facts.fhir.documents) if criteria.facts.fhir else {}


def submit(db: Any, actor: Actor, raw: Any, registry: PolicyRegistry, now: dt.datetime,
           base_url: str, *, received: str | None = None) -> dict[str, Any]:
    """$submit: the response Bundle of a request Bundle (FhirError when refused)."""
    done = submit_bundle(db, actor, raw, registry, now, received=received)
    return build_response(done.view, done.claim.bundle, loinc_of(done.criteria), base_url,
                          now, done.claim.item.sequence)


__all__ = ["PasBundle", "Submitted", "submit", "submit_bundle", "translate"]
