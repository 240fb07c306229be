"""The rules billing and the audit both apply, each once.

A rule reads the pack's parameters by their pack names, through
:func:`bhpolicy.domain.parameters.param` (which refuses a parameter the rule has not declared
in :mod:`bhpolicy.policy.reads`). The callers feed each rule their own encoding: billing its
bitmaps of days, the audit its row numbers.
"""

from __future__ import annotations

import ibis.expr.types as ir

from bhpolicy.domain.code_lists import code_not_listed
from bhpolicy.domain.parameters import param


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
