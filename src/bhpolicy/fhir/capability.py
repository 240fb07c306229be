"""The CapabilityStatement of /fhir/metadata: what this server does of PAS 2.2.1, no more."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.fhir import ig


def capability_statement(base_url: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "bhpolicy"},
        "implementation": {"description": "bhpolicy prior-authorization service (Da Vinci "
                           "PAS, partial DTR: Questionnaires without CQL)", "url": base_url},
        "fhirVersion": ig.FHIR_VERSION,
        "format": ["application/fhir+json"],
        "implementationGuide": [f"{ig.BASE}/ImplementationGuide/hl7.fhir.us.davinci-pas"
                                f"|{ig.IG_VERSION}"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Authorization: Bearer TOKEN (a provider-system "
                         "user's token from `bhpolicy users add`)."},
            "resource": [
                {"type": "Claim", "supportedProfile": [ig.CLAIM, ig.CLAIM_UPDATE],
                 "operation": [
                     {"name": "submit",
                      "definition": f"{ig.BASE}/OperationDefinition/Claim-submit"},
                     {"name": "inquire",
                      "definition": f"{ig.BASE}/OperationDefinition/Claim-inquiry"}]},
                {"extension": [{
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                           "capabilitystatement-subscriptiontopic-canonical",
                    "valueCanonical": f"{ig.BASE}/SubscriptionTopic/PASSubscriptionTopic"}],
                 "type": "Subscription", "supportedProfile": [ig.SUBSCRIPTION],
                 "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}]},
                {"type": "Questionnaire", "interaction": [{"code": "read"}]},
            ],
        }],
    }
