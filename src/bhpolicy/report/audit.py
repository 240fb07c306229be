"""The HTML report of an audit run: totals by rule and the findings a reviewer works through.
Formats what the run wrote; decides nothing. At most ``limit`` findings are listed (largest
amount first); the findings file has them all."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from bhpolicy.report.environment import render_page, report_environment

if TYPE_CHECKING:
    from bhpolicy.audit.run import AuditSummary


def audit_data(out: Path, summary: AuditSummary, limit: int = 500) -> dict[str, Any]:
    con = duckdb.connect()
    path = str(out / "findings.parquet").replace("'", "''")
    rules = str(out / "rules.parquet").replace("'", "''")
    rows = con.sql(
        f"SELECT f.*, r.category_label, r.action FROM read_parquet('{path}') f "
        f"LEFT JOIN read_parquet('{rules}') r USING (policy_id, rule_id) "
        f"ORDER BY amount_at_stake DESC, member_id, flagged_from, claim_id, rule_id "
        f"LIMIT {int(limit)}").to_arrow_table().to_pylist()
    unverified = con.sql(
        f"SELECT count(*) FROM read_parquet('{path}') WHERE crosswalk_verified = false"
    ).fetchall()[0]
    con.close()
    return {"summary": summary, "findings": rows, "limit": limit,
            "unverified": int(unverified[0]) if unverified else 0}


def render_audit(out: Path, summary: AuditSummary) -> str:
    return render_page(report_environment(), "audit.html.j2", **audit_data(out, summary))
