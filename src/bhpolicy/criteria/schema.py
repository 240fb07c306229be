"""The published JSON Schema (draft 2020-12) of a case, built from the packs' facts files."""

from __future__ import annotations

from typing import Any

from bhpolicy.criteria.cases import ENVELOPE, ID_MAX, REQUEST_TYPES
from bhpolicy.criteria.loader import CriteriaPack
from bhpolicy.criteria.model import FactSpec

DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


def _fact_schema(spec: FactSpec, criteria: CriteriaPack) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.type == "boolean":
        schema = {"type": "boolean"}
    elif spec.type == "date":
        schema = dict(DATE)
    elif spec.type == "date_list":
        schema = {"type": "array", "items": DATE}
    elif spec.type == "integer":
        schema = {"type": "integer"}
        if spec.min is not None:
            schema["minimum"] = spec.min
        if spec.max is not None:
            schema["maximum"] = spec.max
    elif spec.type == "icd10":
        schema = {"type": "string", "pattern": r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$",
                  "description": "ICD-10-CM code (billable), checked against the code set"}
    elif spec.type == "month_counts":
        schema = {"type": "object",
                  "patternProperties": {r"^[0-9]{4}-(0[1-9]|1[0-2])$": {
                      "type": "integer", "minimum": 0, "maximum": 31}},
                  "additionalProperties": False}
    else:
        items: dict[str, Any] = {"type": "string"}
        if spec.allowed_param:
            param = criteria.pack.parameters[spec.allowed_param]
            latest = param.values[-1].value
            assert isinstance(latest, list)
            items["enum"] = latest
        schema = {"type": "array", "items": items, "uniqueItems": True}
    title = criteria.facts.documents[spec.document]
    schema.setdefault("description", f"{spec.label}. From: {title}")
    return {"anyOf": [schema, {"type": "null"}], "description": schema["description"]}


def case_schema(packs: list[CriteriaPack]) -> dict[str, Any]:
    names = [name for c in packs for name in (c.pack.id, c.pack.alias)]
    branches = []
    for criteria in packs:
        facts = {name: _fact_schema(spec, criteria)
                 for name, spec in criteria.facts.facts.items()}
        branches.append({
            "if": {"properties": {"policy": {"enum": [criteria.pack.id, criteria.pack.alias]}}},
            "then": {"properties": {
                "request_type": {"enum": list(criteria.criteria.requests)},
                "facts": {"type": "object", "properties": facts,
                          "additionalProperties": False}}},
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://bhpolicy.invalid/schema/case.json",
        "title": "bhpolicy case for a medical-necessity determination",
        "description": "Facts left out (or null) are unknown; a determination then pends.",
        "type": "object",
        "required": list(ENVELOPE),
        "additionalProperties": False,
        "properties": {
            "case_id": {"type": "string", "minLength": 1, "maxLength": ID_MAX},
            "member_id": {"type": "string", "minLength": 1, "maxLength": ID_MAX,
                          "description": "The member's id, shown on the worksheet only"},
            "policy": {"enum": names},
            "request_type": {"enum": list(REQUEST_TYPES)},
            "request_date": DATE,
            "facts": {"type": "object"},
        },
        "allOf": branches,
    }
