"""The HTML report of a billing run. Formats the summaries; decides nothing."""

from __future__ import annotations

from typing import Any

from bhpolicy.report.determination import _environment


def render_billing(data: dict[str, Any]) -> str:
    return _environment(True).get_template("billing.html.j2").render(**data)
