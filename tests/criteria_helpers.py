"""Build cases for the criteria tests. Every run is pinned to one as-of date, so no result
depends on the day the tests run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.criteria.cases import parse_case
from bhpolicy.criteria.evaluate import Determination, TraceNode, determine
from bhpolicy.policy import load_registry

REGISTRY = load_registry()
AS_OF = dt.date(2026, 12, 1)

SC_INITIAL_MEETS: dict[str, Any] = {
    "birth_date": "1990-04-02",
    "primary_diagnosis": "F20.0",
    "diagnosis_confirmed": True,
    "serious_persistent_illness": True,
    "services_expected_to_meet_needs": True,
    "impairment_basic_functioning": True,
    "psychiatric_admissions": ["2025-06-01", "2026-01-15"],
    "planned_service_days_per_month": 12,
}


def run(facts: dict[str, Any], request_type: str = "initial", policy: str = "sc-act",
        request_date: str = "2026-03-10", as_of: dt.date = AS_OF) -> Determination:
    raw = {"case_id": "T-1", "policy": policy, "request_type": request_type,
           "request_date": request_date, "facts": facts}
    return determine(parse_case(raw, REGISTRY, "test", as_of=as_of))


def node(determination: Determination, node_id: str) -> TraceNode:
    stack = [determination.trace]
    while stack:
        current = stack.pop()
        if current["id"] == node_id:
            return current
        stack += current.get("children", [])
    raise KeyError(node_id)


def status(facts: dict[str, Any], node_id: str, **kwargs: str) -> str:
    return str(node(run(facts, **kwargs), node_id)["status"])
