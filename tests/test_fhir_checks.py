"""PAS request Bundle checks (each refusal names the element and cites the IG's FSH line) and
the Questionnaire round trip: a QuestionnaireResponse answering a pack's Questionnaire gives
the same determination as the equivalent case JSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bhpolicy.criteria.cases import parse_case
from bhpolicy.criteria.evaluate import determine
from bhpolicy.criteria.loader import criteria_for
from bhpolicy.fhir.bundle import check_bundle
from bhpolicy.fhir.claim import read_claim
from bhpolicy.fhir.facts import claim_facts, documents_received
from bhpolicy.fhir.outcome import FhirError, operation_outcome
from bhpolicy.fhir.questionnaire import all_questionnaires, build_questionnaire
from bhpolicy.fhir.structure import check_resource
from bhpolicy.policy import load_registry
from tests.support.dates import AS_OF

FIXTURES = Path(__file__).parent / "fixtures" / "pas"
EXAMPLES = Path(__file__).parent.parent / "examples" / "cases"
REGISTRY = load_registry()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def outcome_of(raw: dict[str, Any]) -> str:
    claim = read_claim(check_bundle(raw))
    criteria = criteria_for(REGISTRY.get(claim.policy))
    facts, _ = claim_facts(claim, criteria)
    case = parse_case({"case_id": claim.claim_value, "policy": claim.policy,
                       "request_type": claim.item.request_type,
                       "request_date": claim.created[:10], "facts": facts}, REGISTRY, "t", AS_OF)
    return determine(case).outcome


@pytest.mark.parametrize(("name", "outcome"), [
    ("sc-initial-approve", "meets_criteria"), ("mn-initial-approve", "meets_criteria"),
    ("sc-continued-stay-approve", "meets_criteria"), ("sc-initial-pend-document", "pend"),
    ("sc-initial-refer", "refer"), ("sc-initial-under18", "refer")])
def test_fixture_bundles_pass_and_determine(name: str, outcome: str) -> None:
    assert outcome_of(fixture(name)) == outcome


def test_facts_come_from_their_declared_sources() -> None:
    claim = read_claim(check_bundle(fixture("sc-initial-approve")))
    criteria = criteria_for(REGISTRY.get("sc-act"))
    facts, where = claim_facts(claim, criteria)
    assert facts["birth_date"] == "1990-04-02"
    assert where["birth_date"].endswith(".birthDate")
    assert facts["primary_diagnosis"] == "F20.0"
    assert facts["diagnosis_confirmed"] is True
    assert where["diagnosis_confirmed"].endswith(".verificationStatus")
    assert facts["planned_service_days_per_month"] == 12
    assert "occurrenceTiming" in where["planned_service_days_per_month"]
    assert facts["psychiatric_admissions"] == ["2026-02-01", "2026-09-15"]
    assert documents_received(claim, criteria) == [{"document": "ipoc", "received": "2026-11-20"}]
    assert claim.urgency == "standard" and claim.member_id == "SYN-M-0900"
    refer = read_claim(check_bundle(fixture("sc-initial-refer")))
    assert refer.urgency == "expedited"  # level of service U


def _claim(raw: dict[str, Any]) -> dict[str, Any]:
    claim: dict[str, Any] = raw["entry"][0]["resource"]
    return claim


def _entry(raw: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in raw["entry"]
                                 if e["resource"]["resourceType"] == kind)
    return found


def _set(path: list[Any], value: Any) -> Any:
    def change(raw: dict[str, Any]) -> None:
        target: Any = raw
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


DELETE = object()
C = ["entry", 0, "resource"]

MALFORMED: list[tuple[str, Any, int, str, str]] = [
    # (case, change, status, expression, FSH citation or problem)
    ("not a bundle", lambda r: r.update(resourceType="Parameters"), 400, "",
     "ClaimOperation.fsh:366"),
    ("type not collection", _set(["type"], "transaction"), 422, "Bundle.type", "Bundle.fsh:9"),
    ("no identifier", _set(["identifier"], DELETE), 422, "Bundle.identifier", "Bundle.fsh:7"),
    ("no timestamp", _set(["timestamp"], DELETE), 422, "Bundle.timestamp", "Bundle.fsh:10"),
    ("entry without fullUrl", _set(["entry", 2, "fullUrl"], DELETE), 422,
     "Bundle.entry[2].fullUrl", "Bundle.fsh:12"),
    ("entry with request", _set(["entry", 1, "request"], {"method": "POST", "url": "Claim"}),
     422, "Bundle.entry[1].request", "Bundle.fsh:15"),
    ("claim not first", lambda r: r["entry"].insert(0, r["entry"].pop(3)), 422,
     "Bundle.entry[0].resource", "Bundle.fsh:94"),
    ("use claimx", _set([*C, "use"], "claimx"), 422, "Bundle.entry[0].resource.use",
     "Claim.fsh:129"),
    ("status draft", _set([*C, "status"], "draft"), 422, "Bundle.entry[0].resource.status",
     "Claim.fsh:124"),
    ("patient does not resolve", _set([*C, "patient"], {"reference": "Patient/nobody"}), 422,
     "Bundle.entry[0].resource.patient.reference", "not-found"),
    ("insurer missing", _set([*C, "insurer"], DELETE), 422, "Bundle.entry[0].resource.insurer",
     "Claim.fsh:132"),
    ("provider missing (FHIR R4 requires it)", _set([*C, "provider"], DELETE), 400,
     "Bundle.entry[0].resource.provider", "structure"),
    ("unknown unit code", _set([*C, "item", 0, "quantity", "code"], "XX"), 422,
     "Bundle.entry[0].resource.item[0].quantity.code", "Quantity.fsh:8"),
    ("certification type missing", lambda r: _claim(r)["item"][0]["extension"].pop(1), 422,
     "Bundle.entry[0].resource.item[0].extension", "Claim.fsh:297"),
    ("category of another system", _set([*C, "item", 0, "category", "coding", 0, "system"],
                                        "http://example.org/x"), 422,
     "Bundle.entry[0].resource.item[0].category.coding", "Claim.fsh:214"),
    ("diagnosis type not in the value set",
     _set([*C, "diagnosis", 0, "type", 0, "coding", 0, "code"], "secondaryx"), 422,
     "Bundle.entry[0].resource.diagnosis[0].type[0].coding[0].code", "Claim.fsh:179"),
    ("loose boolean", lambda r: _entry(r, "Organization").update(active="yes"), 400,
     "Bundle.entry[1].resource.active", "wrong JSON type"),
    ("loose integer", _set([*C, "item", 0, "sequence"], "1"), 400,
     "Bundle.entry[0].resource.item[0].sequence", "wrong JSON type"),
    ("R4B-only resource type", lambda r: r["entry"].append(
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "SubscriptionTopic"}}), 422,
     "Bundle.entry[9].resource.resourceType", "not a resource type"),
    ("unknown resourceType", lambda r: r["entry"].append(
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Nonsense"}}), 422,
     "Bundle.entry[9].resource.resourceType", "not a resource type"),
    ("unknown element", lambda r: _entry(r, "Patient").update(colour="blue"), 400,
     "Bundle.entry[4].resource.colour", "not an element"),
    ("partial service date", _set([*C, "item", 0, "servicedPeriod", "end"], "2027-05"), 422,
     "Bundle.entry[0].resource.item[0].servicedPeriod.end", "Claim.fsh:225"),
    ("related on a new claim", _set([*C, "related"], [{"claim": {"reference": "Claim/x"}}]),
     422, "Bundle.entry[0].resource.related", "Claim.fsh:278"),
    ("document by URL", lambda r: _entry(r, "DocumentReference")["content"][0][
        "attachment"].update(url="http://x.example/doc"), 422,
     "Bundle.entry[7].resource.content[0].attachment.url", "Claim.fsh:350"),
    ("coverage without member id", lambda r: _entry(r, "Coverage").pop("identifier"), 422,
     "Bundle.entry[3].resource.identifier", "Coverage.fsh:49"),
    ("two fullUrls the same", _set(["entry", 2, "fullUrl"],
                                  "http://provider.example/fhir/Organization/requestor"), 422,
     "Bundle.entry[2].fullUrl", "bdl-7"),
]


@pytest.mark.parametrize(("case", "change", "status", "expression", "cited"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_bundle_is_one_outcome_naming_the_element(
        case: str, change: Any, status: int, expression: str, cited: str) -> None:
    raw = copy.deepcopy(fixture("sc-initial-approve"))
    change(raw)
    with pytest.raises(FhirError) as caught:
        read_claim(check_bundle(raw))
    error = caught.value
    assert error.status == status, str(error)
    outcome = operation_outcome(error)
    issue = outcome["issue"][0]
    if expression:
        assert issue["expression"] == [expression], str(error)
    assert cited in str(error) or cited == issue["code"], str(error)
    # no value from the request in the message (member id, birth date, names, NPI)
    text = json.dumps(outcome)
    for secret in ("SYN-M-0900", "1990-04-02", "SYNTHETIC", "1234567893", "blue", "yes"):
        assert secret not in text
    check_resource(outcome, "OperationOutcome", frozenset({"OperationOutcome"}))


def test_fixture_round_trip_loses_no_element() -> None:
    """Every resource of every fixture parses (R4B) and dumps back to exactly what was sent."""
    for path in FIXTURES.glob("*.json"):
        raw = json.loads(path.read_text())
        bundle = check_bundle(raw)
        assert len(bundle.entries) == len(raw["entry"])


# -- Questionnaire and QuestionnaireResponse --------------------------------------------------

def _answer(spec_type: str, value: Any, link: str) -> list[dict[str, Any]]:
    if spec_type == "boolean":
        return [{"valueBoolean": value}]
    if spec_type == "date":
        return [{"valueDate": value}]
    if spec_type == "date_list":
        return [{"valueDate": v} for v in value]
    if spec_type == "integer":
        return [{"valueInteger": value}]
    if spec_type == "icd10":
        return [{"valueCoding": {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": value}}]
    if spec_type == "month_counts":
        return [{"valueDate": m, "item": [{"linkId": f"{link}.days",
                                           "answer": [{"valueInteger": d}]}]}
                for m, d in value.items()]
    return [{"valueCoding": {"code": v}} for v in value]


@pytest.mark.parametrize("example", ["sc-initial-meets", "sc-initial-pend", "sc-initial-refer",
                                     "sc-continued-stay", "sc-discharge", "mn-initial"])
def test_questionnaire_response_determines_like_the_case(example: str) -> None:
    """Answer the pack's Questionnaire with an example case's facts: same determination."""
    case_json = json.loads((EXAMPLES / f"{example}.json").read_text())
    criteria = criteria_for(REGISTRY.get(case_json["policy"]))
    questionnaire = build_questionnaire(criteria, case_json["request_type"], AS_OF)
    links = {item["linkId"] for item in questionnaire["item"]}
    specs = criteria.facts.facts
    items = [{"linkId": name, "answer": _answer(specs[name].type, value, name)}
             for name, value in case_json["facts"].items() if name in links]
    qr = {"resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
          "questionnaire": questionnaire["url"], "item": items}
    check_resource(qr, "QuestionnaireResponse", frozenset({"QuestionnaireResponse"}))
    from bhpolicy.fhir.bundle import Entry
    from bhpolicy.fhir.facts import answer_facts
    facts, where = answer_facts(Entry(5, "urn:uuid:qr", qr), criteria)
    dropped = set(case_json["facts"]) - links  # facts the tree does not read
    expected = {k: v for k, v in case_json["facts"].items() if k not in dropped}
    assert facts == expected
    assert all(w.startswith("Bundle.entry[5].resource.item[") for w in where.values())
    by_case = determine(parse_case(case_json, REGISTRY, "case", AS_OF))
    by_answers = determine(parse_case({**case_json, "facts": facts}, REGISTRY, "qr", AS_OF))
    assert by_answers.outcome == by_case.outcome
    assert by_answers.rationale == by_case.rationale


def test_questionnaire_per_pack_and_request_type() -> None:
    packs = [criteria_for(p) for p in REGISTRY.packs]
    found = all_questionnaires(packs, AS_OF)
    assert set(found) == {"sc-act-initial", "sc-act-continued-stay", "sc-act-discharge",
                          "mn-act-initial"}
    for questionnaire in found.values():
        check_resource(questionnaire, "Questionnaire", frozenset({"Questionnaire"}))
        assert len({i["linkId"] for i in questionnaire["item"]}) == len(questionnaire["item"])
    sc = {i["linkId"]: i for i in found["sc-act-initial"]["item"]}
    assert sc["birth_date"]["type"] == "date" and sc["birth_date"]["required"] is True
    assert sc["psychiatric_admissions"]["repeats"] is True
    assert sc["co_occurring_since"]["enableWhen"] == [
        {"question": "co_occurring_substance_use", "operator": "=", "answerBoolean": True}]
    assert sc["impairment_safe_living"]["required"] is False  # one of an at_least group
    days = {i["linkId"]: i for i in found["sc-act-continued-stay"]["item"]}
    assert days["service_days_by_month"]["item"][0]["linkId"] == "service_days_by_month.days"
    mn = {i["linkId"]: i for i in found["mn-act-initial"]["item"]}
    assert mn["impaired_domains"]["type"] == "choice" and mn["impaired_domains"]["answerOption"]


def test_questionnaire_response_refusals_name_the_item() -> None:
    from bhpolicy.fhir.bundle import Entry
    from bhpolicy.fhir.facts import answer_facts
    criteria = criteria_for(REGISTRY.get("sc-act"))
    for item, expression in [
            ({"linkId": "no_such_fact", "answer": [{"valueBoolean": True}]}, "item[0].linkId"),
            ({"linkId": "intractable_symptoms", "answer": [{"valueString": "yes"}]},
             "item[0].answer[0]")]:
        qr = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": [item]}
        with pytest.raises(FhirError) as caught:
            answer_facts(Entry(5, "urn:uuid:qr", qr), criteria)
        assert caught.value.expression == f"Bundle.entry[5].resource.{expression}"
