"""The audit rules as Ibis expressions (no Python loop touches a claim).

coverage (authorizations, non-overlapping; billing/engine.py)
  -> episodes: one row per member and run of contiguous authorizations
other claim lines -> category (crosswalk, most specific row) -> overlap with an episode
  -> the category's rule -> findings (the flagged dates and the money on them)
ACT claim lines -> one row per line and date inside an episode (and one per span outside
  every episode) -> per diem findings (outside authorization, a provider the authorization
  does not name, a contributing agency billing itself, duplicate, another provider, no
  qualifying contact, over the monthly cap, inpatient day without the inpatient place of
  service)
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.billing.engine import _listed, code_not_listed
from bhpolicy.engines import current_dialect

# A finding is keyed by (claim_source, claim_row, rule_id, flagged_from). Long texts (the
# category's label, the reason's wording, the action, the crosswalk row's source) live in the
# rules and crosswalk tables (audit/tables.py), joined by rule_id and crosswalk_row.
FINDING_COLUMNS = (
    "policy_id", "policy_revision", "member_id", "claim_id", "claim_row", "claim_source",
    "hcpcs", "provider_id", "from_date", "to_date", "flagged_from", "flagged_to",
    "flagged_days", "episode_start", "day_of_episode", "category", "rule_id", "severity",
    "section", "reason_id", "carc_group", "carc", "rarc", "paid_amount", "amount_at_stake",
    "crosswalk_row", "crosswalk_verified")

_DAY = ibis.interval(days=1)


def episodes(coverage: ir.Table) -> ir.Table:
    """Grain: member and ACT episode. An episode runs from its first authorization's start
    through every renewal that starts the day after the previous one ends; its day 1 is its
    start date. ``team`` lists (';a;b;') the billing providers and contributing agencies of
    its authorizations."""
    c = coverage
    order = [c.effective_start, c.authorization_id]
    prev_end = c.end_date.lag().over(ibis.window(group_by=c.member_id, order_by=order))
    new = (prev_end.isnull() | (c.effective_start > prev_end + _DAY)).cast("int64")
    c = c.mutate(_new=new)
    c = c.mutate(_ep=c._new.sum().over(ibis.cumulative_window(
        group_by=c.member_id, order_by=[c.effective_start, c.authorization_id])))
    item = c.provider_id + ibis.literal(";") + c.contributing_provider_ids.fill_null("")
    eps = c.group_by(["member_id", "_ep"]).aggregate(
        policy_id=c.policy_id.argmin(c.effective_start),
        episode_start=c.effective_start.min(), episode_end=c.end_date.max(),
        team=item.group_concat(";"),
        authorizations=c.count())
    return eps.select(
        "member_id", "policy_id", "episode_start", "episode_end", "authorizations",
        episode_id=eps.member_id + ibis.literal("#") + eps.episode_start.cast("string"),
        team=ibis.literal(";") + eps.team + ibis.literal(";"))


MAX_MODIFIERS = 4  # an 837P service line carries at most four procedure modifiers
KINDS = (("hcpcs", "k_hcpcs"), ("revenue_code", "k_rev"), ("bill_type", "k_tob"),
         ("pos", "k_pos"))


def _keys(claims: ir.Table) -> ir.Table:
    """Match keys: HCPCS upper-cased, revenue code as 4 digits, bill type as type of facility
    plus classification (0211 and 211 both give 21), and up to four modifiers."""
    tob = claims.bill_type.strip()
    tob_key = ibis.ifelse((tob.length() == 4) & tob.startswith("0"), tob.substr(1, 2),
                          tob.substr(0, 2))
    mods = claims.modifiers.upper().re_replace(r"[\s,:;]+", ";").fill_null("")
    # the primary diagnosis: the first code listed, its 3-character category (F20.0 -> F20)
    first_dx = claims.diagnosis.upper().re_replace(r"^[\s,:;]+", "").re_replace(
        r"[\s,:;].*$", "").replace(".", "")
    return claims.mutate(
        k_hcpcs=claims.hcpcs.upper().strip(), k_rev=claims.revenue_code.strip().lpad(4, "0"),
        k_tob=tob_key, k_pos=claims.pos,
        k_tax=claims.rendering_taxonomy.upper().strip(), k_dx=first_dx.substr(0, 3),
        **{f"k_mod{i}": _item(mods.split(";"), i) for i in range(MAX_MODIFIERS)})


@ibis.udf.scalar.builtin(name="try_element_at")  # type: ignore[untyped-decorator]
def _spark_try_element_at(items: list[str], position: int) -> str:  # type: ignore[empty-body]
    """Spark's ``try_element_at`` (1-based): null past the end, where ANSI ``element_at``
    raises."""


def _cents(paid: ir.NumericValue, days: ir.IntegerValue | int, of_days: ir.IntegerValue
           ) -> ir.NumericValue:
    """``paid`` x ``days`` / ``of_days`` rounded to cents. Ibis types the quotient as a
    double and DuckDB divides so (the decimal product made a double); Spark keeps the
    decimal and rounds 192.545 up where DuckDB's double (192.54499...) rounds down. On Spark
    the product is divided as a double and rounded as DuckDB rounds one (by its exact
    value, half away from zero), so both engines give the same cents."""
    if current_dialect() != "spark":
        return (paid * days / of_days).round(2) if not isinstance(days, int) or days != 1 \
            else (paid / of_days).round(2)
    # DuckDB: the decimal product (exact), made a double by the division
    value = (paid * days).cast("float64") / of_days.cast("float64")
    return (value.sign() * _round_exact(value.abs() * 4, 25) / 100).cast("float64")


def _round_exact(a: ir.FloatingValue, b: int) -> ir.IntegerValue:
    """``a`` x ``b`` (``a`` >= 0) rounded to a whole number as the exact product rounds,
    half away from zero: the product in doubles plus its rounding error (Dekker's split, in
    plain double arithmetic), so a product that rounds to a half is decided by the error's
    sign, as DuckDB's round() of a double decides it by the double's exact value."""
    product = a * b
    split = a * float(2**27 + 1)
    high = split - (split - a)
    low = a - high
    error = (high * b - product) + low * b
    whole = product.floor()
    fraction = product - whole
    up = (fraction > 0.5) | ((fraction == 0.5) & (error >= 0))
    return (whole + ibis.ifelse(up, 1, 0)).cast("int64")


def _item(items: ir.ArrayValue, index: int) -> ir.StringValue:
    """Item ``index`` (from 0) of a text array, null past its end, on either engine."""
    if current_dialect() == "spark":
        return _spark_try_element_at(items, ibis.literal(index + 1, "int32"))
    return items[index]


def categorize(table: ir.Table, lookup: ir.Table, matches: ir.Table) -> ir.Table:
    """Grain unchanged (``table`` has ``policy_id``). Adds the category of the most specific
    crosswalk row of the pack (lowest match_id over the four kinds of key); rows no crosswalk
    row names are dropped. One left join a kind against a small lookup table, no grouping.
    A conditional row counts when the line's rendering taxonomy or primary diagnosis
    category is in its lists; a modifier row when the line carries one of its modifiers."""
    t = _keys(table)
    ids = []
    for kind, key in KINDS:
        lk = lookup.filter(lookup.kind == kind)
        lk = lk.select(**{f"{key}_p": lk.policy_id, f"{key}_c": lk.code,
                          f"{key}_plain": lk.plain_id, f"{key}_mods": lk.mods,
                          f"{key}_mid": lk.mod_id, f"{key}_tax": lk.taxonomies,
                          f"{key}_dx": lk.diagnoses, f"{key}_cid": lk.cond_id})
        t = t.left_join(lk, [t.policy_id == lk[f"{key}_p"], t[key] == lk[f"{key}_c"]])
        t = t.drop(f"{key}_p", f"{key}_c")
        hit = ibis.or_(*[_listed(t[f"{key}_mods"], t[f"k_mod{i}"])
                         for i in range(MAX_MODIFIERS)])
        met = (_listed(t[f"{key}_tax"], t.k_tax).fill_null(False) |
               _listed(t[f"{key}_dx"], t.k_dx).fill_null(False))
        ids.append(ibis.cases(
            (t[f"{key}_cid"].notnull() & met, t[f"{key}_cid"]),
            (t[f"{key}_mods"].notnull() & hit.fill_null(False), t[f"{key}_mid"]),
            else_=t[f"{key}_plain"]))
    t = t.mutate(match_id=ibis.least(*ids))
    t = t.filter(t.match_id.notnull())
    t = t.drop(*[c for c in t.columns if c.startswith("k_")])
    info = matches.select(i_policy=matches.policy_id, i_match=matches.match_id,
                          category=matches.category, crosswalk_row=matches.crosswalk_row,
                          crosswalk_verified=matches.crosswalk_verified,
                          row_severity=matches.row_severity)
    t = t.join(info, [t.policy_id == info.i_policy, t.match_id == info.i_match])
    return t.drop("i_policy", "i_match")


def _numbers(table: ir.Table, numbers: ir.Table, name_col: ir.Value | str,
             on_date: ir.Value, prefix: str) -> ir.Table:
    """Left-join the value of a dated parameter in force on ``on_date``."""
    n = numbers.select(**{f"{prefix}_policy": numbers.policy_id, f"{prefix}_name": numbers.name,
                          f"{prefix}_since": numbers.since, f"{prefix}_until": numbers.until,
                          f"{prefix}_number": numbers.number, f"{prefix}_text": numbers.text})
    name = ibis.literal(name_col) if isinstance(name_col, str) else name_col
    return table.left_join(n, [
        table.policy_id == n[f"{prefix}_policy"], name == n[f"{prefix}_name"],
        on_date >= n[f"{prefix}_since"],
        n[f"{prefix}_until"].isnull() | (on_date < n[f"{prefix}_until"])])


def with_revision(table: ir.Table, revisions: ir.Table, day: ir.DateValue) -> ir.Table:
    """Adds ``policy_revision``: the revision of the row's pack in force on ``day``
    (``revisions`` is :func:`bhpolicy.audit.tables.revision_table`; a day before the first
    revision takes the first, as billing reads it)."""
    r = revisions
    out = table.left_join(r, [table.policy_id == r.r_policy,
                              r.r_since.isnull() | (day >= r.r_since),
                              r.r_until.isnull() | (day < r.r_until)])
    return out.mutate(policy_revision=out.r_revision).drop("r_policy", "r_revision",
                                                           "r_since", "r_until")


def _days_between(later: ir.Value, earlier: ir.Value) -> ir.IntegerValue:
    return later.delta(earlier, unit="day").cast("int64")


def concurrent(claims: ir.Table, eps: ir.Table, lookup: ir.Table, matches: ir.Table,
               categories: ir.Table, numbers: ir.Table) -> ir.Table:
    """Grain: claim line in a category x ACT episode it overlaps (same pack), with the
    category's rule applied: ``flagged``, the flagged dates and the money on them."""
    e = eps.select(e_member=eps.member_id, policy_id=eps.policy_id, episode_id=eps.episode_id,
                   episode_start=eps.episode_start, episode_end=eps.episode_end, team=eps.team)
    j = claims.join(e, [claims.member_id == e.e_member, claims.from_date <= e.episode_end,
                        claims.to_date >= e.episode_start]).drop("e_member")
    j = categorize(j, lookup, matches)
    j = j.filter(j.category != "act")
    j = j.join(categories, ["policy_id", "category"])
    # a crosswalk row may set the severity (a match inferred from taxonomy or diagnosis is
    # for review); otherwise the category's
    j = j.mutate(severity=j.row_severity.fill_null(j.severity)).drop("row_severity")
    j = _numbers(j, numbers, j.parameter, j.episode_start, "p")

    start = ibis.greatest(j.from_date, j.episode_start)
    end = ibis.least(j.to_date, j.episode_end)
    # allowed_first_days: days 1..N of the episode are allowed, day N+1 on is flagged
    # (through a timestamp: Ibis types date + interval as a date, DuckDB returns a timestamp)
    first_flagged_day = (j.episode_start.cast("timestamp") +
                         j.p_number.cast("int64") * _DAY).date()
    month = j.from_date.truncate("M")
    in_team = _listed(j.team, j.provider_id)
    authorized = j.authorization_id.notnull()
    flag_from = ibis.ifelse(j.rule == "allowed_first_days",
                            ibis.greatest(start, first_flagged_day), start)
    flagged = ibis.cases(
        (j.rule == "not_allowed", True),
        (j.rule == "allowed_first_days", flag_from <= end),
        (j.rule == "needs_authorization", ~authorized),
        (j.rule == "needs_authorization_outside_admission_discharge_month",
         ~authorized & (month != j.episode_start.truncate("M")) &
         (month != j.episode_end.truncate("M"))),
        (j.rule == "not_allowed_from_act_team", in_team),
        else_=False)
    claim_days = _days_between(j.to_date, j.from_date) + 1
    flagged_days = ibis.ifelse(flagged, _days_between(end, flag_from) + 1, 0)
    return j.mutate(
        flagged=flagged, flagged_from=ibis.ifelse(flagged, flag_from, ibis.null("date")),
        flagged_to=ibis.ifelse(flagged, end, ibis.null("date")), flagged_days=flagged_days,
        day_of_episode=_days_between(flag_from, j.episode_start) + 1,
        amount_at_stake=ibis.ifelse(
            flagged, _cents(j.paid_amount.fill_null(0), flagged_days, claim_days),
            ibis.literal(0)).cast("decimal(18, 2)"))


NOT_ISSUED = "plan_policy_not_yet_issued"


def concurrent_findings(evaluated: ir.Table, reasons: ir.Table, revisions: ir.Table
                        ) -> ir.Table:
    """Findings of the concurrent-services rules. Flagged days before the pack's first
    revision (``first_issued``) are no rule's of the pack: they become a review finding of
    their own ("plan policy not yet issued", no CARC), as billing holds such a day; the
    days from the first revision keep the category's rule."""
    f = evaluated.filter(evaluated.flagged).drop("policy_revision")
    claim_days = _days_between(f.to_date, f.from_date) + 1

    def part(start: ir.DateValue, end: ir.DateValue) -> dict[str, ir.Value]:
        days = _days_between(end, start) + 1
        return {"flagged_from": start, "flagged_to": end, "flagged_days": days,
                "day_of_episode": _days_between(start, f.episode_start) + 1,
                "amount_at_stake": _cents(f.paid_amount.fill_null(0), days, claim_days)
                .cast("decimal(18, 2)")}

    later = f.filter(f.flagged_to >= f.first_issued).mutate(
        rule_key=ibis.literal("concurrent.") + f.category,
        **part(ibis.greatest(f.flagged_from, f.first_issued), f.flagged_to))
    early = f.filter(f.flagged_from < f.first_issued).mutate(
        rule_key=ibis.literal("concurrent." + NOT_ISSUED), severity=ibis.literal("review"),
        section=ibis.null("string"), reason_id=ibis.literal(NOT_ISSUED),
        **part(f.flagged_from, ibis.least(f.flagged_to, _plus_days(f.first_issued, -1))))
    f = ibis.union(later, early)
    r = reasons.select(c_policy=reasons.policy_id, c_reason=reasons.reason_id,
                       carc_group=reasons.carc_group, carc=reasons.carc, rarc=reasons.rarc,
                       reason_section=reasons.reason_section)
    f = f.left_join(r, [f.policy_id == r.c_policy, f.reason_id == r.c_reason])
    f = f.mutate(section=f.section.fill_null(f.reason_section))
    f = with_revision(f, revisions, f.flagged_from)
    return _finding(f, claim_source=ibis.literal("other_claims"), rule_id=f.rule_key)


def _finding(f: ir.Table, claim_source: ir.Value, rule_id: ir.Value) -> ir.Table:
    return f.select(
        policy_id=f.policy_id, policy_revision=f.policy_revision, member_id=f.member_id,
        claim_id=f.claim_id, claim_row=f._line, claim_source=claim_source, hcpcs=f.hcpcs,
        provider_id=f.provider_id, from_date=f.from_date, to_date=f.to_date,
        flagged_from=f.flagged_from, flagged_to=f.flagged_to, flagged_days=f.flagged_days,
        episode_start=f.episode_start, day_of_episode=f.day_of_episode, category=f.category,
        rule_id=rule_id, severity=f.severity, section=f.section, reason_id=f.reason_id,
        carc_group=f.carc_group, carc=f.carc, rarc=f.rarc, paid_amount=f.paid_amount,
        amount_at_stake=f.amount_at_stake, crosswalk_row=f.crosswalk_row,
        crosswalk_verified=f.crosswalk_verified)


def _plus_days(day: ir.DateValue, days: int) -> ir.DateValue:
    # through a timestamp (see allowed_first_days above)
    return (day.cast("timestamp") + ibis.interval(days=days)).date()


def _each_day(first: ir.DateValue, last: ir.DateValue) -> ir.DateValue:
    """One row per date from ``first`` through ``last`` (an unnest; Spark unnests only a
    column's outermost expression, so there the array is cast to dates first)."""
    stamps = ibis.range(first.cast("timestamp"), (last + _DAY).cast("timestamp"), _DAY)
    if current_dialect() == "spark":
        return stamps.cast("array<date>").unnest()
    return stamps.unnest().cast("date")


def inpatient_days(evaluated: ir.Table) -> ir.Table:
    """Grain: member-day inside a claim of a category marked ``inpatient_stay``, kept to the
    ACT episode the claim overlaps and a day on each side (a claim spanning decades costs no
    more than the episode). ``i_edge`` marks the first and last day of a run of consecutive
    inpatient days: the admission and discharge days, when the recipient may have been seen
    outside the hospital."""
    stays = evaluated.filter(evaluated.inpatient_stay)
    first = ibis.greatest(stays.from_date, _plus_days(stays.episode_start, -1))
    last = ibis.least(stays.to_date, _plus_days(stays.episode_end, 1))
    days = stays.mutate(day=_each_day(first, last))
    d = days.select(i_member=days.member_id, i_day=days.day).distinct()
    after = d.select(p_member=d.i_member, p_day=_plus_days(d.i_day, 1))  # day after one
    before = d.select(n_member=d.i_member, n_day=_plus_days(d.i_day, -1))  # day before one
    j = d.left_join(after, [d.i_member == after.p_member, d.i_day == after.p_day])
    j = j.left_join(before, [j.i_member == before.n_member, j.i_day == before.n_day])
    return j.select(j.i_member, j.i_day, i_edge=j.p_member.isnull() | j.n_member.isnull())


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
    a = a.mutate(line_days=_days_between(a.to_date, a.from_date) + 1)
    e = eps.select(e_member=eps.member_id, policy_id=eps.policy_id,
                   episode_start=eps.episode_start, episode_end=eps.episode_end)
    inside = a.join(e, [a.member_id == e.e_member, a.from_date <= e.episode_end,
                        a.to_date >= e.episode_start]).drop("e_member")
    inside = inside.mutate(day=_each_day(ibis.greatest(inside.from_date, inside.episode_start),
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
                                 ibis.greatest(j.from_date, _plus_days(j._prev_end, 1))),
        flagged_to=ibis.ifelse(j.g_start.isnull(), j.to_date, _plus_days(j.g_start, -1)))
    after = j.filter(j._is_last & j.g_end.notnull())
    after = after.mutate(flagged_from=_plus_days(after.g_end, 1), flagged_to=after.to_date)
    cols = [*a.columns, "flagged_from", "flagged_to"]
    gaps = ibis.union(before.select(*cols), after.select(*cols))
    gaps = gaps.filter(gaps.flagged_from <= gaps.flagged_to)
    latest = eps.group_by(l_member=eps.member_id).aggregate(
        policy_id=eps.policy_id.argmax(eps.episode_start))
    gaps = gaps.join(latest, gaps.member_id == latest.l_member).drop("l_member")
    flagged_days = _days_between(gaps.flagged_to, gaps.flagged_from) + 1
    return gaps.mutate(
        episode_start=ibis.null("date"), rule_key=ibis.literal("outside_authorization"),
        cap_section=ibis.null("string"),
        flagged=ibis.literal(True), flagged_days=flagged_days,
        day_of_episode=ibis.null("int64"),
        amount_at_stake=_cents(gaps.paid_amount.fill_null(0), flagged_days,
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
    not list that day (billing's rule, :func:`code_not_listed`), a provider neither the
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
    p = params.select(p_policy=params.policy_id, p_day=params.day,
                      not_issued=params.not_issued,
                      p_allowed=params.allowed_codes, p_timed=params.timed_code,
                      p_unit=params.h0039_unit, cap_number=params.cap,
                      cap_section=params.cap_section, per_diems_day=params.per_diems_day,
                      providers_day=params.providers_day)
    a = a.left_join(p, [a.policy_id == p.p_policy, a.day == p.p_day]).drop("p_policy",
                                                                          "p_day")
    code = a.hcpcs.upper().strip()
    a = a.mutate(_not_issued=a.not_issued.fill_null(False),
                 _unlisted=code_not_listed(a.p_allowed, code,
                                           a.p_timed.notnull() & (code == a.p_timed),
                                           a.p_unit).fill_null(False))
    team = (ibis.literal(";") + a.auth_provider.fill_null("") + ibis.literal(";") +
            a.contributing.fill_null("") + ibis.literal(";"))
    billing_provider = (a.provider_id == a.auth_provider).fill_null(False)
    in_team = _listed(team, a.provider_id)
    a = a.mutate(_billing=billing_provider, _in_team=in_team,
                 _unauthorized=a.s_unauthorized.fill_null(False) & ~in_team,
                 _agency=a.s_agency.fill_null(False) & in_team & ~billing_provider)
    same = ibis.window(group_by=[a.member_id, a.day, a.provider_id],
                       order_by=[a.claim_id, a._line])
    # the day goes to the authorization's billing provider, then a contributing agency
    # (Minnesota: the billing provider bills and reimburses the others), then anyone else
    preference = ibis.cases((a._billing, 0), (a._in_team, 1), else_=2)
    per_day = ibis.window(group_by=[a.member_id, a.day], order_by=[preference, a.provider_id])
    # Other General Guidelines (SC) / Billing (MN): per_diems_per_member_day per diems of
    # one provider a member-day (row numbers count from 0), and providers_per_member_day
    # providers (the day's first, in the order above); a pack without the number has no limit
    a = a.mutate(
        _dup=(ibis.row_number().over(same) >= a.per_diems_day).fill_null(False),
        _other=(ibis.dense_rank().over(per_day) >= a.providers_day).fill_null(False))
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
    a = _numbers(a, numbers, "inpatient_pos", a.day, "ip")
    i = inpatient
    a = a.left_join(i, [a.member_id == i.i_member, a.day == i.i_day])
    inpatient_wrong = (a.i_member.notnull() & a.ip_text.notnull() &
                       (a.pos.isnull() | (a.pos != a.ip_text)))
    edge_day = a.i_edge.fill_null(False) & a.s_edge.fill_null(False)
    reason = ibis.cases(
        (a._not_issued, "plan_policy_not_yet_issued"), (a._unlisted, "code_not_listed"),
        (a._unauthorized, "provider_not_authorized"), (a._agency, "contributing_agency_billed"),
        (a._dup, "duplicate_per_diem"), (a._other, "per_diem_other_provider"),
        (a._no_contact, "per_diem_without_contact"),
        (a._counted & a.cap_number.notnull() & (a._rank > a.cap_number), "over_monthly_cap"),
        (inpatient_wrong & edge_day, "inpatient_admission_or_discharge_day"),
        (inpatient_wrong, "inpatient_pos_missing"), else_=ibis.null().cast("string"))
    # the monthly cap cites the passage stating it on the day (SC: Other General
    # Guidelines before 02/26, I.F from then), as billing's lines do
    return a.mutate(rule_key=reason, flagged=reason.notnull(), flagged_from=a.day,
                    cap_section=ibis.ifelse(reason == "over_monthly_cap", a.cap_section,
                                            ibis.null("string")),
                    flagged_to=a.day, flagged_days=ibis.literal(1, "int64"),
                    day_of_episode=_days_between(a.day, a.episode_start) + 1,
                    amount_at_stake=_cents(a.paid_amount.fill_null(0), 1, a.line_days)
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
    return _finding(f, claim_source=ibis.literal("act_claims"),
                    rule_id=ibis.literal("per_diem.") + f.rule_key)
