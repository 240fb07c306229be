"""A FHIR Questionnaire for each pack and request type, generated from ``facts.yaml`` and the
criteria tree, and the way back: a QuestionnaireResponse's answers as case facts.

One item per fact the request type's criteria read; linkId = the fact's name, so a response
maps back without a table. Types: boolean, date, integer; an ICD-10-CM code is a choice
answered with a Coding; a list of dates repeats its answers; a month list (days a month)
repeats a month (a FHIR date ``YYYY-MM``) with the day count nested under each answer (linkId
``<fact>.days``); a list of names repeats a choice among the parameter's options. An item is
required when the tree reaches its leaf through all_of nodes only (no alternative can stand in
for it); an item that only matters when a yes/no fact is true has enableWhen on that fact.
This is partial DTR: there is no CQL, and no answer is pre-populated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bhpolicy.criteria.loader import CriteriaPack
from bhpolicy.criteria.model import FactSpec, Node, RequestType
from bhpolicy.fhir import ig

CANONICAL_BASE = "https://bhpolicy.invalid/fhir/Questionnaire/"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
DAYS = ".days"


def questionnaire_id(alias: str, request_type: str) -> str:
    """FHIR ids take letters, digits, '-' and '.': ``sc-act-continued-stay``."""
    return f"{alias}-{request_type.replace('_', '-')}"


def _walk(node: Node, required_path: bool, out: dict[str, bool],
          enable: dict[str, str]) -> None:
    test = node.test
    if test is not None:
        names = [n for n in (test.fact, test.start_fact, test.end_fact, test.present_fact) if n]
        for name in names:
            out[name] = out.get(name, False) or required_path
        if test.present_fact and test.fact != test.present_fact:
            enable[test.fact] = test.present_fact
        return
    keeps = node.all_of is not None
    for child in node.children:
        _walk(child, required_path and keeps, out, enable)


def facts_read(criteria: CriteriaPack, request_type: RequestType) -> tuple[dict[str, bool],
                                                                           dict[str, str]]:
    """The facts the tree reads (name -> required), and fact -> the yes/no fact enabling it."""
    used: dict[str, bool] = {}
    enable: dict[str, str] = {}
    _walk(criteria.tree(request_type), True, used, enable)
    order = list(criteria.facts.facts)
    return {n: used[n] for n in sorted(used, key=order.index)}, enable


def _item(name: str, spec: FactSpec, required: bool, criteria: CriteriaPack,
          as_of: dt.date) -> dict[str, Any]:
    document = criteria.facts.documents[spec.document]
    item: dict[str, Any] = {"linkId": name, "text": f"{spec.label} (from: {document})",
                            "required": required}
    kind = spec.type
    if kind == "boolean":
        item["type"] = "boolean"
    elif kind in ("date", "date_list"):
        item["type"] = "date"
        item["repeats"] = kind == "date_list"
    elif kind == "integer":
        item["type"] = "integer"
        extensions = []
        if spec.min is not None:
            extensions.append({"url": MIN_VALUE, "valueInteger": spec.min})
        if spec.max is not None:
            extensions.append({"url": MAX_VALUE, "valueInteger": spec.max})
        if extensions:
            item["extension"] = extensions
    elif kind == "icd10":
        item["type"] = "choice"
        item["code"] = [{"system": ig.ICD10CM_SYSTEM, "display": "ICD-10-CM code"}]
    elif kind == "month_counts":
        item["type"] = "date"
        item["repeats"] = True
        item["item"] = [{"linkId": name + DAYS, "text": "Days that month", "type": "integer",
                         "required": True,
                         "extension": [{"url": MIN_VALUE, "valueInteger": 0},
                                       {"url": MAX_VALUE, "valueInteger": 31}]}]
    else:  # text_list
        item["type"] = "choice"
        item["repeats"] = True
        if spec.allowed_param:
            options = criteria.pack.value(spec.allowed_param, as_of).value
            assert isinstance(options, list)
            item["answerOption"] = [{"valueCoding": {"code": str(o), "display": str(o)}}
                                    for o in options]
    return item


def build_questionnaire(criteria: CriteriaPack, request_type: RequestType,
                        as_of: dt.date) -> dict[str, Any]:
    """The Questionnaire of ``criteria``'s pack for ``request_type`` (options as of ``as_of``)."""
    pack = criteria.pack
    ident = questionnaire_id(pack.alias, request_type)
    used, enable = facts_read(criteria, request_type)
    items = []
    for name, needed in used.items():
        spec = criteria.facts.facts[name]
        item = _item(name, spec, needed and name not in enable, criteria, as_of)
        if name in enable:
            item["enableWhen"] = [{"question": enable[name], "operator": "=",
                                   "answerBoolean": True}]
        items.append(item)
    return {
        "resourceType": "Questionnaire",
        "id": ident,
        "url": CANONICAL_BASE + ident,
        "version": f"{pack.id} {pack.header.revision}",
        "name": ident.replace("-", "_").upper(),
        "title": f"{pack.header.title}: facts for a {request_type.replace('_', ' ')} request",
        "status": "active",
        "subjectType": ["Patient"],
        "date": criteria.criteria.since.isoformat(),
        "publisher": "bhpolicy",
        "description": (f"The facts {pack.id} (revision {pack.header.revision}) reads for a "
                        f"{request_type.replace('_', ' ')} request; each linkId is the fact's "
                        "name in the pack's facts.yaml. Partial DTR: no CQL."),
        "item": items,
    }


def all_questionnaires(packs: list[CriteriaPack], as_of: dt.date) -> dict[str, dict[str, Any]]:
    """Every pack's Questionnaire for every request type it has criteria for, by id."""
    out: dict[str, dict[str, Any]] = {}
    for criteria in packs:
        for request_type in criteria.criteria.requests:
            q = build_questionnaire(criteria, request_type, as_of)
            out[q["id"]] = q
    return out
