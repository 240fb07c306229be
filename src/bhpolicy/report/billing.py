"""The HTML report of a billing run. Formats the summaries; decides nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bhpolicy.report.environment import render_page, report_environment

if TYPE_CHECKING:
    from bhpolicy.billing.run import BillSummary


def render_billing(data: dict[str, Any]) -> str:
    return render_page(report_environment(), "billing.html.j2", **data)


def run_report(folder: Path, summary: BillSummary) -> str:
    """report.html of a finished billing run's folder (``bill_to_folder``'s ``report``)."""
    from bhpolicy.billing.report_data import report_data

    return render_billing(report_data(folder, summary.rejected_rows))
