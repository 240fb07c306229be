"""Evaluate a case against its criteria tree and turn the result into a determination.

Combining three-valued results (plus "needs judgment"):

* all_of: not met if any child is not met; else unknown if any is unknown; else needs
  judgment if any does; else met.
* any_of: met if any child is met; else unknown if any is unknown; else needs judgment if any
  does; else not met.
* at_least N: met with N met children; not met when even the open ones could not reach N;
  otherwise unknown if any child is unknown, else needs judgment.

Each combiner is monotone: a fact that turns unknown into met never lowers a result.

Outcomes: met -> ``meets_criteria``; unknown -> ``pend`` (the missing facts are listed with the
document that supplies them); not met or needs judgment -> ``refer`` to a clinical reviewer,
since an adverse decision must be made by a person with clinical expertise (42 CFR
438.210(b)(3)). The engine never denies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bhpolicy.criteria.cases import Case
from bhpolicy.criteria.leaf_rules import RULES, LeafResult, Status
from bhpolicy.criteria.model import Node

Outcome = Literal["meets_criteria", "refer", "pend"]
OUTCOME_OF: dict[Status, Outcome] = {
    "met": "meets_criteria", "unknown": "pend", "not_met": "refer", "needs_judgment": "refer"}


@dataclass
class NodeResult:
    id: str
    section: str
    summary: str
    status: Status
    detail: str = ""
    facts_used: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    children: list[NodeResult] = field(default_factory=list)
    combiner: Literal["leaf", "all", "any", "at_least"] = "leaf"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "section": self.section, "summary": self.summary,
                                "status": self.status}
        if self.detail:
            data["detail"] = self.detail
        if self.facts_used:
            data["facts_used"] = self.facts_used
        if self.parameters:
            data["parameters"] = self.parameters
        if self.missing:
            data["missing"] = self.missing
        if self.children:
            data["children"] = [c.to_json() for c in self.children]
        return data


def _all_of(statuses: list[Status]) -> Status:
    for status in ("not_met", "unknown", "needs_judgment"):
        if status in statuses:
            return status
    return "met"


def _any_of(statuses: list[Status]) -> Status:
    for status in ("met", "unknown", "needs_judgment"):
        if status in statuses:
            return status
    return "not_met"


def _at_least(statuses: list[Status], needed: int) -> Status:
    met = statuses.count("met")
    if met >= needed:
        return "met"
    if met + statuses.count("unknown") + statuses.count("needs_judgment") < needed:
        return "not_met"
    return "unknown" if "unknown" in statuses else "needs_judgment"


def evaluate_node(node: Node, case: Case) -> NodeResult:
    if node.test is not None:
        leaf: LeafResult = RULES[node.test.kind](node.test, case)
        return NodeResult(node.id, node.section, node.summary, leaf.status, leaf.detail,
                          leaf.facts_used, leaf.parameters, leaf.missing)
    children = [evaluate_node(child, case) for child in node.children]
    statuses = [c.status for c in children]
    parameters: dict[str, Any] = {}
    combiner: Literal["all", "any", "at_least"]
    if node.all_of is not None:
        status, combiner = _all_of(statuses), "all"
    elif node.any_of is not None:
        status, combiner = _any_of(statuses), "any"
    else:
        combiner = "at_least"
        assert node.at_least is not None
        needed = case.criteria.pack.value(node.at_least, case.request_date).value
        assert isinstance(needed, int)
        parameters[node.at_least] = needed
        status = _at_least(statuses, needed)
    return NodeResult(node.id, node.section, node.summary, status, parameters=parameters,
                      children=children, combiner=combiner)


def _deciding_leaves(result: NodeResult) -> list[NodeResult]:
    """The leaves that decide a node's (unmet) status: for all_of every unmet child; for
    any_of and at_least only the children that share the node's status (an alternative that
    is not met does not explain why another alternative needs judgment)."""
    if result.status == "met":
        return []
    if not result.children:
        return [result]
    if result.combiner == "all":
        deciding = [c for c in result.children if c.status != "met"]
    else:
        deciding = [c for c in result.children if c.status == result.status]
    found: list[NodeResult] = []
    for child in deciding:
        found += _deciding_leaves(child)
    return found


@dataclass
class Determination:
    case: Case
    outcome: Outcome
    trace: NodeResult
    missing: list[dict[str, Any]]
    not_met: list[NodeResult]
    judgments: list[NodeResult]
    indications_met: list[str]
    rationale: str

    def to_json(self) -> dict[str, Any]:
        pack = self.case.criteria.pack
        data: dict[str, Any] = {
            "case_id": self.case.case_id,
            "policy_id": pack.id,
            "policy_revision": pack.header.revision,
            "request_type": self.case.request_type,
            "request_date": self.case.request_date.isoformat(),
            "outcome": self.outcome,
            "rationale": self.rationale,
            "not_met": [{"id": n.id, "section": n.section, "summary": n.summary,
                         "detail": n.detail} for n in self.not_met],
            "needs_judgment": [{"id": n.id, "section": n.section, "summary": n.summary,
                                "detail": n.detail} for n in self.judgments],
            "missing": self.missing,
        }
        if self.case.request_type == "discharge":
            data["discharge_indications_met"] = self.indications_met
        data["trace"] = self.trace.to_json()
        return data


def _missing(case: Case, leaves: list[NodeResult]) -> list[dict[str, Any]]:
    facts = case.criteria.facts
    by_fact: dict[str, list[str]] = {}
    for leaf in leaves:
        for name in leaf.missing:
            sections = by_fact.setdefault(name, [])
            if leaf.section not in sections:
                sections.append(leaf.section)
    return [{"fact": name, "sections": sections,
             "document": facts.facts[name].document,
             "document_title": facts.documents[facts.facts[name].document]}
            for name, sections in by_fact.items()]


def _rationale(case: Case, outcome: Outcome, trace: NodeResult, not_met: list[NodeResult],
               judgments: list[NodeResult], missing: list[dict[str, Any]],
               indications: list[str]) -> str:
    if case.request_type == "discharge":
        if indications:
            return (f"A discharge indication is met ({', '.join(indications)}); transition or "
                    f"discharge may be appropriate under {trace.section}.")
        lead = "No discharge indication of " + trace.section + " is shown yet"
    elif outcome == "meets_criteria":
        return f"Every criterion of {trace.section} is met; the request meets criteria."
    else:
        lead = f"The criteria of {trace.section} are not all shown to be met"
    parts: list[str] = []
    if not_met:
        parts.append("not met: " + ", ".join(dict.fromkeys(n.section for n in not_met)))
    if judgments:
        parts.append("a clinical reviewer must judge: " +
                     ", ".join(dict.fromkeys(n.section for n in judgments)))
    if missing:
        documents = dict.fromkeys(m["document_title"] for m in missing)
        parts.append("information missing; ask for: " + "; ".join(documents))
    action = {"pend": "Pend for the missing information.",
              "refer": "Refer to a clinical reviewer; the engine does not deny.",
              "meets_criteria": ""}[outcome]
    return f"{lead} ({'; '.join(parts)}). {action}".strip()


def determine(case: Case) -> Determination:
    """Evaluate ``case`` and explain the outcome, citing each section."""
    trace = evaluate_node(case.criteria.tree(case.request_type), case)
    outcome = OUTCOME_OF[trace.status]
    deciding = _deciding_leaves(trace)
    not_met = [leaf for leaf in deciding if leaf.status == "not_met"]
    judgments = [leaf for leaf in deciding if leaf.status == "needs_judgment"]
    missing = _missing(case, [leaf for leaf in deciding if leaf.status == "unknown"])
    indications = ([c.section for c in trace.children if c.status == "met"]
                   if case.request_type == "discharge" else [])
    rationale = _rationale(case, outcome, trace, not_met, judgments, missing, indications)
    return Determination(case, outcome, trace, missing, not_met, judgments, indications,
                         rationale)
