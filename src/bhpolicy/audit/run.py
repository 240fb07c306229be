"""Run the audit on input files and write findings, a summary and the errors file.

Same engine settings as billing (memory limit, spill directory, no insertion order), and
results go from DuckDB straight to files.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from bhpolicy.audit import engine, per_diem
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
from bhpolicy.domain.contacts import qualifying_days
from bhpolicy.domain.coverage import (
    episodes,
    member_policies,
    policy_keys,
    prepare_authorizations,
)
from bhpolicy.domain.parameters import parameter_table
from bhpolicy.domain.reasons import reason_table
from bhpolicy.domain.runs import (
    RunSettings,
    connect,
    engine_failures,
    open_spark,
    rows_read,
    store,
)
from bhpolicy.io.columns import AUTHORIZATIONS, CLAIMS, CONTACTS, MEMBERS, Column
from bhpolicy.io.outputs import (
    csv_ready,
    csv_records,
    describe_input,
    run_to_folder,
)
from bhpolicy.io.readers import read_validated
from bhpolicy.io.validate import Check, ExtraChecks, validate
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry

if TYPE_CHECKING:
    from bhpolicy.domain.spark import SparkRun


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


def audit_to_folder(inputs: AuditInputs, settings: RunSettings, registry: PolicyRegistry,
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


def run_audit(inputs: AuditInputs, settings: RunSettings, registry: PolicyRegistry,
              step: Callable[[str], None] = lambda _: None) -> AuditSummary:
    """Run the audit; an engine failure becomes one line naming the stage."""
    with engine_failures(settings, step) as tracked:
        if settings.engine.engine == "spark":
            run = _SparkAudit(open_spark(settings))
            try:
                return _run(inputs, settings, registry, tracked, run)
            finally:
                run.spark.close()
        return _run(inputs, settings, registry, tracked, _DuckAudit(connect(settings)))


class _DuckAudit:
    """The audit's reads, stored tables and writes on DuckDB (the audit stores only small
    tables: coverage, episodes)."""

    def __init__(self, con: ibis.BaseBackend) -> None:
        self.con = con

    def read(self, path: Path, name: str, columns: tuple[Column, ...],
             materialize: bool = True, extra: ExtraChecks | None = None,
             as_of: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
        return read_validated(self.con, path, name, columns, materialize=materialize,
                              extra=extra, as_of=as_of)

    def store(self, name: str, table: ir.Table) -> ir.Table:
        return store(self.con, name, table)

    def write(self, table: ir.Table, path: Path, form: str, order: list[str] | None = None
              ) -> None:
        if form == "parquet":
            self.con.to_parquet(table, path)
        else:
            self.con.to_csv(table.order_by(order) if order else table, path)

    def read_parquet(self, path: Path) -> ir.Table:
        return self.con.read_parquet(path)

    def rows_read(self, names: list[str]) -> dict[str, int]:
        return rows_read(self.con, names)

    def count_errors(self, path: Path) -> int:
        """The error rows written to ``path``: the file counted, not the claims read and
        checked again."""
        return csv_records(path)

    def close(self) -> None:
        self.con.disconnect()


class _SparkAudit(_DuckAudit):
    """The same on Spark (:mod:`bhpolicy.domain.spark`)."""

    def __init__(self, spark: SparkRun) -> None:
        super().__init__(spark.con)
        self.spark = spark

    def read(self, path: Path, name: str, columns: tuple[Column, ...],
             materialize: bool = True, extra: ExtraChecks | None = None,
             as_of: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
        raw, unreadable, trim = self.spark.load(path, name, columns)
        # small inputs checked once and stored (as read_validated's temp table)
        checked = functools.partial(self.spark.store, f"{name}_checked") if materialize \
            else None
        good, errors = validate(raw, columns, checked, trim_text=trim, extra=extra,
                                as_of=as_of)
        if unreadable is not None:
            errors = ibis.union(errors, unreadable.cast(errors.schema()))
        return good, errors

    def store(self, name: str, table: ir.Table) -> ir.Table:
        return self.spark.store(name, table)

    def write(self, table: ir.Table, path: Path, form: str, order: list[str] | None = None
              ) -> None:
        self.spark.write(table, path, form, order)

    def read_parquet(self, path: Path) -> ir.Table:
        return self.spark.read_parquet(path)

    def rows_read(self, names: list[str]) -> dict[str, int]:
        return {name: self.spark.rows[name] for name in names}

    def close(self) -> None:
        pass  # the session stays for the process's next run (SparkRun.close drops views)


_Audit = _DuckAudit


def _claims(run: _Audit, path: Path, name: str, known: ir.Table, as_of: dt.date
            ) -> tuple[ir.Table, list[ir.Table]]:
    """Claim lines, checked in one pass: fields, then the span, then the member."""
    def extra(t: ir.Table) -> tuple[ir.Table, list[Check]]:
        t = t.left_join(known, t.__typed_member_id == known.known_member)
        return t, [(t.__typed_to_date < t.__typed_from_date, "to_date", "before from_date"),
                   (t.known_member.isnull(), "member_id",
                    "unknown member (not in the members file)")]

    claims, errors = run.read(path, name, CLAIMS, materialize=False, extra=extra, as_of=as_of)
    return claims, [errors]


def _run(inputs: AuditInputs, settings: RunSettings, registry: PolicyRegistry,
         step: Callable[[str], None], run: _Audit) -> AuditSummary:
    con = run.con
    step("reading inputs")
    as_of = settings.as_of
    members, member_errors = run.read(inputs.members, "members", MEMBERS, as_of=as_of)
    auths, auth_errors = run.read(inputs.authorizations, "authorizations", AUTHORIZATIONS,
                                  as_of=as_of)
    known = members.select(known_member=members.member_id).distinct()
    claims, claim_errors = _claims(run, inputs.claims, "claims", known, as_of)
    errors: list[ir.Table] = [member_errors, auth_errors, *claim_errors]

    step("building ACT episodes")
    coverage, coverage_errors = prepare_authorizations(auths, policy_keys(registry))
    errors.append(coverage_errors)
    coverage = run.store("coverage", coverage)
    member_policy = member_policies(coverage)
    eps = run.store("episodes", episodes(coverage))

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
        act, act_errors = _claims(run, inputs.act_claims, "act_claims", known, as_of)
        errors += act_errors
        qualifying = None
        if inputs.contacts is not None:
            qualifying = _qualifying_days(run, inputs.contacts, coverage, member_policy,
                                          registry, errors, as_of)
        per_diem_rules = per_diem_rule_table(packs)
        per_day = per_diem.per_diem(act, eps, coverage, act_code_table(packs), numbers,
                                  qualifying, run.store("inpatient_days",
                                                        engine.inpatient_days(evaluated)),
                                  per_diem_rules, _episode_parameters(run, eps, packs, as_of))
        findings.append(per_diem.per_diem_findings(per_day, per_diem_rules, reasons, revisions))

    step("writing findings")
    all_findings = ibis.union(*findings)
    settings.out.mkdir(parents=True, exist_ok=True)
    rules, walk = rule_table(packs), crosswalk_table(packs)
    for form in settings.formats:
        for name, table in (("rules", rules), ("crosswalk", walk)):
            path = settings.out / f"{name}.{form}"
            run.write(table if form == "parquet" else csv_ready(table), path, form)
            summary.files.append(path)
        path = settings.out / f"findings.{form}"
        if form == "parquet":  # for machines: ids and codes; texts are in rules/crosswalk
            run.write(all_findings, path, form)
        else:  # for people: with the rule's label, reason and action, and the code source
            run.write(csv_ready(readable(all_findings, rules, walk)), path, form,
                      ["member_id", "flagged_from", "claim_id", "rule_id"])
        summary.files.append(path)
    error_table = ibis.union(*[e.select("file", "row", "field", "reason", "value",
                                        "provider_id")
                               for e in errors])
    error_path = settings.out / "errors.csv"
    run.write(csv_ready(error_table), error_path, "csv", ["file", "row"])
    summary.files.append(error_path)

    step("summarizing")
    written = (run.read_parquet(settings.out / "findings.parquet")
               if "parquet" in settings.formats else all_findings)
    by_rule = written.group_by(["policy_id", "rule_id", "severity", "carc_group", "carc"]
                               ).aggregate(findings=written.count(),
                                           amount_at_stake=written.amount_at_stake.sum())
    rows = con.to_pyarrow(by_rule.order_by(["policy_id", "rule_id"])).to_pylist()
    summary.by_rule = [{**r, "amount_at_stake": f"{r['amount_at_stake']:.2f}"} for r in rows]
    summary.findings = sum(int(r["findings"]) for r in rows)
    total = sum((r["amount_at_stake"] for r in rows), start=Decimal("0.00"))
    summary.amount_at_stake = f"{total:.2f}"
    summary.rejected_rows = run.count_errors(error_path)
    summary.rows = run.rows_read(["claims", "members", "authorizations"] +
                             (["contacts"] if inputs.contacts and inputs.act_claims else []) +
                             (["act_claims"] if inputs.act_claims else []))
    run.close()
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


def _episode_parameters(run: _Audit, eps: ir.Table, packs: list[PolicyPack],
                        as_of: dt.date) -> ir.Table:
    """Billing's parameter table over the episodes' days (up to the as-of date): the per
    diem audit reads the same holds as billing from it."""
    span = run.con.to_pyarrow(eps.aggregate(first=eps.episode_start.min(),
                                        last=eps.episode_end.max())).to_pylist()[0]
    first: dt.date = span["first"] or as_of
    last: dt.date = min(span["last"] or first, as_of)
    return run.store("episode_parameters", parameter_table(packs, first, max(first, last)))


def _qualifying_days(run: _Audit, path: Path, coverage: ir.Table,
                     member_policy: ir.Table, registry: PolicyRegistry,
                     errors: list[ir.Table], as_of: dt.date) -> ir.Table:
    """Grain: member-day in the contact log, with ``qualifying``: whether it has a contact
    that qualifies under the contact checks billing applies (:mod:`bhpolicy.domain.contacts`)."""
    con = run.con
    contacts, contact_errors = run.read(path, "contacts", CONTACTS, as_of=as_of)
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
    params = run.store("parameters", params)

    return run.store("qualifying_days",
                     qualifying_days(contacts, coverage, member_policy, params))
