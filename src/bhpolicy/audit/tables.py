"""The audit's pack data as small tables the columnar engine joins (never numbers in code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.audit.model import (
    PER_DIEM_REASONS,
    Crosswalk,
    CrosswalkRow,
    concurrent_services,
    crosswalk,
    expand_codes,
)
from bhpolicy.domain.parameters import first_issued
from bhpolicy.domain.reasons import load_reasons
from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import PolicyPack

# A claim line takes its most specific crosswalk row: rows with conditions (taxonomy or
# diagnosis) first, then rows with modifiers, then exact codes, then ranges (a lower match_id
# wins; ids are numbered in that order).
_PRECEDENCE = {"condition": 0, "modifier": 1, "exact": 2, "range": 3}


def _memtable(rows: list[dict[str, Any]], schema: dict[str, str]) -> ir.Table:
    arrow = ibis.schema(schema).to_pyarrow()
    return ibis.memtable(pa.table({k: [r.get(k) for r in rows] for k in schema},
                                  schema=arrow))


CATEGORY_SCHEMA = {
    "policy_id": "string", "policy_revision": "string", "category": "string",
    "category_label": "string", "rule": "string", "section": "string", "severity": "string",
    "reason_id": "string", "action": "string", "parameter": "string",
    "inpatient_stay": "boolean", "first_issued": "date",
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
                "parameter": cat.parameter, "inpatient_stay": cat.inpatient_stay,
                "first_issued": first_issued(pack)})
    return _memtable(rows, CATEGORY_SCHEMA)


MATCH_SCHEMA = {
    "policy_id": "string", "match_id": "int64", "kind": "string", "code": "string",
    "modifier": "string", "category": "string", "crosswalk_row": "int64",
    "crosswalk_verified": "boolean", "row_severity": "string",
}


def _listed_codes(data: Crosswalk, name: str | None) -> str | None:
    """A named list's codes (ranges expanded) as ';A;B;' for the engine's list test."""
    if name is None:
        return None
    codes = [c.upper() for written in data.lists[name].codes for c in expand_codes(written)]
    return ";" + ";".join(codes) + ";"


def match_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    data = crosswalk(pack)
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(data.rows):
        taxonomies = _listed_codes(data, row.rendering_taxonomy_in)
        diagnoses = _listed_codes(data, row.primary_diagnosis_in)
        for written in row.codes:
            codes = expand_codes(written)
            level = "range" if len(codes) > 1 or written != codes[0] else "exact"
            for code in codes:
                modifiers: list[str | None] = [*row.modifiers] or [None]
                for modifier in modifiers:
                    rank = ("condition" if row.conditional else
                            "modifier" if modifier else level)
                    rows.append({
                        "policy_id": pack.id, "kind": row.match, "code": code.upper(),
                        "modifier": modifier.upper() if modifier else None,
                        "category": row.category, "crosswalk_row": index,
                        "crosswalk_verified": row.verified, "row_severity": row.severity,
                        "_taxonomies": taxonomies, "_diagnoses": diagnoses,
                        "_row": index, "_rank": _PRECEDENCE[rank]})
    rows.sort(key=lambda r: r["_rank"])  # stable: file order within a level
    for i, r in enumerate(rows):
        r["match_id"] = i
    return rows


LOOKUP_SCHEMA = {"policy_id": "string", "kind": "string", "code": "string",
                 "plain_id": "int64", "mods": "string", "mod_id": "int64",
                 "taxonomies": "string", "diagnoses": "string", "cond_id": "int64"}


def lookup_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    """One row per (kind, code): the best row without modifiers (``plain_id``), the row that
    needs a modifier (``mods`` ';A;B;', ``mod_id``) and the row that needs a rendering
    taxonomy or primary diagnosis (``taxonomies``, ``diagnoses``, ``cond_id``), so the engine
    resolves a claim line with one join a kind and no grouping. One modifier row and one
    conditional row a code are allowed."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    where = str(Path(pack.folder) / "service_crosswalk.yaml")
    for row in match_rows(pack):
        entry = found.setdefault((row["kind"], row["code"]), {
            "policy_id": pack.id, "kind": row["kind"], "code": row["code"],
            "plain_id": None, "mods": None, "mod_id": None, "_mod_row": None,
            "taxonomies": None, "diagnoses": None, "cond_id": None})
        if row["_rank"] == _PRECEDENCE["condition"]:
            if entry["cond_id"] is not None:
                raise DataFileError(where, f"key rows.{row['_row']}",
                                    f"{row['code']} already has a row with conditions")
            entry.update(cond_id=row["match_id"], taxonomies=row["_taxonomies"],
                         diagnoses=row["_diagnoses"])
            continue
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
    issued = reasons["plan_policy_not_yet_issued"]
    rows.append({**base, "rule_id": "concurrent.plan_policy_not_yet_issued",
                 "category": None, "category_label": "Any service beside ACT",
                 "rule": "not_issued", "severity": "review", "section": issued.section,
                 "reason_id": "plan_policy_not_yet_issued", "reason": text(issued.summary),
                 "carc_group": None, "carc": None, "rarc": None,
                 "action": text(issued.action), "parameter": None})
    for rule in per_diem_rule_rows(pack):
        reason = reasons.get(rule["reason_id"]) if rule["reason_id"] else None
        rows.append({**base, "rule_id": f"per_diem.{rule['rule_key']}", "category": "act",
                     "category_label": rule["label"], "rule": "per_diem",
                     "severity": rule["severity"], "section": rule["section"],
                     "reason_id": rule["reason_id"],
                     "reason": text(reason.summary if reason else rule["summary"]),
                     "carc_group": reason.group if reason else None,
                     "carc": reason.carc if reason else None,
                     "rarc": ";".join(reason.rarc) if reason else None,
                     "action": text(rule["action"]), "parameter": None})
    return rows


# The per diem checks every pack gets, each named by its reason in reasons.yaml (billing's
# holds among them: a day before the first revision, a code the coding table does not list).
PER_DIEM_CHECKS = (*PER_DIEM_REASONS, "outside_authorization", "over_monthly_cap",
                   "inpatient_pos_missing", "plan_policy_not_yet_issued", "code_not_listed")


def per_diem_rule_rows(pack: PolicyPack) -> list[dict[str, Any]]:
    """The per diem rules of a pack: the checks every pack gets (severity deny, texts from
    reasons.yaml) and the ones its concurrent_services.yaml declares (``per_diem_rules``)."""
    reasons = load_reasons(pack)
    rows: list[dict[str, Any]] = []
    for reason_id in PER_DIEM_CHECKS:
        reason = reasons.get(reason_id)
        if reason is None:
            continue
        # a reason without a CARC is a hold for review, not a denial
        rows.append({"policy_id": pack.id, "rule_key": reason_id, "label": "ACT per diem",
                     "severity": "deny" if reason.carc else "review",
                     "section": reason.section, "reason_id": reason_id,
                     "summary": reason.summary, "action": reason.action or reason.summary})
    for kind, rule in concurrent_services(pack).per_diem_rules.items():
        rows.append({"policy_id": pack.id, "rule_key": kind, "label": rule.label,
                     "severity": rule.severity,
                     "section": "; ".join([rule.section, *rule.also_cites]),
                     "reason_id": rule.reason, "summary": rule.summary,
                     "action": rule.action})
    return rows


PER_DIEM_RULE_SCHEMA = {"policy_id": "string", "rule_key": "string", "severity": "string",
                        "section": "string", "reason_id": "string"}


def per_diem_rule_table(packs: list[PolicyPack]) -> ir.Table:
    """Grain: pack and per diem rule. The engine reads which declared rules a pack has; the
    findings take their severity, section and reason from here."""
    return _memtable([r for pack in packs for r in per_diem_rule_rows(pack)],
                     PER_DIEM_RULE_SCHEMA)


def rule_table(packs: list[PolicyPack]) -> ir.Table:
    return _memtable([r for pack in packs for r in rule_rows(pack)], RULE_SCHEMA)


CROSSWALK_SCHEMA = {
    "policy_id": "string", "crosswalk_row": "int64", "category": "string", "match": "string",
    "codes": "string", "modifiers": "string", "condition": "string", "source": "string",
    "verified": "boolean", "note": "string"}


def _condition(data: Crosswalk, row: CrosswalkRow) -> str | None:
    """A conditional row's condition in words, naming each list's source."""
    parts = []
    for what, name in (("rendering taxonomy", row.rendering_taxonomy_in),
                       ("primary diagnosis", row.primary_diagnosis_in)):
        if name is not None:
            listed = data.lists[name]
            title = " ".join(data.sources[listed.source].title.split())
            parts.append(f"{what} in {listed.label} ({';'.join(listed.codes)}; {title})")
    return " or ".join(parts) or None


def crosswalk_table(packs: list[PolicyPack]) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for pack in packs:
        data = crosswalk(pack)
        for index, row in enumerate(data.rows):
            rows.append({
                "policy_id": pack.id, "crosswalk_row": index, "category": row.category,
                "match": row.match, "codes": ";".join(row.codes),
                "modifiers": ";".join(row.modifiers) or None,
                "condition": _condition(data, row),
                "source": " ".join(data.sources[row.source].title.split()),
                "verified": row.verified,
                "note": " ".join(row.note.split()) if row.note else None})
    return _memtable(rows, CROSSWALK_SCHEMA)


REVISION_SCHEMA = {"r_policy": "string", "r_revision": "string", "r_since": "date",
                   "r_until": "date"}


def revision_table(packs: list[PolicyPack]) -> ir.Table:
    """Grain: pack and revision, with the days it is in force (see
    :meth:`PolicyPack.revision_spans`): a finding carries the revision of its date."""
    rows = [{"r_policy": pack.id, "r_revision": revision, "r_since": since, "r_until": until}
            for pack in packs for revision, since, until in pack.revision_spans()]
    return _memtable(rows, REVISION_SCHEMA)

