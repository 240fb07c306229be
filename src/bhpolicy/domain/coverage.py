"""Authorizations -> coverage -> episodes: what billing and the audit both read of the
authorizations file.

coverage (one row per authorization, clipped so a member's rows do not overlap)
  -> :func:`cover`: the authorization covering a contact's (or claim's) member and day
  -> :func:`episodes`: one row per member and run of contiguous authorizations
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from bhpolicy.domain.code_lists import listed
from bhpolicy.io.validate import error_rows
from bhpolicy.policy.registry import PolicyRegistry

# The team sizes of the input (0: none), numbered for cheaper keys (``team_key``).
TEAM_SIZES = (None, "small", "large")

_DAY = ibis.interval(days=1)
# (name, table) -> the table, computed once where the run holds its rows (Stages.shared)
Shared = Callable[[str, ir.Table], ir.Table]


def policy_keys(registry: PolicyRegistry) -> ir.Table:
    keys: dict[str, list[str]] = {"key": [], "policy_id": []}
    for pack in registry.packs:
        for key in (pack.id.lower(), pack.alias.lower()):
            keys["key"].append(key)
            keys["policy_id"].append(pack.id)
    return ibis.memtable(pa.table(keys, schema=pa.schema([("key", pa.string()),
                                                          ("policy_id", pa.string())])))


def prepare_authorizations(auths: ir.Table, policy_keys: ir.Table,
                           shared: Shared = lambda _, table: table
                           ) -> tuple[ir.Table, ir.Table]:
    """Resolve each authorization's pack, reject bad ones, and merge same-provider overlaps.

    Returns (coverage, errors); :func:`member_policies` reads the coverage. Coverage rows
    do not overlap: renewals that start the day after the previous end stay contiguous;
    overlapping authorizations of one provider are clipped so each date has one; overlaps
    between providers are errors. ``shared(name, table)`` may compute the authorizations
    with their pack and clash once for both the coverage and the error rows (see
    :meth:`bhpolicy.billing.graph.Stages.shared`)."""
    resolved = auths.left_join(policy_keys, auths.policy.lower() == policy_keys.key)
    resolved = resolved.drop("key")
    usable = resolved.policy_id.notnull() & (resolved.end_date >= resolved.start_date)
    ok = resolved.filter(usable)
    other = ok.view()
    clash = ok.join(other, [ok.member_id == other.member_id,
                            ok.authorization_id != other.authorization_id,
                            ok.provider_id != other.provider_id,
                            ok.start_date <= other.end_date, other.start_date <= ok.end_date])
    clash = clash.select(authorization_id=ok.authorization_id,
                         other_id=other.authorization_id).distinct()
    clash = clash.group_by("authorization_id").aggregate(other_id=clash.other_id.min())
    # other_id only for a usable row (the filters below test _usable again all the same)
    flagged = resolved.mutate(_usable=usable)
    flagged = flagged.left_join(clash, [flagged._usable,
                                        flagged.authorization_id == clash.authorization_id])
    flagged = shared("authorizations_resolved",
                     flagged.drop("authorization_id_right"))
    errors = [
        error_rows(flagged, flagged.policy_id.isnull(), "policy",
                   "unknown policy pack (give its id or alias)"),
        error_rows(flagged, flagged.policy_id.notnull() & (flagged.end_date <
                                                           flagged.start_date),
                   "end_date", "before start_date"),
        error_rows(flagged, flagged._usable & flagged.other_id.notnull(), "start_date",
                   ibis.literal("overlaps authorization ") + flagged.other_id.fill_null("") +
                   ibis.literal(" of another provider")),
    ]
    ok = flagged.filter(flagged._usable & flagged.other_id.isnull()).drop("_usable",
                                                                          "other_id")

    # the row in its file last: two rows of one id (nothing forbids it) still sort one way
    order = [ok.start_date, ok.authorization_id, ok._line]
    running = ok.mutate(covered_to=ok.end_date.max().over(
        ibis.cumulative_window(group_by=ok.member_id, order_by=order)))
    # the latest end among the member's earlier authorizations (null for the first)
    previous = running.covered_to.lag().over(
        ibis.window(group_by=running.member_id, order_by=[
            running.start_date, running.authorization_id, running._line]))
    coverage = running.mutate(effective_start=ibis.greatest(
        running.start_date, (previous + ibis.interval(days=1)).fill_null(running.start_date)))
    coverage = coverage.drop("covered_to")
    coverage = coverage.filter(coverage.effective_start <= coverage.end_date)
    # numbers for text a line repeats (see line_kinds) and for cheaper group keys: the
    # authorization (its row in its file), the billing code (0: the pack's per diem code),
    # the team size and the provider. Distinct values are numbered in order by a dense rank
    # over the coverage itself (no second pass over it to list them), so every query gets
    # the same numbers: providers from 0, codes from 1.
    has_code = coverage.billing_code.notnull()
    coverage = coverage.mutate(
        auth_key=coverage._line,
        team_key=ibis.cases(*[(coverage.team_size == size, n)
                              for n, size in enumerate(TEAM_SIZES) if size],
                            else_=0).cast("int64"),
        provider_key=ibis.dense_rank().over(order_by=coverage.provider_id).cast("int64"),
        code_key=ibis.ifelse(has_code, (ibis.dense_rank().over(
            group_by=has_code, order_by=coverage.billing_code) + 1).cast("int64"), 0))
    return coverage, ibis.union(*errors)


def member_policies(coverage: ir.Table) -> ir.Table:
    """Grain: member with coverage. ``member_policy_id``: a contact outside every
    authorization is checked under the pack of the authorization covering the member's
    latest days. A member's coverage rows do not overlap, so the latest effective start is
    one row (an authorization covering no day has no say). Read from the coverage as
    stored, so a run does not derive the coverage from the authorizations twice."""
    return coverage.group_by("member_id").aggregate(
        member_policy_id=coverage.policy_id.argmax(coverage.effective_start))


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
    return covered.authorization_id.notnull() & (provider != covered.auth_provider) & ~listed(
        ibis.literal(";") + covered.contributing.fill_null("") + ibis.literal(";"), provider)


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
