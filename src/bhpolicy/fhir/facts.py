"""The facts of a PAS request, as facts.yaml declares their FHIR sources: the element named in
the pack's ``fhir.facts`` first (birth date from Patient.birthDate, the primary diagnosis from
the Claim's principal diagnosis, ...), then a QuestionnaireResponse answer whose linkId is the
fact's name. Values come out JSON-typed as a case carries them; bhpolicy.criteria.cases checks
them as it checks any case. Each fact remembers the FHIRPath it came from, so a fact the case
parser refuses is reported on the element the caller sent."""

from __future__ import annotations

import re
from typing import Any

from bhpolicy.criteria.loader import CriteriaPack
from bhpolicy.criteria.model import FactSpec
from bhpolicy.errors import DataFileError
from bhpolicy.fhir import ig
from bhpolicy.fhir.bundle import Entry
from bhpolicy.fhir.claim import PasClaim
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.outcome import invalid
from bhpolicy.fhir.questionnaire import CANONICAL_BASE, DAYS

SOURCES = ("Patient.birthDate", "Claim.diagnosis.principal", "Condition.verificationStatus",
           "ServiceRequest.occurrenceTiming")
_MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$")

Facts = dict[str, Any]
Where = dict[str, str]  # fact -> the FHIRPath it was read from


def check_sources(criteria: CriteriaPack) -> None:
    """Every source a pack's facts.yaml names is one bhpolicy reads."""
    sources = criteria.facts.fhir.facts if criteria.facts.fhir else {}
    for name, source in sources.items():
        if source not in SOURCES:
            raise DataFileError(f"{criteria.pack.folder}/facts.yaml", f"key fhir.facts.{name}",
                                f"unknown FHIR source (known: {', '.join(SOURCES)})")


def _timing_days(claim: PasClaim) -> tuple[int, str] | None:
    """Planned service days a month from the requested ServiceRequest's occurrenceTiming:
    repeat.frequency per 1 month (period 1, periodUnit mo)."""
    service = claim.item.requested_service
    if service is None or service.type != "ServiceRequest":
        return None
    timing = service.resource.get("occurrenceTiming")
    if timing is None:
        return None
    path = f"{service.path}.occurrenceTiming.repeat"
    repeat = timing.get("repeat") or {}
    if repeat.get("period") != 1 or repeat.get("periodUnit") != "mo" or not isinstance(
            repeat.get("frequency"), int):
        raise invalid(path, "expected a frequency of days per 1 month (period 1, periodUnit "
                      "mo)")
    return repeat["frequency"], f"{path}.frequency"


def _confirmed(claim: PasClaim, code: str | None) -> tuple[bool, str] | None:
    """Whether a Condition of the principal diagnosis is confirmed (or refuted)."""
    if code is None:
        return None
    for entry in claim.bundle.of_type("Condition"):
        codes = [c.get("code") for c in (entry.resource.get("code") or {}).get("coding") or []
                 if c.get("system") == ig.ICD10CM_SYSTEM]
        if code not in codes:
            continue
        status = [c.get("code") for c in
                  (entry.resource.get("verificationStatus") or {}).get("coding") or []
                  if c.get("system") == ig.CONDITION_VERIFICATION]
        if "confirmed" in status:
            return True, f"{entry.path}.verificationStatus"
        if "refuted" in status:
            return False, f"{entry.path}.verificationStatus"
    return None


def resource_facts(claim: PasClaim, criteria: CriteriaPack) -> tuple[Facts, Where]:
    facts: Facts = {}
    where: Where = {}
    sources = criteria.facts.fhir.facts if criteria.facts.fhir else {}
    for name, source in sources.items():
        found: tuple[Any, str] | None = None
        if source == "Patient.birthDate" and claim.birth_date:
            found = claim.birth_date, f"{claim.patient.path}.birthDate"
        elif source == "Claim.diagnosis.principal" and claim.principal_diagnosis:
            found = claim.principal_diagnosis, "Bundle.entry[0].resource.diagnosis"
        elif source == "Condition.verificationStatus":
            found = _confirmed(claim, claim.principal_diagnosis)
        elif source == "ServiceRequest.occurrenceTiming":
            found = _timing_days(claim)
        if found is not None:
            facts[name], where[name] = found
    return facts, where


def _value(answer: dict[str, Any], spec: FactSpec, path: str) -> Any:
    """One answer's value, as the case JSON carries it."""
    kind = spec.type
    expected = {"boolean": "valueBoolean", "date": "valueDate", "date_list": "valueDate",
                "integer": "valueInteger", "icd10": "valueCoding",
                "month_counts": "valueDate", "text_list": "valueCoding"}[kind]
    given = [k for k in answer if k.startswith("value")]
    if kind == "text_list" and given == ["valueString"]:
        return answer["valueString"]
    if given != [expected]:
        raise invalid(f"{path}", f"expected {expected} for this question")
    value = answer[expected]
    if kind == "icd10":
        if value.get("system") not in (None, ig.ICD10CM_SYSTEM) or not isinstance(
                value.get("code"), str):
            raise invalid(f"{path}.valueCoding", f"expected an ICD-10-CM code "
                          f"({ig.ICD10CM_SYSTEM})", code="code-invalid")
        return value["code"]
    if kind == "text_list":
        if not isinstance(value.get("code"), str):
            raise invalid(f"{path}.valueCoding.code", "missing")
        return value["code"]
    if kind == "month_counts" and not _MONTH.fullmatch(value):
        raise invalid(f"{path}.valueDate", "expected a month (YYYY-MM)")
    return value


def _answers(item: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    return [(a, f"{path}.answer[{i}]") for i, a in enumerate(item.get("answer") or [])]


def answer_facts(entry: Entry, criteria: CriteriaPack) -> tuple[Facts, Where]:
    """The facts a QuestionnaireResponse answers; linkId = fact name. Groups are walked."""
    qr = entry.resource
    canonical = qr.get("questionnaire")
    if isinstance(canonical, str) and canonical.startswith(CANONICAL_BASE):
        ident = canonical[len(CANONICAL_BASE):].split("|")[0]
        if not ident.startswith(criteria.pack.alias + "-"):
            raise invalid(f"{entry.path}.questionnaire",
                          "answers the Questionnaire of another policy")
    specs = criteria.facts.facts
    facts: Facts = {}
    where: Where = {}

    def walk(items: list[dict[str, Any]], base: str) -> None:
        for index, item in enumerate(items):
            path = f"{base}.item[{index}]"
            raw_link = item.get("linkId")
            link = raw_link if isinstance(raw_link, str) else ""
            spec = specs.get(link)
            if spec is None:
                if item.get("item") and not item.get("answer"):
                    walk(item["item"], path)  # a group of ours or the client's
                    continue
                raise invalid(f"{path}.linkId", f"not a fact of {criteria.pack.id}")
            if link in facts:
                raise invalid(f"{path}.linkId", "answered twice")
            answers = _answers(item, path)
            if not answers:
                continue
            if spec.type in ("date_list", "text_list"):
                facts[link] = [_value(a, spec, p) for a, p in answers]
            elif spec.type == "month_counts":
                counts: dict[str, Any] = {}
                for answer, a_path in answers:
                    month = _value(answer, spec, a_path)
                    nested = [n for n in answer.get("item") or []
                              if n.get("linkId") == link + DAYS]
                    days = (nested[0].get("answer") or [{}])[0] if nested else {}
                    if "valueInteger" not in days:
                        raise invalid(f"{a_path}.item", f"the day count ({link + DAYS}) of "
                                      "the month is missing")
                    if month in counts:
                        raise invalid(f"{a_path}.valueDate", "a month is answered twice")
                    counts[month] = days["valueInteger"]
                facts[link] = counts
            else:
                if len(answers) > 1:
                    raise invalid(answers[1][1], "this question takes one answer")
                facts[link] = _value(answers[0][0], spec, answers[0][1])
            where[link] = f"{path}.answer"

    walk(qr.get("item") or [], entry.path)
    return facts, where


def claim_facts(claim: PasClaim, criteria: CriteriaPack) -> tuple[Facts, Where]:
    """Every fact the request carries: resources first, then answers (rule of facts.yaml)."""
    facts: Facts = {}
    where: Where = {}
    for entry in claim.supporting:
        if entry.type == "QuestionnaireResponse":
            found, at = answer_facts(entry, criteria)
            for name in found:
                if name in facts:
                    raise invalid(at[name], "answered in another QuestionnaireResponse too")
            facts.update(found)
            where.update(at)
    from_resources, at = resource_facts(claim, criteria)
    facts.update(from_resources)
    where.update(at)
    return facts, where


def documents_received(claim: PasClaim, criteria: CriteriaPack) -> list[dict[str, str]]:
    """The pack's documents the request attaches, by DocumentReference.type (LOINC)."""
    by_code = {code: key for key, code in
               (criteria.facts.fhir.documents if criteria.facts.fhir else {}).items()}
    received_day = claim.bundle.timestamp[:10]
    out: list[dict[str, str]] = []
    for entry in claim.supporting:
        if entry.type != "DocumentReference":
            continue
        codes = [c.get("code") for c in (entry.resource.get("type") or {}).get("coding") or []
                 if c.get("system") == ig.LOINC_SYSTEM]
        for code in codes:
            if code in by_code and all(d["document"] != by_code[code] for d in out):
                out.append({"document": by_code[code], "received": received_day})
    return out


RULE_DOCUMENT_TYPE = fsh("Claim.fsh:344-350")
