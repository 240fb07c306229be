"""The billing rules, one small function each, named after what it decides.

Each reads the pack's parameters by their pack names from a table carrying the parameter
table's columns (:mod:`bhpolicy.domain.parameters`), through
:func:`~bhpolicy.domain.parameters.param`, which refuses a parameter the rule has not declared
in :data:`bhpolicy.policy.reads.BILLING_RULES` (the declarations the pack loader checks every
parameter against). A rule gets a contact, a day or a line as plain columns: it knows nothing
of how the engine stores days (:mod:`bhpolicy.billing.bits`) or line texts
(:mod:`bhpolicy.billing.kinds`). The rules the audit applies too are in
:mod:`bhpolicy.domain.rules`: the contact checks (:func:`~bhpolicy.domain.rules.contact_level`,
the billing code, a day short of the first per-15-minute unit), the monthly cap
(:func:`~bhpolicy.domain.rules.over_monthly_cap`), the per-15-minute code
(:func:`~bhpolicy.domain.rules.is_timed`) and the coding table
(:func:`~bhpolicy.domain.rules.code_not_in_coding_table`).

Sections: SC is the South Carolina ACT policy (sc-act), MN the Minnesota ACT policy (mn-act).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.domain.parameters import PARTICIPANTS, param


def at_inpatient_pos(t: ir.Table) -> ir.BooleanValue:
    """MN Billing: POS ``inpatient_pos`` (21) "if ACT services were provided to a recipient
    in an inpatient hospital": a contact there counts only with a participant the pack's
    ``inpatient_pos_participants`` names (the recipient). Never where the pack has none."""
    inpatient = param(t, "place_of_service", "inpatient_pos")
    with_participant = ibis.cases(
        *[(t.participant == p, param(t, "place_of_service",
                                     f"inpatient_pos_participants__{p}"))
          for p in PARTICIPANTS], else_=False)
    return inpatient.notnull() & (t.pos == inpatient) & with_participant


def plan_policy_not_yet_issued(t: ir.Table) -> ir.BooleanValue:
    """A day before the pack's first revision: no plan policy applied (held for review)."""
    return t.not_issued


def team_size_unknown(t: ir.Table, timed: ir.BooleanValue, team_size: ir.StringValue
                      ) -> ir.BooleanValue:
    """SC Coding Implications: the pack has ``team_size_modifiers`` and the authorization
    gives no team size, so the per diem's modifier is unknown (held for review)."""
    return (~timed & param(t, "team_size_unknown", "team_size_modifiers__small").notnull() &
            team_size.isnull())


def team_size_modifier(t: ir.Table, timed: ir.BooleanValue, team_size: ir.StringValue
                       ) -> ir.StringValue:
    """SC Coding Implications: the modifier of the team's size (``team_size_modifiers``)
    goes on the per diem code only; none on the per-15-minute code."""
    none = ibis.null().cast("string")
    return ibis.cases(
        (timed, none),
        (team_size == "small", param(t, "team_size_modifier", "team_size_modifiers__small")),
        (team_size == "large", param(t, "team_size_modifier", "team_size_modifiers__large")),
        else_=none)


def place_of_service(t: ir.Table, at_inpatient: ir.BooleanValue,
                     contact_pos: ir.StringValue) -> ir.StringValue:
    """MN Billing / SC Other General Guidelines: the ``inpatient_pos`` where a contact was
    there (:func:`at_inpatient_pos`); else ``contact_pos``, the POS of the day's longest
    qualifying contact that has one; else the pack's ``default_pos``."""
    return ibis.cases((at_inpatient, param(t, "place_of_service", "inpatient_pos")),
                      (contact_pos.notnull(), contact_pos),
                      else_=param(t, "place_of_service", "default_pos"))


def timed_units(t: ir.Table, minutes: ir.IntegerValue) -> ir.IntegerValue:
    """SC Coding Implications: units of the per-15-minute code for a day's qualifying
    ``minutes``: the first unit from ``h0039_first_unit_min_minutes``, one more each
    ``h0039_unit_minutes`` after it."""
    first = param(t, "timed_units", "h0039_first_unit_min_minutes")
    unit = param(t, "timed_units", "h0039_unit_minutes")
    return ((minutes - first) / unit).floor().cast("int64") + 1


def under_monthly_minimum(t: ir.Table, partial: ir.BooleanValue,
                          days_provided: ir.IntegerValue) -> ir.BooleanValue:
    """SC I.F: a whole month with fewer days provided than ``monthly_min_service_days``
    (a month only partly inside the authorizations never is)."""
    minimum = param(t, "under_monthly_minimum", "monthly_min_service_days")
    return ~partial & minimum.notnull() & (days_provided < minimum)
