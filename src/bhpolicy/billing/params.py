"""Policy packs as tables: one row per (policy, day) with every billing parameter in force.

The engine joins these rows instead of reading numbers from code, so a value that changes on
a date (SC's H0039 listing, say) changes the result from that date, and a new pack needs no
engine change. A parameter a pack does not have is null (e.g. Minnesota has no monthly cap);
a parameter the pack has but that holds no value on a day raises, naming it. A day before the
pack's first revision carries the first revision's values and ``not_issued``: its contacts
are checked as that revision reads, and its days are held ("plan policy not yet issued").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import StrictStr, model_validator

from bhpolicy.errors import DataFileError
from bhpolicy.policy.model import ParameterNotInForce, PolicyPack
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file


def _optional(pack: PolicyPack, name: str, day: dt.date) -> Any:
    if name not in pack.parameters:
        return None
    return pack.value(name, day).value


def _joined(values: Any) -> str | None:
    """A list as ';a;b;' so membership is a portable substring test."""
    if values is None:
        return None
    return ";" + ";".join(str(v) for v in values) + ";"


def first_issued(pack: PolicyPack) -> dt.date:
    """The first day of the pack's first revision (its revision log, else its effective
    date): no plan policy existed before it."""
    return min([r.since for r in pack.header.revisions] + [pack.header.effective_from])


MODES = ("in_person", "video", "phone")  # the input schema's values (io/readers.py)
PARTICIPANTS = ("member", "family", "collateral")


def _row(pack: PolicyPack, day: dt.date) -> dict[str, Any]:
    modes = pack.value("face_to_face_modes", day).value
    participants = pack.value("qualifying_participants", day).value
    assert isinstance(modes, list) and isinstance(participants, list)
    modifiers = _optional(pack, "team_size_modifiers", day) or {}
    codes = _optional(pack, "billing_codes", day)
    per_diem = pack.value("per_diem_code", day).value
    inpatient_from = _optional(pack, "inpatient_pos_participants", day) or []
    cap = pack.value("monthly_max_billed_days", day) if (
        "monthly_max_billed_days" in pack.parameters) else None
    return {
        "min_minutes": _optional(pack, "contact_min_minutes", day),
        "group_ok": bool(pack.value("group_contact_counts_alone", day).value),
        "modes": _joined(pack.value("face_to_face_modes", day).value),
        "participants": _joined(pack.value("qualifying_participants", day).value),
        "cap": cap.value if cap else None,
        "cap_section": cap.citation.section if cap else None,
        "min_days": _optional(pack, "monthly_min_service_days", day),
        "mod_small": modifiers.get("small"),
        "mod_large": modifiers.get("large"),
        "per_diem_code": per_diem,
        "allowed_codes": _joined(codes if codes is not None else [per_diem]),
        "timed_code": _optional(pack, "timed_code", day),
        "h0039_unit": _optional(pack, "h0039_unit_minutes", day),
        "h0039_first": _optional(pack, "h0039_first_unit_min_minutes", day),
        "inpatient_pos": _optional(pack, "inpatient_pos", day),
        "default_pos": pack.value("default_pos", day).value,
        "contact_section": pack.value("face_to_face_modes", day).citation.section,
        **{f"mode_{m}": m in modes for m in MODES},
        **{f"part_{p}": p in participants for p in PARTICIPANTS},
        **{f"inpat_{p}": p in inpatient_from for p in PARTICIPANTS},
    }


def parameter_rows(pack: PolicyPack, first: dt.date, last: dt.date, first_segment: int = 0
                   ) -> list[dict[str, Any]]:
    """One row per day, numbered by ``segment`` (from ``first_segment``): consecutive days
    whose values are all the same share one (the engine aggregates a month per segment, so a
    value that changes mid-month still applies from its date). A day on which a parameter
    the pack has holds no value gets a ``not_in_force`` message instead of values; rows of
    that day are then rejected, naming the parameter and the date (never a silent default).
    """
    rows: list[dict[str, Any]] = []
    day = first
    segment, previous = first_segment, None
    issued = first_issued(pack)
    while day <= last:
        base = {"policy_id": pack.id, "day": day}
        try:
            # the revision in force on the day (the first one before it: its reading applies)
            values = {**_row(pack, max(day, issued)), "not_in_force": None,
                      "not_issued": day < issued, "policy_revision": pack.revision_on(day)}
        except ParameterNotInForce as exc:
            values = {"not_in_force": str(exc), "policy_revision": pack.revision_on(day)}
        if previous is not None and values != previous:
            segment += 1  # a run of days with the same values is one segment
        previous = values
        rows.append({**base, **values, "segment": segment})
        day += dt.timedelta(days=1)
    return rows


PARAMETER_SCHEMA = {
    "policy_id": "string", "policy_revision": "string", "day": "date",
    "min_minutes": "int64", "group_ok": "boolean", "modes": "string", "participants": "string",
    "cap": "int64", "cap_section": "string", "min_days": "int64", "mod_small": "string",
    "mod_large": "string",
    "per_diem_code": "string", "allowed_codes": "string", "timed_code": "string",
    "h0039_unit": "int64",
    "h0039_first": "int64", "inpatient_pos": "string", "default_pos": "string",
    "contact_section": "string", "not_in_force": "string", "not_issued": "boolean",
    "segment": "int64",
    **{f"mode_{m}": "boolean" for m in MODES},
    **{f"part_{p}": "boolean" for p in PARTICIPANTS},
    **{f"inpat_{p}": "boolean" for p in PARTICIPANTS},
}


def parameter_table(packs: list[PolicyPack], first: dt.date, last: dt.date) -> ir.Table:
    """The packs' rows; segment numbers are unique across packs (a segment is one key)."""
    rows: list[dict[str, Any]] = []
    for pack in packs:
        rows += parameter_rows(pack, first, last,
                               first_segment=rows[-1]["segment"] + 1 if rows else 0)
    schema = ibis.schema(PARAMETER_SCHEMA).to_pyarrow()
    columns = {name: [row.get(name) for row in rows] for name in PARAMETER_SCHEMA}
    return ibis.memtable(pa.table(columns, schema=schema))


class Reason(Strict):
    """Why a day is held or a line would be denied. A reason without a CARC (and group) is a
    hold for the team's review, not a payer's denial (e.g. a code the policy's coding table
    does not list, which "does not guarantee coverage")."""

    section: StrictStr
    summary: StrictStr
    group: StrictStr | None = None
    carc: StrictStr | None = None
    rarc: list[StrictStr]
    action: StrictStr | None = None

    @model_validator(mode="after")
    def _group_with_carc(self) -> Reason:
        if (self.group is None) != (self.carc is None):
            raise ValueError("give both group and carc, or neither (a hold for review)")
        return self


class ReasonsFile(Strict):
    reasons: dict[StrictStr, Reason]


REASON_IDS = ("over_monthly_cap", "outside_authorization", "team_size_unknown",
              "code_not_listed", "mixed_codes_in_month", "under_min_minutes", "group_only",
              "not_face_to_face", "not_member_or_family", "other_provider",
              "plan_policy_not_yet_issued", "place_of_service_missing")


def load_reasons(pack: PolicyPack) -> dict[str, Reason]:
    path = Path(pack.folder) / "reasons.yaml"
    reasons = validate_file(ReasonsFile, path).reasons
    missing = [r for r in REASON_IDS if r not in reasons]
    if missing:
        raise DataFileError(str(path), "key reasons", f"missing reason(s): {', '.join(missing)}")
    return reasons


def reason_table(packs: list[PolicyPack]) -> ir.Table:
    rows: dict[str, list[Any]] = {k: [] for k in (
        "policy_id", "reason_id", "reason_section", "reason_summary", "carc_group", "carc",
        "rarc", "reason_action")}
    for pack in packs:
        for reason_id, reason in load_reasons(pack).items():
            rows["policy_id"].append(pack.id)
            rows["reason_id"].append(reason_id)
            rows["reason_section"].append(reason.section)
            rows["reason_summary"].append(" ".join(reason.summary.split()))
            rows["carc_group"].append(reason.group)
            rows["carc"].append(reason.carc)
            rows["rarc"].append(";".join(reason.rarc))
            rows["reason_action"].append(" ".join(reason.action.split()) if reason.action
                                         else None)
    schema = pa.schema([(k, pa.string()) for k in rows])
    return ibis.memtable(pa.table(rows, schema=schema))
