"""Text, JSON and HTML forms of determinations: a reviewer's worksheet. Formats only."""

from __future__ import annotations

from typing import Any

from bhpolicy.report.environment import render_page, report_environment

# Worksheet marks: [x] met, [ ] not met, [?] unknown (information missing), [J] judgment.
MARKS = {"met": "x", "not_met": " ", "unknown": "?", "needs_judgment": "J"}


def _rows(node: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    rows = [{"depth": depth, "id": node["id"], "section": node["section"],
             "summary": " ".join(node["summary"].split()), "status": node["status"],
             "mark": MARKS[node["status"]], "detail": node.get("detail", ""),
             "label": node["section"] if node["id"] == node["section"]
             else f"{node['section']} ({node['id']})",
             "suffix": f" -- {node['detail']}" if node.get("detail") else ""}]
    for child in node.get("children", []):
        rows += _rows(child, depth + 1)
    return rows


def _view(determination: dict[str, Any]) -> dict[str, Any]:
    return {**determination, "rows": _rows(determination["trace"])}


def render(determinations: list[dict[str, Any]], form: str) -> str:
    """Render determinations (their JSON form) as ``text`` or ``html``."""
    views = [_view(d) for d in determinations]
    if form != "html":
        return report_environment().get_template("determination.txt.j2").render(
            determinations=views)
    # criteria rows are indented by depth with one class a depth, styled in the page's
    # own (hashed) style block: an inline style="" would need 'unsafe-inline'
    depths = sorted({row["depth"] for view in views for row in view["rows"]})
    return render_page(report_environment(), "determination.html.j2", determinations=views,
                       depths=[{"depth": d, "indent": f"{0.4 + 1.2 * d:.1f}"} for d in depths])
