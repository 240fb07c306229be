"""Claim/$submit end to end through the services (TestClient over a SQLite test database):
approve, pend for a document then a Claim update, refer for a reviewer (urgent = expedited),
under 18 (pended, never denied), errors as one OperationOutcome; every response Bundle is
checked against the PAS response profile's required elements."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bhpolicy.fhir import ig
from bhpolicy.fhir.structure import check_resource
from bhpolicy.services import requests
from bhpolicy.services.permissions import ROLES
from bhpolicy.services.users import Actor, add_user, authenticate_token
from bhpolicy.web import fhir_api
from bhpolicy.web.settings import WebSettings

NOW = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)

FIXTURES = Path(__file__).parent / "fixtures" / "pas"
FHIR = {"Content-Type": "application/fhir+json"}
RESPONSE_TYPES = frozenset({"ClaimResponse", "Claim", "Patient", "Organization", "Coverage",
                            "CommunicationRequest"})


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(sqlite_database: Any) -> dict[str, str]:
    found = {}
    for role in ROLES:
        _, found[role] = add_user(sqlite_database, role.replace("-", "_") + "_user", role,
                                  licence="LPC-12345" if role == "reviewer" else None)
    return found


@pytest.fixture
def client(sqlite_database: Any, tokens: dict[str, str]) -> Iterator[TestClient]:
    """Only the FHIR router, over the services (the whole app includes it the same way)."""
    app = FastAPI()
    app.state.db = sqlite_database
    app.state.settings = WebSettings(warm=False, sweep_seconds=0, clock=lambda: NOW)
    app.include_router(fhir_api.router)
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


def view_of(client: TestClient, tokens: dict[str, str], request_id: str) -> dict[str, Any]:
    actor = authenticate_token(client.app.state.db, tokens["intake"])  # type: ignore[attr-defined]
    assert isinstance(actor, Actor)
    view = requests.get_request(client.app.state.db, actor, request_id, NOW)  # type: ignore[attr-defined]
    data: dict[str, Any] = view.model_dump(mode="json")
    return data


def submit(client: TestClient, token: str, bundle: Any) -> Any:
    return client.post("/fhir/Claim/$submit", content=json.dumps(bundle),
                       headers={**FHIR, **bearer(token)})


def check_response(bundle: dict[str, Any]) -> dict[str, Any]:
    """The required elements of profile-pas-response-bundle and profile-claimresponse."""
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"                       # Bundle.fsh:56
    assert bundle["identifier"]["value"]                         # Bundle.fsh:54
    assert bundle["timestamp"]                                   # Bundle.fsh:57
    urls = [e["fullUrl"] for e in bundle["entry"]]               # Bundle.fsh:59
    assert len(set(urls)) == len(urls)
    for index, entry in enumerate(bundle["entry"]):
        check_resource(entry["resource"], f"Bundle.entry[{index}].resource", RESPONSE_TYPES)
    response = bundle["entry"][0]["resource"]
    assert response["resourceType"] == "ClaimResponse"           # Bundle.fsh:99-102
    assert response["status"] == "active"                        # ClaimResponse.fsh:13
    assert response["use"] == "preauthorization"                 # ClaimResponse.fsh:14
    assert response["outcome"] in ("complete", "error", "partial")  # ClaimResponse.fsh:26
    for key in ("patient", "created", "insurer", "requestor", "request"):
        assert response[key]                                     # ClaimResponse.fsh:15-24
    for key in ("patient", "insurer", "requestor", "request"):   # references resolve
        assert response[key]["reference"] in urls
    item = response["item"][0]
    assert item["itemSequence"] == 1                             # ClaimResponse.fsh:50-52
    adjudication = item["adjudication"][0]
    assert adjudication["category"]["coding"][0]["code"] == "submitted"  # ClaimResponse.fsh:56
    urls_of = {e["url"] for e in item["extension"]}
    assert ig.EXT_AUTHORIZED_PROVIDER in urls_of                # always sent
    return response


def review_action(response: dict[str, Any]) -> tuple[str, str | None]:
    action = response["item"][0]["adjudication"][0]["extension"][0]
    assert action["url"] == ig.EXT_REVIEW_ACTION
    parts = {e["url"]: e for e in action["extension"]}
    code = parts[ig.EXT_REVIEW_ACTION_CODE]["valueCodeableConcept"]["coding"][0]  # its slice
    assert code["system"] == ig.REVIEW_ACTION_SYSTEM
    number = parts.get("number", {}).get("valueString")
    return code["code"], number


def item_extension(response: dict[str, Any], url: str) -> Any:
    found = [e for e in response["item"][0]["extension"] if e["url"] == url]
    return found[0] if found else None


@pytest.mark.parametrize("name", ["sc-initial-approve", "mn-initial-approve",
                                  "sc-continued-stay-approve"])
def test_approve_is_a1_with_number_period_and_units(client: TestClient,
                                                     tokens: dict[str, str], name: str) -> None:
    answer = submit(client, tokens["provider-system"], fixture(name))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    response = check_response(answer.json())
    code, number = review_action(response)
    assert code == "A1" and number and number.startswith("PA-")
    request = fixture(name)["entry"][0]["resource"]["item"][0]
    period = item_extension(response, ig.EXT_PREAUTH_PERIOD)["valuePeriod"]
    assert period == request["servicedPeriod"]
    detail = item_extension(response, ig.EXT_AUTHORIZED_DETAIL)["extension"]
    quantity = next(d for d in detail if d["url"] == "quantity")["valueQuantity"]
    assert quantity["value"] == request["quantity"]["value"]
    reviewer = response["extension"][0]["extension"][0]
    assert reviewer == {"url": "wasHumanReviewedFlag", "valueBoolean": False}
    # the request is in serve with its clock
    view = view_of(client, tokens, number)
    assert view["status"] == "approved" and view["due_by"]


def test_pend_for_a_document_then_a_claim_update_approves(client: TestClient,
                                                          tokens: dict[str, str]) -> None:
    token = tokens["provider-system"]
    answer = submit(client, token, fixture("sc-initial-pend-document"))
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    response = check_response(bundle)
    code, _ = review_action(response)
    assert code == "A4"
    reference = item_extension(response, ig.EXT_ADMIN_REFERENCE)["valueString"]
    note = response["processNote"][0]["text"]
    assert "Functional assessment" in note and "I.D.1" in note
    asks = [e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "CommunicationRequest"]
    assert {a["payload"][0]["contentString"] for a in asks} == {"47420-5", "18776-5"}
    assert len(response["communicationRequest"]) == len(asks)
    # the same Bundle again: the first answer (Bundle.identifier is the idempotency key)
    again = submit(client, token, fixture("sc-initial-pend-document"))
    assert review_action(again.json()["entry"][0]["resource"]) == ("A4", None)
    assert item_extension(again.json()["entry"][0]["resource"],
                          ig.EXT_ADMIN_REFERENCE)["valueString"] == reference
    changed = fixture("sc-initial-pend-document")
    changed["entry"][0]["resource"]["item"][0]["quantity"]["value"] = 90
    refused = submit(client, token, changed)
    assert refused.status_code == 422
    assert refused.json()["resourceType"] == "OperationOutcome"
    # the Claim update with the missing answers and documents
    update = json.loads(json.dumps(fixture("sc-update-information")).replace(
        "REQUEST-ID", reference))
    answer = submit(client, token, update)
    assert answer.status_code == 200, answer.text
    response = check_response(answer.json())
    code, number = review_action(response)
    assert code == "A1" and number == reference
    view = view_of(client, tokens, reference)
    assert view["status"] == "approved" and len(view["determinations"]) == 2
    assert {d["document"] for d in view["information"][0]["documents"]} == {
        "functional_assessment", "ipoc"}


@pytest.mark.parametrize(("name", "urgency"), [("sc-initial-refer", "expedited"),
                                               ("sc-initial-under18", "standard")])
def test_refer_is_a4_for_a_reviewer_never_a_denial(client: TestClient, tokens: dict[str, str],
                                                   name: str, urgency: str) -> None:
    answer = submit(client, tokens["provider-system"], fixture(name))
    assert answer.status_code == 200, answer.text
    response = check_response(answer.json())
    assert review_action(response)[0] == "A4"
    assert "clinical reviewer" in response["processNote"][0]["text"]
    reference = item_extension(response, ig.EXT_ADMIN_REFERENCE)["valueString"]
    view = view_of(client, tokens, reference)
    assert view["status"] == "referred" and view["urgency"] == urgency


def test_errors_are_one_operation_outcome(client: TestClient, tokens: dict[str, str]) -> None:
    token = tokens["provider-system"]
    no_token = client.post("/fhir/Claim/$submit", content="{}", headers=FHIR)
    assert no_token.status_code == 401
    assert no_token.json()["resourceType"] == "OperationOutcome"
    wrong_role = submit(client, tokens["analyst"], fixture("sc-initial-approve"))
    assert wrong_role.status_code == 403
    assert wrong_role.json()["resourceType"] == "OperationOutcome"
    for body, status in [("[1, 2", 400), ('{"resourceType": "Patient"}', 400),
                         ('{"a": 1, "a": 2}', 400), ('{"a": NaN}', 400)]:
        answer = client.post("/fhir/Claim/$submit", content=body,
                             headers={**FHIR, **bearer(token)})
        assert answer.status_code == status, body
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome" and len(outcome["issue"]) == 1
    bad = copy.deepcopy(fixture("sc-initial-approve"))
    bad["entry"][0]["resource"]["use"] = "claimx"
    answer = submit(client, token, bad)
    assert answer.status_code == 422
    issue = answer.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[0].resource.use"]
    assert "Claim.fsh:129" in issue["diagnostics"]
    early = copy.deepcopy(fixture("sc-initial-approve"))  # a request dated after receipt
    early["entry"][0]["resource"]["created"] = "2027-01-05T09:00:00-05:00"
    answer = submit(client, token, early)
    assert answer.status_code == 422, answer.text
    assert answer.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.created"]
    assert "SYN-M-0900" not in answer.text and "1990-04-02" not in answer.text
    wrong_type = client.post("/fhir/Claim/$submit", content="{}",
                             headers={"Content-Type": "text/plain", **bearer(token)})
    assert wrong_type.status_code == 415
    unknown = client.get("/fhir/Patient/1", headers=bearer(token))
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"


def test_metadata_and_questionnaire(client: TestClient, tokens: dict[str, str]) -> None:
    metadata = client.get("/fhir/metadata").json()
    assert metadata["resourceType"] == "CapabilityStatement"
    assert metadata["fhirVersion"] == "4.0.1"
    check_resource(metadata, "CapabilityStatement", frozenset({"CapabilityStatement"}))
    answer = client.get("/fhir/Questionnaire/sc-act-initial",
                        headers=bearer(tokens["provider-system"]))
    assert answer.status_code == 200
    assert answer.json()["item"][0]["linkId"] == "birth_date"
    missing = client.get("/fhir/Questionnaire/nope", headers=bearer(tokens["provider-system"]))
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
