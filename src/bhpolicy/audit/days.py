"""Dates, money and the shape of a finding, shared by the audit's concurrent-services
(:mod:`bhpolicy.audit.engine`) and per diem (:mod:`bhpolicy.audit.per_diem`) checks."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from bhpolicy.engines import current_dialect

DAY = ibis.interval(days=1)


def cents(paid: ir.NumericValue, days: ir.IntegerValue | int, of_days: ir.IntegerValue
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
    return (value.sign() * round_exact(value.abs() * 4, 25) / 100).cast("float64")


def round_exact(a: ir.FloatingValue, b: int) -> ir.IntegerValue:
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


def numbers_on(table: ir.Table, numbers: ir.Table, name_col: ir.Value | str,
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


def days_between(later: ir.Value, earlier: ir.Value) -> ir.IntegerValue:
    return later.delta(earlier, unit="day").cast("int64")


def finding(f: ir.Table, claim_source: ir.Value, rule_id: ir.Value) -> ir.Table:
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


def plus_days(day: ir.DateValue, days: int) -> ir.DateValue:
    # through a timestamp (see allowed_first_days above)
    return (day.cast("timestamp") + ibis.interval(days=days)).date()


def each_day(first: ir.DateValue, last: ir.DateValue) -> ir.DateValue:
    """One row per date from ``first`` through ``last`` (an unnest; Spark unnests only a
    column's outermost expression, so there the array is cast to dates first)."""
    stamps = ibis.range(first.cast("timestamp"), (last + DAY).cast("timestamp"), DAY)
    if current_dialect() == "spark":
        return stamps.cast("array<date>").unnest()
    return stamps.unnest().cast("date")
