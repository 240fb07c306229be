"""PAS Subscriptions (FHIR R4 Subscriptions backport, rest-hook, full resource): the
Subscription a provider system posts, checked against profile-subscription
(ClaimOperation.fsh:67-75) and the PAS rules for it (specification.md:233-251), and the
notification Bundle pushed when a pended request gets its final result: a backport R4
notification (``history`` Bundle, first a subscription-status Parameters) whose second entry
is the full PAS response Bundle (spec-61; shaped as Examples.fsh:899-939).

The storage, the queue and the retries are :mod:`bhpolicy.services.subscriptions`; this
module speaks FHIR and HTTP for it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from bhpolicy.fhir import ig
from bhpolicy.fhir.bundle import extension
from bhpolicy.fhir.ig import fsh
from bhpolicy.fhir.inquire import answer_bundle
from bhpolicy.fhir.outcome import FhirError, invalid, required
from bhpolicy.fhir.response import _instant
from bhpolicy.fhir.structure import check_resource
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services import subscriptions
from bhpolicy.services.subscriptions import Delivery
from bhpolicy.services.users import Actor

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
NOTIFICATION_PROFILE = BACKPORT + "backport-subscription-notification-r4"
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
TOPIC = f"{ig.BASE}/SubscriptionTopic/PASSubscriptionTopic"
SPEC = "PAS 2.2.1 input/pagecontent/specification.md"
FHIR_JSON = "application/fhir+json"
POST_TIMEOUT_SECONDS = 5.0
LOOPBACK_NAMES = frozenset({"localhost"})
ENDPOINT_MAX = 500


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: Any, path: str) -> str:
    """A rest-hook endpoint: https, or http to this machine only (notifications carry PHI);
    no user name or password in the URL."""
    if not isinstance(endpoint, str) or not endpoint:
        raise required(path, "the rest-hook endpoint is needed", fsh("ClaimOperation.fsh:74"))
    if len(endpoint) > ENDPOINT_MAX:
        raise invalid(path, f"longer than {ENDPOINT_MAX} characters")
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise invalid(path, "expected an https URL without credentials")
    if parts.scheme == "http" and not _loopback(host):
        raise invalid(path, "notifications carry PHI: use https (plain http only to "
                      "127.0.0.1 or localhost)")
    return endpoint


def read_subscription(raw: Any, actor: Actor) -> tuple[str, str, dict[str, Any]]:
    """(organisation, endpoint, resource) of a PAS Subscription (FhirError when refused)."""
    check_resource(raw, "Subscription", frozenset({"Subscription"}))
    assert isinstance(raw, dict)
    if raw.get("criteria") != TOPIC:
        raise invalid("Subscription.criteria", f"must be the PAS topic {TOPIC}",
                      fsh("ClaimOperation.fsh:72"))
    criteria = raw.get("_criteria") or {}
    found = extension(criteria, FILTER_CRITERIA) if isinstance(criteria, dict) else None
    value = found[1].get("valueString") if found else None
    key, _, organizations = (value or "").partition("=")
    if key.strip() not in ("orgIdentifier", "org-identifier") or not organizations.strip():
        raise required("Subscription._criteria.extension",
                       "a filter criteria orgIdentifier=<the requesting organisation>",
                       f"{SPEC}:247 (spec-58), Examples.fsh:893")
    wanted = [o.strip() for o in organizations.split(",") if o.strip()]
    if any(o != actor.organization for o in wanted):
        raise FhirError("Subscription._criteria.extension",
                        "a subscription covers only the caller's own organisation",
                        status=403, rule=f"{SPEC}:247 (spec-59)")
    channel = raw.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise invalid("Subscription.channel.type", "must be rest-hook",
                      fsh("ClaimOperation.fsh:73") + f", {SPEC}:242 (spec-56)")
    endpoint = check_endpoint(channel.get("endpoint"), "Subscription.channel.endpoint")
    if channel.get("payload") not in (FHIR_JSON, "application/json"):
        raise invalid("Subscription.channel.payload", f"this server sends {FHIR_JSON}")
    payload = channel.get("_payload") or {}
    content = extension(payload, PAYLOAD_CONTENT) if isinstance(payload, dict) else None
    if content is None or content[1].get("valueCode") != "full-resource":
        raise invalid("Subscription.channel._payload.extension",
                      "the payload content must be full-resource",
                      fsh("ClaimOperation.fsh:75") + f", {SPEC}:251 (spec-62)")
    if channel.get("header"):
        raise invalid("Subscription.channel.header", "headers are not supported here",
                      code="not-supported")
    resource = {k: v for k, v in raw.items() if k != "id"}
    resource["meta"] = {"profile": [ig.SUBSCRIPTION]}
    return wanted[0], endpoint, resource


def notification(delivery: Delivery, now: dt.datetime, registry: PolicyRegistry
                 ) -> dict[str, Any]:
    """The backport R4 notification Bundle of one final result, with the full PAS response
    Bundle (its fullUrls are those of the base the subscription was made through)."""
    sub = delivery.subscription
    base = sub.base_url
    response = answer_bundle(delivery.found, registry, base, now)
    response["id"] = f"{delivery.found.view.id}-{delivery.event_number}"
    response_url = f"{base}/Bundle/{response['id']}"
    subscription_url = f"{base}/Subscription/{sub.id}"
    number = str(delivery.event_number)
    status = {
        "resourceType": "Parameters",
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": subscription_url}},
            {"name": "topic", "valueCanonical": TOPIC},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": "event-notification"},
            {"name": "events-since-subscription-start", "valueString": number},
            {"name": "notification-event", "part": [
                {"name": "event-number", "valueString": number},
                {"name": "timestamp", "valueInstant": _instant(now)},
                {"name": "focus", "valueReference": {"reference": response_url}}]},
        ]}
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _instant(now),
        "entry": [
            {"fullUrl": f"{subscription_url}/$status/{number}", "resource": status,
             "request": {"method": "GET", "url": f"{subscription_url}/$status"},
             "response": {"status": "200"}},
            {"fullUrl": response_url, "resource": response,
             "request": {"method": "GET", "url": response_url},
             "response": {"status": "200"}},
        ],
    }


def http_post(endpoint: str, body: bytes) -> int:
    """POST a notification to ``endpoint`` only: no redirect is followed, bounded time."""
    answer = httpx.post(endpoint, content=body, headers={"Content-Type": FHIR_JSON},
                        timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)
    return answer.status_code


def deliver(db: Any, now: dt.datetime, registry: PolicyRegistry, *,
            post: subscriptions.Post = http_post) -> int:
    """Notifications due, posted (the web app's background sweep calls this)."""
    def render(delivery: Delivery, at: dt.datetime) -> bytes:
        return json.dumps(notification(delivery, at, registry), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")

    return subscriptions.deliver_due(db, now, post=post, render=render)
