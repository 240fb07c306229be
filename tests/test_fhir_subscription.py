"""PAS Subscriptions (R4 backport, rest-hook, full resource) with a real HTTP receiver on
127.0.0.1: a provider system subscribes for its organisation; when a pended request gets a
reviewer's decision, the background sweep posts one notification (a backport R4 history
Bundle whose second entry is the full PAS response Bundle) to the subscription's endpoint
only; a failed delivery is retried after a wait and posted once it succeeds."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bhpolicy.db.pas_models import PasNotificationRow
from bhpolicy.fhir import ig
from bhpolicy.fhir.structure import check_resource
from bhpolicy.fhir.subscription import FILTER_CRITERIA, PAYLOAD_CONTENT, TOPIC
from bhpolicy.services import subscriptions
from bhpolicy.web.app import sweep_once
from bhpolicy.web.settings import WebSettings
from tests import test_fhir_inquire as inquiry_tests
from tests import test_fhir_submit as base
from tests.test_fhir_submit import (
    FHIR,
    NOW,
    bearer,
    check_response,
    fixture,
    review_action,
    submit,
)

tokens = base.tokens  # the fixtures of the $submit and $inquire tests
client = base.client
ehr = inquiry_tests.ehr
ORG = inquiry_tests.ORG


class Receiver:
    """An HTTP server on 127.0.0.1 recording every request; ``answers`` are the statuses to
    give, in order (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.answers: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append((self.path, self.headers.get("Content-Type", ""),
                                       self.rfile.read(length)))
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/pas/notify"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def subscription(endpoint: str, organization: str = ORG) -> dict[str, Any]:
    """Shaped as PASSubscriptionExample (Examples.fsh:888-897)."""
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [ig.SUBSCRIPTION]},
        "status": "requested",
        "reason": "Final results of our pended prior authorizations.",
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA,
                                     "valueString": f"orgIdentifier={organization}"}]},
        "channel": {"type": "rest-hook", "endpoint": endpoint,
                    "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT,
                                                "valueCode": "full-resource"}]}},
    }


def subscribe(client: TestClient, token: str, body: Any) -> Any:
    return client.post("/fhir/Subscription", content=json.dumps(body),
                       headers={**FHIR, **bearer(token)})


def sweep(client: TestClient, at: dt.datetime) -> int:
    """One run of the web app's background sweep at ``at``; how many notifications have
    been delivered so far."""
    client.app.state.settings = WebSettings(  # type: ignore[attr-defined]
        warm=False, sweep_seconds=0, clock=lambda: at)
    sweep_once(client.app)  # type: ignore[arg-type]
    return sum(1 for n in notifications(client) if n.delivered_at is not None)


def notifications(client: TestClient) -> list[PasNotificationRow]:
    with client.app.state.db.read() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(PasNotificationRow).order_by(PasNotificationRow.id)))


def test_a_final_result_is_pushed_once_with_retries(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str],
        receiver: Receiver) -> None:
    made = subscribe(client, ehr["ehr_a"], subscription(receiver.url))
    assert made.status_code == 201, made.text
    stored = made.json()
    assert stored["status"] == "active" and stored["id"].startswith("SUB-")
    assert made.headers["location"].endswith(f"/fhir/Subscription/{stored['id']}")
    check_resource(stored, "Subscription", frozenset({"Subscription"}))
    read = client.get(f"/fhir/Subscription/{stored['id']}", headers=bearer(ehr["ehr_b"]))
    assert read.status_code == 200 and read.json() == stored  # a colleague may read it
    hidden = client.get(f"/fhir/Subscription/{stored['id']}", headers=bearer(ehr["ehr_other"]))
    assert hidden.status_code == 404
    # an approval at once is no pended result: nothing to push; a referral waits
    submit(client, ehr["ehr_a"], fixture("sc-initial-approve"))
    request_id = inquiry_tests.reference_of(
        submit(client, ehr["ehr_b"], fixture("sc-initial-refer")))
    assert sweep(client, NOW + dt.timedelta(minutes=1)) == 0
    assert receiver.received == []
    inquiry_tests.decide(client, tokens, request_id, kind="deny", criteria=["I.B.4"],
                         reason="The diagnosis is not supported.", reason_code="SC")
    # the receiver fails first: nothing delivered, retried after the first wait
    receiver.answers = [503]
    later = NOW + dt.timedelta(hours=3)
    assert sweep(client, later) == 0
    assert len(receiver.received) == 1
    [note] = notifications(client)
    assert note.attempts == 1 and note.last_result == "HTTP 503" and note.delivered_at is None
    assert sweep(client, later + dt.timedelta(seconds=5)) == 0  # not due yet
    assert len(receiver.received) == 1
    assert sweep(client, later + subscriptions.BACKOFF[0]) == 1
    assert len(receiver.received) == 2
    assert sweep(client, later + dt.timedelta(hours=1)) == 1  # delivered once, not again
    assert len(receiver.received) == 2
    path, content_type, body = receiver.received[-1]
    assert path == "/pas/notify" and content_type == "application/fhir+json"
    bundle = json.loads(body)
    check_resource(bundle, "Bundle", frozenset({"Bundle"}))
    assert bundle["type"] == "history"
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    params = {p["name"]: p for p in status["parameter"]}
    assert params["topic"]["valueCanonical"] == TOPIC
    assert params["type"]["valueCode"] == "event-notification"
    assert params["subscription"]["valueReference"]["reference"].endswith(stored["id"])
    focus = next(p for p in params["notification-event"]["part"] if p["name"] == "focus")
    response_bundle = bundle["entry"][1]["resource"]
    assert focus["valueReference"]["reference"] == bundle["entry"][1]["fullUrl"]
    assert response_bundle["meta"]["profile"] == [ig.RESPONSE_BUNDLE]  # the full response
    response = check_response(response_bundle)
    assert review_action(response)[0] == "A3"
    assert response["id"] == request_id


def test_after_the_last_wait_it_gives_up_and_never_follows_a_redirect(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str],
        receiver: Receiver) -> None:
    assert subscribe(client, ehr["ehr_a"], subscription(receiver.url)).status_code == 201
    request_id = inquiry_tests.reference_of(
        submit(client, ehr["ehr_a"], fixture("sc-initial-refer")))
    inquiry_tests.decide(client, tokens, request_id, kind="approve")
    receiver.answers = [307] * 10  # "go elsewhere": never followed, counted as a failure
    at = NOW + dt.timedelta(hours=3)
    for wait in (dt.timedelta(0), *subscriptions.BACKOFF):
        at += wait
        assert sweep(client, at) == 0
    assert [p for p, _, _ in receiver.received] == ["/pas/notify"] * (
        len(subscriptions.BACKOFF) + 1)
    [note] = notifications(client)
    assert note.given_up_at is not None and note.last_result == "HTTP 307"
    assert sweep(client, at + dt.timedelta(days=1)) == 0
    assert len(receiver.received) == len(subscriptions.BACKOFF) + 1


def test_a_receiver_that_is_down_does_not_stop_the_sweep(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str]) -> None:
    closed = "http://127.0.0.1:9/nobody"  # the discard port: refused at once
    assert subscribe(client, ehr["ehr_a"], subscription(closed)).status_code == 201
    request_id = inquiry_tests.reference_of(
        submit(client, ehr["ehr_a"], fixture("sc-initial-refer")))
    inquiry_tests.decide(client, tokens, request_id, kind="approve")
    assert sweep(client, NOW + dt.timedelta(hours=3)) == 0
    [note] = notifications(client)
    assert note.attempts == 1 and note.last_result == "ConnectError"


def test_subscriptions_are_checked_and_cover_only_the_own_organisation(
        client: TestClient, tokens: dict[str, str], ehr: dict[str, str],
        receiver: Receiver) -> None:
    token = ehr["ehr_a"]
    other = subscribe(client, token, subscription(receiver.url, "1538266789"))
    assert other.status_code == 403 and "spec-59" in other.text
    no_org = subscribe(client, tokens["provider-system"], subscription(receiver.url))
    assert no_org.status_code == 403
    assert subscribe(client, tokens["analyst"], subscription(receiver.url)).status_code == 403

    def refused(change: Any, expression: str) -> None:
        body = copy.deepcopy(subscription(receiver.url))
        change(body)
        answer = subscribe(client, token, body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["issue"][0]["expression"] == [expression]

    refused(lambda b: b.update(criteria="http://example.org/topic"), "Subscription.criteria")
    refused(lambda b: b.pop("_criteria"), "Subscription._criteria.extension")
    refused(lambda b: b["channel"].update(type="websocket"), "Subscription.channel.type")
    refused(lambda b: b["channel"].update(endpoint="http://receiver.example/notify"),
            "Subscription.channel.endpoint")
    refused(lambda b: b["channel"].update(endpoint="https://u:p@receiver.example/n"),
            "Subscription.channel.endpoint")
    refused(lambda b: b["channel"]["_payload"]["extension"][0].update(valueCode="id-only"),
            "Subscription.channel._payload.extension")
    made = subscribe(client, token, subscription("https://receiver.example/notify")).json()
    gone = client.delete(f"/fhir/Subscription/{made['id']}", headers=bearer(token))
    assert gone.status_code == 204
    after = client.get(f"/fhir/Subscription/{made['id']}", headers=bearer(token))
    assert after.json()["status"] == "off"
    metadata = client.get("/fhir/metadata").json()
    kinds = {r["type"]: r for r in metadata["rest"][0]["resource"]}
    assert {i["code"] for i in kinds["Subscription"]["interaction"]} >= {"create", "delete"}
