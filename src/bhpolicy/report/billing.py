"""The HTML report of a billing run. Formats the summaries; decides nothing."""

from __future__ import annotations

from typing import Any

from bhpolicy.report.environment import render_page, report_environment


def render_billing(data: dict[str, Any]) -> str:
    return render_page(report_environment(), "billing.html.j2", **data)
