"""Policy examples: small cases written in YAML beside each pack (``examples/*.yaml``), each
with the section it illustrates, its input and the output the policy expects. A policy analyst
adds one without writing Python; :func:`run_examples` runs them all in one batch (the billing
examples of every pack in one engine run, the audit examples in one audit run, the cases one
by one) and reports each difference as one line naming the file and the example.

Ids in an example (members, authorizations, claims) are its own: the runner prefixes them
so examples never meet in the shared runs, and takes the prefix off the outputs.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.example_schema import (
    AS_OF,
    AuditExample,
    AuditInput,
    Authorization,
    BillingExample,
    BillingExpected,
    BillingInput,
    Contact,
    CriteriaExample,
    ExampleResult,
    ExamplesFile,
    Line,
    Member,
    MemberMonth,
    Unbilled,
)
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.reads import BILLING_RULES
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.yaml_strict import validate_file


@dataclass
class _Loaded:
    pack: PolicyPack
    path: Path
    example: BillingExample | CriteriaExample | AuditExample
    result: ExampleResult


def load_examples(registry: PolicyRegistry) -> list[_Loaded]:
    found: list[_Loaded] = []
    for pack in registry.packs:
        folder = Path(pack.folder) / "examples"
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            names: set[str] = set()
            for example in validate_file(ExamplesFile, path).examples:
                if example.name in names:
                    raise BhpolicyError(f"{path}: example {example.name!r} named twice")
                names.add(example.name)
                found.append(_Loaded(pack, path, example, ExampleResult(
                    pack.alias, str(path), example.name, example.kind,
                    covers=set(example.covers))))
    return found


def run_examples(registry: PolicyRegistry, work: Path | None = None) -> list[ExampleResult]:
    """Run every pack's examples in one batch; ``work`` holds the shared runs' files (a
    temporary folder when None)."""
    loaded = load_examples(registry)
    with tempfile.TemporaryDirectory(prefix="bhpolicy-examples-") as temp:
        folder = work or Path(temp)
        billing = [x for x in loaded if isinstance(x.example, BillingExample)]
        for setting in ("default", "hold"):
            group = [x for x in billing if _billing_input(x).missing_pos == setting]
            if group:
                _run_billing(group, registry, folder / f"billing-{setting}", setting)
        audit = [x for x in loaded if isinstance(x.example, AuditExample)]
        for with_log in (False, True):
            group = [x for x in audit if (_audit_input(x).contacts is not None) == with_log]
            if group:
                _run_audit(group, registry, folder / f"audit-{with_log}", with_log)
        for item in loaded:
            if isinstance(item.example, CriteriaExample):
                _run_case(item, registry)
    return [x.result for x in loaded]


# -- shared runs ---------------------------------------------------------------------------

def _billing_input(item: _Loaded) -> BillingInput:
    assert isinstance(item.example, BillingExample)
    return item.example.input


def _audit_input(item: _Loaded) -> AuditInput:
    assert isinstance(item.example, AuditExample)
    return item.example.input


def _prefix(n: int) -> str:
    return f"x{n}."


def _write(path: Path, fields: list[str], rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


MEMBER_FIELDS = ["member_id", "medicaid_id", "last_name", "first_name", "birth_date", "sex",
                 "address_line", "city", "state", "zip", "primary_dx"]
AUTH_FIELDS = ["authorization_id", "member_id", "policy", "provider_id", "team_size",
               "start_date", "end_date", "billing_code", "contributing_provider_ids"]
CONTACT_FIELDS = ["contact_id", "member_id", "provider_id", "staff_id", "contact_date",
                  "minutes", "mode", "participant", "group", "pos"]
CLAIM_FIELDS = ["claim_id", "member_id", "from_date", "to_date", "hcpcs", "modifiers",
                "revenue_code", "bill_type", "provider_id", "pos", "units", "paid_amount",
                "authorization_id", "rendering_taxonomy", "diagnosis"]


def _member_rows(items: list[_Loaded], members: list[list[Member]]) -> list[dict[str, Any]]:
    return [{"member_id": _prefix(n) + m.id, "medicaid_id": f"{n:05d}{i:05d}",
             "last_name": "Example", "first_name": "Member",
             "birth_date": m.birth_date.isoformat(), "sex": "U", "address_line": "1 Main St",
             "city": "Columbia", "state": item.pack.header.state, "zip": "292010001",
             "primary_dx": m.primary_dx}
            for n, (item, group) in enumerate(zip(items, members, strict=True))
            for i, m in enumerate(group)]


def _auth_rows(items: list[_Loaded], auths: list[list[Authorization]]
               ) -> list[dict[str, Any]]:
    return [{"authorization_id": _prefix(n) + a.id, "member_id": _prefix(n) + a.member,
             "policy": a.policy or item.pack.alias, "provider_id": a.provider,
             "team_size": a.team_size or "", "start_date": a.start.isoformat(),
             "end_date": a.end.isoformat(), "billing_code": a.billing_code or "",
             "contributing_provider_ids": ";".join(a.contributing)}
            for n, (item, group) in enumerate(zip(items, auths, strict=True))
            for a in group]


def _contact_rows(contacts: list[list[Contact]]) -> list[dict[str, Any]]:
    return [{"contact_id": f"{_prefix(n)}C{i}", "member_id": _prefix(n) + c.member,
             "provider_id": c.provider, "staff_id": "S1", "contact_date": c.date.isoformat(),
             "minutes": c.minutes, "mode": c.mode, "participant": c.participant,
             "group": "true" if c.group else "false", "pos": c.pos or ""}
            for n, group in enumerate(contacts) for i, c in enumerate(group)]


def _query(path: Path, order: str) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        rows: list[dict[str, Any]] = con.sql(
            f"SELECT * FROM read_parquet('{path}') ORDER BY {order}").to_arrow_table().to_pylist()
        return rows
    finally:
        con.close()


def _split(rows: list[dict[str, Any]], key: str = "member_id"
           ) -> dict[int, list[dict[str, Any]]]:
    """Output rows by example number, the prefix taken off ``key``."""
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        head, _, rest = str(row[key]).partition(".")
        out.setdefault(int(head[1:]), []).append({**row, key: rest})
    return out


def _run_billing(items: list[_Loaded], registry: PolicyRegistry, folder: Path,
                 missing_pos: str) -> None:
    from bhpolicy.billing.run import BillInputs, run_billing
    from bhpolicy.domain.runs import RunSettings

    folder.mkdir(parents=True, exist_ok=True)
    inputs = [_billing_input(x) for x in items]
    billed = [{"line_id": _prefix(n) + b.line_id, "member_id": _prefix(n) + b.member,
               "service_date": b.date.isoformat(), "hcpcs": b.hcpcs, "provider_id": b.provider}
              for n, i in enumerate(inputs) for b in i.already_billed]
    files = BillInputs(
        contacts=_write(folder / "contacts.csv", CONTACT_FIELDS,
                        _contact_rows([i.contacts for i in inputs])),
        members=_write(folder / "members.csv", MEMBER_FIELDS,
                       _member_rows(items, [i.members for i in inputs])),
        authorizations=_write(folder / "authorizations.csv", AUTH_FIELDS,
                              _auth_rows(items, [i.authorizations for i in inputs])),
        already_billed=_write(folder / "already_billed.csv",
                              ["line_id", "member_id", "service_date", "hcpcs",
                               "provider_id"], billed) if billed else None)
    out = folder / "out"
    run_billing(files, RunSettings(out=out, formats=("parquet",), as_of=AS_OF,
                                   missing_pos=missing_pos), registry)
    lines = _split(_query(out / "lines.parquet", "member_id, service_date"))
    unbilled = _split(_query(out / "unbilled_days.parquet", "member_id, service_date"))
    months = _split(_query(out / "member_months.parquet", "member_id, month"))
    errors = _query_csv(out / "errors.csv")
    for n, item in enumerate(items):
        example = item.example
        assert isinstance(example, BillingExample)
        result = item.result
        prefix = _prefix(n)
        for error in errors:
            if prefix in " ".join(str(v) for v in error.values()):
                result.problems.append(f"input row rejected: {error['file']} "
                                       f"{error['field']}: {error['reason']}")
        _compare_lines(result, example.expected.lines, lines.get(n, []))
        _compare_unbilled(result, example.expected.unbilled, unbilled.get(n, []))
        _compare_months(result, example.expected.member_months, months.get(n, []))
        result.covers |= _billing_covers(example.expected)


def _query_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _compare_lines(result: ExampleResult, expected: list[Line], got: list[dict[str, Any]]
                   ) -> None:
    by_day = {(r["member_id"], r["service_date"]): r for r in got}
    for line in expected:
        row = by_day.pop((line.member, line.date), None)
        where = f"line {line.member} {line.date}"
        if row is None:
            result.problems.append(f"{where}: expected, but no line")
            continue
        wanted: dict[str, Any] = {"status": line.status, "reason": line.reason, "carc": line.carc,
                                  **{k: getattr(line, k) for k in (
                                      "hcpcs", "modifier", "pos", "units", "provider")
                                     if k in line.model_fields_set}}
        actual = {"status": row["status"], "reason": row["reason_id"], "carc": row["carc"],
                  "hcpcs": row["hcpcs"], "modifier": row["modifier"], "pos": row["pos"],
                  "units": row["units"], "provider": row["provider_id"]}
        for key, value in wanted.items():
            if _text(actual[key]) != _text(value):
                result.problems.append(f"{where}: {key} is {actual[key]!r}, expected {value!r}")
    for (member, day), row in sorted(by_day.items()):
        result.problems.append(f"line {member} {day}: not expected ({row['status']}, "
                               f"{row['reason_id']})")


def _compare_unbilled(result: ExampleResult, expected: list[Unbilled],
                      got: list[dict[str, Any]]) -> None:
    by_day = {(r["member_id"], r["service_date"]): r for r in got}
    for day in expected:
        row = by_day.pop((day.member, day.date), None)
        where = f"day without a line {day.member} {day.date}"
        if row is None:
            result.problems.append(f"{where}: expected, but none")
            continue
        for key, value, actual in (("reason", day.reason, row["reason_id"]),
                                   ("carc", day.carc, row["carc"])):
            if _text(actual) != _text(value):
                result.problems.append(f"{where}: {key} is {actual!r}, expected {value!r}")
    for (member, day_), row in sorted(by_day.items()):
        result.problems.append(f"day without a line {member} {day_}: not expected "
                               f"({row['reason_id']})")


def _compare_months(result: ExampleResult, expected: list[MemberMonth],
                    got: list[dict[str, Any]]) -> None:
    by_month = {(r["member_id"], r["month"].isoformat()[:7]): r for r in got}
    for month in expected:
        row = by_month.get((month.member, month.month))
        where = f"member-month {month.member} {month.month}"
        if row is None:
            result.problems.append(f"{where}: expected, but none")
            continue
        for key in month.model_fields_set - {"month", "member"}:
            if row[key] != getattr(month, key):
                result.problems.append(f"{where}: {key} is {row[key]!r}, expected "
                                       f"{getattr(month, key)!r}")


def _billing_covers(expected: BillingExpected) -> set[str]:
    """The billing rules an example's expected output shows."""
    covers: set[str] = set()
    for line in expected.lines:
        covers.add({"billable": "per_diem_day", "already_billed": "already_billed"}.get(
            line.status, line.reason or ""))
        if "modifier" in line.model_fields_set:
            covers.add("team_size_modifier")
        if "pos" in line.model_fields_set:
            covers.add("place_of_service")
    covers |= {day.reason for day in expected.unbilled}
    if any("under_minimum" in m.model_fields_set for m in expected.member_months):
        covers.add("under_monthly_minimum")
    return {c for c in covers if c in BILLING_RULES}


def _run_audit(items: list[_Loaded], registry: PolicyRegistry, folder: Path,
               with_log: bool) -> None:
    from bhpolicy.audit.run import AuditInputs, run_audit
    from bhpolicy.domain.runs import RunSettings

    folder.mkdir(parents=True, exist_ok=True)
    inputs = [_audit_input(x) for x in items]

    def claims(which: str) -> list[dict[str, Any]]:
        return [{"claim_id": _prefix(n) + c.id, "member_id": _prefix(n) + c.member,
                 "from_date": c.start.isoformat(), "to_date": (c.end or c.start).isoformat(),
                 "hcpcs": c.hcpcs, "modifiers": c.modifiers, "revenue_code": c.revenue_code,
                 "bill_type": c.bill_type, "provider_id": c.provider, "pos": c.pos,
                 "units": "1", "paid_amount": c.paid,
                 "authorization_id": _prefix(n) + c.authorization_id
                 if c.authorization_id else "",
                 "rendering_taxonomy": c.rendering_taxonomy, "diagnosis": c.diagnosis}
                for n, i in enumerate(inputs) for c in getattr(i, which)]

    files = AuditInputs(
        claims=_write(folder / "claims.csv", CLAIM_FIELDS, claims("claims")),
        members=_write(folder / "members.csv", MEMBER_FIELDS,
                       _member_rows(items, [i.members for i in inputs])),
        authorizations=_write(folder / "authorizations.csv", AUTH_FIELDS,
                              _auth_rows(items, [i.authorizations for i in inputs])),
        act_claims=_write(folder / "act_claims.csv", CLAIM_FIELDS, claims("act_claims")),
        contacts=_write(folder / "contacts.csv", CONTACT_FIELDS,
                        _contact_rows([i.contacts or [] for i in inputs]))
        if with_log else None)
    out = folder / "out"
    run_audit(files, RunSettings(out=out, formats=("parquet",), as_of=AS_OF), registry)
    findings = _split(_query(out / "findings.parquet", "claim_id, flagged_from, rule_id"),
                      "claim_id")
    errors = _query_csv(out / "errors.csv")
    for n, item in enumerate(items):
        example = item.example
        assert isinstance(example, AuditExample)
        result = item.result
        for error in errors:
            if _prefix(n) in " ".join(str(v) for v in error.values()):
                result.problems.append(f"input row rejected: {error['file']} "
                                       f"{error['field']}: {error['reason']}")
        got = findings.get(n, [])
        unmatched = list(got)
        for wanted in example.expected.findings:
            match = next((f for f in unmatched if f["claim_id"] == wanted.claim and
                          f["rule_id"] == wanted.rule), None)
            where = f"finding {wanted.rule} on claim {wanted.claim}"
            if match is None:
                result.problems.append(f"{where}: expected, but none")
                continue
            unmatched.remove(match)
            for key in wanted.model_fields_set - {"claim", "rule"}:
                value = getattr(wanted, key)
                if _text(match[key]) != _text(value):
                    result.problems.append(f"{where}: {key} is {match[key]!r}, expected "
                                           f"{value!r}")
        for extra in unmatched:
            result.problems.append(f"finding {extra['rule_id']} on claim "
                                   f"{extra['claim_id']}: not expected")
        result.covers |= {f.rule for f in example.expected.findings}


def _run_case(item: _Loaded, registry: PolicyRegistry) -> None:
    from bhpolicy.criteria.cases import parse_case
    from bhpolicy.criteria.evaluate import determine

    example = item.example
    assert isinstance(example, CriteriaExample)
    result = item.result
    raw = {"case_id": "EXAMPLE", "policy": item.pack.alias,
           "request_type": example.input.request_type,
           "request_date": example.input.request_date.isoformat(),
           "facts": example.input.facts}
    try:
        determination = determine(parse_case(raw, registry, str(item.path), as_of=AS_OF))
    except BhpolicyError as exc:
        result.problems.append(f"case refused: {exc}")
        return
    statuses: dict[str, str] = {}
    stack = [determination.trace]
    while stack:
        node = stack.pop()
        statuses[str(node["id"])] = str(node["status"])
        stack += node.get("children", [])
    expected = example.expected
    if determination.outcome != expected.outcome:
        result.problems.append(f"outcome is {determination.outcome}, expected "
                               f"{expected.outcome}")
    for status in ("met", "not_met", "unknown", "needs_judgment"):
        for node_id in getattr(expected, status):
            if node_id not in statuses:
                result.problems.append(f"criterion {node_id}: not in the trace")
            elif statuses[node_id] != status:
                result.problems.append(f"criterion {node_id} is {statuses[node_id]}, "
                                       f"expected {status}")
            result.covers.add(node_id)


# -- coverage ------------------------------------------------------------------------------

# rules that need a parameter they do not read to be reachable: two codes open in one
# month need a coding table listing more than the per diem code
