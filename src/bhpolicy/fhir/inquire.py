"""Claim/$inquire: the current state of earlier requests, as a Parameters resource of 0..*
``return`` Bundles (ClaimOperation.fsh:34-65), each a PAS inquiry response Bundle whose first
entry is the ClaimInquiryResponse of one matching request (specification.md:205-208).

The inquiry is a query by example (specification.md:193). What bhpolicy matches on:

* always the member id, Patient.identifier of type MB (specification.md:202; the Coverage's
  member id when the Patient carries none), plus the provider's NPI (specification.md:227,
  spec-53): an NPI of the inquiring provider (Claim.provider) or of a care team member
  (ordering or rendering provider) must be the request's requesting provider;
* narrowed by what the example gives: the items' service codes (``not-applicable`` from
  data-absent-reason means any service, specification.md:199, spec-43), the service period
  (Claim.billablePeriod or an item's servicedPeriod/servicedDate, overlapping the request's),
  the item's certificationType (initial, renewal) and reviewActionCode (the current result),
  and the authorization or administration reference numbers (REF-BB, REF-NT: the id
  bhpolicy answered with; specification.md:196);
* an inquiry naming no period and no reference number looks back as far as PAS requires
  pended requests to stay available (pas_rules.yaml ``pended_queryable_months``).

The inquiry's own Claim.identifier is its trace number, not a search key
(specification.md:196). A caller sees only the requests its token may read (a provider-system
user: those of its organisation); any other match is not disclosed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bhpolicy.criteria.loader import criteria_for
from bhpolicy.errors import NotFoundError
from bhpolicy.fhir import ig
from bhpolicy.fhir.bundle import (
    Entry,
    PasBundle,
    check_bundle,
    coding_in,
    extension,
    full_date,
    identifier,
)
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.outcome import invalid, required
from bhpolicy.fhir.response import build_response
from bhpolicy.fhir.rules import months_before, pas_value
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services.inquiry import Found, find_requests
from bhpolicy.services.users import Actor

CLAIM = "Bundle.entry[0].resource"
SPEC = "PAS 2.2.1 input/pagecontent/specification.md"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# X12 306 review action -> the statuses of a bhpolicy request that answer it.
STATUSES_OF_ACTION = {
    ig.CERTIFIED: ("approved",),
    ig.NOT_CERTIFIED: ("denied",),
    ig.MODIFIED: ("partially_approved",),
    ig.PENDED: ("pended", "referred", "appeal_pending"),
}


@dataclass(frozen=True)
class Inquiry:
    bundle: PasBundle
    trace_system: str
    trace_value: str
    member_id: str
    provider_npis: tuple[str, ...]
    service_codes: tuple[str, ...]
    period: tuple[dt.date, dt.date] | None
    request_types: tuple[str, ...]
    statuses: tuple[str, ...]
    request_ids: tuple[str, ...]


def _member_id(bundle: PasBundle, patient: Entry, claim: dict[str, Any]) -> str:
    def of_type(entry: Entry) -> str | None:
        for index, ident in enumerate(entry.resource.get("identifier") or []):
            for coding in (ident.get("type") or {}).get("coding") or []:
                if coding.get("system") == ig.V2_0203 and coding.get("code") == "MB":
                    value = ident.get("value")
                    if not isinstance(value, str) or not value:
                        raise required(f"{entry.path}.identifier[{index}].value", "missing",
                                       fsh("Identifier.fsh:158"))
                    return value
        return None

    found = of_type(patient)
    if found is None:
        for index, insurance in enumerate(claim.get("insurance") or []):
            coverage = bundle.resolve(insurance.get("coverage"),
                                      f"{CLAIM}.insurance[{index}].coverage", ("Coverage",),
                                      fsh("Claim.fsh:183-184"))
            found = of_type(coverage)
            if found:
                break
    if found is None:
        raise required(f"{patient.path}.identifier",
                       "the member id (an identifier of type MB) is needed to inquire",
                       f"{SPEC}:202")
    return found


def _npis_of(bundle: PasBundle, entry: Entry) -> list[str]:
    """The NPIs of an Organization, a Practitioner, or a PractitionerRole's practitioner and
    organisation."""
    def npis(resource: dict[str, Any]) -> list[str]:
        return [str(i.get("value")) for i in resource.get("identifier") or []
                if i.get("system") == ig.NPI_SYSTEM and isinstance(i.get("value"), str)]

    found = npis(entry.resource)
    if entry.type == "PractitionerRole":
        for key, types in (("practitioner", ("Practitioner",)),
                           ("organization", ("Organization",))):
            if entry.resource.get(key) is not None:
                found += npis(bundle.resolve(entry.resource[key], f"{entry.path}.{key}",
                                             types, fsh("Practitioner.fsh:150")).resource)
    return found


def _period(value: Any, path: str) -> tuple[dt.date, dt.date] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(path, "expected a Period")
    start = value.get("start")
    end = value.get("end")
    if start is None and end is None:
        return None
    first = dt.date.fromisoformat(full_date(start, f"{path}.start", fsh("Claim.fsh:224"))) \
        if start is not None else dt.date.min
    last = dt.date.fromisoformat(full_date(end, f"{path}.end", fsh("Claim.fsh:225"))) \
        if end is not None else dt.date.max
    if last < first:
        raise invalid(f"{path}.end", "before the start")
    return first, last


def _span(periods: list[tuple[dt.date, dt.date]]) -> tuple[dt.date, dt.date] | None:
    if not periods:
        return None
    return min(p[0] for p in periods), max(p[1] for p in periods)


def read_inquiry(raw: Any) -> Inquiry:
    """Check a PAS inquiry request Bundle (profile-pas-inquiry-request-bundle) and read the
    example it carries."""
    bundle = check_bundle(raw, max_claims=1)
    claim = bundle.claim.resource
    if claim.get("status") != "active":
        raise invalid(f"{CLAIM}.status", "must be active", fsh("Claim.fsh:22"))
    if claim.get("use") != "preauthorization":
        raise invalid(f"{CLAIM}.use", "must be preauthorization", fsh("Claim.fsh:27"))
    idents = claim.get("identifier")
    if not isinstance(idents, list) or len(idents) != 1:
        raise required(f"{CLAIM}.identifier", "exactly one identifier (the inquiry's trace "
                       "number)", fsh("Claim.fsh:282"))
    trace_system, trace_value = identifier(idents[0], f"{CLAIM}.identifier[0]",
                                           fsh("Claim.fsh:282"))
    patient = bundle.resolve(claim.get("patient"), f"{CLAIM}.patient", ("Patient",),
                             fsh("Claim.fsh:28-29"))
    member_id = _member_id(bundle, patient, claim)
    bundle.resolve(claim.get("insurer"), f"{CLAIM}.insurer", ("Organization",),
                   fsh("Claim.fsh:30-31"))
    provider = bundle.resolve(claim.get("provider"), f"{CLAIM}.provider",
                              ("Organization", "PractitionerRole"), fsh("Claim.fsh:32-33"))
    npis = _npis_of(bundle, provider)
    for index, member in enumerate(claim.get("careTeam") or []):
        entry = bundle.resolve(member.get("provider"), f"{CLAIM}.careTeam[{index}].provider",
                               ("Organization", "PractitionerRole", "Practitioner"),
                               fsh("Claim.fsh:36-37"))
        npis += _npis_of(bundle, entry)
    if not npis:
        raise required(f"{CLAIM}.provider", "an NPI of the inquiring, ordering or rendering "
                       f"provider ({ig.NPI_SYSTEM}) is needed to inquire",
                       f"{SPEC}:227 (spec-53)")
    codes: list[str] = []
    periods: list[tuple[dt.date, dt.date]] = []
    billable = _period(claim.get("billablePeriod"), f"{CLAIM}.billablePeriod")
    if billable:
        periods.append(billable)
    request_types: list[str] = []
    statuses: list[str] = []
    numbers: list[str] = []
    for url in (ig.EXT_AUTHORIZATION_NUMBER, ig.EXT_ADMIN_REFERENCE):
        found = extension(claim, url)
        if found and isinstance(found[1].get("valueString"), str):
            numbers.append(found[1]["valueString"])
    for index, item in enumerate(claim.get("item") or []):
        path = f"{CLAIM}.item[{index}]"
        service = item.get("productOrService")
        systems = [c.get("system") for c in (service or {}).get("coding") or []]
        if DATA_ABSENT not in systems:
            codes.append(coding_in(service, f"{path}.productOrService",
                                   (ig.HCPCS_SYSTEM, ig.CPT_SYSTEM), fsh("Claim.fsh:217")))
        served = _period(item.get("servicedPeriod"), f"{path}.servicedPeriod")
        if served:
            periods.append(served)
        if isinstance(item.get("servicedDate"), str):
            day = dt.date.fromisoformat(full_date(item["servicedDate"], f"{path}.servicedDate",
                                                  fsh("Claim.fsh:222")))
            periods.append((day, day))
        found = extension(item, ig.EXT_CERTIFICATION_TYPE)
        if found:
            cert = coding_in(found[1].get("valueCodeableConcept"),
                             f"{path}.extension[{found[0]}].valueCodeableConcept",
                             ig.CERTIFICATION_SYSTEM, fsh("Claim-update.fsh:33"))
            if cert in ig.CERTIFICATION_REQUEST_TYPES:
                request_types.append(ig.CERTIFICATION_REQUEST_TYPES[cert])
            else:
                request_types.append(f"none:{cert}")  # a kind bhpolicy never has: no match
        found = extension(item, ig.EXT_REVIEW_ACTION_CODE)
        if found:
            action = coding_in(found[1].get("valueCodeableConcept"),
                               f"{path}.extension[{found[0]}].valueCodeableConcept",
                               ig.REVIEW_ACTION_SYSTEM, fsh("Claim.fsh:290"))
            statuses.extend(STATUSES_OF_ACTION.get(action, ("none",)))
        for url in (ig.EXT_AUTHORIZATION_NUMBER, ig.EXT_ADMIN_REFERENCE):
            found = extension(item, url)
            if found and isinstance(found[1].get("valueString"), str):
                numbers.append(found[1]["valueString"])
    return Inquiry(bundle, trace_system, trace_value, member_id, tuple(dict.fromkeys(npis)),
                   tuple(dict.fromkeys(codes)), _span(periods), tuple(request_types),
                   tuple(statuses), tuple(numbers))


def _loinc(registry: PolicyRegistry, policy: str) -> dict[str, str]:
    try:
        criteria = criteria_for(registry.get(policy))
    except NotFoundError:
        return {}
    return dict(criteria.facts.fhir.documents) if criteria.facts.fhir else {}


def answer_bundle(found: Found, registry: PolicyRegistry, base_url: str, now: dt.datetime,
                  *, inquiry: Inquiry | None = None) -> dict[str, Any]:
    """The PAS response Bundle of a found request, from the Bundle kept beside it (an
    inquiry response Bundle when ``inquiry`` is given)."""
    kept = check_bundle(json.loads(found.bundle))
    sequence = kept.claim.resource["item"][0].get("sequence", 1)
    return build_response(
        found.view, kept, _loinc(registry, found.view.policy), base_url, now,
        sequence if isinstance(sequence, int) else 1, inquiry=inquiry is not None,
        identifier=(inquiry.bundle.identifier_system, inquiry.bundle.identifier_value)
        if inquiry is not None else None)


def inquire(db: Any, actor: Actor, raw: Any, registry: PolicyRegistry, now: dt.datetime,
            base_url: str) -> dict[str, Any]:
    """$inquire: a Parameters resource with a ``return`` Bundle for each matching request."""
    inquiry = read_inquiry(raw)
    ended_after = None
    if inquiry.period is None and not inquiry.request_ids:
        window = pas_value("pended_queryable_months", now.date())
        ended_after = months_before(now.date(), window.value)
    found = find_requests(
        db, actor, inquiry.member_id, inquiry.provider_npis, now=now,
        service_codes=inquiry.service_codes, period=inquiry.period,
        request_types=inquiry.request_types, statuses=inquiry.statuses,
        request_ids=inquiry.request_ids, ended_on_or_after=ended_after)
    answer: dict[str, Any] = {"resourceType": "Parameters"}
    if found:  # FHIR JSON has no empty arrays: no match is a Parameters without parameter
        answer["parameter"] = [{"name": "return",
                                "resource": answer_bundle(f, registry, base_url, now,
                                                          inquiry=inquiry)} for f in found]
    return answer
