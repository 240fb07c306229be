"""Claim/$inquire through HTTP: matched on the member id and the provider's NPI, narrowed by
the example, visible only to the inquirer's organisation; then the whole flow: $submit
(pended) -> information (a Claim update) -> a reviewer's decision in serve -> $inquire
answers it (A3 with the X12 886 reason code, A6 with what was granted, A1), each answer
checked against the response profiles' required elements."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bhpolicy.fhir import ig
from bhpolicy.services import requests
from bhpolicy.services.schemas import DecisionCreate
from bhpolicy.services.users import Actor, add_user, authenticate_token
from bhpolicy.web.settings import WebSettings
from tests import test_fhir_submit as base
from tests.test_fhir_submit import (
    FHIR,
    NOW,
    bearer,
    check_response,
    fixture,
    item_extension,
    review_action,
    submit,
)

tokens = base.tokens  # the fixtures of the $submit tests
client = base.client
ORG = "1234567893"  # the requesting organisation's NPI in the fixtures
NOT_APPLICABLE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                              "code": "not-applicable"}]}


@pytest.fixture
def ehr(client: TestClient) -> dict[str, str]:
    """Provider-system users: two of the requesting organisation, one of another."""
    db = client.app.state.db  # type: ignore[attr-defined]
    found = {}
    for name, organization in (("ehr_a", ORG), ("ehr_b", ORG), ("ehr_other", "1538266789")):
        _, found[name] = add_user(db, name, "provider-system", organization=organization)
    return found


def inquire(client: TestClient, token: str, bundle: Any) -> Any:
    return client.post("/fhir/Claim/$inquire", content=json.dumps(bundle),
                       headers={**FHIR, **bearer(token)})


def returned(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resourceType"] == "Parameters"
    params = body.get("parameter", [])
    assert all(p["name"] == "return" for p in params)  # ClaimOperation.fsh:59
    bundles = [p["resource"] for p in params]
    for bundle in bundles:
        check_inquiry_response(bundle)
    return bundles


def check_inquiry_response(bundle: dict[str, Any]) -> dict[str, Any]:
    """profile-pas-inquiry-response-bundle (Bundle.fsh:72-92) and profile-claiminquiryresponse
    (ClaimResponse.fsh:287): the response profile's required elements, no request for
    information (specification.md:54)."""
    response = check_response(bundle)
    assert bundle["meta"]["profile"] == [ig.INQUIRY_RESPONSE_BUNDLE]
    assert response["meta"]["profile"] == [ig.CLAIM_INQUIRY_RESPONSE]
    assert "communicationRequest" not in response
    assert all(e["resource"]["resourceType"] != "CommunicationRequest" for e in bundle["entry"])
    return response


def first_response(bundles: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(bundles) == 1
    response: dict[str, Any] = bundles[0]["entry"][0]["resource"]
    return response


def reference_of(answer: Any) -> str:
    assert answer.status_code == 200, answer.text
    value: str = item_extension(check_response(answer.json()),
                                ig.EXT_ADMIN_REFERENCE)["valueString"]
    return value


def changed(change: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(fixture("sc-inquiry"))
    change(bundle["entry"][0]["resource"])
    return bundle


def test_inquire_matches_member_and_npi_for_the_organisation_only(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str]) -> None:
    request_id = reference_of(submit(client, ehr["ehr_a"], fixture("sc-initial-refer")))
    inquiry = fixture("sc-inquiry")
    # the submitter, a colleague of its organisation, and staff see it, as it stands
    for token in (ehr["ehr_a"], ehr["ehr_b"], tokens["intake"], tokens["reviewer"]):
        response = first_response(returned(inquire(client, token, inquiry)))
        assert review_action(response)[0] == "A4"
        assert response["id"] == request_id
        assert item_extension(response, ig.EXT_ADMIN_REFERENCE)["valueString"] == request_id
    bundle = returned(inquire(client, ehr["ehr_a"], inquiry))[0]
    assert bundle["identifier"] == inquiry["identifier"]  # the inquiry's transaction id
    assert any(e["resource"]["resourceType"] == "Claim" for e in bundle["entry"])
    # another organisation, or a provider-system user without one: not disclosed
    assert returned(inquire(client, ehr["ehr_other"], inquiry)) == []
    assert returned(inquire(client, tokens["provider-system"], inquiry)) == []
    other = inquire(client, ehr["ehr_other"], inquiry)
    assert other.json() == {"resourceType": "Parameters"}
    # the trace number is not a search key
    trace = changed(lambda c: c["identifier"][0].update(value="ANOTHER-TRACE"))
    assert len(returned(inquire(client, ehr["ehr_a"], trace))) == 1
    # another member, another NPI: nothing
    member = copy.deepcopy(inquiry)
    for entry in member["entry"]:
        for ident in entry["resource"].get("identifier", []):
            if ident.get("value") == "SYN-M-0900":
                ident["value"] = "SYN-M-0901"
    assert returned(inquire(client, ehr["ehr_a"], member)) == []
    npi = copy.deepcopy(inquiry)
    npi["entry"][1]["resource"]["identifier"][0]["value"] = "1538266789"
    assert returned(inquire(client, ehr["ehr_a"], npi)) == []


@pytest.mark.parametrize(("change", "count"), [
    (lambda c: c["item"][0]["productOrService"]["coding"][0].update(code="H0039"), 0),
    (lambda c: c["item"][0].update(productOrService=NOT_APPLICABLE), 1),
    (lambda c: c.update(billablePeriod={"start": "2027-06-01", "end": "2027-12-31"}), 0),
    (lambda c: c.update(billablePeriod={"start": "2027-05-01", "end": "2027-12-31"}), 1),
    (lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_CERTIFICATION_TYPE, "valueCodeableConcept": {"coding": [
            {"system": ig.CERTIFICATION_SYSTEM, "code": "R"}]}}), 0),
    (lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_CERTIFICATION_TYPE, "valueCodeableConcept": {"coding": [
            {"system": ig.CERTIFICATION_SYSTEM, "code": "I"}]}}), 1),
    (lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
            {"system": ig.REVIEW_ACTION_SYSTEM, "code": "A1"}]}}), 0),
    (lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_REVIEW_ACTION_CODE, "valueCodeableConcept": {"coding": [
            {"system": ig.REVIEW_ACTION_SYSTEM, "code": "A4"}]}}), 1),
    (lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_ADMIN_REFERENCE, "valueString": "PA-AAAAAAAAAAAA"}), 0),
])
def test_the_example_narrows_the_search(client: TestClient, ehr: dict[str, str],
                                        change: Any, count: int) -> None:
    submit(client, ehr["ehr_a"], fixture("sc-initial-refer"))
    assert len(returned(inquire(client, ehr["ehr_a"], changed(change)))) == count


def test_a_reference_number_finds_that_request(client: TestClient,
                                               ehr: dict[str, str]) -> None:
    first = reference_of(submit(client, ehr["ehr_a"], fixture("sc-initial-refer")))
    reference_of(submit(client, ehr["ehr_a"], fixture("sc-initial-under18")))
    assert len(returned(inquire(client, ehr["ehr_a"], fixture("sc-inquiry")))) == 2
    named = changed(lambda c: c["item"][0]["extension"].append(
        {"url": ig.EXT_ADMIN_REFERENCE, "valueString": first}))
    assert first_response(returned(inquire(client, ehr["ehr_a"], named)))["id"] == first


def test_inquiry_errors_are_one_operation_outcome(client: TestClient, tokens: dict[str, str],
                                                  ehr: dict[str, str]) -> None:
    token = ehr["ehr_a"]
    assert client.post("/fhir/Claim/$inquire", content="{}", headers=FHIR).status_code == 401
    assert inquire(client, tokens["biller"], fixture("sc-inquiry")).status_code == 403
    no_member = copy.deepcopy(fixture("sc-inquiry"))
    for entry in no_member["entry"]:
        if entry["resource"]["resourceType"] in ("Patient", "Coverage"):
            entry["resource"]["identifier"] = [{"system": "http://plan.example/other",
                                                "value": "X"}]
    answer = inquire(client, token, no_member)
    assert answer.status_code == 422
    issue = answer.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[4].resource.identifier"]
    assert "specification.md:202" in issue["diagnostics"]
    no_npi = copy.deepcopy(fixture("sc-inquiry"))
    no_npi["entry"][1]["resource"]["identifier"] = [{"system": "http://other.example/id",
                                                     "value": "7"}]
    answer = inquire(client, token, no_npi)
    assert answer.status_code == 422 and "spec-53" in answer.text
    two = copy.deepcopy(fixture("sc-inquiry"))
    two["entry"].append({"fullUrl": "http://provider.example/fhir/Claim/second",
                         "resource": two["entry"][0]["resource"]})
    answer = inquire(client, token, two)
    assert answer.status_code == 422 and "Bundle.fsh:44" in answer.text
    bad_code = changed(lambda c: c["item"][0]["productOrService"]["coding"][0].update(
        system="http://example.org/codes"))
    answer = inquire(client, token, bad_code)
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["expression"] == [
        "Bundle.entry[0].resource.item[0].productOrService.coding"]
    assert "SYN-M-0900" not in answer.text


def actor_of(client: TestClient, token: str) -> Actor:
    actor = authenticate_token(client.app.state.db, token)  # type: ignore[attr-defined]
    assert actor is not None
    return actor


def decide(client: TestClient, tokens: dict[str, str], request_id: str, **fields: Any) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    reviewer = actor_of(client, tokens["reviewer"])
    view = requests.get_request(db, reviewer, request_id, NOW)
    requests.decide(db, reviewer, request_id, DecisionCreate.model_validate(fields),
                    view.version, NOW + dt.timedelta(hours=2))


def reviewer_flag(response: dict[str, Any]) -> bool:
    [reviewer] = [e for e in response["extension"] if e["url"] == ig.EXT_REVIEWER]
    [flag] = [e for e in reviewer["extension"] if e["url"] == "wasHumanReviewedFlag"]
    value: bool = flag["valueBoolean"]
    return value


def reason_codes(adjudication: dict[str, Any]) -> list[str]:
    action = adjudication["extension"][0]
    return [c["code"] for e in action["extension"] if e["url"] == "reasonCode"
            for c in e["valueCodeableConcept"]["coding"] if c["system"] == ig.REASON_SYSTEM]


def test_submit_information_decision_then_inquire_returns_the_decision(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str]) -> None:
    token = ehr["ehr_a"]
    request_id = reference_of(submit(client, token, fixture("sc-initial-refer")))
    update = json.loads(json.dumps(fixture("sc-update-information")).replace(
        "REQUEST-ID", request_id))
    update["identifier"]["value"] = "SC-PAS-0003-U1"
    answer = submit(client, token, update)
    response = check_response(answer.json())
    assert review_action(response) == ("A4", None)  # still for a reviewer
    assert reviewer_flag(response) is False
    decide(client, tokens, request_id, kind="deny", criteria=["I.B.4"],
           reason="The diagnosis is not supported by the assessment.", reason_code="SC")
    response = first_response(returned(inquire(client, token, fixture("sc-inquiry"))))
    code, number = review_action(response)
    assert code == "A3" and number is None
    assert reason_codes(response["item"][0]["adjudication"][0]) == ["SC"]
    assert reviewer_flag(response) is True
    assert "I.B.4" in response["processNote"][0]["text"]
    assert item_extension(response, ig.EXT_AUTHORIZED_PROVIDER)


def test_a_partial_approval_is_a6_with_the_granted_item(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str]) -> None:
    token = ehr["ehr_a"]
    request_id = reference_of(submit(client, token, fixture("sc-initial-refer")))
    decide(client, tokens, request_id, kind="partial", units=90,
           period={"start": "2026-12-01", "end": "2027-02-28"}, criteria=["I.B.4"],
           reason="Three months first, then a continued-stay review.")
    response = first_response(returned(inquire(client, token, fixture("sc-inquiry"))))
    assert review_action(response) == ("A6", None)
    assert reason_codes(response["item"][0]["adjudication"][0]) == []  # none was recorded
    assert reviewer_flag(response) is True
    [added] = response["addItem"]
    assert added["itemSequence"] == [1]
    assert added["servicedPeriod"] == {"start": "2026-12-01", "end": "2027-02-28"}
    assert added["quantity"]["value"] == 90
    action = added["adjudication"][0]["extension"][0]
    parts = {e["url"]: e for e in action["extension"]}
    assert parts[ig.EXT_REVIEW_ACTION_CODE]["valueCodeableConcept"]["coding"][0]["code"] == "A1"
    assert parts["number"]["valueString"] == request_id
    period = [e for e in added["extension"] if e["url"] == ig.EXT_PREAUTH_PERIOD]
    assert period[0]["valuePeriod"] == {"start": "2026-12-01", "end": "2027-02-28"}


def test_a_reviewer_approval_is_a1_reviewed_by_a_person(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str]) -> None:
    token = ehr["ehr_a"]
    request_id = reference_of(submit(client, token, fixture("sc-initial-under18")))
    decide(client, tokens, request_id, kind="approve")
    response = first_response(returned(inquire(client, token, fixture("sc-inquiry"))))
    assert review_action(response) == ("A1", request_id)
    assert reviewer_flag(response) is True
    assert response["preAuthRef"] == request_id


def test_pended_requests_stay_queryable_six_months_after_the_service(
        client: TestClient, ehr: dict[str, str]) -> None:
    """specification.md:281 (spec-73), as pas_rules.yaml pended_queryable_months: the refer
    fixture's period ends 2027-05-31."""
    token = ehr["ehr_a"]
    submit(client, token, fixture("sc-initial-refer"))
    app = client.app

    def on(day: dt.datetime) -> int:
        app.state.settings = WebSettings(warm=False, sweep_seconds=0,  # type: ignore[attr-defined]
                                         clock=lambda: day)
        return len(returned(inquire(client, token, fixture("sc-inquiry"))))

    assert on(dt.datetime(2027, 11, 30, 23, 0, tzinfo=dt.UTC)) == 1  # 6 months after the end
    assert on(dt.datetime(2027, 12, 1, 9, 0, tzinfo=dt.UTC)) == 0    # past the window
    named = changed(lambda c: c.update(billablePeriod={"start": "2027-01-01",
                                                       "end": "2027-01-31"}))
    assert len(returned(inquire(client, token, named))) == 1      # a named period: still there


def test_users_add_records_the_organisation(tmp_path: Any) -> None:
    """``bhpolicy users add --organization`` (and a value that is no organisation id)."""
    from bhpolicy.db import Database
    from tests.test_web_serve import cli

    url = f"sqlite:///{tmp_path / 'bhpolicy.db'}"
    assert cli("db", "upgrade", "--db", url).returncode == 0
    added = cli("users", "add", "ehr", "--role", "provider-system", "--organization", ORG,
                "--db", url)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    bad = cli("users", "add", "ehr2", "--role", "provider-system", "--organization",
              "<script>", "--db", url)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "organization" in bad.stderr and "<script>" not in bad.stderr
    db = Database.open(url)
    try:
        actor = authenticate_token(db, token)
        assert actor is not None and actor.organization == ORG
    finally:
        db.close()
