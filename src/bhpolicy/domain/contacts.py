"""Contacts against the contact checks: what billing bills from and what the audit's per
diem check asks of a contact log.

contacts (one row per contact)
  -> :func:`qualified_contacts`: the covering authorization (:func:`~.coverage.cover`), the
     day's pack parameters, the code and how far the contact gets through the checks
     (:func:`~.rules.contact_level`); billing turns these into its month bitmaps
     (:mod:`bhpolicy.billing.engine`)
  -> :func:`qualifying_days`: one row per member-day, whether it has a qualifying contact
     (the audit; the same answer as billing's days, proven in tests/test_rule_functions.py)
"""

from __future__ import annotations

import ibis.expr.types as ir

from bhpolicy.domain.coverage import by_other_provider, cover
from bhpolicy.domain.rules import (
    billing_code,
    contact_level,
    is_qualifying_contact,
    is_timed,
    short_of_first_unit,
)


def qualified_contacts(contacts: ir.Table, coverage: ir.Table, member_policy: ir.Table,
                       params: ir.Table) -> ir.Table:
    """Grain: contact. Adds the covering authorization, the day's pack parameters (an inner
    join: a contact of no pack is left out) and ``covered``, ``code``, ``timed`` and
    ``level``: how far the contact gets through the checks
    (:data:`~bhpolicy.domain.rules.QUALIFIES` = qualifies)."""
    joined = cover(contacts, coverage)
    joined = joined.left_join(member_policy, joined.member_id == member_policy.member_id)
    joined = joined.mutate(policy_id=joined.auth_policy.fill_null(joined.member_policy_id))
    joined = joined.join(params, [joined.policy_id == params.policy_id,
                                  joined.contact_date == params.day])
    covered = joined.authorization_id.notnull()
    code = billing_code(joined, joined.auth_code)
    timed = is_timed(joined, code)
    level = contact_level(joined, by_other_provider(joined, joined.provider_id), timed)
    return joined.mutate(covered=covered, code=code, timed=timed, level=level)


def qualifying_days(contacts: ir.Table, coverage: ir.Table, member_policy: ir.Table,
                    params: ir.Table) -> ir.Table:
    """Grain: member-day of the contacts, with ``qualifying``: whether the day has a
    contact that qualifies (:func:`~.rules.is_qualifying_contact`) and, for the
    per-15-minute code, qualifying minutes reaching the first unit
    (:func:`~.rules.short_of_first_unit`), as billing decides a day. Days of a parameter
    not in force are left out. (A member-day has one covering authorization and one pack,
    so all its contacts share their code.)"""
    q = qualified_contacts(contacts, coverage, member_policy, params)
    q = q.filter(q.not_in_force.isnull())
    ok = is_qualifying_contact(q.level)
    day = q.group_by(["member_id", "contact_date"]).aggregate(
        any_qualifying=ok.any(), minutes=q.minutes.sum(where=ok),
        timed=q.timed.any(where=ok), first_unit=q.h0039_first_unit_min_minutes.max(where=ok))
    short = short_of_first_unit(day.timed, day.minutes, day.first_unit).fill_null(False)
    return day.select("member_id", "contact_date", qualifying=day.any_qualifying & ~short)
