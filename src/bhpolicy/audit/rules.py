"""The audit's per diem rules that read pack parameters, one small function each, named after
what it decides. Each reads the pack's parameters by their pack names and declares them in
:data:`bhpolicy.policy.reads.AUDIT_RULES`. The rules billing applies the same way (the
monthly cap, the coding table) are :mod:`bhpolicy.domain.rules`.

Sections: SC is the South Carolina ACT policy (sc-act), MN the Minnesota ACT policy (mn-act).
"""

from __future__ import annotations

import ibis.expr.types as ir

from bhpolicy.domain.parameters import param
from bhpolicy.policy.reads import AUDIT_RULES, declares


def per_diems_per_day(t: ir.Table, earlier: ir.IntegerValue) -> ir.BooleanValue:
    """SC Other General Guidelines / MN Billing (``per_diems_per_member_day``): a per diem
    of a provider who already has ``earlier`` per diems for the member-day (0 for the
    first) at or past the limit is a duplicate. No limit where the pack has no number."""
    limit = param(t, "duplicate_per_diem", "per_diems_per_member_day", AUDIT_RULES)
    return (earlier >= limit).fill_null(False)


def one_provider_per_day(t: ir.Table, earlier_providers: ir.IntegerValue) -> ir.BooleanValue:
    """MN Billing (``providers_per_member_day``; where a pack has no such number, one per
    diem a member-day makes a second provider's the day's second): a per diem of a
    provider after ``earlier_providers`` others (0 for the day's first, in the order the
    day goes to: the billing provider, a contributing agency, anyone else) at or past the
    limit."""
    limit = param(t, "per_diem_other_provider", "providers_per_member_day", AUDIT_RULES)
    return (earlier_providers >= limit).fill_null(False)


def inpatient_pos_missing(inpatient_day: ir.BooleanValue, inpatient_pos: ir.StringValue,
                          pos: ir.StringValue) -> ir.BooleanValue:
    """MN Billing: a per diem on a day of an inpatient stay whose place of service is not
    the pack's ``inpatient_pos`` (21); never where the pack has none."""
    declares("inpatient_pos_missing", "inpatient_pos", AUDIT_RULES)
    return inpatient_day & inpatient_pos.notnull() & (pos.isnull() | (pos != inpatient_pos))
