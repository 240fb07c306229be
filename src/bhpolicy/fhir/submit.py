"""Claim/$submit: a checked PAS request Bundle becomes a serve request (services'
RequestCreate, determined by the same criteria as ``bhpolicy check``), or, for a Claim
update, information added to the request it names; the answer is the PAS response Bundle.

A Claim update names its request by the item's administrationReferenceNumber (the value the
pended ClaimResponse returned) or by ``Claim.related.claim.identifier.value`` (bhpolicy's
request id). ``Bundle.identifier`` is the idempotency key: a retried Bundle returns the first
answer; the same identifier with another body is refused."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bhpolicy.criteria.loader import CriteriaPack, criteria_for
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


def _optional_kwargs(function: Callable[..., Any], **values: Any) -> dict[str, Any]:
    """Arguments services take only in some versions (source_bundle), passed when accepted."""
    accepted = inspect.signature(function).parameters
    return {k: v for k, v in values.items() if k in accepted}


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
                  now: dt.datetime) -> Submitted:
    bundle = check_bundle(raw)
    claim = read_claim(bundle)
    criteria = _criteria(claim, registry)
    facts, where = claim_facts(claim, criteria)
    documents = documents_received(claim, criteria)
    try:
        if claim.is_update:
            request_id = claim.item.admin_reference or claim.related_value
            if not request_id:
                raise invalid(f"{CLAIM}.related[0].claim",
                              "name the request: the item's administrationReferenceNumber or "
                              "related.claim.identifier (the id bhpolicy answered with)",
                              fsh("Claim-update.fsh:235"))
            info = InformationCreate.model_validate({"facts": facts, "documents": documents})
            view = requests.add_information(
                db, actor, request_id, info, now,
                **_optional_kwargs(requests.add_information, source_bundle=raw))
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
            view = requests.create_request(
                db, actor, body, key, now,
                **_optional_kwargs(requests.create_request, source_bundle=raw))
    except (ServiceError, ValidationError) as exc:
        raise translate(exc, claim, where) from None
    return Submitted(view, claim, criteria)


def loinc_of(criteria: CriteriaPack) -> dict[str, str]:
    return dict(criteria.facts.fhir.documents) if criteria.facts.fhir else {}


def submit(db: Any, actor: Actor, raw: Any, registry: PolicyRegistry, now: dt.datetime,
           base_url: str) -> dict[str, Any]:
    """$submit: the response Bundle of a request Bundle (FhirError when refused)."""
    done = submit_bundle(db, actor, raw, registry, now)
    return build_response(done.view, done.claim.bundle, loinc_of(done.criteria), base_url,
                          now, done.claim.item.sequence)


__all__ = ["PasBundle", "Submitted", "submit", "submit_bundle", "translate"]
