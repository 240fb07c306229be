"""The PAS response Bundle (profile-pas-response-bundle) of a request, built from services'
RequestView and the request Bundle as received.

Review action codes (X12 306; ClaimResponse.fsh:148-153): A1 when the request is approved,
automatically only for exactly what was asked, carrying the authorization number, period and
units; A4 while it is pended or referred, with the administration reference number (bhpolicy's
request id), the reason and a CommunicationRequest for each document still needed (by LOINC
attachment code); A6 (modified, the granted item added as approved) and A3 (not certified)
only from a reviewer's decision, with the reviewer extension's wasHumanReviewedFlag true.
The authorized-provider item extension is always sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.fhir import ig
from bhpolicy.fhir.bundle import Entry, PasBundle
from bhpolicy.services.schemas import DecisionView, RequestView

REQUEST_ID_SYSTEM = "https://bhpolicy.invalid/fhir/request-id"
PENDING_STATUSES = frozenset({"pended", "referred", "appeal_pending"})


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _ref(entry: Entry) -> dict[str, str]:
    return {"reference": entry.full_url}


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _review_action(code: str, number: str | None,
                   reason_code: str | None = None) -> dict[str, Any]:
    """extension-reviewAction: its ``code`` slice is the extension-reviewActionCode extension
    (ClaimResponse.fsh:132, 148-153), ``number`` and ``reasonCode`` (X12 886, required
    binding, ClaimResponse.fsh:136-137) are simple sub-extensions."""
    parts: list[dict[str, Any]] = [
        {"url": ig.EXT_REVIEW_ACTION_CODE,
         "valueCodeableConcept": _concept(ig.REVIEW_ACTION_SYSTEM, code)}]
    if number:
        parts.append({"url": "number", "valueString": number})
    if reason_code:
        parts.append({"url": "reasonCode",
                      "valueCodeableConcept": _concept(ig.REASON_SYSTEM, reason_code)})
    return {"url": ig.EXT_REVIEW_ACTION, "extension": parts}


def _adjudication(code: str, number: str | None,
                  reason_code: str | None = None) -> list[dict[str, Any]]:
    return [{"extension": [_review_action(code, number, reason_code)],
             "category": _concept(ig.ADJUDICATION_SYSTEM, "submitted")}]


def _period(start: dt.date, end: dt.date) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def _last_decision(view: RequestView) -> DecisionView | None:
    return view.decisions[-1] if view.decisions else None


def _reason_text(view: RequestView) -> str:
    """Why the request is pended: the documents needed, or that a reviewer decides, with the
    policy sections behind it (from the determination's trace)."""
    det = view.determination
    if view.status == "appeal_pending":
        return "An appeal is open; a clinical reviewer not involved in the first decision decides."
    if view.missing_documents:
        needed = "; ".join(d.title for d in view.missing_documents)
        sections = sorted({s for m in det.get("missing", []) for s in m.get("sections", [])})
        return (f"Pended for information: please send {needed}"
                + (f" (policy sections {', '.join(sections)})." if sections else "."))
    sections = sorted({str(x.get("section")) for key in ("not_met", "needs_judgment")
                       for x in det.get(key, []) if x.get("section")})
    return ("Pended for a clinical reviewer, who will decide"
            + (f" on policy sections {', '.join(sections)}" if sections else "")
            + f" ({det.get('policy_id', view.policy)} revision {det.get('policy_revision', '')})."
            " An automated review never denies.")


def build_response(view: RequestView, request: PasBundle, loinc_of: dict[str, str],
                   base_url: str, now: dt.datetime, item_sequence: int = 1, *,
                   inquiry: bool = False,
                   identifier: tuple[str, str] | None = None) -> dict[str, Any]:
    """The response Bundle for ``view``. ``request`` is the request Bundle as received (its
    Patient, insurer and requestor are returned with their fullUrls), ``loinc_of`` the pack's
    document -> LOINC code (facts.yaml fhir.documents).

    With ``inquiry`` it is an inquiry response Bundle (profile-pas-inquiry-response-bundle,
    Bundle.fsh:72-92) whose ClaimInquiryResponse (ClaimResponse.fsh:287) carries the current
    state but no request for information (specification.md:54, spec-9), and whose identifier
    is the inquiry's (``identifier``: system, value)."""
    from bhpolicy.fhir.claim import read_claim  # the stored bundle passed its checks once

    claim = read_claim(request)
    response_url = f"{base_url}/ClaimResponse/{view.id}"
    decision = _last_decision(view)
    human = bool(decision and not decision.automatic)
    reason_code = decision.reason_code if decision is not None and human else None
    item: dict[str, Any] = {"extension": [], "itemSequence": item_sequence}
    ext = item["extension"]
    ext.append({"url": ig.EXT_REQUESTED_SERVICE_DATE,
                "valuePeriod": _period(view.period.start, view.period.end)})
    ext.append({"url": ig.EXT_AUTHORIZED_PROVIDER,
                "extension": [{"url": "provider", "valueReference": _ref(claim.provider)}]})
    extra: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    add_items: list[dict[str, Any]] = []
    if view.status in ("approved", "partially_approved") and decision is not None:
        granted = decision.granted
        period = granted.period if granted and granted.period else view.period
        units = granted.units if granted and granted.units else view.units
        code = granted.code if granted and granted.code else view.service.code
        modifiers = granted.modifiers if granted and granted.modifiers else view.service.modifiers
        approved = [
            {"url": ig.EXT_PREAUTH_ISSUE_DATE, "valueDate": decision.decided_at.date().isoformat()},
            {"url": ig.EXT_PREAUTH_PERIOD, "valuePeriod": _period(period.start, period.end)},
            {"url": ig.EXT_AUTHORIZED_DETAIL, "extension": [
                {"url": "productOrServiceCode",
                 "valueCodeableConcept": _concept(ig.HCPCS_SYSTEM, code)},
                *[{"url": "modifier", "valueCodeableConcept": _concept(ig.HCPCS_SYSTEM, m)}
                  for m in modifiers],
                {"url": "quantity", "valueQuantity": {
                    "value": units, "system": ig.UNIT_SYSTEM,
                    "code": claim.bundle.claim.resource["item"][0]["quantity"]["code"]}}]},
        ]
        if view.status == "approved":
            ext.extend(approved)
            item["adjudication"] = _adjudication(ig.CERTIFIED, view.id)
        else:  # A6: the item as asked, modified; what is granted in addItem (spec-36/37)
            item["adjudication"] = _adjudication(ig.MODIFIED, None, reason_code)
            add_items.append({
                "extension": approved,
                "itemSequence": [item_sequence],
                "productOrService": _concept(ig.HCPCS_SYSTEM, code),
                "modifier": [_concept(ig.HCPCS_SYSTEM, m) for m in modifiers],
                "servicedPeriod": _period(period.start, period.end),
                "quantity": {"value": units, "system": ig.UNIT_SYSTEM,
                             "code": claim.bundle.claim.resource["item"][0]["quantity"]["code"]},
                "adjudication": _adjudication(ig.CERTIFIED, view.id)})
            notes.append({"number": 1, "type": "display",
                          "text": decision.reason or "Partially approved by a clinical reviewer."})
    elif view.status == "denied":
        item["adjudication"] = _adjudication(ig.NOT_CERTIFIED, None, reason_code)
        text = decision.reason if decision and decision.reason else "Not certified."
        if decision and decision.criteria:
            text += f" (policy sections {', '.join(decision.criteria)})"
        notes.append({"number": 1, "type": "display", "text": text})
    else:  # pended, referred, appeal_pending
        ext.append({"url": ig.EXT_ADMIN_REFERENCE, "valueString": view.id})
        item["adjudication"] = _adjudication(ig.PENDED, None)
        notes.append({"number": 1, "type": "display", "text": _reason_text(view)})
        for index, missing in enumerate([] if inquiry else view.missing_documents):
            loinc = loinc_of.get(missing.document)
            request_entry: dict[str, Any] = {
                "resourceType": "CommunicationRequest",
                "id": f"{view.id}-{index + 1}",
                "meta": {"profile": [ig.COMMUNICATION_REQUEST]},
                "extension": [{"url": ig.EXT_SERVICE_LINE_NUMBER,
                               "valuePositiveInt": item_sequence}],
                "identifier": [{"system": REQUEST_ID_SYSTEM,
                                "value": f"{view.id}-{index + 1}"}],
                "status": "active",
                "subject": _ref(claim.patient),
                "requester": _ref(claim.insurer),
                "recipient": [_ref(claim.provider)],
                "reasonCode": [{"text": f"Needed: {missing.title}"}],
            }
            if loinc:  # a LOINC attachment code (CommunicationRequest.fsh:195)
                request_entry["payload"] = [{"contentString": loinc}]
            extra.append({"fullUrl": f"{base_url}/CommunicationRequest/{view.id}-{index + 1}",
                          "resource": request_entry})
    if notes:
        item["noteNumber"] = [1]
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": view.id,
        "meta": {"profile": [ig.CLAIM_INQUIRY_RESPONSE if inquiry else ig.CLAIM_RESPONSE]},
        "extension": [{"url": ig.EXT_REVIEWER, "extension": [
            {"url": "wasHumanReviewedFlag", "valueBoolean": human}]}],
        "identifier": [{"system": REQUEST_ID_SYSTEM, "value": view.id}],
        "status": "active",
        "type": claim.bundle.claim.resource["type"],
        "use": "preauthorization",
        "patient": _ref(claim.patient),
        "created": _instant(now),
        "insurer": _ref(claim.insurer),
        "requestor": _ref(claim.provider),
        "request": _ref(claim.bundle.claim),
        "outcome": "complete",
        "item": [item],
    }
    if view.status == "approved":
        response["preAuthRef"] = view.id
    if add_items:
        response["addItem"] = add_items
    if notes:
        response["processNote"] = notes
    if extra:
        response["communicationRequest"] = [{"reference": e["fullUrl"]} for e in extra]
    entries = [{"fullUrl": response_url, "resource": response}]
    for entry in (claim.bundle.claim, claim.patient, claim.insurer, claim.provider,
                  claim.coverage):
        entries.append({"fullUrl": entry.full_url, "resource": entry.resource})
    entries.extend(extra)
    unique: list[dict[str, Any]] = []
    for entry_json in entries:
        if all(e["fullUrl"] != entry_json["fullUrl"] for e in unique):
            unique.append(entry_json)
    system, value = identifier or (request.identifier_system, request.identifier_value)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [ig.INQUIRY_RESPONSE_BUNDLE if inquiry else ig.RESPONSE_BUNDLE]},
        "identifier": {"system": system or REQUEST_ID_SYSTEM, "value": value},
        "type": "collection",
        "timestamp": _instant(now),
        "entry": unique,
    }
