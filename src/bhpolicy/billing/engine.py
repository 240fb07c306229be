"""The billing engine's stages as Ibis expressions, each applying the rules of
:mod:`bhpolicy.billing.rules` to the encoding of :mod:`bhpolicy.billing.bits`. Grain of each
table is stated; no Python loop touches a contact, a day or a line, so one member and a whole
state run the same code.

contacts (one row per contact)
  -> qualified contacts: coverage by an authorization, pack parameters of the day, and how far
     the contact gets through the checks (provider, participant, mode, group, minutes)
  -> month_facts (one row per member, month, authorization, pack and parameter segment):
     bitmaps of days, bit n-1 for day n, in one pass over the contacts; no member-day
     aggregate (the largest cost of a straightforward version)
  -> month_rows (what is constant in a row: code, provider, team size, holds) and
     day details (the few member-days whose POS or units need the contacts again)
  -> month_rules (qualifying, open and already-billed days; the month's code and the open
     days the monthly cap ranks, as bitmaps)
  -> days (one row per member-day with any contact, unnested from the bitmaps)
  -> lines (one per member-day with a qualifying contact: billable, held or already
     billed), unbilled_days (days with contacts but none qualifying) and member_months
     (:mod:`bhpolicy.billing.lines`)
Authorizations become coverage in :mod:`bhpolicy.domain.coverage` and contacts are checked in
:mod:`bhpolicy.domain.contacts` (both shared with the audit).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from bhpolicy.billing import rules
from bhpolicy.billing.bits import (
    LANE_BITS,
    LANE_DAYS,
    LANES,
    NO_BITS,
    bit_and,
    bit_count,
    bit_or,
    date_of_day,
    day_index,
    day_pos_lanes,
    days_of,
    disagreeing_days,
    has,
    int64,
    lane_slot,
    month_of,
    not_bits,
    one,
)
from bhpolicy.billing.kinds import HOLD
from bhpolicy.domain.contacts import qualified_contacts
from bhpolicy.domain.rules import (
    QUALIFIES,
    billing_code,
    code_not_in_coding_table,
    is_qualifying_contact,
    is_timed,
    over_monthly_cap,
    short_of_first_unit,
)

QUALIFYING_BITS = f"reach{QUALIFIES}"  # month_facts' bitmap of days with a qualifying contact


def other_provider_contacts(rows: ir.Table) -> ir.Table:
    """Grain: contact by another provider
    (:func:`~bhpolicy.domain.coverage.by_other_provider`), from checked contacts with
    :func:`~bhpolicy.domain.coverage.cover`'s columns, ``row`` and ``file``."""
    return rows.select("contact_id", "member_id", "provider_id", "contact_date", "minutes",
                       "mode", "participant", authorized_provider=rows.auth_provider,
                       authorization_id=rows.authorization_id, row=rows.row, file=rows.file)


def qualify_contacts(contacts: ir.Table, coverage: ir.Table, member_policy: ir.Table,
                     params: ir.Table) -> ir.Table:
    """Grain: contact. :func:`bhpolicy.domain.contacts.qualified_contacts` (the covering
    authorization, the day's pack parameters, ``level``: how far the contact gets through
    the checks, :data:`QUALIFIES` = qualifies) with ``at_inpatient``, the inpatient POS
    (:func:`~bhpolicy.billing.rules.at_inpatient_pos`)."""
    q = qualified_contacts(contacts, coverage, member_policy, params)
    return q.mutate(at_inpatient=rules.at_inpatient_pos(q))


def month_facts(q: ir.Table) -> ir.Table:
    """Grain: member, calendar month, authorization (null outside every one), pack and
    parameter segment. One pass over the contacts into bitmaps of days: with any contact,
    with a contact that passes the first k-1 checks (``reach<k>``, so a day's furthest step
    is its highest k), at the inpatient POS, with a qualifying contact that has a POS; and
    per day the OR and AND of those POS codes (equal when they agree, so the day's POS is
    known without the contacts). The inpatient days count contacts with the participants
    the pack names for it (``inpat_<p>``), whatever their level. No member-day aggregate: a
    month has ~15 contact days."""
    d0 = day_index(q.contact_date)
    bit = one() << d0
    with_pos = (is_qualifying_contact(q.level)) & q.pos.notnull()
    shift = (d0 % LANE_DAYS) * LANE_BITS
    lane = d0 // LANE_DAYS
    field = q.pos.cast("int64") << shift
    others = not_bits(int64(2**LANE_BITS - 1) << shift)
    metrics: dict[str, ir.Value] = {
        "any_bits": bit_or(bit),
        **{f"reach{k}": bit_or(bit, where=q.level >= k) for k in range(2, QUALIFIES + 1)},
        "inpatient_bits": bit_or(bit, where=q.at_inpatient),
        "pos_bits": bit_or(bit, where=with_pos),
    }
    for j in range(LANES):
        metrics[f"pos_or{j}"] = bit_or(field, where=with_pos & (lane == j))
        metrics[f"pos_and{j}"] = bit_and(field | others, where=with_pos & (lane == j))
    # the authorization and the pack by number (segments are numbered across packs):
    # integers are cheaper group keys than their text, joined back in month_rows
    return q.group_by(member_id=q.member_id, month=month_of(q.contact_date),
                      auth_key=q.auth_key, segment=q.segment).aggregate(**metrics)


def month_rows(facts: ir.Table, coverage: ir.Table, segs: ir.Table) -> ir.Table:
    """Grain: as :func:`month_facts`, with what is constant in a row: the code, the team
    size, the provider, the hold for its qualifying days (outside authorization, plan
    policy not yet issued, code not listed, team size unknown), and ``detail_bits``: days
    whose POS (qualifying contacts at different places), units (a per-15-minute code) or
    provider (outside every authorization: the day's contacts name it) need the contacts.
    ``segs``: :func:`~bhpolicy.domain.parameters.segments` of the run's parameters."""
    auth = coverage.select(
        a_key=coverage.auth_key, authorization_id=coverage.authorization_id,
        provider_id=coverage.provider_id, team_size=coverage.team_size,
        auth_code=coverage.billing_code, code_key=coverage.code_key,
        team_key=coverage.team_key, provider_key=coverage.provider_key)
    r = facts.left_join(auth, facts.auth_key == auth.a_key).drop("a_key")
    seg = segs.rename(seg_segment="segment")
    r = r.join(seg, r.segment == seg.seg_segment).drop("seg_segment")
    code = billing_code(r, r.auth_code)
    timed = is_timed(r, code)
    covered = r.authorization_id.notnull()
    hold = ibis.cases(
        (~covered, HOLD["outside_authorization"]),
        (rules.plan_policy_not_yet_issued(r), HOLD["plan_policy_not_yet_issued"]),
        (code_not_in_coding_table(r, code, timed), HOLD["code_not_listed"]),
        (rules.team_size_unknown(r, timed, r.team_size), HOLD["team_size_unknown"]),
        else_=0)
    qual = r[QUALIFYING_BITS].fill_null(0)
    detail = disagreeing_days(r) | ibis.ifelse(timed | ~covered, qual, NO_BITS)
    # for the lines' stable ids: a hash of what identifies the row's lines but the day
    key = (r.member_id + "|" + r.month.cast("string") + "|" + code + "|" +
           r.provider_id.fill_null(""))
    r = r.mutate(code=code, timed=timed, covered=covered, group_hold=hold,
                 detail_bits=detail,
                 line_key=ibis.literal("L") + key.hexdigest("md5").substr(0, 16))
    # stored narrow: the segment's values are joined again where the days are unnested
    # (provider and team size travel as keys: the provider's text is needed only for the
    # line key above)
    return r.select(*facts.columns, "authorization_id", "policy_id", "code", "timed",
                    "covered",
                    "group_hold", "detail_bits", "line_key", "provider_key",
                    code_key=r.code_key.fill_null(0), team_key=r.team_key.fill_null(0))


def detail_months(rows: ir.Table) -> ir.Table:
    """Grain: member-month with days whose contacts are read again (``detail_bits``): days
    whose POS or units need the contacts. A bitmap a member-month: a smaller lookup than one
    row a day."""
    r = rows.filter(rows.detail_bits != 0)
    return r.group_by(x_member=r.member_id, x_month=r.month).aggregate(
        x_bits=bit_or(r.detail_bits))


def detail_contacts(contacts: ir.Table, wanted: ir.Table,
                    qualify: Callable[[ir.Table], ir.Table]) -> ir.Table:
    """Grain: qualifying contact on a :func:`detail_months` day. The days are picked before
    the contacts are qualified (a small share)."""
    c = contacts.join(wanted, [contacts.member_id == wanted.x_member,
                               contacts.contact_date.truncate("M") == wanted.x_month])
    c = c.filter(has(c.x_bits, one() << day_index(c.contact_date)))
    q = qualify(c.drop("x_member", "x_month", "x_bits"))
    return q.filter(is_qualifying_contact(q.level))


DETAIL_COLUMNS = ("det_member", "det_date", "det_minutes", "det_pos", "det_timed",
                  "det_short", "det_provider")


def day_details(contacts: ir.Table, wanted: ir.Table,
                qualify: Callable[[ir.Table], ir.Table]) -> ir.Table:
    """Grain: member-day of :func:`detail_months` with a qualifying contact: the summed
    minutes (units of a per-15-minute code, and whether the day reaches the first unit) and
    the POS of the longest contact that has one, and outside every authorization the
    provider of the longest contact (a tie going to the higher id), so the held line reaches
    that team (columns ``DETAIL_COLUMNS``)."""
    x = detail_contacts(contacts, wanted, qualify)
    # minutes as fixed-width digits before the id: the text max is the longest contact's
    # (built only outside every authorization, a CASE skips the other rows)
    longest_provider = ibis.ifelse(
        x.authorization_id.isnull(),
        x.minutes.cast("string").lpad(20, "0") + x.provider_id, ibis.null().cast("string"))
    g = x.group_by(det_member=x.member_id, det_date=x.contact_date).aggregate(
        det_minutes=x.minutes.sum(),
        # the longest contact's POS as the low bits of max(minutes, POS): an integer max,
        # cheaper than an arg-max (a tie goes to the higher POS code)
        det_pos=((x.minutes << LANE_BITS) | x.pos.cast("int64")).max(
            where=x.pos.notnull()) & (2**LANE_BITS - 1),
        det_first=x.h0039_first_unit_min_minutes.max(), det_timed=x.timed.any(),
        det_longest=longest_provider.max())
    short = short_of_first_unit(g.det_timed, g.det_minutes, g.det_first)
    return g.mutate(det_short=short, det_provider=g.det_longest.substr(20)
                    ).select(*DETAIL_COLUMNS)


def billed_days(billed: ir.Table) -> ir.Table:
    return billed.select(b_member=billed.member_id, b_date=billed.service_date,
                         billed_line_id=billed.line_id
                         ).distinct(on=["b_member", "b_date"], keep="first")


def month_rules(rows: ir.Table, details: ir.Table, billed: ir.Table | None,
                hold_missing_pos: bool = False) -> ir.Table:
    """Grain: as :func:`month_rows`, with the month-level rules as bitmaps: ``qual_bits``
    (qualifying days), ``open_bits`` (qualifying, not held, not billed before), the open
    days of the member-month for the row's code (a day's rank is the number of bits below
    it: no sort), the month's one ACT code (the code already billed, else the first open
    day's), the days already billed and ``pos_hold_bits``: with ``hold_missing_pos``, the
    qualifying days no contact gives a place of service (held, so they do not use the
    cap; otherwise they take the pack's default and bill). ``billed`` None: no lines
    were billed before (no day is billed, no month has a code yet: nothing to join)."""
    # per member-month from the days read again: days short of a first H0039 unit, and
    # the longest contact's POS in the lanes (``fix<j>``) for days whose contacts disagree
    det_d0 = day_index(details.det_date)
    has_pos = details.det_pos.notnull()
    field = details.det_pos << ((det_d0 % LANE_DAYS) * LANE_BITS)
    short = details.group_by(s_member=details.det_member,
                             s_month=details.det_date.truncate("M")).aggregate(
        short_bits=bit_or(one() << det_d0, where=details.det_short),
        **{f"fix{j}": bit_or(field, where=has_pos & (det_d0 // LANE_DAYS == j))
           for j in range(LANES)})
    def with_bits(t: ir.Table) -> ir.Table:
        """``t`` (month rows) with the bits of the days read again and the days billed."""
        t = t.left_join(short, [t.member_id == short.s_member, t.month == short.s_month])
        t = t.drop("s_member", "s_month")
        billed_bits: ir.IntegerValue = NO_BITS
        if billed is not None:
            bd = billed_days(billed)
            month_billed = bd.group_by(mb_member=bd.b_member,
                                       mb_month=bd.b_date.truncate("M")).aggregate(
                billed_bits=bit_or(one() << day_index(bd.b_date)))
            t = t.left_join(month_billed, [t.member_id == month_billed.mb_member,
                                           t.month == month_billed.mb_month])
            t = t.drop("mb_member", "mb_month")
            billed_bits = t.billed_bits.fill_null(0)
        qual = t[QUALIFYING_BITS].fill_null(0) & not_bits(t.short_bits.fill_null(0))
        pos_hold: ir.IntegerValue = NO_BITS
        if hold_missing_pos:  # no POS from a qualifying contact, nor the inpatient one
            with_place = t.pos_bits.fill_null(0) | t.inpatient_bits.fill_null(0)
            pos_hold = ibis.ifelse(t.group_hold == 0,
                                   qual & not_bits(with_place) & not_bits(billed_bits), NO_BITS)
        open_bits = ibis.ifelse(t.group_hold == 0,
                                qual & not_bits(billed_bits) & not_bits(pos_hold), NO_BITS)
        return t.mutate(qual_bits=qual, open_bits=open_bits, billed_bits=billed_bits,
                        billed_in_month=bit_count(billed_bits).cast("int64"),
                        pos_hold_bits=pos_hold)

    r = with_bits(rows)
    # the open days per code from the few columns they need: sharing the wide rows with
    # the final join would make the database keep a copy of them
    narrow = with_bits(rows.select("member_id", "month", "code", "group_hold", QUALIFYING_BITS,
                                   *(("pos_bits", "inpatient_bits") if hold_missing_pos
                                     else ())))
    per_code = narrow.group_by(c_member=narrow.member_id, c_month=narrow.month,
                               c_code=narrow.code).aggregate(code_open=bit_or(narrow.open_bits))
    firsts = per_code.filter(per_code.code_open != 0)
    lowest_bit = firsts.code_open & -firsts.code_open
    firsts = firsts.group_by(f_member=firsts.c_member, f_month=firsts.c_month).aggregate(
        first_code=firsts.c_code.argmin(lowest_bit))
    if billed is None:
        firsts = firsts.select("f_member", "f_month", month_code=firsts.first_code)
    else:
        billed_codes = billed.group_by(
            bc_member=billed.member_id, bc_month=billed.service_date.truncate("M")
        ).aggregate(billed_month_code=billed.hcpcs.min())
        firsts = firsts.left_join(billed_codes, [firsts.f_member == billed_codes.bc_member,
                                                 firsts.f_month == billed_codes.bc_month])
        firsts = firsts.select("f_member", "f_month", month_code=firsts.billed_month_code
                               .fill_null(firsts.first_code))
    r = r.left_join(per_code, [r.member_id == per_code.c_member, r.month == per_code.c_month,
                               r.code == per_code.c_code])
    r = r.left_join(firsts, [r.member_id == firsts.f_member, r.month == firsts.f_month])
    r = r.mutate(**day_pos_lanes(r))
    # what only picked the days read again, and the POS lanes merged above, are not kept
    return r.drop("c_member", "c_month", "c_code", "f_member", "f_month", "detail_bits",
                  "short_bits", *[f"{lane}{j}" for lane in ("pos_or", "pos_and", "fix")
                                  for j in range(LANES)])


def days(month: ir.Table, billed: ir.Table | None, segs: ir.Table,
         qualifying: bool | None = None) -> ir.Table:
    """Grain: member-day with any contact, unnested from :func:`month_rules` (only the
    days with a qualifying contact, or only those without, when ``qualifying`` says so: a
    day is unnested only where it is used). Applies the month rules to each day: already
    billed, one ACT code a member-month, and the monthly cap (I.F: the first
    otherwise-billable days bill, up to the cap less the days already billed; later days
    are held; held days do not use the cap). With ``pos_hold_bits`` (see
    :func:`month_rules`) a day with no place of service is held instead."""
    seg = segs.rename(seg_policy="policy_id", seg_segment="segment")
    r = month.join(seg, [month.policy_id == seg.seg_policy, month.segment == seg.seg_segment])
    r = r.drop("seg_policy", "seg_segment")
    wanted = {None: r.any_bits, True: r.qual_bits,
              False: r.any_bits & not_bits(r.qual_bits)}[qualifying]
    r = r.mutate(d0=days_of(wanted))
    bit = one() << r.d0
    date = date_of_day(r.month, r.d0)
    qualifying = has(r.qual_bits, bit)
    is_open = has(r.open_bits, bit)
    mixed = is_open & (r.code != r.month_code)
    rank = bit_count(r.code_open.fill_null(0) & (bit - 1)).cast("int64") + 1
    over = is_open & ~mixed & over_monthly_cap(r, rank, r.billed_in_month)
    hold = ibis.cases((mixed, HOLD["mixed_codes_in_month"]), (over, HOLD["over_monthly_cap"]),
                      (has(r.pos_hold_bits, bit), HOLD["place_of_service_missing"]),
                      (qualifying, r.group_hold), else_=0)
    # the furthest check the day's contacts reached: its reason for no line (NO_LINE)
    level = ibis.cases(*[(has(r[f"reach{k}"], bit), k)
                         for k in range(QUALIFIES, 1, -1)], else_=1)
    # the longest qualifying contact's POS (month_rules' lanes), none without a POS
    lane_pos = ibis.ifelse(has(r.pos_bits, bit), lane_slot(r, "pos", r.d0),
                           ibis.null().cast("int64"))
    d = r.mutate(contact_date=date, qualifying=qualifying, hold=hold,
                 reached=level, at_inpatient=has(r.inpatient_bits, bit),
                 lane_pos=lane_pos)
    if billed is None:  # see month_rules
        return d.mutate(billed_line_id=ibis.null().cast("string"))
    bd = billed_days(billed)
    d = d.left_join(bd, [d.member_id == bd.b_member, d.contact_date == bd.b_date])
    return d.drop("b_member", "b_date")


Keep = Callable[[str, ir.Table], ir.Table]


def bill_days(contacts: ir.Table, qualify: Callable[[ir.Table], ir.Table],
              coverage: ir.Table, segs: ir.Table, billed: ir.Table | None,
              keep: Keep = lambda _, table: table,
              step: Callable[[str], None] = lambda _: None,
              hold_missing_pos: bool = False) -> tuple[ir.Table, ir.Table, ir.Table]:
    """(month rules, days, day details): the stages above in order. ``qualify``
    turns checked contacts into qualified ones; ``keep(name, table)`` may compute a stage
    once and return it stored (each is small but days, which is never stored); the month
    rows are not needed once the month rules are stored. ``hold_missing_pos``: see
    :func:`month_rules`."""
    # the facts go straight into the month rows (one statement, one stored table)
    rows = keep("month_rows", month_rows(month_facts(qualify(contacts)), coverage, segs))
    step("month rules")
    wanted = keep("detail_months", detail_months(rows))
    step("days needing their contacts")
    details = keep("day_details", day_details(contacts, wanted, qualify))
    step("monthly cap and codes")
    month = keep("month_rules", month_rules(rows, details, billed, hold_missing_pos))
    return month, days(month, billed, segs), details
