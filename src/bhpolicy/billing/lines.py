"""The billing outputs from the month rules (:mod:`bhpolicy.billing.engine`): the days
unnested from the bitmaps, the claim lines, the unbilled days and the member-months. The
rules each applies are :mod:`bhpolicy.billing.rules` and the monthly cap
:func:`bhpolicy.domain.rules.over_monthly_cap`, once for the days and once for the
member-months' counts.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.billing.bits import (
    NO_BITS,
    bit_union,
    count,
    not_bits,
    two_digits,
)
from bhpolicy.billing.engine import DETAIL_COLUMNS
from bhpolicy.billing.kinds import POS_DEFAULT, POS_INPATIENT, day_kind_of, kind_of
from bhpolicy.billing.rules import timed_units, under_monthly_minimum
from bhpolicy.domain.rules import over_monthly_cap

LINE_COLUMNS = ("line_id", "member_id", "service_date", "hcpcs", "modifier", "pos",
                "pos_defaulted", "units", "provider_id", "authorization_id", "status",
                "reason_id", "carc_group", "carc", "rarc", "rule_id", "section", "policy_id",
                "policy_revision", "qualifying_minutes")


def providers(coverage: ir.Table, details: ir.Table | None = None) -> ir.Table:
    """Grain: provider a line names, by its key (lines carry the key): the billing provider
    of an authorization and, with ``details``
    (:func:`~bhpolicy.billing.engine.day_details`), the provider of the
    contacts on days outside every authorization, numbered after them."""
    known = coverage.select(k_provider=coverage.provider_key,
                            t_provider=coverage.provider_id).distinct()
    if details is None:
        return known
    extra = details.filter(details.det_provider.notnull())
    extra = extra.select(t_provider=extra.det_provider).distinct()
    extra = extra.anti_join(known, extra.t_provider == known.t_provider)
    top = known.aggregate(top=known.k_provider.max())
    extra = extra.cross_join(top)
    extra = extra.select(
        k_provider=(extra.top.fill_null(0) + ibis.row_number().over(
            order_by=extra.t_provider) + 1).cast("int64"), t_provider=extra.t_provider)
    return ibis.union(known, extra)


def line_rows(days: ir.Table, details: ir.Table, providers: ir.Table) -> ir.Table:
    """Grain: claim line, one per member-day with a qualifying contact, with its numbers
    only: the text it repeats is found through ``line_kind`` (see :func:`with_text`).
    ``providers`` is :func:`providers` (with the details, so a held line outside every
    authorization names its contacts' provider)."""
    d = days.filter(days.qualifying)
    # minutes for H0039 units, the provider outside every authorization (few days)
    timed = details.filter(details.det_timed | details.det_provider.notnull())
    timed = timed.left_join(providers, timed.det_provider == providers.t_provider)
    timed = timed.select(*DETAIL_COLUMNS, det_provider_key=timed.k_provider)
    d = d.left_join(timed, [d.member_id == timed.det_member, d.contact_date == timed.det_date])
    # stable: the same member, month, code and provider give the same hash, plus the day
    line_id = d.billed_line_id.fill_null(
        d.line_key + two_digits(d.d0 + 1))
    pos_key = ibis.ifelse(d.at_inpatient, POS_INPATIENT, d.lane_pos.fill_null(POS_DEFAULT))
    billed = ibis.ifelse(d.billed_line_id.notnull(), 1, 0)
    units = ibis.ifelse(d.timed, timed_units(d, d.det_minutes), ibis.literal(1, "int64"))
    out = d.select(
        line_id=line_id, member_id=d.member_id, service_date=d.contact_date, units=units,
        provider_key=d.provider_key.fill_null(d.det_provider_key),
        authorization_id=d.authorization_id,
        qualifying_minutes=ibis.ifelse(d.timed, d.det_minutes, ibis.null().cast("int64")),
        line_kind=kind_of(d.segment, d.code_key, d.hold, billed, d.team_key, pos_key))
    return out.view()  # a table of its own: its computed key cannot join inside the chain


def with_text(rows: ir.Table, kinds: ir.Table, providers: ir.Table) -> ir.Table:
    """The claim lines: :func:`line_rows` with the text of their kind
    (:func:`~bhpolicy.billing.kinds.line_kinds`) and provider."""
    out = rows.left_join(kinds, rows.line_kind == kinds.kind)
    out = out.left_join(providers, out.provider_key == providers.k_provider)
    return out.select(*[out.t_provider.name(c) if c == "provider_id" else out[c]
                        for c in LINE_COLUMNS])


def unbilled_days(days: ir.Table, kinds: ir.Table) -> ir.Table:
    """Grain: member-day with contacts but no qualifying one (no line; shown in the report).
    ``kinds`` is :func:`unbilled_kinds`."""
    d = days.filter(~days.qualifying)
    out = d.select(member_id=d.member_id, service_date=d.contact_date,
                   authorization_id=d.authorization_id,
                   day_kind=day_kind_of(d.segment, d.reached))
    out = out.view()  # a table of its own: its computed key cannot join inside the chain
    out = out.left_join(kinds, out.day_kind == kinds.kind)
    return out.select("member_id", "service_date", "reason_id", "reason", "section",
                      "carc_group", "carc", "rarc", "policy_id", "authorization_id")


def over_cap_days(r: ir.Table) -> ir.IntegerValue:
    """Bitmap of the row's days past the monthly cap
    (:func:`~bhpolicy.domain.rules.over_monthly_cap`, the rule
    :func:`~bhpolicy.billing.engine.days` applies day by day): open days of the month's code
    whose rank (bits below, plus one) passes the cap less the days already billed."""
    past = bit_union([ibis.ifelse(over_monthly_cap(r, count(r.code_open & ((1 << d) - 1)) + 1,
                                               r.billed_in_month),
                              ibis.literal(1 << d, "int64"), NO_BITS) for d in range(31)])
    return ibis.ifelse(r.code == r.month_code, r.open_bits & past, NO_BITS)


def member_months(rules: ir.Table, coverage: ir.Table, params: ir.Table, segs: ir.Table
                  ) -> ir.Table:
    """Grain: member and calendar month of an authorization. A month only partly inside the
    authorizations is marked partial, never under minimum. Counted from the bitmaps of
    :func:`~bhpolicy.billing.engine.month_rules` (the same rules
    :func:`~bhpolicy.billing.engine.days` applies day by day)."""
    start = coverage.effective_start.truncate("M").cast("timestamp")
    months = coverage.mutate(month=ibis.range(
        start, coverage.end_date.cast("timestamp") + ibis.interval(days=1),
        ibis.interval(months=1)).unnest())
    months = months.mutate(month=months.month.cast("date"))
    month_end = months.month + ibis.interval(months=1) - ibis.interval(days=1)
    overlap = (ibis.least(months.end_date, month_end).delta(
        ibis.greatest(months.effective_start, months.month), unit="day") + 1)
    covered = months.group_by(["member_id", "month"]).aggregate(
        policy_id=months.policy_id.max(), covered_days=overlap.sum().cast("int32"),
        days_in_month=(month_end.day()).max())
    seg = segs.select("monthly_max_billed_days", seg_policy="policy_id",
                      seg_segment="segment")
    r = rules.join(seg, [rules.policy_id == seg.seg_policy, rules.segment == seg.seg_segment])
    r = r.mutate(n_over=count(over_cap_days(r)))  # once (read by two counts below)
    mixed = ibis.ifelse(r.code != r.month_code, r.open_bits, NO_BITS)
    grouped = ibis.ifelse(r.group_hold != 0, r.qual_bits, NO_BITS)
    # day counts: int32 (DuckDB sums an int64 to a 128-bit integer, which Parquet would
    # store as a double)
    stats = r.group_by(["member_id", "month"]).aggregate(
        days_provided=ibis.ifelse(r.covered, count(r.qual_bits), 0).sum().cast("int32"),
        billable=(count(r.open_bits) - count(mixed) - r.n_over).sum().cast("int32"),
        already_billed=count(r.qual_bits & r.billed_bits).sum().cast("int32"),
        held_over_cap=r.n_over.sum().cast("int32"),
        held_other=(count(mixed) + count(grouped) + count(r.pos_hold_bits)).sum()
        .cast("int32"),
        days_without_qualifying_contact=count(r.any_bits & not_bits(r.qual_bits)).sum()
        .cast("int32"))
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
        min_days=m.monthly_min_service_days, cap=m.monthly_max_billed_days, partial=partial,
        under_minimum=under_monthly_minimum(m, partial, provided))
