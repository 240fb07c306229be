"""Policy packs as tables: one row per (policy, day) with every billing parameter in force,
each column named after the pack's parameter (``<parameter>__<part>`` for a part of one).

The engine joins these rows instead of reading numbers from code, so a value that changes on
a date (SC's H0039 listing, say) changes the result from that date, and a new pack needs no
engine change. A parameter a pack does not have is null (e.g. Minnesota has no monthly cap);
a parameter the pack has but that holds no value on a day raises, naming it. A day before the
pack's first revision carries the first revision's values and ``not_issued``: its contacts
are checked as that revision reads, and its days are held ("plan policy not yet issued").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.domain.code_lists import joined as _joined
from bhpolicy.policy.model import ParameterNotInForce, ParameterValue, PolicyPack
from bhpolicy.policy.reads import AUDIT_RULES, BILLING_RULES, declares


def first_issued(pack: PolicyPack) -> dt.date:
    """The first day of the pack's first revision (its revision log, else its effective
    date): no plan policy existed before it."""
    return min([r.since for r in pack.header.revisions] + [pack.header.effective_from])


MODES = ("in_person", "video", "phone")  # the input schema's values (io/columns.py)
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
    # columns named after the pack's parameters; ``<name>__<part>`` for a part of one
    # (a mode of face_to_face_modes, the section a citation gives)
    return {
        "contact_min_minutes": read.value("under_min_minutes", "contact_min_minutes"),
        "group_contact_counts_alone": bool(
            read.required("group_only", "group_contact_counts_alone").value),
        "face_to_face_modes": _joined(modes),
        "qualifying_participants": _joined(participants),
        "monthly_max_billed_days": cap.value if cap else None,
        "monthly_max_billed_days__section": cap.citation.section if cap else None,
        "monthly_min_service_days": read.value("under_monthly_minimum",
                                               "monthly_min_service_days"),
        "team_size_modifiers__small": modifiers.get("small"),
        "team_size_modifiers__large": modifiers.get("large"),
        "per_diem_code": read.required("per_diem_day", "per_diem_code").value,
        # a pack without a coding table lists its per diem code alone
        "billing_codes": _joined(codes if codes is not None else [per_diem]),
        "timed_code": read.value("timed_units", "timed_code"),
        "h0039_unit_minutes": read.value("timed_units", "h0039_unit_minutes"),
        "h0039_first_unit_min_minutes": read.value("timed_units",
                                                   "h0039_first_unit_min_minutes"),
        "inpatient_pos": read.value("place_of_service", "inpatient_pos"),
        "default_pos": read.required("place_of_service", "default_pos").value,
        # an empty list excludes nothing: null, so the contact check costs nothing
        "pos_restrictions": _joined(excluded) if excluded else None,
        "per_diems_per_member_day": per_diems,
        # where the pack has no number of providers: as above (one per diem a member-day)
        "providers_per_member_day": providers,
        "face_to_face_modes__section": read.required(
            "per_diem_day", "face_to_face_modes").citation.section,
        **{f"face_to_face_modes__{m}": m in modes for m in MODES},
        **{f"qualifying_participants__{p}": p in participants for p in PARTICIPANTS},
        **{f"inpatient_pos_participants__{p}": p in inpatient_from for p in PARTICIPANTS},
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
    "contact_min_minutes": "int64", "group_contact_counts_alone": "boolean",
    "face_to_face_modes": "string", "qualifying_participants": "string",
    "monthly_max_billed_days": "int64", "monthly_max_billed_days__section": "string",
    "monthly_min_service_days": "int64", "team_size_modifiers__small": "string",
    "team_size_modifiers__large": "string",
    "per_diem_code": "string", "billing_codes": "string", "timed_code": "string",
    "h0039_unit_minutes": "int64",
    "h0039_first_unit_min_minutes": "int64", "inpatient_pos": "string",
    "default_pos": "string", "pos_restrictions": "string",
    "per_diems_per_member_day": "int64", "providers_per_member_day": "int64",
    "face_to_face_modes__section": "string", "not_in_force": "string",
    "not_issued": "boolean", "segment": "int64",
    **{f"face_to_face_modes__{m}": "boolean" for m in MODES},
    **{f"qualifying_participants__{p}": "boolean" for p in PARTICIPANTS},
    **{f"inpatient_pos_participants__{p}": "boolean" for p in PARTICIPANTS},
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


def param(table: ir.Table, rule: str, name: str,
          rules: dict[str, tuple[str, ...]] = BILLING_RULES) -> ir.Column:
    """Column ``name`` of a table carrying the parameter table's columns, read by ``rule``:
    refused unless the rule declares the parameter (:mod:`bhpolicy.policy.reads`). ``name``
    is the pack's parameter, or ``<parameter>__<part>`` for a part of one."""
    declares(rule, name.split("__")[0], rules)
    return table[name]


def segments(params: ir.Table) -> ir.Table:
    """One row per (pack, segment): the values every day of the segment shares."""
    return params.drop("day").distinct(on=["policy_id", "segment"], keep="first")
