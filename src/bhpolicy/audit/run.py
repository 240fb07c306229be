"""Run the audit on input files and write findings, a summary and the errors file.

Same engine settings as billing (memory limit, spill directory, no insertion order), and
results go from DuckDB straight to files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from bhpolicy.audit import engine
from bhpolicy.audit.tables import (
    act_code_table,
    category_table,
    crosswalk_table,
    lookup_table,
    match_table,
    number_table,
    per_diem_rule_table,
    revision_table,
    rule_table,
)
from bhpolicy.billing import engine as billing
from bhpolicy.billing.params import parameter_table, reason_table
from bhpolicy.billing.run import (
    BillSettings,
    _policy_keys,
    connect,
    duckdb_failures,
    empty_billed,
    rows_read,
    store,
)
from bhpolicy.io.outputs import (
    csv_ready,
    describe_input,
    run_to_folder,
)
from bhpolicy.io.readers import (
    AUTHORIZATIONS,
    CLAIMS,
    CONTACTS,
    MEMBERS,
    Check,
    read_validated,
)
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry


@dataclass
class AuditInputs:
    claims: Path
    members: Path
    authorizations: Path
    contacts: Path | None = None
    act_claims: Path | None = None


@dataclass
class AuditSummary:
    out: Path
    findings: int = 0
    amount_at_stake: str = "0.00"
    rejected_rows: int = 0
    by_rule: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    policies: list[dict[str, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows read per input (manifest)


def audit_to_folder(inputs: AuditInputs, settings: BillSettings, registry: PolicyRegistry,
                    step: Callable[[str], None] = lambda _: None,
                    report: Callable[[Path, AuditSummary], str] | None = None
                    ) -> AuditSummary:
    """Audit into a staging folder beside ``settings.out`` (with ``report(folder, summary)``
    as report.html), write the manifest last and swap the folder into place."""
    return run_to_folder(
        settings.out, "audit",
        lambda staging: run_audit(inputs, replace(settings, out=staging), registry, step),
        lambda summary: {
            "as_of": settings.as_of.isoformat(), "policies": summary.policies,
            "inputs": {"claims": describe_input(inputs.claims),
                       "members": describe_input(inputs.members),
                       "authorizations": describe_input(inputs.authorizations),
                       "contacts": describe_input(inputs.contacts),
                       "act_claims": describe_input(inputs.act_claims)},
            "counts": {"findings": summary.findings, "rejected_rows": summary.rejected_rows},
            "rows": summary.rows},
        report, step)


def run_audit(inputs: AuditInputs, settings: BillSettings, registry: PolicyRegistry,
              step: Callable[[str], None] = lambda _: None) -> AuditSummary:
    """Run the audit; a DuckDB failure becomes one line naming the stage."""
    with duckdb_failures(settings, step) as tracked:
        return _run(inputs, settings, registry, tracked)


def _claims(con: ibis.BaseBackend, path: Path, name: str, known: ir.Table, as_of: dt.date
            ) -> tuple[ir.Table, list[ir.Table]]:
    """Claim lines, checked in one pass: fields, then the span, then the member."""
    def extra(t: ir.Table) -> tuple[ir.Table, list[Check]]:
        t = t.left_join(known, t.__typed_member_id == known.known_member)
        return t, [(t.__typed_to_date < t.__typed_from_date, "to_date", "before from_date"),
                   (t.known_member.isnull(), "member_id",
                    "unknown member (not in the members file)")]

    claims, errors = read_validated(con, path, name, CLAIMS, materialize=False, extra=extra,
                                    as_of=as_of)
    return claims, [errors]


def _run(inputs: AuditInputs, settings: BillSettings, registry: PolicyRegistry,
         step: Callable[[str], None]) -> AuditSummary:
    con = connect(settings)  # the audit stores only small tables (coverage, episodes)
    step("reading inputs")
    as_of = settings.as_of
    members, member_errors = read_validated(con, inputs.members, "members", MEMBERS,
                                            as_of=as_of)
    auths, auth_errors = read_validated(con, inputs.authorizations, "authorizations",
                                        AUTHORIZATIONS, as_of=as_of)
    known = members.select(known_member=members.member_id).distinct()
    claims, claim_errors = _claims(con, inputs.claims, "claims", known, as_of)
    errors: list[ir.Table] = [member_errors, auth_errors, *claim_errors]

    step("building ACT episodes")
    coverage, member_policy, coverage_errors = billing.prepare_authorizations(
        auths, _policy_keys(registry))
    errors.append(coverage_errors)
    coverage = store(con, "coverage", coverage)
    eps = store(con, "episodes", engine.episodes(coverage))

    packs = list(registry.packs)
    summary = AuditSummary(settings.out, policies=[
        {"id": p.id, "alias": p.alias, "revision": p.header.revision} for p in packs])
    categories = category_table(packs)
    matches = match_table(packs)
    lookup = lookup_table(packs)
    numbers = number_table(packs)
    reasons = reason_table(packs)
    revisions = revision_table(packs)

    step("checking concurrent services")
    evaluated = engine.concurrent(claims, eps, lookup, matches, categories, numbers)
    # streamed once into the findings file; only the (few) inpatient stays are kept
    findings = [engine.concurrent_findings(evaluated, reasons, revisions)]

    if inputs.act_claims is not None:
        step("auditing ACT per diems")
        act, act_errors = _claims(con, inputs.act_claims, "act_claims", known, as_of)
        errors += act_errors
        qualifying = None
        if inputs.contacts is not None:
            qualifying = _qualifying_days(con, inputs.contacts, coverage, member_policy,
                                          registry, errors, as_of)
        per_diem_rules = per_diem_rule_table(packs)
        per_day = engine.per_diem(act, eps, coverage, act_code_table(packs), numbers,
                                  qualifying, store(con, "inpatient_days",
                                                    engine.inpatient_days(evaluated)),
                                  per_diem_rules, _episode_parameters(con, eps, packs, as_of))
        findings.append(engine.per_diem_findings(per_day, per_diem_rules, reasons, revisions))

    step("writing findings")
    all_findings = ibis.union(*findings)
    settings.out.mkdir(parents=True, exist_ok=True)
    rules, walk = rule_table(packs), crosswalk_table(packs)
    for form in settings.formats:
        for name, table in (("rules", rules), ("crosswalk", walk)):
            path = settings.out / f"{name}.{form}"
            if form == "parquet":
                con.to_parquet(table, path)
            else:
                con.to_csv(csv_ready(table), path)
            summary.files.append(path)
        path = settings.out / f"findings.{form}"
        if form == "parquet":  # for machines: ids and codes; texts are in rules/crosswalk
            con.to_parquet(all_findings, path)
        else:  # for people: with the rule's label, reason and action, and the code source
            con.to_csv(csv_ready(readable(all_findings, rules, walk)).order_by(
                ["member_id", "flagged_from", "claim_id", "rule_id"]), path)
        summary.files.append(path)
    error_table = ibis.union(*[e.select("file", "row", "field", "reason", "value",
                                        "provider_id")
                               for e in errors]).order_by(["file", "row"])
    error_path = settings.out / "errors.csv"
    con.to_csv(csv_ready(error_table), error_path)
    summary.files.append(error_path)

    step("summarizing")
    written = (con.read_parquet(settings.out / "findings.parquet")
               if "parquet" in settings.formats else all_findings)
    by_rule = written.group_by(["policy_id", "rule_id", "severity", "carc_group", "carc"]
                               ).aggregate(findings=written.count(),
                                           amount_at_stake=written.amount_at_stake.sum())
    rows = con.to_pyarrow(by_rule.order_by(["policy_id", "rule_id"])).to_pylist()
    summary.by_rule = [{**r, "amount_at_stake": f"{r['amount_at_stake']:.2f}"} for r in rows]
    summary.findings = sum(int(r["findings"]) for r in rows)
    total = sum((r["amount_at_stake"] for r in rows), start=Decimal("0.00"))
    summary.amount_at_stake = f"{total:.2f}"
    summary.rejected_rows = int(con.to_pyarrow(error_table.count().as_table()).column(0)[0]
                                .as_py())
    summary.rows = rows_read(con, ["claims", "members", "authorizations"] +
                             (["contacts"] if inputs.contacts and inputs.act_claims else []) +
                             (["act_claims"] if inputs.act_claims else []))
    con.disconnect()
    return summary


def readable(findings: ir.Table, rules: ir.Table, walk: ir.Table) -> ir.Table:
    """Findings with the texts a person reads beside them."""
    r = rules.select(r_policy=rules.policy_id, r_rule=rules.rule_id,
                     category_label=rules.category_label, reason=rules.reason,
                     action=rules.action)
    w = walk.select(w_policy=walk.policy_id, w_row=walk.crosswalk_row,
                    crosswalk_source=walk.source)
    # view(): a select over a join is still a join chain in Ibis; joining it again would
    # extend that chain instead of joining its result
    out = findings.view().left_join(r, [("policy_id", "r_policy"), ("rule_id", "r_rule")])
    out = out.left_join(w, [("policy_id", "w_policy"), ("crosswalk_row", "w_row")])
    return out.drop("r_policy", "r_rule", "w_policy", "w_row")


def _episode_parameters(con: ibis.BaseBackend, eps: ir.Table, packs: list[PolicyPack],
                        as_of: dt.date) -> ir.Table:
    """Billing's parameter table over the episodes' days (up to the as-of date): the per
    diem audit reads the same holds as billing from it."""
    span = con.to_pyarrow(eps.aggregate(first=eps.episode_start.min(),
                                        last=eps.episode_end.max())).to_pylist()[0]
    first: dt.date = span["first"] or as_of
    last: dt.date = min(span["last"] or first, as_of)
    return store(con, "episode_parameters", parameter_table(packs, first, max(first, last)))


def _qualifying_days(con: ibis.BaseBackend, path: Path, coverage: ir.Table,
                     member_policy: ir.Table, registry: PolicyRegistry,
                     errors: list[ir.Table], as_of: dt.date) -> ir.Table:
    """Grain: member-day in the contact log, with ``qualifying`` from the billing rules."""
    contacts, contact_errors = read_validated(con, path, "contacts", CONTACTS, as_of=as_of)
    errors.append(contact_errors)
    span = contacts.aggregate(first=contacts.contact_date.min(),
                              last=contacts.contact_date.max())
    row = con.to_pyarrow(span).to_pylist()[0]
    first: dt.date = row["first"] or as_of
    last: dt.date = row["last"] or first
    used = [registry.get(p) for p in
            sorted(str(v) for v in con.to_pyarrow(coverage.select("policy_id").distinct())
                   .column("policy_id").to_pylist())] or list(registry.packs)
    params = parameter_table(used, first, last)
    params = store(con, "parameters", params)

    def qualify(checked: ir.Table) -> ir.Table:
        q = billing.qualify_contacts(checked, coverage, member_policy, params)
        return q.filter(q.not_in_force.isnull())

    _, days, _ = billing.bill_days(contacts, qualify, coverage, params, empty_billed(),
                                lambda name, table: store(con, f"contacts_{name}", table))
    return days.select("member_id", "contact_date", "qualifying")
