"""The PAS Bundles kept beside their requests: the text exactly as posted (a new request and a
Claim update), its SHA-256, and nothing new stored when the same Bundle is sent again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bhpolicy.db.pas_models import PasBundleRow
from bhpolicy.fhir import ig
from tests import test_fhir_submit as base
from tests.test_fhir_submit import FHIR, bearer, check_response, fixture, item_extension

tokens = base.tokens  # the fixtures of the $submit tests
client = base.client


def post_bytes(client: TestClient, token: str, body: bytes) -> Any:
    return client.post("/fhir/Claim/$submit", content=body, headers={**FHIR, **bearer(token)})


def rows(client: TestClient) -> list[PasBundleRow]:
    with client.app.state.db.read() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(PasBundleRow).order_by(PasBundleRow.id)))


def count(client: TestClient) -> int:
    with client.app.state.db.read() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count(PasBundleRow.id))) or 0)


def test_the_bundle_is_kept_as_posted_for_a_submit_and_an_update(
        client: TestClient, tokens: dict[str, str]) -> None:
    token = tokens["provider-system"]
    # indented, keys in the sender's order, a non-ASCII character: kept byte for byte
    bundle = fixture("sc-initial-pend-document")
    bundle["entry"][0]["resource"]["identifier"][0]["assigner"] = {"display": "Clínica Sur"}
    posted = json.dumps(bundle, indent=3, ensure_ascii=False).encode("utf-8") + b"\n"
    answer = post_bytes(client, token, posted)
    assert answer.status_code == 200, answer.text
    response = check_response(answer.json())
    request_id = item_extension(response, ig.EXT_ADMIN_REFERENCE)["valueString"]
    [row] = rows(client)
    assert row.request_id == request_id and row.kind == "submit"
    assert row.raw.encode("utf-8") == posted
    assert row.sha256 == hashlib.sha256(posted).hexdigest()
    assert row.bundle_value == bundle["identifier"]["value"]
    # the same Bundle again: the first answer, nothing stored
    again = post_bytes(client, token, posted)
    assert again.status_code == 200
    assert count(client) == 1
    # the Claim update, compact this time
    update = json.loads(json.dumps(fixture("sc-update-information")).replace(
        "REQUEST-ID", request_id))
    update_bytes = json.dumps(update, separators=(",", ":")).encode("utf-8")
    answer = post_bytes(client, token, update_bytes)
    assert answer.status_code == 200, answer.text
    _, second = rows(client)
    assert second.kind == "update" and second.request_id == request_id
    assert second.raw.encode("utf-8") == update_bytes
    assert second.sha256 == hashlib.sha256(update_bytes).hexdigest()
    # the update again: the current state (approved), no second information, nothing stored
    replay = post_bytes(client, token, update_bytes)
    assert replay.status_code == 200, replay.text
    assert count(client) == 2
    code = replay.json()["entry"][0]["resource"]["item"][0]["adjudication"][0]
    assert code["extension"][0]["url"] == ig.EXT_REVIEW_ACTION
    # the update's identifier with another body: refused, nothing stored
    changed = json.loads(update_bytes)
    changed["timestamp"] = "2026-12-01T10:00:00-05:00"
    refused = post_bytes(client, token, json.dumps(changed).encode("utf-8"))
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"] == ["Bundle.identifier"]
    assert count(client) == 2


def test_a_refused_bundle_stores_nothing(client: TestClient, tokens: dict[str, str]) -> None:
    bad = fixture("sc-initial-approve")
    bad["entry"][0]["resource"]["use"] = "claim"
    answer = post_bytes(client, tokens["provider-system"], json.dumps(bad).encode("utf-8"))
    assert answer.status_code == 422
    assert count(client) == 0
