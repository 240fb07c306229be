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

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from bhpolicy.criteria import record
from bhpolicy.criteria.cases import Case
from bhpolicy.criteria.leaf_rules import RULES, LeafResult, Status
from bhpolicy.criteria.loader import CriteriaPack
from bhpolicy.criteria.model import FactsFile, Node, RequestType
from bhpolicy.criteria.record import Outcome

OUTCOME_OF: dict[Status, Outcome] = {
    "met": "meets_criteria", "unknown": "pend", "not_met": "refer", "needs_judgment": "refer"}

# A trace node is a JSON-ready dict, built once: id, section, summary, status, and where they
# apply detail, facts_used, parameters, missing and children.
TraceNode = dict[str, Any]


def _all_of(statuses: list[Status]) -> Status:
    for status in ("not_met", "unknown", "needs_judgment"):
        if status in statuses:
            return cast(Status, status)
    return "met"


def _any_of(statuses: list[Status]) -> Status:
    for status in ("met", "unknown", "needs_judgment"):
        if status in statuses:
            return cast(Status, status)
    return "not_met"


def _at_least(statuses: list[Status], needed: int) -> Status:
    met = statuses.count("met")
    if met >= needed:
        return "met"
    if met + statuses.count("unknown") + statuses.count("needs_judgment") < needed:
        return "not_met"
    return "unknown" if "unknown" in statuses else "needs_judgment"


# A compiled node evaluates a case to (trace node, deciding leaves): the leaves that decide
# an unmet status. For all_of that is every unmet child's; for any_of and at_least only the
# children sharing the node's status (an alternative that is not met does not explain why
# another one needs judgment). Trees are compiled once per pack and request type.
Evaluator = Callable[[Case], tuple[TraceNode, list[TraceNode]]]


def _compile_fact_leaf(node: Node, facts: FactsFile) -> Evaluator:
    """The commonest leaf, a yes/no fact, built without intermediate objects (same output
    as :func:`bhpolicy.criteria.leaf_rules.fact`)."""
    assert node.test is not None
    name, ident, section, summary = node.test.fact, node.id, node.section, node.summary
    label = facts.facts[name].label
    said = {True: f"{label}: yes", False: f"{label}: no"}
    missing = f"missing: {label}"

    def leaf(case: Case) -> tuple[TraceNode, list[TraceNode]]:
        value = case.facts.get(name)
        if value is None:
            out: TraceNode = {"id": ident, "section": section, "summary": summary,
                              "status": "unknown", "detail": missing, "missing": [name]}
            return out, [out]
        out = {"id": ident, "section": section, "summary": summary,
               "status": "met" if value else "not_met", "detail": said[bool(value)],
               "facts_used": {name: value}}
        return out, ([] if value else [out])

    return leaf


def _compile_leaf(node: Node, facts: FactsFile) -> Evaluator:
    assert node.test is not None
    if node.test.kind == "fact":
        return _compile_fact_leaf(node, facts)
    rule, test = RULES[node.test.kind], node.test
    ident, section, summary, question = node.id, node.section, node.summary, node.question

    def leaf(case: Case) -> tuple[TraceNode, list[TraceNode]]:
        found: LeafResult = rule(test, case)
        out: TraceNode = {"id": ident, "section": section, "summary": summary,
                          "status": found.status}
        if found.detail:
            out["detail"] = found.detail
        if found.facts_used:
            out["facts_used"] = found.facts_used
        if found.parameters:
            out["parameters"] = found.parameters
        if found.missing:
            out["missing"] = found.missing
        if found.status == "needs_judgment" and (found.question or question):
            out["question"] = found.question or question
        return out, ([] if found.status == "met" else [out])

    return leaf


def _in_force(node: Node, on: dt.date | None) -> bool:
    return node.since is None or on is None or node.since <= on


def _compile(node: Node, facts: FactsFile, on: dt.date | None = None) -> Evaluator:
    """``on``: the criteria as they stand on that day (a node whose ``since`` is later is
    left out); None for the latest text."""
    if node.test is not None:
        return _compile_leaf(node, facts)
    children = [_compile(child, facts, on) for child in node.children if _in_force(child, on)]
    ident, section, summary, at_least = node.id, node.section, node.summary, node.at_least
    combine_all = node.all_of is not None
    combine = _all_of if combine_all else _any_of

    def branch(case: Case) -> tuple[TraceNode, list[TraceNode]]:
        results = [child(case) for child in children]
        statuses = [trace["status"] for trace, _ in results]
        out: TraceNode = {"id": ident, "section": section, "summary": summary}
        if at_least is None:
            status = combine(statuses)
            out["status"] = status
        else:
            needed = case.criteria.pack.value(at_least, case.request_date).value
            assert isinstance(needed, int)
            status = _at_least(statuses, needed)
            out["status"] = status
            out["parameters"] = {at_least: needed}
        out["children"] = [trace for trace, _ in results]
        if status == "met":
            return out, []
        # Only children whose status could still move this node's count: once all_of is not
        # met, its open (unknown or judgment) children cannot change that, so what they lack
        # is not asked for (three-valued logic; a not-met child stays not met).
        deciding: list[TraceNode] = []
        for trace, leaves in results:
            child = trace["status"]
            if child == status or (combine_all and status != "not_met" and child != "met"):
                deciding += leaves
        return out, deciding

    return branch


@functools.cache
def compiled(criteria: CriteriaPack, request_type: str, on: dt.date | None = None
             ) -> Evaluator:
    """The tree compiled once per pack, request type and text (see :func:`text_date`)."""
    return _compile(criteria.tree(cast(RequestType, request_type)), criteria.facts, on)


def text_date(criteria: CriteriaPack, request_type: str, day: dt.date) -> dt.date:
    """The latest date on or before ``day`` on which the request type's criteria changed
    (a node's ``since``), or the criteria's first day: the key of the text in force."""
    changes = [n.since for n in criteria.tree(cast(RequestType, request_type)).walk()
               if n.since is not None and n.since <= day]
    return max(changes, default=criteria.criteria.since)


def _evaluator(case: Case) -> Evaluator:
    return compiled(case.criteria, case.request_type,
                    text_date(case.criteria, case.request_type, case.request_date))


def evaluate_node(node: Node, case: Case) -> TraceNode:
    """Evaluate ``node`` (and its subtree) for ``case``; returns the trace node."""
    return _compile(node, case.criteria.facts, case.request_date)(case)[0]


def _brief(node: TraceNode) -> dict[str, Any]:
    brief = {"id": node["id"], "section": node["section"], "summary": node["summary"],
             "detail": node.get("detail", "")}
    if "question" in node:
        brief["question"] = node["question"]
    return brief


@dataclass
class Determination:
    case: Case
    outcome: Outcome
    trace: TraceNode
    missing: list[dict[str, Any]]
    not_met: list[dict[str, Any]]
    judgments: list[dict[str, Any]]
    indications_met: list[str]
    rationale: str

    def to_json(self) -> dict[str, Any]:
        case = self.case
        pack = case.criteria.pack
        data: dict[str, Any] = {
            "case_id": case.case_id,
            "member_id": case.member_id,
            "policy_id": pack.id,
            "policy_revision": pack.revision_on(case.request_date),
            "request_type": case.request_type,
            "request_date": case.request_date.isoformat(),
            "determination_date": case.as_of.isoformat(),
            "outcome": self.outcome,
            "rationale": self.rationale,
            "data_conflict": record.conflicts_json(case),
            "not_met": self.not_met,
            "needs_judgment": self.judgments,
            "missing": self.missing,
            "documents_reviewed": record.documents_reviewed(case),
        }
        if case.request_type == "discharge":
            data["discharge_indications_met"] = self.indications_met
        data["reviewer_signature"] = record.reviewer_signature(self.outcome)
        data["trace"] = self.trace
        return data


def _missing(case: Case, leaves: list[TraceNode]) -> list[dict[str, Any]]:
    facts = case.criteria.facts
    by_fact: dict[str, list[str]] = {}
    for leaf in leaves:
        for name in leaf.get("missing", ()):
            sections = by_fact.setdefault(name, [])
            if leaf["section"] not in sections:
                sections.append(leaf["section"])
    return [{"fact": name, "label": facts.facts[name].label, "sections": sections,
             "document": facts.facts[name].document,
             "document_title": facts.documents[facts.facts[name].document]}
            for name, sections in by_fact.items()]


def _tree_facts(node: Node) -> set[str]:
    """Every fact a tree's leaves read."""
    found: set[str] = set()
    for child in node.walk():
        test = child.test
        if test is not None:
            found |= {n for n in (test.fact, test.present_fact, test.start_fact, test.end_fact)
                      if n is not None}
    return found


@functools.cache
def _request_facts(criteria: CriteriaPack, request_type: str) -> frozenset[str]:
    return frozenset(_tree_facts(criteria.tree(cast(RequestType, request_type))))


def _could_conflict(case: Case) -> dict[str, tuple[str, list[str]]]:
    """Unknown facts of the request's criteria whose being true would put the record in
    conflict (facts.yaml: exclusive, diagnosis_supports), and so pend a case that could
    otherwise be decided: each with the section of the rule and the facts it would clash
    with. Only for a record not yet in conflict (one in conflict pends whatever is added).
    """
    facts, spec = case.facts, case.criteria.facts
    used = _request_facts(case.criteria, case.request_type)
    found: dict[str, tuple[str, list[str]]] = {}

    def add(name: str, section: str, others: list[str]) -> None:
        if name in used and name not in facts:
            _, known = found.setdefault(name, (section, []))
            known += [o for o in others if o not in known]

    def partners(name: str) -> set[str]:
        return {o for g in spec.exclusive if name in g.facts for o in g.facts if o != name}

    for group in spec.exclusive:
        for name in group.facts:
            # a partner already true, or one that could be made true without a conflict
            # of its own (no partner of it is known true)
            clash = [o for o in group.facts if o != name and (
                facts.get(o) is True or (o not in facts and o in used and not any(
                    facts.get(p) is True for p in partners(o) - {name})))]
            if clash:
                add(name, group.section, clash)
    for rule in spec.diagnosis_supports:
        code = facts.get(rule.diagnosis)
        outside = code is None or case.criteria.diagnosis_group(code.code) not in rule.groups
        if facts.get(rule.flag) is not False and outside:
            add(rule.flag, rule.section, [rule.diagnosis])
        if facts.get(rule.flag) is not False:
            add(rule.diagnosis, rule.section, [rule.flag])
    return found


def _sure_conflicts(case: Case) -> list[str]:
    """Unknown yes/no facts of the request whose being true would make a conflict with what
    the record already says (a partner known true, a diagnosis known outside the flag's
    groups)."""
    facts, spec = case.facts, case.criteria.facts
    used = _request_facts(case.criteria, case.request_type)
    sure = [name for group in spec.exclusive for name in group.facts
            if any(facts.get(o) is True for o in group.facts if o != name)]
    for rule in spec.diagnosis_supports:
        code = facts.get(rule.diagnosis)
        if code is not None and case.criteria.diagnosis_group(code.code) not in rule.groups:
            sure.append(rule.flag)
    return [n for n in dict.fromkeys(sure) if n in used and n not in facts]


def _with_conflict_risks(case: Case, missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The missing list plus the facts that could create a conflict (issue 15 items 5 and
    8): such a fact changes the outcome (true pends the case), so a reviewer needs it."""
    facts = case.criteria.facts
    by_fact = {m["fact"]: m for m in missing}
    for name, (section, others) in _could_conflict(case).items():
        entry = by_fact.get(name)
        if entry is None:
            entry = {"fact": name, "label": facts.facts[name].label, "sections": [],
                     "document": facts.facts[name].document,
                     "document_title": facts.documents[facts.facts[name].document]}
            by_fact[name] = entry
            missing = [*missing, entry]
        if section not in entry["sections"]:
            entry["sections"].append(section)
        entry["would_conflict_with"] = [{"fact": o, "label": facts.facts[o].label}
                                        for o in others]
    return missing


def _mark_conflicts(node: TraceNode, conflicted: dict[str, str]) -> None:
    """Leaves that went unknown because their facts conflict say so, and ask for nothing:
    the record holds the facts; a reviewer must resolve which is right."""
    for child in node.get("children", ()):
        _mark_conflicts(child, conflicted)
    names = [n for n in node.get("missing", ()) if n in conflicted]
    if not names:
        return
    rest = [n for n in node["missing"] if n not in conflicted]
    node["conflict"] = names
    node["detail"] = ("in conflict in the record: " + "; ".join(conflicted[n] for n in names)
                      + " (see data_conflict)")
    if rest:
        node["missing"] = rest
    else:
        del node["missing"]


def _not_held(case: Case) -> Determination:
    """A request dated where the pack does not hold the criteria text in force (an early
    revision): referred with the reviewer's question, never decided here."""
    held = case.criteria.criteria
    assert held.not_held is not None and held.held_from is not None
    gap = held.not_held
    tree = case.criteria.tree(case.request_type)
    detail = (f"criteria of revision {gap.revision} in force on the request date; the pack "
              f"holds the text from {held.held_from}: {' '.join(gap.summary.split())}")
    trace: TraceNode = {"id": tree.id, "section": tree.section, "summary": tree.summary,
                        "status": "needs_judgment", "detail": detail,
                        "question": " ".join(gap.question.split())}
    judgment = {"id": tree.id, "section": f"{tree.section}; {gap.section}",
                "summary": tree.summary, "detail": detail, "question": trace["question"]}
    rationale = (f"The request is dated under revision {gap.revision}, whose criteria of "
                 f"{tree.section} the pack does not hold ({gap.section}); a clinical reviewer "
                 "applies them. Refer to a clinical reviewer; the engine does not deny.")
    return Determination(case, "refer", trace, [], [], [judgment], [], rationale)


def determine(case: Case) -> Determination:
    """Evaluate ``case`` and explain the outcome, citing each section. A case whose facts
    contradict each other is evaluated without them and pends: never an approval. A
    request dated where the pack does not hold the criteria text is referred."""
    if not case.criteria.criteria.held_on(case.request_date):
        return _not_held(case)
    conflicted = {name: case.criteria.facts.facts[name].label
                  for conflict in case.conflicts for name in conflict.facts}
    evaluated = (replace(case, facts={k: v for k, v in case.facts.items()
                                      if k not in conflicted}) if conflicted else case)
    trace, deciding = _evaluator(case)(evaluated)
    if conflicted:
        _mark_conflicts(trace, conflicted)
    outcome = "pend" if conflicted else OUTCOME_OF[trace["status"]]
    not_met = [_brief(leaf) for leaf in deciding if leaf["status"] == "not_met"]
    judgments = [_brief(leaf) for leaf in deciding if leaf["status"] == "needs_judgment"]
    asking = deciding
    if not conflicted:
        # a fact whose being true must put the record in conflict pends the case when true,
        # whatever else holds: the other facts matter only with it false
        sure = _sure_conflicts(case)
        if sure:
            _, asking = _evaluator(case)(
                replace(case, facts={**case.facts, **dict.fromkeys(sure, False)}))
    missing = _missing(case, [leaf for leaf in asking if leaf["status"] == "unknown"])
    if not conflicted:
        missing = _with_conflict_risks(case, missing)
    indications = ([c["section"] for c in trace["children"] if c["status"] == "met"]
                   if case.request_type == "discharge" else [])
    rationale = record.rationale(case, outcome, trace["section"], not_met, judgments,
                                 missing, indications)
    return Determination(case, outcome, trace, missing, not_met, judgments, indications,
                         rationale)
