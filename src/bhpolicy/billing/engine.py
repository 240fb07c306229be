"""The billing rules as Ibis expressions. Grain of each table is stated; no Python loop touches
a contact, a day or a line, so one member and a whole state run the same code.

contacts (one row per contact)
  -> qualified contacts: coverage by an authorization, pack parameters of the day, and how far
     the contact gets through the checks (provider, participant, mode, group, minutes)
  -> member_days (one row per member and date with any contact)
  -> lines (one row per member-day with a qualifying contact: billable, held or already
     billed) and unbilled_days (member-days with contacts but none qualifying)
  -> member_months (one row per member and calendar month of an authorization)
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from bhpolicy.billing.params import MODES, PARTICIPANTS
from bhpolicy.io.readers import error_rows

# How far a contact gets through the checks, and the reason a day stops at each step.
LEVEL_REASONS = {1: "other_provider", 2: "not_member_or_family", 3: "not_face_to_face",
                 4: "group_only", 5: "under_min_minutes"}
QUALIFIES = 6


@dataclass
class BillingTables:
    lines: ir.Table
    unbilled_days: ir.Table
    member_months: ir.Table
    other_provider_contacts: ir.Table
    errors: ir.Table


def _listed(joined: ir.StringValue, item: ir.StringValue) -> ir.BooleanValue:
    """``item`` appears in a ';a;b;' list (a portable substring test)."""
    return joined.contains(ibis.literal(";") + item + ibis.literal(";"))


def prepare_authorizations(auths: ir.Table, policy_keys: ir.Table
                           ) -> tuple[ir.Table, ir.Table, ir.Table]:
    """Resolve each authorization's pack, reject bad ones, and merge same-provider overlaps.

    Returns (coverage, member_policy, errors). Coverage rows do not overlap: renewals that
    start the day after the previous end stay contiguous; overlapping authorizations of one
    provider are clipped so each date has one; overlaps between providers are errors."""
    resolved = auths.left_join(policy_keys, auths.policy.lower() == policy_keys.key)
    resolved = resolved.drop("key")
    errors = [
        error_rows(resolved, resolved.policy_id.isnull(), "policy",
                   "unknown policy pack (give its id or alias)"),
        error_rows(resolved, resolved.policy_id.notnull() & (resolved.end_date <
                                                             resolved.start_date),
                   "end_date", "before start_date"),
    ]
    ok = resolved.filter(resolved.policy_id.notnull() & (resolved.end_date >=
                                                         resolved.start_date))
    other = ok.view()
    clash = ok.join(other, [ok.member_id == other.member_id,
                            ok.authorization_id != other.authorization_id,
                            ok.provider_id != other.provider_id,
                            ok.start_date <= other.end_date, other.start_date <= ok.end_date])
    clash = clash.select(authorization_id=ok.authorization_id,
                         other_id=other.authorization_id).distinct()
    clash = clash.group_by("authorization_id").aggregate(other_id=clash.other_id.min())
    flagged = ok.left_join(clash, "authorization_id").drop("authorization_id_right")
    errors.append(error_rows(
        flagged, flagged.other_id.notnull(), "start_date",
        ibis.literal("overlaps authorization ") + flagged.other_id.fill_null("") +
        ibis.literal(" of another provider")))
    ok = flagged.filter(flagged.other_id.isnull()).drop("other_id")

    order = [ok.start_date, ok.authorization_id]
    running = ok.mutate(covered_to=ok.end_date.max().over(
        ibis.cumulative_window(group_by=ok.member_id, order_by=order)))
    # the latest end among the member's earlier authorizations (null for the first)
    previous = running.covered_to.lag().over(
        ibis.window(group_by=running.member_id, order_by=[running.start_date,
                                                          running.authorization_id]))
    coverage = running.mutate(effective_start=ibis.greatest(
        running.start_date, (previous + ibis.interval(days=1)).fill_null(running.start_date)))
    coverage = coverage.drop("covered_to")
    coverage = coverage.filter(coverage.effective_start <= coverage.end_date)
    member_policy = ok.group_by("member_id").aggregate(
        member_policy_id=ok.policy_id.argmax(ok.start_date))
    return coverage, member_policy, ibis.union(*errors)


def qualify_contacts(contacts: ir.Table, coverage: ir.Table, member_policy: ir.Table,
                     params: ir.Table) -> ir.Table:
    """Grain: contact. Adds the covering authorization, the day's pack parameters and
    ``level``: how far the contact gets through the checks (6 = qualifies)."""
    cov = coverage.select(
        cov_member=coverage.member_id, authorization_id=coverage.authorization_id,
        auth_provider=coverage.provider_id, contributing=coverage.contributing_provider_ids,
        auth_policy=coverage.policy_id, team_size=coverage.team_size,
        auth_code=coverage.billing_code, effective_start=coverage.effective_start,
        auth_end=coverage.end_date)
    joined = contacts.left_join(cov, [contacts.member_id == cov.cov_member,
                                      contacts.contact_date >= cov.effective_start,
                                      contacts.contact_date <= cov.auth_end])
    joined = joined.left_join(member_policy, joined.member_id == member_policy.member_id)
    joined = joined.mutate(policy_id=joined.auth_policy.fill_null(joined.member_policy_id))
    joined = joined.join(params, [joined.policy_id == params.policy_id,
                                  joined.contact_date == params.day])
    covered = joined.authorization_id.notnull()
    code = joined.auth_code.fill_null(joined.per_diem_code)
    timed = joined.timed_code.notnull() & (code == joined.timed_code)
    provider_ok = ~covered | (joined.provider_id == joined.auth_provider) | _listed(
        ibis.literal(";") + joined.contributing.fill_null("") + ibis.literal(";"),
        joined.provider_id)
    participant_ok = ibis.cases(
        *[(joined.participant == p, joined[f"part_{p}"]) for p in PARTICIPANTS],
        else_=False)
    mode_ok = ibis.cases(*[(joined.mode == m, joined[f"mode_{m}"]) for m in MODES],
                         else_=False)
    level = ibis.cases(
        (~provider_ok, 1),
        (~participant_ok, 2),
        (~mode_ok, 3),
        (joined.group & ~joined.group_ok, 4),
        (~timed & joined.min_minutes.notnull() & (joined.minutes < joined.min_minutes), 5),
        else_=QUALIFIES)
    return joined.mutate(covered=covered, code=code, timed=timed, level=level,
                         at_inpatient=joined.inpatient_pos.notnull() &
                         (joined.pos == joined.inpatient_pos))


def member_days(qualified: ir.Table) -> ir.Table:
    """Grain: member and date (days with any contact).

    Every aggregate state has a fixed size, so DuckDB can spill this aggregate (the largest
    of a run) to disk: the authorization and pack are group keys (a member-day has one of
    each, coverage rows never overlap) and the POS, two digits, is aggregated as a number."""
    q = qualified
    qualifies = q.level == QUALIFIES
    pos_number = q.pos.cast("int64")
    days = q.group_by(["member_id", "contact_date", "authorization_id", "policy_id"]).aggregate(
        best_level=q.level.max(),
        contacts=q.count(),
        qualifying_minutes=q.minutes.sum(where=qualifies),
        longest_pos_number=pos_number.argmax(q.minutes, where=qualifies & q.pos.notnull()),
        at_inpatient=q.at_inpatient.any(),
    )
    return days.mutate(longest_pos=days.longest_pos_number.cast("string").lpad(2, "0")
                       ).drop("longest_pos_number")


DAY_COLUMNS = (
    "member_id", "contact_date", "month", "authorization_id", "policy_id",
    "provider_id", "team_size", "code", "timed", "qualifying", "covered", "no_line_reason",
    "hold", "units", "qualifying_minutes", "contacts", "longest_pos", "at_inpatient",
)  # what depends only on (policy, day) is joined from the parameter table when needed


def day_facts(days: ir.Table, coverage: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: member-day. What each day is, before the month-level rules: its code, whether a
    contact qualifies, why it is held (outside authorization, code, team size) or why no line
    is due. Only the columns later steps read are kept (DAY_COLUMNS)."""
    auth = coverage.select(
        authorization_id=coverage.authorization_id, provider_id=coverage.provider_id,
        team_size=coverage.team_size, auth_code=coverage.billing_code)
    d = days.left_join(auth, "authorization_id").drop("authorization_id_right")
    d = d.join(params, [d.policy_id == params.policy_id, d.contact_date == params.day])
    d = d.drop("day")
    code = d.auth_code.fill_null(d.per_diem_code)
    timed = d.timed_code.notnull() & (code == d.timed_code)
    minutes = d.qualifying_minutes.fill_null(0)
    short_timed = timed & d.h0039_first.notnull() & (minutes < d.h0039_first)
    qualifying = (d.best_level == QUALIFIES) & ~short_timed
    covered = d.authorization_id.notnull()
    no_line_reason = ibis.cases(
        *[(d.best_level == level, reason) for level, reason in LEVEL_REASONS.items()],
        (short_timed, "under_min_minutes"), else_=ibis.null().cast("string"))
    hold = ibis.cases(
        (~covered, "outside_authorization"),
        (~_listed(d.allowed_codes, code) | (timed & d.h0039_unit.isnull()), "code_not_listed"),
        (~timed & d.mod_small.notnull() & d.team_size.isnull(), "team_size_unknown"),
        else_=ibis.null().cast("string"))
    units = ibis.ifelse(
        timed, ((minutes - d.h0039_first) / d.h0039_unit).floor().cast("int64") + 1,
        ibis.literal(1, "int64"))
    d = d.mutate(code=code, timed=timed, qualifying=qualifying, covered=covered,
                 no_line_reason=ibis.ifelse(qualifying, ibis.null().cast("string"),
                                            no_line_reason),
                 hold=ibis.ifelse(qualifying, hold, ibis.null().cast("string")),
                 units=units, month=d.contact_date.truncate("M"))
    return d.select(*DAY_COLUMNS)


@ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
def _bit_count(value: int) -> int:  # type: ignore[empty-body]
    """Set bits of an integer (DuckDB and Spark both have bit_count)."""


def _day_parameters(table: ir.Table, date: str, params: ir.Table, *names: str) -> ir.Table:
    """Add parameters of the row's (policy, day) from the parameter table (a small join)."""
    p = params.select(p_policy=params.policy_id, p_day=params.day,
                      **{n: params[n] for n in names})
    joined = table.left_join(p, [table.policy_id == p.p_policy, table[date] == p.p_day])
    return joined.drop("p_policy", "p_day")


def _billed_days(billed: ir.Table) -> ir.Table:
    return billed.select(b_member=billed.member_id, b_date=billed.service_date,
                         billed_line_id=billed.line_id
                         ).distinct(on=["b_member", "b_date"], keep="first")


def month_codes(d: ir.Table, billed: ir.Table) -> ir.Table:
    """Grain: member, month and ACT code with open days (qualifying, not held, not billed
    before). No sort: the open days are one bitmap (bit n-1 for day n), so a day's rank in
    its month is the number of bits below its own. Also the month's one ACT code (the code
    already billed, else the first open day's) and the days already billed."""
    billed_days = _billed_days(billed)
    month_billed = billed.group_by(
        mb_member=billed.member_id, mb_month=billed.service_date.truncate("M")).aggregate(
        billed_in_month=billed.service_date.nunique(),
        billed_month_code=billed.hcpcs.min())
    open_days = d.filter(d.qualifying & d.hold.isnull()).select(
        o_member=d.member_id, o_date=d.contact_date, o_month=d.month, o_code=d.code)
    open_days = open_days.anti_join(billed_days, [open_days.o_member == billed_days.b_member,
                                                  open_days.o_date == billed_days.b_date])
    bit = ibis.literal(1, "int64") << (open_days.o_date.day().cast("int64") - 1)
    per_code = open_days.group_by(c_member=open_days.o_member, c_month=open_days.o_month,
                                  c_code=open_days.o_code).aggregate(
        days_bits=bit.bit_or(), first_day=open_days.o_date.min())
    firsts = per_code.group_by(f_member=per_code.c_member, f_month=per_code.c_month
                               ).aggregate(first_code=per_code.c_code.argmin(
                                   per_code.first_day))
    firsts = firsts.left_join(month_billed, [firsts.f_member == month_billed.mb_member,
                                             firsts.f_month == month_billed.mb_month])
    firsts = firsts.select(
        "f_member", "f_month", month_code=firsts.billed_month_code.fill_null(
            firsts.first_code), billed_in_month=firsts.billed_in_month.fill_null(0))
    info = per_code.join(firsts, [per_code.c_member == firsts.f_member,
                                  per_code.c_month == firsts.f_month])
    return info.select("c_member", "c_month", "c_code", "days_bits", "month_code",
                       "billed_in_month")


def classify_days(d: ir.Table, billed: ir.Table, params: ir.Table,
                  months: ir.Table | None = None) -> ir.Table:
    """Grain: member-day. Applies the month-level rules to :func:`day_facts`: lines already
    billed, one ACT code a member-month, and the monthly cap (I.F), from
    :func:`month_codes` (computed here unless given, e.g. stored once for several uses)."""
    months = month_codes(d, billed) if months is None else months
    billed_days = _billed_days(billed)
    one = ibis.literal(1, "int64")
    d = _day_parameters(d, "contact_date", params, "cap")
    out = d.left_join(billed_days, [d.member_id == billed_days.b_member,
                                    d.contact_date == billed_days.b_date])
    out = out.left_join(months, [d.member_id == months.c_member, d.month == months.c_month,
                                 d.code == months.c_code])
    is_open = out.qualifying & out.hold.isnull() & out.billed_line_id.isnull()
    mixed = is_open & (out.code != out.month_code)
    below = out.days_bits & ((one << (out.contact_date.day().cast("int64") - 1)) - 1)
    day_rank = _bit_count(below).cast("int64") + 1
    # I.F: the first otherwise-billable days of the month bill, up to the cap less the days
    # already billed; later days are held. Held days do not use the cap.
    over = (is_open & ~mixed & out.cap.notnull() &
            (day_rank > out.cap - out.billed_in_month.fill_null(0)))
    hold = ibis.cases((mixed, "mixed_codes_in_month"),
                      (over, "over_monthly_cap"), else_=out.hold)
    return out.mutate(hold=hold).drop("b_member", "b_date", "c_member", "c_month", "c_code",
                                      "days_bits", "month_code", "billed_in_month", "cap")


def lines(days: ir.Table, reasons: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: claim line, one per member-day with a qualifying contact."""
    d = _day_parameters(days.filter(days.qualifying), "contact_date", params, "mod_small",
                        "mod_large", "inpatient_pos", "default_pos", "policy_revision",
                        "contact_section")
    status = ibis.cases((d.billed_line_id.notnull(), "already_billed"),
                        (d.hold.notnull(), "held"), else_="billable")
    key = (d.member_id + "|" + d.contact_date.cast("string") + "|" + d.code + "|" +
           d.provider_id.fill_null(""))
    line_id = d.billed_line_id.fill_null(ibis.literal("L") + key.hexdigest("md5").substr(0, 16))
    # Coding Implications: the team-size modifier goes on the per diem code only
    modifier = ibis.cases((d.timed, ibis.null().cast("string")),
                          (d.team_size == "small", d.mod_small),
                          (d.team_size == "large", d.mod_large),
                          else_=ibis.null().cast("string"))
    pos = ibis.ifelse(d.at_inpatient, d.inpatient_pos, d.longest_pos.fill_null(d.default_pos))
    out = d.select(
        line_id=line_id, member_id=d.member_id, service_date=d.contact_date, hcpcs=d.code,
        modifier=modifier, pos=pos, units=d.units, provider_id=d.provider_id,
        authorization_id=d.authorization_id, status=status, reason_id=d.hold,
        policy_id=d.policy_id, policy_revision=d.policy_revision,
        contact_section=d.contact_section, qualifying_minutes=d.qualifying_minutes)
    out = out.left_join(reasons, [out.policy_id == reasons.policy_id,
                                  out.reason_id == reasons.reason_id])
    return out.select(
        "line_id", "member_id", "service_date", "hcpcs", "modifier", "pos", "units",
        "provider_id", "authorization_id", "status", "reason_id",
        carc_group=out.carc_group, carc=out.carc, rarc=out.rarc,
        rule_id=out.reason_id.fill_null("per_diem_day"),
        section=out.reason_section.fill_null(out.contact_section),
        policy_id=out.policy_id, policy_revision=out.policy_revision,
        qualifying_minutes=out.qualifying_minutes)


def unbilled_days(days: ir.Table, reasons: ir.Table) -> ir.Table:
    """Grain: member-day with contacts but no qualifying one (no line; shown in the report)."""
    d = days.filter(~days.qualifying)
    d = d.left_join(reasons, [d.policy_id == reasons.policy_id,
                              d.no_line_reason == reasons.reason_id])
    return d.select(
        member_id=d.member_id, service_date=d.contact_date, contacts=d.contacts,
        reason_id=d.no_line_reason, reason=d.reason_summary, section=d.reason_section,
        carc_group=d.carc_group, carc=d.carc, rarc=d.rarc, policy_id=d.policy_id,
        authorization_id=d.authorization_id)


def member_months(days: ir.Table, coverage: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: member and calendar month of an authorization. A month only partly inside the
    authorizations is marked partial, never under minimum."""
    start = coverage.effective_start.truncate("M").cast("timestamp")
    months = coverage.mutate(month=ibis.range(
        start, coverage.end_date.cast("timestamp") + ibis.interval(days=1),
        ibis.interval(months=1)).unnest())
    months = months.mutate(month=months.month.cast("date"))
    month_end = months.month + ibis.interval(months=1) - ibis.interval(days=1)
    overlap = (ibis.least(months.end_date, month_end).delta(
        ibis.greatest(months.effective_start, months.month), unit="day") + 1)
    covered = months.group_by(["member_id", "month"]).aggregate(
        policy_id=months.policy_id.max(), covered_days=overlap.sum(),
        days_in_month=(month_end.day()).max())
    q = days.qualifying
    stats = days.group_by(["member_id", "month"]).aggregate(
        days_provided=days.count(where=q & days.covered),
        billable=days.count(where=q & days.hold.isnull() & days.billed_line_id.isnull()),
        already_billed=days.count(where=q & days.billed_line_id.notnull()),
        held_over_cap=days.count(where=q & (days.hold == "over_monthly_cap")),
        held_other=days.count(where=q & days.hold.notnull() &
                              (days.hold != "over_monthly_cap")),
        days_without_qualifying_contact=days.count(where=~q))
    m = covered.left_join(stats, ["member_id", "month"]).drop("member_id_right", "month_right")
    m = m.join(params, [m.policy_id == params.policy_id, m.month == params.day])
    partial = m.covered_days < m.days_in_month
    provided = m.days_provided.fill_null(0)
    return m.select(
        member_id=m.member_id, month=m.month, policy_id=m.policy_id,
        policy_revision=m.policy_revision, covered_days=m.covered_days.cast("int64"),
        days_provided=provided.cast("int64"),
        billable=m.billable.fill_null(0).cast("int64"),
        already_billed=m.already_billed.fill_null(0).cast("int64"),
        held_over_cap=m.held_over_cap.fill_null(0).cast("int64"),
        held_other=m.held_other.fill_null(0).cast("int64"),
        days_without_qualifying_contact=m.days_without_qualifying_contact.fill_null(0)
        .cast("int64"),
        min_days=m.min_days, cap=m.cap, partial=partial,
        under_minimum=~partial & m.min_days.notnull() & (provided < m.min_days))
