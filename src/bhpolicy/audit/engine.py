"""The audit rules as Ibis expressions (no Python loop touches a claim).

coverage (authorizations, non-overlapping) -> episodes: one row per member and run of
  contiguous authorizations (both in bhpolicy.domain.coverage)
other claim lines -> category (crosswalk, most specific row) -> overlap with an episode
  -> the category's rule -> findings (the flagged dates and the money on them)
ACT claim lines (bhpolicy.audit.per_diem) -> one row per line and date inside an episode
  (and one per span outside every episode) -> per diem findings (outside authorization, a
  provider the authorization does not name, a contributing agency billing itself,
  duplicate, another provider, no qualifying contact, over the monthly cap, inpatient day
  without the inpatient place of service)
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.audit.days import (
    DAY,
    cents,
    days_between,
    each_day,
    finding,
    numbers_on,
    plus_days,
    with_revision,
)
from bhpolicy.domain.code_lists import listed
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
        hit = ibis.or_(*[listed(t[f"{key}_mods"], t[f"k_mod{i}"])
                         for i in range(MAX_MODIFIERS)])
        met = (listed(t[f"{key}_tax"], t.k_tax).fill_null(False) |
               listed(t[f"{key}_dx"], t.k_dx).fill_null(False))
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
    j = numbers_on(j, numbers, j.parameter, j.episode_start, "p")

    start = ibis.greatest(j.from_date, j.episode_start)
    end = ibis.least(j.to_date, j.episode_end)
    # allowed_first_days: days 1..N of the episode are allowed, day N+1 on is flagged
    # (through a timestamp: Ibis types date + interval as a date, DuckDB returns a timestamp)
    first_flagged_day = (j.episode_start.cast("timestamp") +
                         j.p_number.cast("int64") * DAY).date()
    month = j.from_date.truncate("M")
    in_team = listed(j.team, j.provider_id)
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
    claim_days = days_between(j.to_date, j.from_date) + 1
    flagged_days = ibis.ifelse(flagged, days_between(end, flag_from) + 1, 0)
    return j.mutate(
        flagged=flagged, flagged_from=ibis.ifelse(flagged, flag_from, ibis.null("date")),
        flagged_to=ibis.ifelse(flagged, end, ibis.null("date")), flagged_days=flagged_days,
        day_of_episode=days_between(flag_from, j.episode_start) + 1,
        amount_at_stake=ibis.ifelse(
            flagged, cents(j.paid_amount.fill_null(0), flagged_days, claim_days),
            ibis.literal(0)).cast("decimal(18, 2)"))


NOT_ISSUED = "plan_policy_not_yet_issued"


def concurrent_findings(evaluated: ir.Table, reasons: ir.Table, revisions: ir.Table
                        ) -> ir.Table:
    """Findings of the concurrent-services rules. Flagged days before the pack's first
    revision (``first_issued``) are no rule's of the pack: they become a review finding of
    their own ("plan policy not yet issued", no CARC), as billing holds such a day; the
    days from the first revision keep the category's rule."""
    f = evaluated.filter(evaluated.flagged).drop("policy_revision")
    claim_days = days_between(f.to_date, f.from_date) + 1
    # a claim's flagged days split at first_issued into up to two findings: the days from
    # it (part 0) and the days before it (part 1), made from one pass over the claims (a
    # union of two filters would evaluate every claim's rules twice)
    later, early = f.flagged_to >= f.first_issued, f.flagged_from < f.first_issued
    parts = ibis.cases((later & early, ibis.literal([0, 1], "array<int8>")),
                       (later, ibis.literal([0], "array<int8>")),
                       (early, ibis.literal([1], "array<int8>")),
                       else_=ibis.literal([], "array<int8>"))  # a null date: none, as before
    f = f.mutate(part=parts.unnest())
    from_issue = f.part == 0
    start = ibis.ifelse(from_issue, ibis.greatest(f.flagged_from, f.first_issued),
                        f.flagged_from)
    end = ibis.ifelse(from_issue, f.flagged_to,
                      ibis.least(f.flagged_to, plus_days(f.first_issued, -1)))
    days = days_between(end, start) + 1
    f = f.mutate(
        rule_key=ibis.ifelse(from_issue, ibis.literal("concurrent.") + f.category,
                             ibis.literal("concurrent." + NOT_ISSUED)),
        severity=ibis.ifelse(from_issue, f.severity, ibis.literal("review")),
        section=ibis.ifelse(from_issue, f.section, ibis.null("string")),
        reason_id=ibis.ifelse(from_issue, f.reason_id, ibis.literal(NOT_ISSUED)),
        flagged_from=start, flagged_to=end, flagged_days=days,
        day_of_episode=days_between(start, f.episode_start) + 1,
        amount_at_stake=cents(f.paid_amount.fill_null(0), days, claim_days)
        .cast("decimal(18, 2)")).drop("part")
    r = reasons.select(c_policy=reasons.policy_id, c_reason=reasons.reason_id,
                       carc_group=reasons.carc_group, carc=reasons.carc, rarc=reasons.rarc,
                       reason_section=reasons.reason_section)
    f = f.left_join(r, [f.policy_id == r.c_policy, f.reason_id == r.c_reason])
    f = f.mutate(section=f.section.fill_null(f.reason_section))
    f = with_revision(f, revisions, f.flagged_from)
    return finding(f, claim_source=ibis.literal("other_claims"), rule_id=f.rule_key)


def inpatient_days(evaluated: ir.Table) -> ir.Table:
    """Grain: member-day inside a claim of a category marked ``inpatient_stay``, kept to the
    ACT episode the claim overlaps and a day on each side (a claim spanning decades costs no
    more than the episode). ``i_edge`` marks the first and last day of a run of consecutive
    inpatient days: the admission and discharge days, when the recipient may have been seen
    outside the hospital."""
    stays = evaluated.filter(evaluated.inpatient_stay)
    first = ibis.greatest(stays.from_date, plus_days(stays.episode_start, -1))
    last = ibis.least(stays.to_date, plus_days(stays.episode_end, 1))
    days = stays.mutate(day=each_day(first, last))
    d = days.select(i_member=days.member_id, i_day=days.day).distinct()
    after = d.select(p_member=d.i_member, p_day=plus_days(d.i_day, 1))  # day after one
    before = d.select(n_member=d.i_member, n_day=plus_days(d.i_day, -1))  # day before one
    j = d.left_join(after, [d.i_member == after.p_member, d.i_day == after.p_day])
    j = j.left_join(before, [j.i_member == before.n_member, j.i_day == before.n_day])
    return j.select(j.i_member, j.i_day, i_edge=j.p_member.isnull() | j.n_member.isnull())
