"""What a reviewer's record of a determination carries besides the trace: the rationale in
the criteria's citations, the documents the facts came from, the facts in conflict, and the
signature block a person completes on every referral and pend."""

from __future__ import annotations

from typing import Any, Literal

from bhpolicy.criteria.cases import Case

Outcome = Literal["meets_criteria", "refer", "pend"]

# An adverse decision is a person's with clinical expertise (42 CFR 438.210(b)(3)); a pend is
# closed by a person too. Neither is ever signed by the engine.
SIGNATURE_REASON = {
    "refer": "Refer: a clinical reviewer decides; the engine does not deny "
             "(42 CFR 438.210(b)(3)).",
    "pend": "Pend: a reviewer records what was asked for, what came back, and the decision.",
}
SIGNATURE_FIELDS = ("reviewer_name", "credentials", "decision", "decision_date", "signature")


def conflicts_json(case: Case) -> list[dict[str, Any]]:
    facts = case.criteria.facts.facts
    return [{"facts": list(c.facts), "labels": [facts[name].label for name in c.facts],
             "section": c.section, "reason": c.reason} for c in case.conflicts]


def documents_reviewed(case: Case) -> list[dict[str, Any]]:
    """Each document that supplied a fact of the case (in the pack's order of documents),
    with the facts it supplied."""
    facts, titles = case.criteria.facts.facts, case.criteria.facts.documents
    by_document: dict[str, list[str]] = {}
    for name in facts:
        if name in case.facts:
            by_document.setdefault(facts[name].document, []).append(name)
    return [{"document": document, "title": titles[document],
             "facts": [{"fact": name, "label": facts[name].label}
                       for name in by_document[document]]}
            for document in titles if document in by_document]


def reviewer_signature(outcome: Outcome) -> dict[str, Any] | None:
    """The block a reviewer fills in (blank here), on refer and pend only."""
    if outcome == "meets_criteria":
        return None
    return {"reason": SIGNATURE_REASON[outcome], **{name: None for name in SIGNATURE_FIELDS}}


def rationale(case: Case, outcome: Outcome, section: str, not_met: list[dict[str, Any]],
              judgments: list[dict[str, Any]], missing: list[dict[str, Any]],
              indications: list[str]) -> str:
    """One paragraph naming each deciding criterion by its citation."""
    conflicted = bool(case.conflicts)
    if case.request_type == "discharge" and indications and not conflicted:
        return (f"A discharge indication is met ({', '.join(indications)}); transition or "
                f"discharge may be appropriate under {section}.")
    if case.request_type == "discharge":
        lead = "No discharge indication of " + section + " is shown yet"
    elif outcome == "meets_criteria":
        return f"Every criterion of {section} is met; the request meets criteria."
    else:
        lead = f"The criteria of {section} are not all shown to be met"
    parts: list[str] = []
    if conflicted:
        parts.append("the record contradicts itself: " + "; ".join(
            f"{c.section} ({' and '.join(case.criteria.facts.facts[n].label for n in c.facts)})"
            for c in case.conflicts))
    if indications:
        parts.append("indications met apart from the facts in conflict: " +
                     ", ".join(indications))
    if not_met:
        parts.append("not met: " + ", ".join(dict.fromkeys(n["section"] for n in not_met)))
    if judgments:
        parts.append("a clinical reviewer must judge: " +
                     ", ".join(dict.fromkeys(n["section"] for n in judgments)))
    if missing:
        documents = dict.fromkeys(m["document_title"] for m in missing)
        parts.append("information missing; ask for: " + "; ".join(documents))
    action = {"pend": ("Pend until a reviewer resolves the conflicting facts."
                       if conflicted else "Pend for the missing information."),
              "refer": "Refer to a clinical reviewer; the engine does not deny.",
              "meets_criteria": ""}[outcome]
    return f"{lead} ({'; '.join(parts)}). {action}".strip()
