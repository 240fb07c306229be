"""Run the audit on small hand-written inputs and read its findings back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bhpolicy.audit.run import AuditInputs, AuditSummary, audit_to_folder
from bhpolicy.domain.runs import RunSettings
from bhpolicy.policy import load_registry
from tests.billing_helpers import AUTH_FIELDS, CONTACT_FIELDS, MEMBER_FIELDS, write_csv
from tests.support.dates import AS_OF

CLAIM_FIELDS = ["claim_id", "member_id", "from_date", "to_date", "hcpcs", "modifiers",
                "revenue_code", "bill_type", "provider_id", "pos", "units", "paid_amount",
                "authorization_id", "rendering_taxonomy", "diagnosis"]


def claim(claim_id: str, member_id: str, start: str, end: str | None = None,
          hcpcs: str = "", provider_id: str = "1003000126", paid: str = "100.00",
          **fields: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "member_id": member_id, "from_date": start,
            "to_date": end or start, "hcpcs": hcpcs, "provider_id": provider_id,
            "paid_amount": paid, "units": "1", **fields}


@dataclass
class Audited:
    out: Path
    summary: AuditSummary
    findings: list[dict[str, Any]]
    errors: list[dict[str, Any]]

    def of(self, claim_id: str) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["claim_id"] == claim_id]

    def one(self, claim_id: str) -> dict[str, Any]:
        found = self.of(claim_id)
        assert len(found) == 1, (claim_id, found)
        return found[0]


def run(tmp: Path, members: list[dict[str, Any]], auths: list[dict[str, Any]],
        claims: list[dict[str, Any]], act: list[dict[str, Any]] | None = None,
        contacts: list[dict[str, Any]] | None = None) -> Audited:
    tmp.mkdir(parents=True, exist_ok=True)
    inputs = AuditInputs(
        claims=write_csv(tmp / "claims.csv", CLAIM_FIELDS, claims),
        members=write_csv(tmp / "members.csv", MEMBER_FIELDS, members),
        authorizations=write_csv(tmp / "auths.csv", AUTH_FIELDS, auths),
        contacts=write_csv(tmp / "contacts.csv", CONTACT_FIELDS, contacts)
        if contacts is not None else None,
        act_claims=write_csv(tmp / "act.csv", CLAIM_FIELDS, act) if act is not None else None)
    out = tmp / "out"
    summary = audit_to_folder(inputs, RunSettings(out=out, formats=("parquet", "csv"),
                                                  as_of=AS_OF), load_registry())
    con = duckdb.connect()
    findings = con.sql(
        f"SELECT f.*, r.category_label, r.action FROM read_parquet('{out / 'findings.parquet'}')"
        f" f LEFT JOIN read_parquet('{out / 'rules.parquet'}') r USING (policy_id, rule_id) "
        "ORDER BY claim_id, flagged_from").to_arrow_table().to_pylist()
    errors = con.sql(f"SELECT * FROM read_csv('{out / 'errors.csv'}', all_varchar=true)"
                     ).to_arrow_table().to_pylist()
    con.close()
    return Audited(out, summary, findings, errors)
