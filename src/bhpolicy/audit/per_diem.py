"""The audit's per diem checks on ACT claim lines: each line expanded to the dates it shares
with an ACT episode (a span outside every episode is one row), then one reason a line-day
from the rules of :mod:`bhpolicy.audit.rules` and the rules billing applies the same way
(:mod:`bhpolicy.domain.rules`, :mod:`bhpolicy.domain.code_lists`)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.audit.days import (
    cents,
    days_between,
    each_day,
    finding,
    numbers_on,
    plus_days,
    with_revision,
)
from bhpolicy.audit.rules import inpatient_pos_missing, one_provider_per_day, per_diems_per_day
from bhpolicy.domain.code_lists import listed
from bhpolicy.domain.rules import (
    code_not_in_coding_table,
    is_timed,
    monthly_cap_section,
    over_monthly_cap,
)

# What the per diem audit keeps of a line and date (or of a line's span outside every
# episode): enough for a finding.
PER_DIEM_COLUMNS = (
    "policy_id", "member_id", "claim_id", "_line", "hcpcs", "provider_id", "from_date",
    "to_date", "paid_amount", "episode_start", "rule_key", "flagged", "flagged_from",
    "flagged_to", "flagged_days", "day_of_episode", "amount_at_stake", "cap_section")


def per_diem(act: ir.Table, eps: ir.Table, coverage: ir.Table, act_codes: ir.Table,
             numbers: ir.Table, qualifying: ir.Table | None, inpatient: ir.Table,
             rules: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: ACT claim line and date inside an ACT episode, plus one row per span of a line
    outside every episode. A line is expanded to dates only where it overlaps an episode, so
    a long span (1900 to today) costs no more than the episodes it meets."""
    codes = act_codes.select(code=act_codes.code).distinct()
    a = act.filter(act.hcpcs.upper().strip().isin(codes.code))
    a = a.mutate(line_days=days_between(a.to_date, a.from_date) + 1)
    e = eps.select(e_member=eps.member_id, policy_id=eps.policy_id,
                   episode_start=eps.episode_start, episode_end=eps.episode_end)
    inside = a.join(e, [a.member_id == e.e_member, a.from_date <= e.episode_end,
                        a.to_date >= e.episode_start]).drop("e_member")
    inside = inside.mutate(day=each_day(ibis.greatest(inside.from_date, inside.episode_start),
                                         ibis.least(inside.to_date, inside.episode_end)))
    days = _per_day(inside, coverage, numbers, qualifying, inpatient, rules, params)
    return ibis.union(days.select(*PER_DIEM_COLUMNS),
                      _outside_episodes(a, eps).select(*PER_DIEM_COLUMNS))


def _outside_episodes(a: ir.Table, eps: ir.Table) -> ir.Table:
    """Grain: span of an ACT claim line outside every episode (before, between or after the
    episodes it overlaps; the whole line when it overlaps none), flagged as outside the
    authorization with the money prorated to its days. Such a span takes the pack of the
    member's latest episode; a member with no episode has no pack and no finding."""
    e = eps.select(g_member=eps.member_id, g_start=eps.episode_start, g_end=eps.episode_end)
    j = a.left_join(e, [a.member_id == e.g_member, a.from_date <= e.g_end,
                        a.to_date >= e.g_start]).drop("g_member")
    w = ibis.window(group_by=j._line, order_by=j.g_start)
    j = j.mutate(_prev_end=j.g_end.lag().over(w), _is_last=j.g_start.lead().over(w).isnull())
    before = j.mutate(
        flagged_from=ibis.ifelse(j._prev_end.isnull(), j.from_date,
                                 ibis.greatest(j.from_date, plus_days(j._prev_end, 1))),
        flagged_to=ibis.ifelse(j.g_start.isnull(), j.to_date, plus_days(j.g_start, -1)))
    after = j.filter(j._is_last & j.g_end.notnull())
    after = after.mutate(flagged_from=plus_days(after.g_end, 1), flagged_to=after.to_date)
    cols = [*a.columns, "flagged_from", "flagged_to"]
    gaps = ibis.union(before.select(*cols), after.select(*cols))
    gaps = gaps.filter(gaps.flagged_from <= gaps.flagged_to)
    latest = eps.group_by(l_member=eps.member_id).aggregate(
        policy_id=eps.policy_id.argmax(eps.episode_start))
    gaps = gaps.join(latest, gaps.member_id == latest.l_member).drop("l_member")
    flagged_days = days_between(gaps.flagged_to, gaps.flagged_from) + 1
    return gaps.mutate(
        episode_start=ibis.null("date"), rule_key=ibis.literal("outside_authorization"),
        cap_section=ibis.null("string"),
        flagged=ibis.literal(True), flagged_days=flagged_days,
        day_of_episode=ibis.null("int64"),
        amount_at_stake=cents(gaps.paid_amount.fill_null(0), flagged_days,
                               gaps.line_days).cast("decimal(18, 2)"))


def _declared(rules: ir.Table) -> ir.Table:
    """Grain: pack. Which of the per diem rules a pack may declare it has."""
    return rules.group_by(s_policy=rules.policy_id).aggregate(
        s_unauthorized=(rules.rule_key == "provider_not_authorized").any(),
        s_agency=(rules.rule_key == "contributing_agency_billed").any(),
        s_edge=(rules.rule_key == "inpatient_admission_or_discharge_day").any())


def _per_day(a: ir.Table, coverage: ir.Table, numbers: ir.Table, qualifying: ir.Table | None,
             inpatient: ir.Table, rules: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: ACT claim line and date inside an episode. ``params`` is billing's parameter
    table (one row per pack and day). One reason per line-day, in this order: a day before
    the pack's first revision (plan policy not yet issued), a code the coding table does
    not list that day (billing's rule, :func:`code_not_in_coding_table`), a provider neither the
    covering authorization's nor a contributing agency (where
    the pack declares it), a contributing agency billing itself (where the pack says only
    the billing agency bills), a duplicate of the same provider, another provider's day, no
    qualifying contact in the log, over the monthly cap, an inpatient day without the
    inpatient POS (on an admission or discharge day a review, where the pack declares it)."""
    cov = coverage.select(c_member=coverage.member_id, c_start=coverage.effective_start,
                          c_end=coverage.end_date, auth_provider=coverage.provider_id,
                          contributing=coverage.contributing_provider_ids)
    a = a.left_join(cov, [a.member_id == cov.c_member, a.day >= cov.c_start,
                          a.day <= cov.c_end]).drop("c_member", "c_start", "c_end")
    sw = _declared(rules)
    a = a.left_join(sw, a.policy_id == sw.s_policy).drop("s_policy")
    p = params.select("not_issued", "billing_codes", "timed_code", "h0039_unit_minutes",
                      "monthly_max_billed_days", "monthly_max_billed_days__section",
                      "per_diems_per_member_day", "providers_per_member_day",
                      p_policy=params.policy_id, p_day=params.day)
    a = a.left_join(p, [a.policy_id == p.p_policy, a.day == p.p_day]).drop("p_policy",
                                                                          "p_day")
    code = a.hcpcs.upper().strip()
    a = a.mutate(_not_issued=a.not_issued.fill_null(False),
                 _unlisted=code_not_in_coding_table(a, code, is_timed(a, code))
                 .fill_null(False))
    team = (ibis.literal(";") + a.auth_provider.fill_null("") + ibis.literal(";") +
            a.contributing.fill_null("") + ibis.literal(";"))
    billing_provider = (a.provider_id == a.auth_provider).fill_null(False)
    in_team = listed(team, a.provider_id)
    a = a.mutate(_billing=billing_provider, _in_team=in_team,
                 _unauthorized=a.s_unauthorized.fill_null(False) & ~in_team,
                 _agency=a.s_agency.fill_null(False) & in_team & ~billing_provider)
    same = ibis.window(group_by=[a.member_id, a.day, a.provider_id],
                       order_by=[a.claim_id, a._line])
    # the day goes to the authorization's billing provider, then a contributing agency
    # (Minnesota: the billing provider bills and reimburses the others), then anyone else
    preference = ibis.cases((a._billing, 0), (a._in_team, 1), else_=2)
    per_day = ibis.window(group_by=[a.member_id, a.day], order_by=[preference, a.provider_id])
    # row numbers and ranks count from 0
    a = a.mutate(_dup=per_diems_per_day(a, ibis.row_number().over(same)),
                 _other=one_provider_per_day(a, ibis.dense_rank().over(per_day)))
    if qualifying is not None:
        q = qualifying.select(q_member=qualifying.member_id, q_day=qualifying.contact_date,
                              q_ok=qualifying.qualifying)
        a = a.left_join(q, [a.member_id == q.q_member, a.day == q.q_day])
        a = a.mutate(_no_contact=~a.q_ok.fill_null(False)).drop("q_member", "q_day", "q_ok")
    else:
        a = a.mutate(_no_contact=ibis.literal(False))
    a = a.mutate(_counted=~a._not_issued & ~a._unlisted & ~a._unauthorized & ~a._agency &
                 ~a._dup & ~a._other & ~a._no_contact, _month=a.day.truncate("M"))
    rank_window = ibis.window(group_by=[a.member_id, a._month, a._counted], order_by=[a.day])
    a = a.mutate(_rank=ibis.row_number().over(rank_window) + 1)
    a = numbers_on(a, numbers, "inpatient_pos", a.day, "ip")
    i = inpatient
    a = a.left_join(i, [a.member_id == i.i_member, a.day == i.i_day])
    inpatient_wrong = inpatient_pos_missing(a.i_member.notnull(), a.ip_text, a.pos)
    edge_day = a.i_edge.fill_null(False) & a.s_edge.fill_null(False)
    reason = ibis.cases(
        (a._not_issued, "plan_policy_not_yet_issued"), (a._unlisted, "code_not_listed"),
        (a._unauthorized, "provider_not_authorized"), (a._agency, "contributing_agency_billed"),
        (a._dup, "duplicate_per_diem"), (a._other, "per_diem_other_provider"),
        (a._no_contact, "per_diem_without_contact"),
        (a._counted & over_monthly_cap(a, a._rank), "over_monthly_cap"),
        (inpatient_wrong & edge_day, "inpatient_admission_or_discharge_day"),
        (inpatient_wrong, "inpatient_pos_missing"), else_=ibis.null().cast("string"))
    # the monthly cap cites the passage stating it on the day, as billing's lines do
    return a.mutate(rule_key=reason, flagged=reason.notnull(), flagged_from=a.day,
                    cap_section=ibis.ifelse(reason == "over_monthly_cap",
                                            monthly_cap_section(a), ibis.null("string")),
                    flagged_to=a.day, flagged_days=ibis.literal(1, "int64"),
                    day_of_episode=days_between(a.day, a.episode_start) + 1,
                    amount_at_stake=cents(a.paid_amount.fill_null(0), 1, a.line_days)
                    .cast("decimal(18, 2)"))


def per_diem_findings(evaluated: ir.Table, rules: ir.Table, reasons: ir.Table,
                      revisions: ir.Table) -> ir.Table:
    """Findings of the per diem audit, with the severity, section and reason of their rule
    (a review rule may have no reason, and so no CARC)."""
    f = evaluated.filter(evaluated.flagged)
    r = rules.select(r_policy=rules.policy_id, r_key=rules.rule_key, severity=rules.severity,
                     section=rules.section, reason_id=rules.reason_id)
    f = f.left_join(r, [f.policy_id == r.r_policy, f.rule_key == r.r_key]).drop(
        "r_policy", "r_key")
    c = reasons.select(c_policy=reasons.policy_id, c_reason=reasons.reason_id,
                       carc_group=reasons.carc_group, carc=reasons.carc, rarc=reasons.rarc)
    f = f.left_join(c, [f.policy_id == c.c_policy, f.reason_id == c.c_reason]).drop(
        "c_policy", "c_reason")
    f = with_revision(f, revisions, f.flagged_from)
    f = f.mutate(category=ibis.literal("act"), severity=f.severity.fill_null("deny"),
                 section=f.cap_section.fill_null(f.section),
                 crosswalk_row=ibis.null("int64"), crosswalk_verified=ibis.null("boolean"))
    return finding(f, claim_source=ibis.literal("act_claims"),
                    rule_id=ibis.literal("per_diem.") + f.rule_key)
