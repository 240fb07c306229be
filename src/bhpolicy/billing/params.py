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
from bhpolicy.policy.model import ParameterNotInForce, ParameterValue, PolicyPack
from bhpolicy.policy.reads import AUDIT_RULES, BILLING_RULES, declares
from bhpolicy.strict_model import Strict
from bhpolicy.yaml_strict import validate_file


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


class _Reads:
    """A pack's values on one day, read by a rule that declares the parameter
    (:mod:`bhpolicy.policy.reads`); a parameter the pack does not have is None."""

    def __init__(self, pack: PolicyPack, day: dt.date) -> None:
        self.pack, self.day = pack, day

    def param(self, rule: str, name: str, rules: dict[str, tuple[str, ...]] = BILLING_RULES
              ) -> ParameterValue | None:
        declares(rule, name, rules)
        return self.pack.value(name, self.day) if name in self.pack.parameters else None

    def value(self, rule: str, name: str, rules: dict[str, tuple[str, ...]] = BILLING_RULES
              ) -> Any:
        found = self.param(rule, name, rules)
        return found.value if found is not None else None

    def required(self, rule: str, name: str) -> ParameterValue:
        found = self.param(rule, name)
        if found is None:  # every pack has it: the lookup names the missing parameter
            return self.pack.value(name, self.day)
        return found


def _row(pack: PolicyPack, day: dt.date) -> dict[str, Any]:
    """The day's values, each read by the rule that uses it."""
    read = _Reads(pack, day)
    modes_value = read.required("not_face_to_face", "face_to_face_modes")
    modes = modes_value.value
    participants = read.required("not_member_or_family", "qualifying_participants").value
    assert isinstance(modes, list) and isinstance(participants, list)
    modifiers = read.value("team_size_modifier", "team_size_modifiers") or {}
    codes = read.value("code_not_listed", "billing_codes")
    per_diem = read.required("code_not_listed", "per_diem_code").value
    inpatient_from = read.value("place_of_service", "inpatient_pos_participants") or []
    cap = read.param("over_monthly_cap", "monthly_max_billed_days")
    excluded = read.value("place_of_service_excluded", "pos_restrictions")
    per_diems = read.value("duplicate_per_diem", "per_diems_per_member_day", AUDIT_RULES)
    providers = read.value("per_diem_other_provider", "providers_per_member_day", AUDIT_RULES)
    if providers is None:  # one per diem a member-day: a second provider's is the second
        providers = read.value("per_diem_other_provider", "per_diems_per_member_day",
                               AUDIT_RULES)
    return {
        "min_minutes": read.value("under_min_minutes", "contact_min_minutes"),
        "group_ok": bool(read.required("group_only", "group_contact_counts_alone").value),
        "modes": _joined(modes),
        "participants": _joined(participants),
        "cap": cap.value if cap else None,
        "cap_section": cap.citation.section if cap else None,
        "min_days": read.value("under_monthly_minimum", "monthly_min_service_days"),
        "mod_small": modifiers.get("small"),
        "mod_large": modifiers.get("large"),
        "per_diem_code": read.required("per_diem_day", "per_diem_code").value,
        "allowed_codes": _joined(codes if codes is not None else [per_diem]),
        "timed_code": read.value("timed_units", "timed_code"),
        "h0039_unit": read.value("timed_units", "h0039_unit_minutes"),
        "h0039_first": read.value("timed_units", "h0039_first_unit_min_minutes"),
        "inpatient_pos": read.value("place_of_service", "inpatient_pos"),
        "default_pos": read.required("place_of_service", "default_pos").value,
        # an empty list excludes nothing: null, so the contact check costs nothing
        "pos_excluded": _joined(excluded) if excluded else None,
        "per_diems_day": per_diems,
        "providers_day": providers,
        "contact_section": read.required("per_diem_day", "face_to_face_modes").citation.section,
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
    "pos_excluded": "string", "per_diems_day": "int64", "providers_day": "int64",
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
# reasons a pack needs only when it has the parameter whose rule gives them
REASONS_OF_PARAMETERS = {"pos_restrictions": "place_of_service_excluded"}


def load_reasons(pack: PolicyPack) -> dict[str, Reason]:
    path = Path(pack.folder) / "reasons.yaml"
    reasons = validate_file(ReasonsFile, path).reasons
    wanted = [*REASON_IDS, *[reason for name, reason in REASONS_OF_PARAMETERS.items()
                             if name in pack.parameters]]
    missing = [r for r in wanted if r not in reasons]
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
