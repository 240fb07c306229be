"""The audit's pack data as small tables the columnar engine joins (never numbers in code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.audit.model import PER_DIEM_REASONS, concurrent_services, crosswalk, expand_codes
from bhpolicy.billing.params import load_reasons
from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import PolicyPack

# A claim line takes its most specific crosswalk row: rows with modifiers first, then exact
# codes, then ranges (a lower match_id wins; ids are numbered in that order).
_PRECEDENCE = {"modifier": 0, "exact": 1, "range": 2}


def _memtable(rows: list[dict[str, Any]], schema: dict[str, str]) -> ir.Table:
    arrow = ibis.schema(schema).to_pyarrow()
    return ibis.memtable(pa.table({k: [r.get(k) for r in rows] for k in schema},
                                  schema=arrow))


CATEGORY_SCHEMA = {
    "policy_id": "string", "policy_revision": "string", "category": "string",
    "category_label": "string", "rule": "string", "section": "string", "severity": "string",
    "reason_id": "string", "action": "string", "parameter": "string",
    "inpatient_stay": "boolean",
}


def category_table(packs: list[PolicyPack]) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for pack in packs:
        data = concurrent_services(pack)
        for name, cat in data.categories.items():
            cites = "; ".join([cat.section, *cat.also_cites])
            rows.append({
                "policy_id": pack.id, "policy_revision": pack.header.revision,
                "category": name, "category_label": cat.label, "rule": cat.rule,
                "section": cites, "severity": cat.severity, "reason_id": cat.reason,
                "action": " ".join(cat.action.split()) if cat.action else None,
                "parameter": cat.parameter, "inpatient_stay": cat.inpatient_stay})
    return _memtable(rows, CATEGORY_SCHEMA)


MATCH_SCHEMA = {
    "policy_id": "string", "match_id": "int64", "kind": "string", "code": "string",
    "modifier": "string", "category": "string", "crosswalk_row": "int64",
    "crosswalk_verified": "boolean",
}


def match_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    data = crosswalk(pack)
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(data.rows):
        for written in row.codes:
            codes = expand_codes(written)
            level = "range" if len(codes) > 1 or written != codes[0] else "exact"
            for code in codes:
                modifiers: list[str | None] = [*row.modifiers] or [None]
                for modifier in modifiers:
                    rows.append({
                        "policy_id": pack.id, "kind": row.match, "code": code.upper(),
                        "modifier": modifier.upper() if modifier else None,
                        "category": row.category, "crosswalk_row": index,
                        "crosswalk_verified": row.verified, "_row": index,
                        "_rank": _PRECEDENCE["modifier" if modifier else level]})
    rows.sort(key=lambda r: r["_rank"])  # stable: file order within a level
    for i, r in enumerate(rows):
        r["match_id"] = i
    return rows


LOOKUP_SCHEMA = {"policy_id": "string", "kind": "string", "code": "string",
                 "plain_id": "int64", "mods": "string", "mod_id": "int64"}


def lookup_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    """One row per (kind, code): the best row without modifiers (``plain_id``) and the row
    that needs a modifier (``mods`` ';A;B;', ``mod_id``), so the engine resolves a claim line
    with one join a kind and no grouping. One modifier row a code is allowed."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in match_rows(pack):
        entry = found.setdefault((row["kind"], row["code"]), {
            "policy_id": pack.id, "kind": row["kind"], "code": row["code"],
            "plain_id": None, "mods": None, "mod_id": None, "_mod_row": None})
        if row["modifier"] is None:
            if entry["plain_id"] is None:
                entry["plain_id"] = row["match_id"]
            continue
        if entry["_mod_row"] not in (None, row["_row"]):
            raise DataFileError(
                str(Path(pack.folder) / "service_crosswalk.yaml"), f"key rows.{row['_row']}",
                f"{row['code']} already has a row with modifiers; put them in one row")
        entry["_mod_row"] = row["_row"]
        entry["mod_id"] = row["match_id"] if entry["mod_id"] is None else entry["mod_id"]
        entry["mods"] = (entry["mods"] or ";") + row["modifier"] + ";"
    return list(found.values())


def lookup_table(packs: list[PolicyPack]) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for pack in packs:
        rows += lookup_rows(pack)
    return _memtable(rows, LOOKUP_SCHEMA)


def match_table(packs: list[PolicyPack]) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for pack in packs:
        rows += match_rows(pack)
    return _memtable(rows, MATCH_SCHEMA)


NUMBER_SCHEMA = {"policy_id": "string", "name": "string", "since": "date", "until": "date",
                 "number": "int64", "text": "string", "section": "string"}

# Parameters the per diem audit reads, when a pack has them.
PER_DIEM_PARAMETERS = ("monthly_max_billed_days", "inpatient_pos")


def number_table(packs: list[PolicyPack]) -> ir.Table:
    """Dated values of the parameters the audit reads, one row per value and its span."""
    rows: list[dict[str, Any]] = []
    for pack in packs:
        names = {c.parameter for c in concurrent_services(pack).categories.values()
                 if c.parameter} | {p for p in PER_DIEM_PARAMETERS if p in pack.parameters}
        for name in sorted(names):
            parameter = pack.parameters[name]
            for i, dated in enumerate(parameter.values):
                nxt = parameter.values[i + 1].since if i + 1 < len(parameter.values) else None
                value = dated.value
                rows.append({
                    "policy_id": pack.id, "name": name, "since": dated.since,
                    "until": nxt, "section": dated.section or parameter.section,
                    "number": value if isinstance(value, int) and not isinstance(
                        value, bool) else None,
                    "text": value if isinstance(value, str) else None})
    return _memtable(rows, NUMBER_SCHEMA)


def act_code_table(packs: list[PolicyPack]) -> ir.Table:
    """The ACT codes of each pack (crosswalk category ``act``), for the per diem audit."""
    rows = [{"policy_id": r["policy_id"], "code": r["code"]}
            for pack in packs for r in match_rows(pack) if r["category"] == "act"]
    return _memtable(rows, {"policy_id": "string", "code": "string"})


RULE_SCHEMA = {
    "policy_id": "string", "policy_revision": "string", "rule_id": "string",
    "category": "string", "category_label": "string", "rule": "string", "severity": "string",
    "section": "string", "reason_id": "string", "reason": "string", "carc_group": "string",
    "carc": "string", "rarc": "string", "action": "string", "parameter": "string"}


def rule_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    """One row per rule an audit finding can carry: the texts findings refer to by id."""
    reasons = load_reasons(pack)
    rows: list[dict[str, Any]] = []

    def text(value: str | None) -> str | None:
        return " ".join(value.split()) if value else None

    base = {"policy_id": pack.id, "policy_revision": pack.header.revision}
    for name, cat in concurrent_services(pack).categories.items():
        reason = reasons.get(cat.reason) if cat.reason else None
        rows.append({**base, "rule_id": f"concurrent.{name}", "category": name,
                     "category_label": cat.label, "rule": cat.rule, "severity": cat.severity,
                     "section": "; ".join([cat.section, *cat.also_cites]),
                     "reason_id": cat.reason, "reason": text(reason.summary if reason else None),
                     "carc_group": reason.group if reason else None,
                     "carc": reason.carc if reason else None,
                     "rarc": ";".join(reason.rarc) if reason else None,
                     "action": text(cat.action), "parameter": cat.parameter})
    for reason_id in (*PER_DIEM_REASONS, "outside_authorization", "over_monthly_cap",
                      "inpatient_pos_missing"):
        reason = reasons.get(reason_id)
        if reason is None:
            continue
        rows.append({**base, "rule_id": f"per_diem.{reason_id}", "category": "act",
                     "category_label": "ACT per diem", "rule": "per_diem",
                     "severity": "deny", "section": reason.section, "reason_id": reason_id,
                     "reason": text(reason.summary), "carc_group": reason.group,
                     "carc": reason.carc, "rarc": ";".join(reason.rarc),
                     "action": text(reason.action or reason.summary), "parameter": None})
    return rows


def rule_table(packs: list[PolicyPack]) -> ir.Table:
    return _memtable([r for pack in packs for r in rule_rows(pack)], RULE_SCHEMA)


CROSSWALK_SCHEMA = {
    "policy_id": "string", "crosswalk_row": "int64", "category": "string", "match": "string",
    "codes": "string", "modifiers": "string", "source": "string", "verified": "boolean",
    "note": "string"}


def crosswalk_table(packs: list[PolicyPack]) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for pack in packs:
        data = crosswalk(pack)
        for index, row in enumerate(data.rows):
            rows.append({
                "policy_id": pack.id, "crosswalk_row": index, "category": row.category,
                "match": row.match, "codes": ";".join(row.codes),
                "modifiers": ";".join(row.modifiers) or None,
                "source": " ".join(data.sources[row.source].title.split()),
                "verified": row.verified,
                "note": " ".join(row.note.split()) if row.note else None})
    return _memtable(rows, CROSSWALK_SCHEMA)
