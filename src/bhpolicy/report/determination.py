"""Text, JSON and HTML forms of determinations: a reviewer's worksheet. Formats only."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# Worksheet marks: [x] met, [ ] not met, [?] unknown (information missing), [J] judgment.
MARKS = {"met": "x", "not_met": " ", "unknown": "?", "needs_judgment": "J"}


@functools.cache
def _environment(html: bool) -> Environment:
    return Environment(
        loader=PackageLoader("bhpolicy", "report/templates"),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


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
    template = "determination.html.j2" if form == "html" else "determination.txt.j2"
    views = [_view(d) for d in determinations]
    return _environment(form == "html").get_template(template).render(determinations=views)
