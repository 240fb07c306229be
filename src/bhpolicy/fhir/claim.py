"""The Claim of a PAS request Bundle (profile-claim, or profile-claim-update), checked and
read into what bhpolicy needs: member, provider, the one service item, urgency, diagnoses and
supporting information. Rules cite the IG's FSH source (tag 2.2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bhpolicy.fhir import ig
from bhpolicy.fhir.bundle import (
    Entry,
    PasBundle,
    coding_in,
    extension,
    full_date,
    identifier,
    text,
)
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.outcome import invalid, required

CLAIM = "Bundle.entry[0].resource"


@dataclass(frozen=True)
class ClaimItem:
    sequence: int
    code: str
    modifiers: tuple[str, ...]
    start: str
    end: str
    units: int
    certification: str
    request_type: str          # bhpolicy's: initial | continued_stay
    requested_service: Entry | None
    admin_reference: str | None
    path: str


@dataclass(frozen=True)
class PasClaim:
    bundle: PasBundle
    is_update: bool
    claim_system: str
    claim_value: str
    created: str
    patient: Entry
    member_id: str
    birth_date: str | None
    coverage: Entry
    policy: str
    insurer: Entry
    provider: Entry
    provider_npi: str
    provider_name: str
    urgency: str
    item: ClaimItem
    principal_diagnosis: str | None
    supporting: tuple[Entry, ...]      # resources of supportingInfo[AdditionalInformation]
    related_value: str | None          # for an update: the request it updates (see below)


def _member_id(patient: Entry, coverage: Entry) -> str:
    """The member id: Coverage.identifier of type MB (memberid slice, Coverage.fsh:49), which
    Patient.identifier of type MB must equal when the Patient carries one."""
    def of_type(resource: dict[str, Any], path: str) -> tuple[str, str] | None:
        for index, ident in enumerate(resource.get("identifier") or []):
            for coding in (ident.get("type") or {}).get("coding") or []:
                if coding.get("system") == ig.V2_0203 and coding.get("code") == "MB":
                    value = text(ident.get("value"), f"{path}.identifier[{index}].value",
                                 fsh("Identifier.fsh:158"))
                    return f"{path}.identifier[{index}].value", value
        return None

    found = of_type(coverage.resource, coverage.path)
    if found is None:
        raise required(f"{coverage.path}.identifier",
                       "the member id (an identifier of type MB) is missing",
                       fsh("Coverage.fsh:49"))
    on_patient = of_type(patient.resource, patient.path)
    if on_patient is not None and on_patient[1] != found[1]:
        raise invalid(on_patient[0], "differs from the Coverage's member id",
                      fsh("Coverage.fsh:49"))
    return found[1]


def _policy(coverage: Entry) -> str:
    """bhpolicy's convention: the pack is named by Coverage.class of type plan (its value is
    the pack's id or alias, e.g. sc-act)."""
    for index, cls in enumerate(coverage.resource.get("class") or []):
        codes = [c.get("code") for c in (cls.get("type") or {}).get("coding") or []
                 if c.get("system") == ig.COVERAGE_CLASS_SYSTEM]
        if "plan" in codes:
            return text(cls.get("value"), f"{coverage.path}.class[{index}].value")
    raise required(f"{coverage.path}.class",
                   "a class of type plan naming the policy (e.g. sc-act) is needed")


def _npi(resource: dict[str, Any], path: str) -> str | None:
    for index, ident in enumerate(resource.get("identifier") or []):
        if ident.get("system") == ig.NPI_SYSTEM:
            return text(ident.get("value"), f"{path}.identifier[{index}].value",
                        fsh("Identifier.fsh:158"))
    return None


def _provider(bundle: PasBundle, claim: dict[str, Any]) -> tuple[Entry, str, str]:
    rule = fsh("Claim.fsh:134-135")
    entry = bundle.resolve(claim.get("provider"), f"{CLAIM}.provider",
                           ("Organization", "PractitionerRole"), rule)
    org = entry
    if entry.type == "PractitionerRole":
        ref = entry.resource.get("organization")
        if ref is None:
            raise required(f"{entry.path}.organization",
                           "the requesting organisation is needed to name its NPI", rule)
        org = bundle.resolve(ref, f"{entry.path}.organization", ("Organization",),
                             fsh("Practitioner.fsh:150"))
    if org.resource.get("active") is not True:
        raise invalid(f"{org.path}.active", "must be true", fsh("Organization.fsh:93"))
    npi = _npi(org.resource, org.path)
    if npi is None:
        raise required(f"{org.path}.identifier",
                       f"an NPI ({ig.NPI_SYSTEM}) of the requesting provider is needed", rule)
    name = org.resource.get("name")
    return entry, npi, name if isinstance(name, str) and name else "requesting provider"


def _item(bundle: PasBundle, claim: dict[str, Any]) -> ClaimItem:
    items = claim.get("item")
    if not isinstance(items, list) or not items:
        raise required(f"{CLAIM}.item", "at least one item", fsh("Claim.fsh:289"))
    if len(items) > 1:
        raise invalid(f"{CLAIM}.item[1]", "bhpolicy takes one service item a request",
                      code="not-supported")
    item, path = items[0], f"{CLAIM}.item[0]"
    sequence = item.get("sequence")
    found = extension(item, ig.EXT_REQUEST_TYPE)
    if found is None:
        raise required(f"{path}.extension", "the serviceItemRequestType extension is needed",
                       fsh("Claim.fsh:296"))
    coding_in(found[1].get("valueCodeableConcept"),
              f"{path}.extension[{found[0]}].valueCodeableConcept", ig.REQUEST_TYPE_SYSTEM,
              fsh("Claim-update.fsh:108"))
    found = extension(item, ig.EXT_CERTIFICATION_TYPE)
    if found is None:
        raise required(f"{path}.extension", "the certificationType extension is needed",
                       fsh("Claim.fsh:297"))
    cert_path = f"{path}.extension[{found[0]}].valueCodeableConcept"
    certification = coding_in(found[1].get("valueCodeableConcept"), cert_path,
                              ig.CERTIFICATION_SYSTEM, fsh("Claim-update.fsh:33"))
    if certification not in ig.CERTIFICATION_REQUEST_TYPES:
        raise invalid(cert_path, "bhpolicy answers initial (I), renewal (R) and extension (4) "
                      "certifications only", code="not-supported")
    coding_in(item.get("category"), f"{path}.category", ig.CATEGORY_SYSTEM,
              fsh("Claim.fsh:214") + ", 1..1 " + fsh("Claim.fsh:307"))
    code = coding_in(item.get("productOrService"), f"{path}.productOrService",
                     ig.HCPCS_SYSTEM, fsh("Claim.fsh:217"))
    modifiers = tuple(coding_in(m, f"{path}.modifier[{i}]", (ig.HCPCS_SYSTEM, ig.CPT_SYSTEM),
                                fsh("Claim.fsh:219"))
                      for i, m in enumerate(item.get("modifier") or []))
    coding_in(item.get("locationCodeableConcept"), f"{path}.locationCodeableConcept",
              ig.POS_SYSTEM, fsh("Claim.fsh:228") + ", 1..1 " + fsh("Claim.fsh:310"))
    period = item.get("servicedPeriod")
    if not isinstance(period, dict):
        raise required(f"{path}.servicedPeriod", "the requested period is needed",
                       fsh("Claim.fsh:222"))
    start = full_date(period.get("start"), f"{path}.servicedPeriod.start", fsh("Claim.fsh:224"))
    end = full_date(period.get("end"), f"{path}.servicedPeriod.end", fsh("Claim.fsh:225"))
    quantity = item.get("quantity")
    if not isinstance(quantity, dict) or "value" not in quantity:
        raise required(f"{path}.quantity.value", "the units asked for are needed",
                       fsh("Quantity.fsh:5"))
    units = quantity["value"]
    if isinstance(units, float) and units.is_integer():
        units = int(units)
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise invalid(f"{path}.quantity.value", "expected a whole number above 0")
    if quantity.get("code") not in ig.UNIT_CODES or quantity.get("system") not in (
            None, ig.UNIT_SYSTEM):
        raise invalid(f"{path}.quantity.code",
                      f"expected a unit of {ig.UNIT_SYSTEM}: DY (days) or UN (units)",
                      fsh("Quantity.fsh:8"), code="code-invalid")
    service = extension(item, ig.EXT_REQUESTED_SERVICE)
    requested = None
    if service is not None:
        requested = bundle.resolve(service[1].get("valueReference"),
                                   f"{path}.extension[{service[0]}].valueReference",
                                   ("ServiceRequest", "DeviceRequest", "MedicationRequest",
                                    "NutritionOrder"), fsh("Claim-update.fsh:182"))
    admin = extension(item, ig.EXT_ADMIN_REFERENCE)
    admin_value = admin[1].get("valueString") if admin else None
    return ClaimItem(sequence if isinstance(sequence, int) else 1, code, modifiers, start, end,
                     units, certification, ig.CERTIFICATION_REQUEST_TYPES[certification],
                     requested, admin_value if isinstance(admin_value, str) else None, path)


def _diagnoses(claim: dict[str, Any]) -> str | None:
    """The principal diagnosis (ICD-10-CM), if the Claim types one principal."""
    principal = None
    for index, diagnosis in enumerate(claim.get("diagnosis") or []):
        path = f"{CLAIM}.diagnosis[{index}]"
        code = coding_in(diagnosis.get("diagnosisCodeableConcept"),
                         f"{path}.diagnosisCodeableConcept", ig.ICD10CM_SYSTEM,
                         fsh("Claim.fsh:177"))
        for t_index, kind in enumerate(diagnosis.get("type") or []):
            value = coding_in(kind, f"{path}.type[{t_index}]", ig.PAS_TEMP_CODES,
                              fsh("Claim.fsh:179"), ig.DIAGNOSIS_TYPES)
            if value == "principal":
                if principal is not None:
                    raise invalid(f"{path}.type[{t_index}]", "a second principal diagnosis")
                principal = code
    return principal


def _supporting(bundle: PasBundle, claim: dict[str, Any]) -> tuple[Entry, ...]:
    out: list[Entry] = []
    for index, info in enumerate(claim.get("supportingInfo") or []):
        path = f"{CLAIM}.supportingInfo[{index}]"
        category = info.get("category")
        codes = [c.get("code") for c in (category or {}).get("coding") or []
                 if c.get("system") == ig.PAS_TEMP_CODES]
        if "additionalInformation" not in codes:
            continue
        found = extension(info, ig.EXT_DOCUMENT_INFORMATION)
        if found is None:
            raise required(f"{path}.extension", "the documentInformation extension is needed",
                           fsh("Claim.fsh:317"))
        report = extension(found[1], "reportTypeCode")
        if report is None:
            raise required(f"{path}.extension[{found[0]}].extension",
                           "reportTypeCode is needed", fsh("Claim.fsh:356"))
        coding_in(report[1].get("valueCodeableConcept"),
                  f"{path}.extension[{found[0]}].extension[{report[0]}].valueCodeableConcept",
                  ig.REPORT_TYPE_SYSTEM, fsh("Claim.fsh:358"))
        if "valueReference" not in info:
            raise required(f"{path}.valueReference", "missing", fsh("Claim.fsh:319"))
        entry = bundle.resolve(info["valueReference"], f"{path}.valueReference",
                               tuple(sorted(ig.REQUEST_RESOURCE_TYPES - {"Claim"})),
                               fsh("Claim.fsh:320"))
        if entry.type == "DocumentReference":
            for c_index, content in enumerate(entry.resource.get("content") or []):
                attachment = content.get("attachment") or {}
                where = f"{entry.path}.content[{c_index}].attachment"
                if "url" in attachment:
                    raise invalid(f"{where}.url", "documents are sent inline, not by URL",
                                  fsh("Claim.fsh:350"))
                if not attachment.get("data"):
                    raise required(f"{where}.data", "missing", fsh("Claim.fsh:349"))
        out.append(entry)
    return tuple(out)


def _related(claim: dict[str, Any], is_update: bool) -> str | None:
    related = claim.get("related")
    if not is_update:
        if related:
            raise invalid(f"{CLAIM}.related", "a new request has no related claim; send a "
                          "Claim update (profile-claim-update)", fsh("Claim.fsh:278"))
        return None
    if not isinstance(related, list) or len(related) != 1:
        raise required(f"{CLAIM}.related", "exactly one related claim",
                       fsh("Claim-update.fsh:232"))
    coding_in(related[0].get("relationship"), f"{CLAIM}.related[0].relationship",
              ig.RELATED_CLAIM_SYSTEM, fsh("Claim-update.fsh:234"), frozenset({"prior"}))
    ref = related[0].get("claim")
    if not isinstance(ref, dict):
        raise required(f"{CLAIM}.related[0].claim", "missing", fsh("Claim-update.fsh:235"))
    ident = ref.get("identifier")
    value = ident.get("value") if isinstance(ident, dict) else None
    return value if isinstance(value, str) and value else None


def read_claim(bundle: PasBundle) -> PasClaim:
    """Check the first entry's Claim and the resources it references."""
    claim = bundle.claim.resource
    profiles = (claim.get("meta") or {}).get("profile") or []
    is_update = ig.CLAIM_UPDATE in profiles or (bool(claim.get("related"))
                                                 and ig.CLAIM not in profiles)
    if claim.get("status") != "active":
        raise invalid(f"{CLAIM}.status", "must be active", fsh("Claim.fsh:124"))
    if claim.get("use") != "preauthorization":
        raise invalid(f"{CLAIM}.use", "must be preauthorization", fsh("Claim.fsh:129"))
    coding_in(claim.get("type"), f"{CLAIM}.type", ig.CLAIM_TYPE_SYSTEM, fsh("Claim.fsh:126"),
              ig.CLAIM_TYPES)
    idents = claim.get("identifier")
    if not isinstance(idents, list) or not 1 <= len(idents) <= 2:
        raise required(f"{CLAIM}.identifier", "one or two identifiers", fsh("Claim.fsh:285"))
    claim_system, claim_value = identifier(idents[0], f"{CLAIM}.identifier[0]",
                                           fsh("Claim.fsh:120"))
    created = text(claim.get("created"), f"{CLAIM}.created")
    patient = bundle.resolve(claim.get("patient"), f"{CLAIM}.patient", ("Patient",),
                             fsh("Claim.fsh:130-131"))
    birth = patient.resource.get("birthDate")
    if birth is not None:
        full_date(birth, f"{patient.path}.birthDate", fsh("Patient.fsh:11"))
    insurer = bundle.resolve(claim.get("insurer"), f"{CLAIM}.insurer", ("Organization",),
                             fsh("Claim.fsh:132-133"))
    if insurer.resource.get("active") is not True:
        raise invalid(f"{insurer.path}.active", "must be true", fsh("Organization.fsh:82"))
    provider, npi, name = _provider(bundle, claim)
    insurance = claim.get("insurance") or []
    focal = [i for i, ins in enumerate(insurance) if ins.get("focal") is True]
    if not focal:
        raise invalid(f"{CLAIM}.insurance", "one insurance must be focal (true)",
                      fsh("Claim.fsh:182"))
    coverage = bundle.resolve(insurance[focal[0]].get("coverage"),
                              f"{CLAIM}.insurance[{focal[0]}].coverage", ("Coverage",),
                              fsh("Claim.fsh:183-184"))
    if coverage.resource.get("status") != "active":
        raise invalid(f"{coverage.path}.status", "must be active", fsh("Coverage.fsh:51"))
    bundle.resolve(coverage.resource.get("beneficiary"), f"{coverage.path}.beneficiary",
                   ("Patient",), fsh("Coverage.fsh:55-56"))
    urgency = "standard"
    level = extension(claim, ig.EXT_LEVEL_OF_SERVICE)
    if level is not None:
        code = coding_in(level[1].get("valueCodeableConcept"),
                         f"{CLAIM}.extension[{level[0]}].valueCodeableConcept",
                         ig.LEVEL_OF_SERVICE_SYSTEM, fsh("Claim-update.fsh:47"))
        urgency = "expedited" if code in ig.EXPEDITED_LEVELS else "standard"
    return PasClaim(
        bundle, is_update, claim_system, claim_value, created, patient,
        _member_id(patient, coverage), birth if isinstance(birth, str) else None, coverage,
        _policy(coverage), insurer, provider, npi, name, urgency, _item(bundle, claim),
        _diagnoses(claim), _supporting(bundle, claim), _related(claim, is_update))
