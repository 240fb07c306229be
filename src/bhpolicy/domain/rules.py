"""The rules billing and the audit both apply, each once: the contact checks (how far a
contact gets, :func:`contact_level`; whether a day reaches the first per-15-minute unit), which
decide billing's days and the audit's days with a qualifying contact
(:mod:`bhpolicy.domain.contacts`), the monthly cap, the per-15-minute code and the coding
table.

A rule reads the pack's parameters by their pack names, through
:func:`bhpolicy.domain.parameters.param` (which refuses a parameter the rule has not declared
in :mod:`bhpolicy.policy.reads`). The callers feed each rule their own encoding: billing its
bitmaps of days, the audit its row numbers.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.domain.code_lists import code_not_listed, listed
from bhpolicy.domain.parameters import MODES, PARTICIPANTS, param

# How far a contact gets through the checks (the order a contact meets them), and the
# reason a day stops at each step; a contact that passes them all qualifies.
LEVEL_REASONS = {1: "other_provider", 2: "not_member_or_family", 3: "not_face_to_face",
                 4: "group_only", 5: "under_min_minutes", 6: "place_of_service_excluded"}
QUALIFIES = 7


def billing_code(t: ir.Table, authorized_code: ir.StringValue) -> ir.StringValue:
    """SC Coding Implications / MN Billing: the code the authorization names, else the
    pack's ``per_diem_code``."""
    return authorized_code.fill_null(param(t, "per_diem_day", "per_diem_code"))


def is_member_or_family(t: ir.Table) -> ir.BooleanValue:
    """SC I.E.1 / MN Billing: the contact's participant is one the pack's
    ``qualifying_participants`` lists (the recipient, or family where the pack says so)."""
    return ibis.cases(*[(t.participant == p, param(t, "not_member_or_family",
                                                   f"qualifying_participants__{p}"))
                        for p in PARTICIPANTS], else_=False)


def is_face_to_face(t: ir.Table) -> ir.BooleanValue:
    """SC I.E.1 / MN Billing: the contact's mode is one of the pack's
    ``face_to_face_modes``."""
    return ibis.cases(*[(t["mode"] == m, param(t, "not_face_to_face",
                                               f"face_to_face_modes__{m}"))
                        for m in MODES], else_=False)


def group_only(t: ir.Table) -> ir.BooleanValue:
    """SC I.E.1: a group contact, where the pack's ``group_contact_counts_alone`` says a
    group contact does not count on its own."""
    return t.group & ~param(t, "group_only", "group_contact_counts_alone")


def under_min_minutes(t: ir.Table, timed: ir.BooleanValue) -> ir.BooleanValue:
    """SC Prior Authorization: a per diem contact shorter than the pack's
    ``contact_min_minutes`` (a per-15-minute code counts its minutes instead)."""
    minimum = param(t, "under_min_minutes", "contact_min_minutes")
    return ~timed & minimum.notnull() & (t.minutes < minimum)


def place_of_service_excluded(t: ir.Table) -> ir.BooleanValue:
    """SC Other General Guidelines (``pos_restrictions``): a contact at a place of service
    the pack excludes does not count; never where the pack excludes none (null)."""
    excluded = param(t, "place_of_service_excluded", "pos_restrictions")
    return excluded.notnull() & listed(excluded, t.pos).fill_null(False)


def contact_level(t: ir.Table, other_provider: ir.BooleanValue, timed: ir.BooleanValue
                  ) -> ir.IntegerValue:
    """How far a contact gets through the checks (:data:`LEVEL_REASONS`, in order), or
    :data:`QUALIFIES`. ``other_provider``: by a provider neither the covering
    authorization's nor a contributing agency's
    (:func:`bhpolicy.domain.coverage.by_other_provider`)."""
    return ibis.cases(
        (other_provider, 1),
        (~is_member_or_family(t), 2),
        (~is_face_to_face(t), 3),
        (group_only(t), 4),
        (under_min_minutes(t, timed), 5),
        (place_of_service_excluded(t), 6),
        else_=QUALIFIES)


def is_qualifying_contact(level: ir.IntegerValue) -> ir.BooleanValue:
    """A contact that passes every check of :func:`contact_level`: its day bills."""
    return level == QUALIFIES


def short_of_first_unit(timed: ir.BooleanValue, minutes: ir.IntegerValue,
                        first_unit_minutes: ir.IntegerValue) -> ir.BooleanValue:
    """SC Coding Implications: a per-15-minute day whose qualifying minutes do not reach
    the first unit (``h0039_first_unit_min_minutes``, given here as the day's value): no
    line, its reason under_min_minutes."""
    return timed & first_unit_minutes.notnull() & (minutes < first_unit_minutes)

def over_monthly_cap(t: ir.Table, rank: ir.IntegerValue,
                     billed_before: ir.IntegerValue | None = None) -> ir.BooleanValue:
    """SC I.F (Other General Guidelines before 02/26), ``monthly_max_billed_days``: a day
    whose ``rank`` among the month's otherwise-billable days (1 for the first) passes the
    cap less the days ``billed_before`` in the month is over the cap. Held days do not use
    the cap (the callers rank only the others). False where the pack has no cap (MN).
    ``t`` carries the parameter table's columns of the day."""
    cap = param(t, "over_monthly_cap", "monthly_max_billed_days")
    allowed = cap if billed_before is None else cap - billed_before
    return cap.notnull() & (rank > allowed)


def monthly_cap_section(t: ir.Table) -> ir.StringValue:
    """The section a day over the monthly cap cites: the passage stating the cap on the
    day (SC: Other General Guidelines before 02/26, I.F from then)."""
    return param(t, "over_monthly_cap", "monthly_max_billed_days__section")


def is_timed(t: ir.Table, code: ir.StringValue) -> ir.BooleanValue:
    """SC Coding Implications: ``code`` is the pack's per-15-minute ``timed_code`` (H0039),
    billed in units of minutes rather than as a per diem."""
    timed_code = param(t, "timed_units", "timed_code")
    return timed_code.notnull() & (code == timed_code)


def code_not_in_coding_table(t: ir.Table, code: ir.StringValue, timed: ir.BooleanValue
                             ) -> ir.BooleanValue:
    """SC Coding Implications: the day's code is not in the pack's ``billing_codes`` then,
    or is the per-15-minute code (``timed``, :func:`is_timed`) without
    ``h0039_unit_minutes``: billing holds the day for review, the audit flags a paid one
    (:func:`bhpolicy.domain.code_lists.code_not_listed`)."""
    return code_not_listed(param(t, "code_not_listed", "billing_codes"), code, timed,
                           param(t, "timed_units", "h0039_unit_minutes"))
