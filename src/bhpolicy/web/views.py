"""Shapes a page needs from the services' answers: formatting only, no decision."""

from __future__ import annotations

from typing import Any

# Worksheet marks, as in the text worksheet of ``bhpolicy check``.
MARKS = {"met": "met", "not_met": "not met", "unknown": "unknown (information missing)",
         "needs_judgment": "needs the reviewer's judgment"}


def trace_rows(node: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """A determination's trace as rows, parents before children, each with its depth."""
    status = str(node.get("status", ""))
    rows = [{"depth": min(depth, 8), "id": node.get("id", ""), "section": node.get("section", ""),
             "summary": " ".join(str(node.get("summary", "")).split()), "status": status,
             "status_text": MARKS.get(status, status.replace("_", " ")),
             "detail": node.get("detail", "")}]
    for child in node.get("children", []) or []:
        rows += trace_rows(child, depth + 1)
    return rows


def decision_sections(determination: dict[str, Any]) -> list[dict[str, str]]:
    """Sections a reviewer would cite: the deciding not-met and judgment leaves first, then
    every other section of the trace, each once."""
    seen: set[str] = set()
    sections: list[dict[str, str]] = []

    def add(section: Any, summary: Any, why: str) -> None:
        if isinstance(section, str) and section and section not in seen:
            seen.add(section)
            sections.append({"section": section, "summary": " ".join(str(summary).split()),
                             "why": why})

    for leaf in determination.get("not_met", []) or []:
        add(leaf.get("section"), leaf.get("summary", ""), "not met")
    for leaf in determination.get("needs_judgment", []) or []:
        add(leaf.get("section"), leaf.get("summary", ""), "needs judgment")
    trace = determination.get("trace")
    if isinstance(trace, dict):
        for row in trace_rows(trace):
            add(row["section"], row["summary"], "")
    return sections


def split_list(text: str) -> list[str]:
    """``"U1, HK"`` or ``"U1 HK"`` -> ``["U1", "HK"]``."""
    return [part for part in text.replace(",", " ").split() if part]
