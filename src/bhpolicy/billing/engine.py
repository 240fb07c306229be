"""The billing rules as Ibis expressions. Grain of each table is stated; no Python loop touches
a contact, a day or a line, so one member and a whole state run the same code.

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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from bhpolicy.billing.params import MODES, PARTICIPANTS
from bhpolicy.engines import current_dialect
from bhpolicy.io.readers import error_rows

# Holds as small numbers (0: none), and the team sizes of the input (0: none); line_kinds
# turns the numbers back into text.
HOLDS = (None, "outside_authorization", "code_not_listed", "team_size_unknown",
         "mixed_codes_in_month", "over_monthly_cap", "plan_policy_not_yet_issued",
         "place_of_service_missing")
HOLD = {reason: n for n, reason in enumerate(HOLDS) if reason}
TEAM_SIZES = (None, "small", "large")

# How far a contact gets through the checks, and the reason a day stops at each step.
LEVEL_REASONS = {1: "other_provider", 2: "not_member_or_family", 3: "not_face_to_face",
                 4: "group_only", 5: "under_min_minutes", 6: "place_of_service_excluded"}
QUALIFIES = 7
QUALIFYING_BITS = f"reach{QUALIFIES}"  # month_facts' bitmap of days with a qualifying contact


def _listed(joined: ir.StringValue, item: ir.StringValue) -> ir.BooleanValue:
    """``item`` appears in a ';a;b;' list (a portable substring test)."""
    return joined.contains(ibis.literal(";") + item + ibis.literal(";"))


def code_not_listed(allowed_codes: ir.StringValue, code: ir.StringValue,
                    timed: ir.BooleanValue, unit_minutes: ir.IntegerValue) -> ir.BooleanValue:
    """Coding Implications: ``code`` is not in the pack's coding table on the day (SC: H0039
    from 03/25 until 02/26), or is a per-15-minute code the pack gives no unit length. The
    table "does not guarantee coverage": a hold for review wherever the pack's reason has no
    CARC. Billing holds such a day; the audit flags a paid one the same way."""
    return ~_listed(allowed_codes, code) | (timed & unit_minutes.isnull())


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
    # numbers for text a line repeats (see line_kinds) and for cheaper group keys: the
    # authorization (its row in its file), the billing code (0: the pack's per diem code),
    # the team size and the provider. Distinct values are numbered in order (few; cheaper
    # than ranking every authorization) so every query gets the same numbers.
    coverage = coverage.mutate(
        auth_key=coverage._line,
        team_key=ibis.cases(*[(coverage.team_size == size, n)
                              for n, size in enumerate(TEAM_SIZES) if size],
                            else_=0).cast("int64"))
    providers = coverage.select(k_provider_id=coverage.provider_id).distinct()
    providers = providers.mutate(provider_key=ibis.row_number().over(
        order_by=providers.k_provider_id).cast("int64"))
    codes = coverage.filter(coverage.billing_code.notnull())
    codes = codes.select(k_code=codes.billing_code).distinct()
    codes = codes.mutate(code_key=(ibis.row_number().over(order_by=codes.k_code) + 1
                                   ).cast("int64"))
    coverage = coverage.left_join(providers, coverage.provider_id == providers.k_provider_id)
    coverage = coverage.left_join(codes, coverage.billing_code == codes.k_code)
    coverage = coverage.mutate(code_key=coverage.code_key.fill_null(0)).drop(
        "k_provider_id", "k_code")
    member_policy = ok.group_by("member_id").aggregate(
        member_policy_id=ok.policy_id.argmax(ok.start_date))
    return coverage, member_policy, ibis.union(*errors)


def cover(contacts: ir.Table, coverage: ir.Table, member: str = "member_id",
          date: str = "contact_date") -> ir.Table:
    """Grain: contact (a left join). Adds the authorization covering the contact's member and
    date, if any (coverage rows of a member do not overlap): ``auth_key``, ``authorization_id``,
    ``auth_provider``, ``contributing`` (agencies), ``auth_policy``, ``team_size``,
    ``auth_code``, ``effective_start``, ``auth_end``."""
    cov = coverage.select(
        cov_member=coverage.member_id, auth_key=coverage.auth_key,
        authorization_id=coverage.authorization_id,
        auth_provider=coverage.provider_id, contributing=coverage.contributing_provider_ids,
        auth_policy=coverage.policy_id, team_size=coverage.team_size,
        auth_code=coverage.billing_code, effective_start=coverage.effective_start,
        auth_end=coverage.end_date)
    return contacts.left_join(cov, [contacts[member] == cov.cov_member,
                                    contacts[date] >= cov.effective_start,
                                    contacts[date] <= cov.auth_end])


def by_other_provider(covered: ir.Table, provider: ir.StringValue) -> ir.BooleanValue:
    """A contact (with :func:`cover`'s columns) by a provider that is neither the covering
    authorization's nor one of its contributing agencies: reported, it does not count."""
    return covered.authorization_id.notnull() & (provider != covered.auth_provider) & ~_listed(
        ibis.literal(";") + covered.contributing.fill_null("") + ibis.literal(";"), provider)


def other_provider_contacts(rows: ir.Table) -> ir.Table:
    """Grain: contact by another provider (:func:`by_other_provider`), from checked contacts
    with :func:`cover`'s columns, ``row`` and ``file``."""
    return rows.select("contact_id", "member_id", "provider_id", "contact_date", "minutes",
                       "mode", "participant", authorized_provider=rows.auth_provider,
                       authorization_id=rows.authorization_id, row=rows.row, file=rows.file)


def qualify_contacts(contacts: ir.Table, coverage: ir.Table, member_policy: ir.Table,
                     params: ir.Table) -> ir.Table:
    """Grain: contact. Adds the covering authorization, the day's pack parameters and
    ``level``: how far the contact gets through the checks (:data:`QUALIFIES` = qualifies)."""
    joined = cover(contacts, coverage)
    joined = joined.left_join(member_policy, joined.member_id == member_policy.member_id)
    joined = joined.mutate(policy_id=joined.auth_policy.fill_null(joined.member_policy_id))
    joined = joined.join(params, [joined.policy_id == params.policy_id,
                                  joined.contact_date == params.day])
    covered = joined.authorization_id.notnull()
    code = joined.auth_code.fill_null(joined.per_diem_code)
    timed = joined.timed_code.notnull() & (code == joined.timed_code)
    provider_ok = ~by_other_provider(joined, joined.provider_id)
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
        # SC Other General Guidelines (pos_restrictions): a contact at a place of service
        # the pack excludes does not count; null where the pack excludes none
        (joined.pos_excluded.notnull() & _listed(joined.pos_excluded, joined.pos)
         .fill_null(False), 6),
        else_=QUALIFIES)
    # MN Billing: POS 21 "if ACT services were provided to a recipient in an inpatient
    # hospital": only contacts with the participants the pack names (the recipient) decide
    inpatient_from = ibis.cases(
        *[(joined.participant == p, joined[f"inpat_{p}"]) for p in PARTICIPANTS],
        else_=False)
    return joined.mutate(covered=covered, code=code, timed=timed, level=level,
                         at_inpatient=joined.inpatient_pos.notnull() &
                         (joined.pos == joined.inpatient_pos) & inpatient_from)


# Day bitmaps: bit n-1 of an int64 is day n of the month. The POS of each day is kept in
# lanes: 4 int64 values of 9 days x 7 bits (a two-digit POS needs 7). Encoding constants, not
# policy numbers.
LANES, LANE_DAYS, LANE_BITS = 4, 9, 7
NO_BITS = ibis.literal(0, "int64")


@ibis.udf.scalar.builtin(name="bigint")  # type: ignore[untyped-decorator]
def _spark_bigint(value: int) -> int:  # type: ignore[empty-body]
    """Spark's cast to BIGINT as a function: Ibis prints an int64 literal as a bare number,
    which Spark types INT, and a shift of an INT wraps at 32 bits."""


def _int64(value: int) -> ir.IntegerValue:
    """``value`` as an int64 the engine shifts as one (see :func:`_spark_bigint`)."""
    if current_dialect() == "spark":
        return _spark_bigint(ibis.literal(value, "int64"))
    return ibis.literal(value, "int64")


def _one() -> ir.IntegerValue:
    return _int64(1)


@ibis.udf.agg.builtin(name="bit_or")  # type: ignore[untyped-decorator]
def _spark_bit_or(value: int) -> int:  # type: ignore[empty-body]
    """The bitwise OR aggregate (DuckDB and Spark both have it; Ibis has no Spark rule)."""


@ibis.udf.agg.builtin(name="bit_and")  # type: ignore[untyped-decorator]
def _spark_bit_and(value: int) -> int:  # type: ignore[empty-body]
    """The bitwise AND aggregate, as :func:`_spark_bit_or`."""


def _bit_or(value: ir.IntegerValue, where: ir.BooleanValue | None = None
            ) -> ir.IntegerScalar:
    """``value.bit_or(where=...)``; on Spark the builtin of the same name."""
    if current_dialect() == "spark":
        return _spark_bit_or(value, where=where)
    return value.bit_or(where=where)


def _bit_and(value: ir.IntegerValue, where: ir.BooleanValue | None = None
             ) -> ir.IntegerScalar:
    if current_dialect() == "spark":
        return _spark_bit_and(value, where=where)
    return value.bit_and(where=where)


def _day_index(date: ir.DateValue) -> ir.IntegerValue:
    return date.day().cast("int64") - 1


def _month_of(date: ir.DateValue) -> ir.DateValue:
    """The first day of the date's month, as a date (DuckDB's date_trunc gives a timestamp,
    which would change how the month is written in line ids)."""
    return _plus_days(date, (1 - date.day()).cast("int32"))


def _not(bits: ir.IntegerValue) -> ir.IntegerValue:
    """Bitwise NOT (as XOR: Ibis prints ``~(a << b)`` without the parentheses)."""
    return bits ^ ibis.literal(-1, "int64")


def _has(bits: ir.IntegerValue, bit: ir.IntegerValue) -> ir.BooleanValue:
    return (bits.fill_null(0) & bit) != 0


@ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
def _bit_count(value: int) -> int:  # type: ignore[empty-body]
    """Set bits of an integer (DuckDB and Spark both have bit_count)."""


def month_facts(q: ir.Table) -> ir.Table:
    """Grain: member, calendar month, authorization (null outside every one), pack and
    parameter segment. One pass over the contacts into bitmaps of days: with any contact,
    with a contact that passes the first k-1 checks (``reach<k>``, so a day's furthest step
    is its highest k), at the inpatient POS, with a qualifying contact that has a POS; and
    per day the OR and AND of those POS codes (equal when they agree, so the day's POS is
    known without the contacts). The inpatient days count contacts with the participants
    the pack names for it (``inpat_<p>``), whatever their level. No member-day aggregate: a
    month has ~15 contact days."""
    d0 = _day_index(q.contact_date)
    bit = _one() << d0
    with_pos = (q.level == QUALIFIES) & q.pos.notnull()
    shift = (d0 % LANE_DAYS) * LANE_BITS
    lane = d0 // LANE_DAYS
    field = q.pos.cast("int64") << shift
    others = _not(_int64(2**LANE_BITS - 1) << shift)
    metrics: dict[str, ir.Value] = {
        "any_bits": _bit_or(bit),
        **{f"reach{k}": _bit_or(bit, where=q.level >= k) for k in range(2, QUALIFIES + 1)},
        "inpatient_bits": _bit_or(bit, where=q.at_inpatient),
        "pos_bits": _bit_or(bit, where=with_pos),
    }
    for j in range(LANES):
        metrics[f"pos_or{j}"] = _bit_or(field, where=with_pos & (lane == j))
        metrics[f"pos_and{j}"] = _bit_and(field | others, where=with_pos & (lane == j))
    # the authorization and the pack by number (segments are numbered across packs):
    # integers are cheaper group keys than their text, joined back in month_rows
    return q.group_by(member_id=q.member_id, month=_month_of(q.contact_date),
                      auth_key=q.auth_key, segment=q.segment).aggregate(**metrics)


def _lane_slot(row: ir.Table, prefix: str, d0: ir.IntegerValue) -> ir.IntegerValue:
    """The 7-bit field of day index ``d0`` in the lanes ``<prefix>0..3``."""
    lane = ibis.cases(*[(d0 // LANE_DAYS == j, row[f"{prefix}{j}"]) for j in range(LANES)])
    return (lane >> ((d0 % LANE_DAYS) * LANE_BITS)) & (2**LANE_BITS - 1)


def _disagreeing_days(row: ir.Table) -> ir.IntegerValue:
    """Bitmap of days whose qualifying contacts have more than one POS (OR != AND): the
    longest contact decides there, so those days are looked up in the contacts."""
    out: ir.IntegerValue = NO_BITS
    for j in range(LANES):
        diff = row[f"pos_or{j}"].fill_null(0) ^ row[f"pos_and{j}"].fill_null(-1)
        for k in range(LANE_DAYS):
            slot = (diff >> (k * LANE_BITS)) & (2**LANE_BITS - 1)
            out = out | ibis.ifelse(slot != 0, ibis.literal(1 << (j * LANE_DAYS + k), "int64"),
                                    NO_BITS)
    return out & row.pos_bits.fill_null(0)


def _day_pos_lanes(row: ir.Table) -> dict[str, ir.IntegerValue]:
    """``pos<j>``: each day's POS in lanes. Where the day's POS codes agree (OR == AND) the
    lanes of the first pass, where they do not the longest contact's (``fix<j>``, from the
    days read again; every such day is read again)."""
    lanes: dict[str, ir.IntegerValue] = {}
    for j in range(LANES):
        diff = row[f"pos_or{j}"].fill_null(0) ^ row[f"pos_and{j}"].fill_null(-1)
        mask: ir.IntegerValue = NO_BITS
        for k in range(LANE_DAYS):
            slot = ibis.literal((2**LANE_BITS - 1) << (k * LANE_BITS), "int64")
            mask = mask | ibis.ifelse((diff & slot) != 0, slot, NO_BITS)
        lanes[f"pos{j}"] = ((row[f"pos_or{j}"].fill_null(0) & _not(mask)) |
                            (row[f"fix{j}"].fill_null(0) & mask))
    return lanes


def _segments(params: ir.Table) -> ir.Table:
    """One row per (pack, segment): the values every day of the segment shares."""
    return params.drop("day").distinct(on=["policy_id", "segment"], keep="first")


def month_rows(facts: ir.Table, coverage: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: as :func:`month_facts`, with what is constant in a row: the code, the team
    size, the provider, the hold for its qualifying days (outside authorization, plan
    policy not yet issued, code not listed, team size unknown), and ``detail_bits``: days
    whose POS (qualifying contacts at different places), units (a per-15-minute code) or
    provider (outside every authorization: the day's contacts name it) need the contacts."""
    auth = coverage.select(
        a_key=coverage.auth_key, authorization_id=coverage.authorization_id,
        provider_id=coverage.provider_id, team_size=coverage.team_size,
        auth_code=coverage.billing_code, code_key=coverage.code_key,
        team_key=coverage.team_key, provider_key=coverage.provider_key)
    r = facts.left_join(auth, facts.auth_key == auth.a_key).drop("a_key")
    seg = _segments(params).rename(seg_segment="segment")
    r = r.join(seg, r.segment == seg.seg_segment).drop("seg_segment")
    code = r.auth_code.fill_null(r.per_diem_code)
    timed = r.timed_code.notnull() & (code == r.timed_code)
    covered = r.authorization_id.notnull()
    hold = ibis.cases(
        (~covered, HOLD["outside_authorization"]),
        # a day before the pack's first revision: no plan policy applied (held for review)
        (r.not_issued, HOLD["plan_policy_not_yet_issued"]),
        # Coding Implications: a code the table does not list then (held for review)
        (code_not_listed(r.allowed_codes, code, timed, r.h0039_unit),
         HOLD["code_not_listed"]),
        (~timed & r.mod_small.notnull() & r.team_size.isnull(), HOLD["team_size_unknown"]),
        else_=0)
    qual = r[QUALIFYING_BITS].fill_null(0)
    detail = _disagreeing_days(r) | ibis.ifelse(timed | ~covered, qual, NO_BITS)
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


_TWO_DIGITS = "".join(f"{n:02d}" for n in range(100))


def _two_digits(n: ir.IntegerValue) -> ir.StringValue:
    """0-99 as two digits, looked up in a constant (cheaper than formatting a number)."""
    return ibis.literal(_TWO_DIGITS).substr(n * 2, 2)


def _days_of(bits: ir.IntegerValue) -> ir.IntegerValue:
    """Day indexes (0-30) whose bit is set, one row each (unnested)."""
    return ibis.range(0, 31).filter(lambda i: ((bits >> i) & 1) == 1).unnest()


def _date(month: ir.DateValue, d0: ir.IntegerValue) -> ir.DateValue:
    """Day index ``d0`` of ``month`` (a date plus whole days stays a date: cheaper than
    building the date from its parts)."""
    return _plus_days(month, d0.cast("int32"))


@ibis.udf.scalar.builtin(name="add")  # type: ignore[untyped-decorator]
def _duckdb_add(date: dt.date, days: int) -> dt.date:  # type: ignore[empty-body]
    """DuckDB's ``add(DATE, INTEGER)`` (its ``+``): a date."""


@ibis.udf.scalar.builtin(name="date_add")  # type: ignore[untyped-decorator]
def _spark_date_add(date: dt.date, days: int) -> dt.date:  # type: ignore[empty-body]
    """Spark's ``date_add(DATE, INT)``: a date."""


def _plus_days(date: ir.DateValue, days: ir.IntegerValue) -> ir.DateValue:
    """``date`` plus whole ``days`` as a date (Ibis's date + interval is a timestamp on
    DuckDB), in the engine's spelling."""
    if current_dialect() == "spark":
        return _spark_date_add(date, days)
    return _duckdb_add(date, days)


def detail_months(rows: ir.Table) -> ir.Table:
    """Grain: member-month with days whose contacts are read again (``detail_bits``): days
    whose POS or units need the contacts. A bitmap a member-month: a smaller lookup than one
    row a day."""
    r = rows.filter(rows.detail_bits != 0)
    return r.group_by(x_member=r.member_id, x_month=r.month).aggregate(
        x_bits=_bit_or(r.detail_bits))


def detail_contacts(contacts: ir.Table, wanted: ir.Table,
                    qualify: Callable[[ir.Table], ir.Table]) -> ir.Table:
    """Grain: qualifying contact on a :func:`detail_months` day. The days are picked before
    the contacts are qualified (a small share)."""
    c = contacts.join(wanted, [contacts.member_id == wanted.x_member,
                               contacts.contact_date.truncate("M") == wanted.x_month])
    c = c.filter(_has(c.x_bits, _one() << _day_index(c.contact_date)))
    q = qualify(c.drop("x_member", "x_month", "x_bits"))
    return q.filter(q.level == QUALIFIES)


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
        det_first=x.h0039_first.max(), det_timed=x.timed.any(),
        det_longest=longest_provider.max())
    short = g.det_timed & g.det_first.notnull() & (g.det_minutes < g.det_first)
    return g.mutate(det_short=short, det_provider=g.det_longest.substr(20)
                    ).select(*DETAIL_COLUMNS)


def _billed_days(billed: ir.Table) -> ir.Table:
    return billed.select(b_member=billed.member_id, b_date=billed.service_date,
                         billed_line_id=billed.line_id
                         ).distinct(on=["b_member", "b_date"], keep="first")


def month_rules(rows: ir.Table, details: ir.Table, billed: ir.Table,
                hold_missing_pos: bool = False) -> ir.Table:
    """Grain: as :func:`month_rows`, with the month-level rules as bitmaps: ``qual_bits``
    (qualifying days), ``open_bits`` (qualifying, not held, not billed before), the open
    days of the member-month for the row's code (a day's rank is the number of bits below
    it: no sort), the month's one ACT code (the code already billed, else the first open
    day's), the days already billed and ``pos_hold_bits``: with ``hold_missing_pos``, the
    qualifying days no contact gives a place of service (held, so they do not use the
    cap; otherwise they take the pack's default and bill)."""
    # per member-month from the days read again: days short of a first H0039 unit, and
    # the longest contact's POS in the lanes (``fix<j>``) for days whose contacts disagree
    det_d0 = _day_index(details.det_date)
    has_pos = details.det_pos.notnull()
    field = details.det_pos << ((det_d0 % LANE_DAYS) * LANE_BITS)
    short = details.group_by(s_member=details.det_member,
                             s_month=details.det_date.truncate("M")).aggregate(
        short_bits=_bit_or(_one() << det_d0, where=details.det_short),
        **{f"fix{j}": _bit_or(field, where=has_pos & (det_d0 // LANE_DAYS == j))
           for j in range(LANES)})
    bd = _billed_days(billed)
    month_billed = bd.group_by(mb_member=bd.b_member, mb_month=bd.b_date.truncate("M")
                               ).aggregate(
        billed_bits=_bit_or(_one() << _day_index(bd.b_date)))
    billed_codes = billed.group_by(
        bc_member=billed.member_id, bc_month=billed.service_date.truncate("M")).aggregate(
        billed_month_code=billed.hcpcs.min())
    def with_bits(t: ir.Table) -> ir.Table:
        """``t`` (month rows) with the bits of the days read again and the days billed."""
        t = t.left_join(short, [t.member_id == short.s_member, t.month == short.s_month])
        t = t.drop("s_member", "s_month")
        t = t.left_join(month_billed, [t.member_id == month_billed.mb_member,
                                       t.month == month_billed.mb_month])
        t = t.drop("mb_member", "mb_month")
        qual = t[QUALIFYING_BITS].fill_null(0) & _not(t.short_bits.fill_null(0))
        billed_bits = t.billed_bits.fill_null(0)
        pos_hold: ir.IntegerValue = NO_BITS
        if hold_missing_pos:  # no POS from a qualifying contact, nor the inpatient one
            with_place = t.pos_bits.fill_null(0) | t.inpatient_bits.fill_null(0)
            pos_hold = ibis.ifelse(t.group_hold == 0,
                                   qual & _not(with_place) & _not(billed_bits), NO_BITS)
        open_bits = ibis.ifelse(t.group_hold == 0, qual & _not(billed_bits) & _not(pos_hold),
                                NO_BITS)
        return t.mutate(qual_bits=qual, open_bits=open_bits, billed_bits=billed_bits,
                        billed_in_month=_bit_count(billed_bits).cast("int64"),
                        pos_hold_bits=pos_hold)

    r = with_bits(rows)
    # the open days per code from the few columns they need: sharing the wide rows with
    # the final join would make the database keep a copy of them
    narrow = with_bits(rows.select("member_id", "month", "code", "group_hold", QUALIFYING_BITS,
                                   *(("pos_bits", "inpatient_bits") if hold_missing_pos
                                     else ())))
    per_code = narrow.group_by(c_member=narrow.member_id, c_month=narrow.month,
                               c_code=narrow.code).aggregate(code_open=_bit_or(narrow.open_bits))
    firsts = per_code.filter(per_code.code_open != 0)
    lowest_bit = firsts.code_open & -firsts.code_open
    firsts = firsts.group_by(f_member=firsts.c_member, f_month=firsts.c_month).aggregate(
        first_code=firsts.c_code.argmin(lowest_bit))
    firsts = firsts.left_join(billed_codes, [firsts.f_member == billed_codes.bc_member,
                                             firsts.f_month == billed_codes.bc_month])
    firsts = firsts.select("f_member", "f_month", month_code=firsts.billed_month_code
                           .fill_null(firsts.first_code))
    r = r.left_join(per_code, [r.member_id == per_code.c_member, r.month == per_code.c_month,
                               r.code == per_code.c_code])
    r = r.left_join(firsts, [r.member_id == firsts.f_member, r.month == firsts.f_month])
    r = r.mutate(**_day_pos_lanes(r))
    # what only picked the days read again, and the POS lanes merged above, are not kept
    return r.drop("c_member", "c_month", "c_code", "f_member", "f_month", "detail_bits",
                  "short_bits", *[f"{lane}{j}" for lane in ("pos_or", "pos_and", "fix")
                                  for j in range(LANES)])


def days(rules: ir.Table, billed: ir.Table, params: ir.Table,
         qualifying: bool | None = None) -> ir.Table:
    """Grain: member-day with any contact, unnested from :func:`month_rules` (only the
    days with a qualifying contact, or only those without, when ``qualifying`` says so: a
    day is unnested only where it is used). Applies the month rules to each day: already
    billed, one ACT code a member-month, and the monthly cap (I.F: the first
    otherwise-billable days bill, up to the cap less the days already billed; later days
    are held; held days do not use the cap). With ``pos_hold_bits`` (see
    :func:`month_rules`) a day with no place of service is held instead."""
    seg = _segments(params).rename(seg_policy="policy_id", seg_segment="segment")
    r = rules.join(seg, [rules.policy_id == seg.seg_policy, rules.segment == seg.seg_segment])
    r = r.drop("seg_policy", "seg_segment")
    wanted = {None: r.any_bits, True: r.qual_bits,
              False: r.any_bits & _not(r.qual_bits)}[qualifying]
    r = r.mutate(d0=_days_of(wanted))
    bit = _one() << r.d0
    date = _date(r.month, r.d0)
    qualifying = _has(r.qual_bits, bit)
    is_open = _has(r.open_bits, bit)
    mixed = is_open & (r.code != r.month_code)
    rank = _bit_count(r.code_open.fill_null(0) & (bit - 1)).cast("int64") + 1
    over = (is_open & ~mixed & r.cap.notnull() & (rank > r.cap - r.billed_in_month))
    hold = ibis.cases((mixed, HOLD["mixed_codes_in_month"]), (over, HOLD["over_monthly_cap"]),
                      (_has(r.pos_hold_bits, bit), HOLD["place_of_service_missing"]),
                      (qualifying, r.group_hold), else_=0)
    # the furthest check the day's contacts reached: its reason for no line (NO_LINE)
    level = ibis.cases(*[(_has(r[f"reach{k}"], bit), k)
                         for k in range(QUALIFIES, 1, -1)], else_=1)
    # the longest qualifying contact's POS (month_rules' lanes), none without a POS
    lane_pos = ibis.ifelse(_has(r.pos_bits, bit), _lane_slot(r, "pos", r.d0),
                           ibis.null().cast("int64"))
    d = r.mutate(contact_date=date, qualifying=qualifying, hold=hold,
                 reached=level, at_inpatient=_has(r.inpatient_bits, bit),
                 lane_pos=lane_pos)
    bd = _billed_days(billed)
    d = d.left_join(bd, [d.member_id == bd.b_member, d.contact_date == bd.b_date])
    return d.drop("b_member", "b_date")


Keep = Callable[[str, ir.Table], ir.Table]


def bill_days(contacts: ir.Table, qualify: Callable[[ir.Table], ir.Table],
              coverage: ir.Table, params: ir.Table, billed: ir.Table,
              keep: Keep = lambda _, table: table,
              step: Callable[[str], None] = lambda _: None,
              hold_missing_pos: bool = False) -> tuple[ir.Table, ir.Table, ir.Table]:
    """(month rules, days, day details): the stages above in order. ``qualify``
    turns checked contacts into qualified ones; ``keep(name, table)`` may compute a stage
    once and return it stored (each is small but days, which is never stored); the month
    rows are not needed once the month rules are stored. ``hold_missing_pos``: see
    :func:`month_rules`."""
    # the facts go straight into the month rows (one statement, one stored table)
    rows = keep("month_rows", month_rows(month_facts(qualify(contacts)), coverage, params))
    step("month rules")
    wanted = keep("detail_months", detail_months(rows))
    step("days needing their contacts")
    details = keep("day_details", day_details(contacts, wanted, qualify))
    step("monthly cap and codes")
    rules = keep("month_rules", month_rules(rows, details, billed, hold_missing_pos))
    return rules, days(rules, billed, params), details


# A line's text that repeats (code, modifier, POS, status, reason and its CARC, section,
# policy) is found through one number, its kind: the segment, the billing code's key, the
# hold, already billed or not, the team size and the POS key (0-99 a two-digit POS, then the
# pack's inpatient and default POS). Writing a number per line and joining a small table is
# cheaper than building the same text on millions of lines; a database can also store the
# small table's text as dictionary values.
POS_INPATIENT, POS_DEFAULT = 100, 101
CODE_SHIFT, SEGMENT_SHIFT = 20, 40  # bit fields of a kind (encoding constants)


def _kind(segment: ir.IntegerValue, code_key: ir.IntegerValue, hold: ir.IntegerValue,
          billed: ir.IntegerValue, team_key: ir.IntegerValue, pos_key: ir.IntegerValue
          ) -> ir.IntegerValue:
    low = ((hold.cast("int64") * 2 + billed) * len(TEAM_SIZES) + team_key) * (
        POS_DEFAULT + 1) + pos_key
    return (segment.cast("int64") << SEGMENT_SHIFT) | (
        code_key.cast("int64") << CODE_SHIFT) | low


def _numbered(name: str, values: list[int], text: list[str | None] | None = None
              ) -> ir.Table:
    columns: dict[str, list[object]] = {f"k_{name}": list(values)}
    types = {f"k_{name}": "int64"}
    if text is not None:
        columns[f"t_{name}"], types[f"t_{name}"] = list(text), "string"
    return ibis.memtable(columns, schema=ibis.schema(types))


def line_kinds(params: ir.Table, coverage: ir.Table, reasons: ir.Table) -> ir.Table:
    """Grain: line kind (see :func:`_kind`): every combination of segment, billing code,
    hold, already billed, team size and POS key, with the text a line of that kind
    carries. Small (about 7,000 rows a segment and code)."""
    seg = _segments(params)
    codes = coverage.select(k_code=coverage.code_key, t_code=coverage.billing_code)
    codes = ibis.union(codes, _numbered("code", [0], [None]), distinct=True)
    k = seg.cross_join(codes).cross_join(_numbered("hold", list(range(len(HOLDS))), list(HOLDS)))
    k = k.cross_join(_numbered("billed", [0, 1]))
    k = k.cross_join(_numbered("team", list(range(len(TEAM_SIZES))), list(TEAM_SIZES)))
    k = k.cross_join(_numbered("pos", list(range(POS_DEFAULT + 1))))
    code = k.t_code.fill_null(k.per_diem_code)
    timed = k.timed_code.notnull() & (code == k.timed_code)
    # Coding Implications: the team-size modifier goes on the per diem code only
    modifier = ibis.cases((timed, ibis.null().cast("string")),
                          (k.t_team == "small", k.mod_small),
                          (k.t_team == "large", k.mod_large),
                          else_=ibis.null().cast("string"))
    # the inpatient POS where the pack has one and a contact was there; else the POS of
    # the day's longest qualifying contact that has one; else the pack's default
    pos = ibis.cases((k.k_pos == POS_INPATIENT, k.inpatient_pos),
                     (k.k_pos == POS_DEFAULT, k.default_pos), else_=_two_digits(k.k_pos))
    status = ibis.cases((k.k_billed == 1, "already_billed"), (k.t_hold.notnull(), "held"),
                        else_="billable")
    k = k.mutate(kind=_kind(k.segment, k.k_code, k.k_hold, k.k_billed, k.k_team, k.k_pos),
                 hcpcs=code, modifier=modifier, pos=pos, status=status)
    k = k.left_join(reasons, [k.policy_id == reasons.policy_id, k.t_hold == reasons.reason_id])
    # the monthly cap cites the passage stating it on the day (SC: Other General
    # Guidelines before 02/26, I.F from then)
    section = ibis.ifelse(k.t_hold == "over_monthly_cap", k.cap_section,
                          ibis.null().cast("string"))
    return k.select(
        "kind", "hcpcs", "modifier", "pos", "status", reason_id=k.t_hold,
        carc_group=k.carc_group, carc=k.carc, rarc=k.rarc,
        rule_id=k.t_hold.fill_null("per_diem_day"),
        section=section.fill_null(k.reason_section).fill_null(k.contact_section),
        policy_id=k.policy_id, policy_revision=k.policy_revision,
        # no contact gave the place of service: the pack's default, said so on the line
        pos_defaulted=k.k_pos == POS_DEFAULT)


LINE_COLUMNS = ("line_id", "member_id", "service_date", "hcpcs", "modifier", "pos",
                "pos_defaulted", "units", "provider_id", "authorization_id", "status",
                "reason_id", "carc_group", "carc", "rarc", "rule_id", "section", "policy_id",
                "policy_revision", "qualifying_minutes")


def providers(coverage: ir.Table, details: ir.Table | None = None) -> ir.Table:
    """Grain: provider a line names, by its key (lines carry the key): the billing provider
    of an authorization and, with ``details`` (:func:`day_details`), the provider of the
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


def lines(days: ir.Table, details: ir.Table, kinds: ir.Table, providers: ir.Table
          ) -> ir.Table:
    """Grain: claim line, one per member-day with a qualifying contact. ``kinds`` is
    :func:`line_kinds` (the text a line repeats), ``providers`` :func:`providers` (with the
    details, so a held line outside every authorization names its contacts' provider)."""
    d = days.filter(days.qualifying)
    # minutes for H0039 units, the provider outside every authorization (few days)
    timed = details.filter(details.det_timed | details.det_provider.notnull())
    timed = timed.left_join(providers, timed.det_provider == providers.t_provider)
    timed = timed.select(*DETAIL_COLUMNS, det_provider_key=timed.k_provider)
    d = d.left_join(timed, [d.member_id == timed.det_member, d.contact_date == timed.det_date])
    # stable: the same member, month, code and provider give the same hash, plus the day
    line_id = d.billed_line_id.fill_null(
        d.line_key + _two_digits(d.d0 + 1))
    pos_key = ibis.ifelse(d.at_inpatient, POS_INPATIENT, d.lane_pos.fill_null(POS_DEFAULT))
    billed = ibis.ifelse(d.billed_line_id.notnull(), 1, 0)
    units = ibis.ifelse(
        d.timed, ((d.det_minutes - d.h0039_first) / d.h0039_unit).floor().cast("int64") + 1,
        ibis.literal(1, "int64"))
    out = d.select(
        line_id=line_id, member_id=d.member_id, service_date=d.contact_date, units=units,
        provider_key=d.provider_key.fill_null(d.det_provider_key),
        authorization_id=d.authorization_id,
        qualifying_minutes=ibis.ifelse(d.timed, d.det_minutes, ibis.null().cast("int64")),
        line_kind=_kind(d.segment, d.code_key, d.hold, billed, d.team_key, pos_key))
    out = out.view()  # a table of its own: its computed key cannot join inside the chain
    out = out.left_join(kinds, out.line_kind == kinds.kind)
    out = out.left_join(providers, out.provider_key == providers.k_provider)
    return out.select(*[out.t_provider.name(c) if c == "provider_id" else out[c]
                        for c in LINE_COLUMNS])


# A day without a line: the reason is the furthest check its contacts reached, or (all
# checks passed) qualifying contacts short of a per-15-minute unit.
NO_LINE = {**LEVEL_REASONS, QUALIFIES: "under_min_minutes"}


def _day_kind(segment: ir.IntegerValue, level: ir.IntegerValue) -> ir.IntegerValue:
    return (segment.cast("int64") << SEGMENT_SHIFT) | level.cast("int64")


def unbilled_kinds(params: ir.Table, reasons: ir.Table) -> ir.Table:
    """Grain: kind of unbilled day (segment and :data:`NO_LINE` key), with the text each
    such day carries (the reason, its section and codes), as :func:`line_kinds` does for
    lines."""
    seg = _segments(params)
    k = seg.cross_join(_numbered("level", list(NO_LINE), list(NO_LINE.values())))
    # inner: a pack has every reason its rules can give (load_reasons); a reason it has no
    # rule for (place_of_service_excluded without pos_restrictions) has no kind
    k = k.join(reasons, [k.policy_id == reasons.policy_id, k.t_level == reasons.reason_id])
    return k.select(
        kind=_day_kind(k.segment, k.k_level), reason_id=k.t_level,
        reason=k.reason_summary, section=k.reason_section, carc_group=k.carc_group,
        carc=k.carc, rarc=k.rarc, policy_id=k.policy_id)


def unbilled_days(days: ir.Table, kinds: ir.Table) -> ir.Table:
    """Grain: member-day with contacts but no qualifying one (no line; shown in the report).
    ``kinds`` is :func:`unbilled_kinds`."""
    d = days.filter(~days.qualifying)
    out = d.select(member_id=d.member_id, service_date=d.contact_date,
                   authorization_id=d.authorization_id,
                   day_kind=_day_kind(d.segment, d.reached))
    out = out.view()  # a table of its own: its computed key cannot join inside the chain
    out = out.left_join(kinds, out.day_kind == kinds.kind)
    return out.select("member_id", "service_date", "reason_id", "reason", "section",
                      "carc_group", "carc", "rarc", "policy_id", "authorization_id")


def _count(bits: ir.IntegerValue) -> ir.IntegerValue:
    return _bit_count(bits).cast("int64")


def _over_cap_days(r: ir.Table) -> ir.IntegerValue:
    """Bitmap of the row's days past the monthly cap: open days of the month's code whose
    rank (bits below, plus one) passes the cap less the days already billed."""
    allowed = r.cap - r.billed_in_month
    past: ir.IntegerValue = NO_BITS
    for d in range(31):
        rank = _count(r.code_open & ((1 << d) - 1)) + 1
        past = past | ibis.ifelse(rank > allowed, ibis.literal(1 << d, "int64"), NO_BITS)
    return ibis.ifelse(r.cap.notnull() & (r.code == r.month_code), r.open_bits & past,
                       NO_BITS)


def member_months(rules: ir.Table, coverage: ir.Table, params: ir.Table) -> ir.Table:
    """Grain: member and calendar month of an authorization. A month only partly inside the
    authorizations is marked partial, never under minimum. Counted from the bitmaps of
    :func:`month_rules` (the same rules :func:`days` applies day by day)."""
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
    seg = _segments(params).select(seg_policy="policy_id", seg_segment="segment", cap="cap")
    r = rules.join(seg, [rules.policy_id == seg.seg_policy, rules.segment == seg.seg_segment])
    over = _over_cap_days(r)
    mixed = ibis.ifelse(r.code != r.month_code, r.open_bits, NO_BITS)
    grouped = ibis.ifelse(r.group_hold != 0, r.qual_bits, NO_BITS)
    # day counts: int32 (DuckDB sums an int64 to a 128-bit integer, which Parquet would
    # store as a double)
    stats = r.group_by(["member_id", "month"]).aggregate(
        days_provided=ibis.ifelse(r.covered, _count(r.qual_bits), 0).sum().cast("int32"),
        billable=(_count(r.open_bits) - _count(mixed) - _count(over)).sum().cast("int32"),
        already_billed=_count(r.qual_bits & r.billed_bits).sum().cast("int32"),
        held_over_cap=_count(over).sum().cast("int32"),
        held_other=(_count(mixed) + _count(grouped) + _count(r.pos_hold_bits)).sum()
        .cast("int32"),
        days_without_qualifying_contact=_count(r.any_bits & _not(r.qual_bits)).sum()
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
        min_days=m.min_days, cap=m.cap, partial=partial,
        under_minimum=~partial & m.min_days.notnull() & (provided < m.min_days))
