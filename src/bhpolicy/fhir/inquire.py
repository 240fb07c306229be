"""Claim/$inquire: the current state of earlier requests, matched on the member id
(Patient.identifier of type MB) and the provider NPI (ClaimOperation.fsh:376-407), as a
Parameters resource of 0..* ``return`` Bundles. The inquiry's own Claim.identifier is its trace
number, not a search key. A caller sees only the requests its token may read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.fhir.bundle import check_bundle
from bhpolicy.fhir.outcome import FhirError
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services.users import Actor


def inquire(db: Any, actor: Actor, raw: Any, registry: PolicyRegistry, now: dt.datetime,
            base_url: str) -> dict[str, Any]:
    check_bundle(raw, max_claims=1)
    from bhpolicy.services import requests

    if not hasattr(requests, "find_requests"):
        raise FhirError(None, "$inquire needs services.requests.find_requests, which this "
                        "build does not have yet", status=501, code="not-supported")
    raise FhirError(None, "$inquire is not implemented yet", status=501, code="not-supported")
