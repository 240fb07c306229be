"""The billing run as one expression graph, from the inputs as read to the output tables.

:func:`bill_graph` is the only place the rules of :mod:`bhpolicy.billing.engine` are put
together. Two callers materialize it differently through :class:`Stages`: the folder run
(:mod:`bhpolicy.billing.run`) reads files, stores each stage in its DuckDB database and asks
its data the few questions that pick a cheaper plan (which packs are used, whether any day
has a parameter not in force, whether any authorization names a payer); the warm one-member
path (:mod:`bhpolicy.billing.one`) builds the same graph once over named placeholder tables,
compiles each stage to SQL and runs those statements for every member.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import ibis
import ibis.expr.types as ir

from bhpolicy.billing import engine, kinds, lines
from bhpolicy.domain import coverage as cov
from bhpolicy.domain.parameters import segments
from bhpolicy.domain.reasons import reason_table
from bhpolicy.io.columns import ALREADY_BILLED, AUTHORIZATIONS, CONTACTS, MEMBERS, Column
from bhpolicy.io.validate import (
    Check,
    ExtraChecks,
    Materialize,
    error_rows,
    kept_good_rows,
    validate,
)
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.registry import PolicyRegistry

SUBSCRIBER_COLUMNS = ("member_id", "medicaid_id", "last_name", "first_name", "birth_date",
                      "sex", "address_line", "city", "state", "zip", "primary_dx")
# the questions a run asks its data to pick a plan (see Stages.any_row)
Question = Literal["not_in_force", "payer_id"]


@dataclass(frozen=True)
class RawInput:
    """An input as read (:func:`bhpolicy.io.readers.load_raw_rejects`): the spec's columns
    plus ``_file`` and ``_line``, the rows a CSV parser rejected (or None), and whether text
    is trimmed (CSV) or taken as stored (Parquet)."""

    table: ir.Table
    unreadable: ir.Table | None = None
    trim_text: bool = True


class Stages(Protocol):
    """How a run materializes the graph."""

    def load(self, name: str, columns: tuple[Column, ...]) -> RawInput | None:
        """The input ``name`` as read; None for an input not given (already billed)."""

    def checked(self, name: str) -> Materialize | None:
        """Where :func:`~bhpolicy.io.validate.validate` stores the checked rows of a small
        input (members, authorizations): a temp table (connection, name) or a function that
        stores them; None to leave them unstored."""

    def store(self, name: str, table: ir.Table) -> ir.Table:
        """Compute ``table`` once as ``name`` and return it."""

    def dictionary(self, name: str, table: ir.Table) -> ir.Table:
        """:meth:`store` for a small table whose text columns repeat on many output rows."""

    def shared(self, name: str, table: ir.Table) -> ir.Table:
        """A table several stages read that a run over files streams: each reader computes
        it again (the checked contacts, too many to store; the resolved authorizations, a
        small table read a few times). A run that holds the rows anyway (the one-member
        plan) may compute it once as ``name``."""

    def drop(self, name: str) -> None:
        """A stored stage no longer needed."""

    def parameters(self, coverage: ir.Table, contacts_raw: ir.Table
                   ) -> tuple[ir.Table, list[PolicyPack]]:
        """The packs' parameter table (stored) over the run's days, and the packs used."""

    def any_row(self, question: Question, table: ir.Table) -> bool:
        """Whether ``table`` has a row (answering True where it has none only costs time)."""

    def few_rows(self) -> bool:
        """Whether the run's rows are few (the one-member plan): a dictionary is then built
        for the keys its rows use, not for every key (building every key is cheaper where
        the rows are many: finding their keys would read them again)."""


@dataclass(frozen=True)
class GraphSettings:
    as_of: dt.date
    missing_pos: str = "default"  # default | hold (see engine.month_rules)
    payer_ids: frozenset[str] | None = None  # see RunSettings.payer_ids


@dataclass
class Graph:
    """The output tables (with the order CSV is written in), the error tables, the packs
    used, and the validated members and authorizations."""

    outputs: dict[str, tuple[ir.Table, list[str]]]
    errors: list[ir.Table]
    policies: list[PolicyPack]
    members: ir.Table
    auths: ir.Table
    lines: ir.Table = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.outputs["lines"][0]


def _read(stages: Stages, name: str, columns: tuple[Column, ...], as_of: dt.date,
          materialize: bool = True, extra: ExtraChecks | None = None
          ) -> tuple[ir.Table, ir.Table] | None:
    """:func:`~bhpolicy.io.readers.read_validated` over the stages' input."""
    raw = stages.load(name, columns)
    if raw is None:
        return None
    good, errors = validate(raw.table, columns, stages.checked(name) if materialize else None,
                            trim_text=raw.trim_text, extra=extra, as_of=as_of)
    if raw.unreadable is not None:
        errors = ibis.union(errors, raw.unreadable.cast(errors.schema()))
    return good, errors


def bill_graph(stages: Stages, registry: PolicyRegistry, settings: GraphSettings,
               step: Callable[[str], None] = lambda _: None) -> Graph:
    """The run's output tables and error tables, built from the engine's rules."""
    step("reading inputs")
    as_of = settings.as_of
    read_members = _read(stages, "members", MEMBERS, as_of)
    read_auths = _read(stages, "authorizations", AUTHORIZATIONS, as_of,
                       extra=_payer_check(settings.payer_ids))
    assert read_members is not None and read_auths is not None
    members, member_errors = read_members
    auths, auth_errors = read_auths
    step("checking authorizations")
    coverage, coverage_errors = cov.prepare_authorizations(auths, cov.policy_keys(registry),
                                                           stages.shared)
    coverage = stages.store("coverage", coverage)
    # read by every pass over the contacts: stored, not derived from the authorizations
    # again each time (and, stored, an engine that plans by size knows it is small)
    member_policy = stages.store("member_policy", cov.member_policies(coverage))

    step("checking contacts")
    known = members.select(known_member=members.member_id).distinct()
    # from the authorizations that passed every check (an authorization ending before it
    # starts is an error row, and then covers nothing: its member's contacts are rejected
    # rows, never dropped without a word)
    authorized = coverage.select(auth_member=coverage.member_id).distinct()

    def member_checks(t: ir.Table) -> tuple[ir.Table, list[Check]]:
        t = t.left_join(known, t.__typed_member_id == known.known_member)
        t = t.left_join(authorized, t.__typed_member_id == authorized.auth_member)
        t = cov.cover(t, coverage, member="__typed_member_id", date="__typed_contact_date")
        return t, [(t.known_member.isnull(), "member_id",
                    "unknown member (not in the members file)"),
                   (t.auth_member.isnull(), "member_id", "member has no authorization")]

    # Not materialized (cheaper than copying every contact): one scan checks fields and
    # members and stores the rejected rows, and the contacts by another provider (few, for
    # the report); the good rows are every other row, unchecked.
    kept: list[ir.Table] = []

    def keep_errors(table: ir.Table) -> ir.Table:
        kept.append(stages.store("contacts_kept", table))
        return kept[0]

    contacts_raw = stages.load("contacts", CONTACTS)
    assert contacts_raw is not None
    contacts, contact_errors = validate(
        contacts_raw.table, CONTACTS, None, trim_text=contacts_raw.trim_text,
        extra=member_checks, keep_errors=keep_errors,
        also_keep=lambda t: cov.by_other_provider(t, t.__typed_provider_id), as_of=as_of)
    if contacts_raw.unreadable is not None:
        contact_errors = ibis.union(contact_errors,
                                    contacts_raw.unreadable.cast(contact_errors.schema()))
    contacts = stages.shared("contacts_checked", contacts)
    other_provider = engine.other_provider_contacts(kept_good_rows(kept[0], CONTACTS))
    errors: list[ir.Table] = [contact_errors, member_errors, auth_errors, coverage_errors]
    read_billed = _read(stages, "already_billed", ALREADY_BILLED, as_of, materialize=False)
    billed: ir.Table | None = None  # none: the rules skip what reads the billed lines
    if read_billed is not None:
        billed, billed_errors = read_billed
        errors.append(billed_errors)
        # a run's own lines file: its held lines were not billed
        billed = billed.filter(billed.status.isnull() | (billed.status != "held"))
        billed = billed.drop("_file", "_line", "status")

    step("building parameter tables")
    params, used = stages.parameters(coverage, contacts_raw.table)
    # what every day of a segment shares, read by five stages: computed once
    segs = stages.store("segments", segments(params))
    reasons = reason_table(used)

    step("qualifying contacts, month bitmaps")
    # contacts are streamed, never stored: one pass into the month bitmaps, one for the
    # days read again (see bill_days) and, only when a pack has a day without a value in
    # force, one for those errors
    check_in_force = stages.any_row("not_in_force", params.filter(params.not_in_force.notnull()))
    if check_in_force:
        qualified = engine.qualify_contacts(contacts, coverage, member_policy, params)
        errors.append(error_rows(qualified, qualified.not_in_force.notnull(), "contact_date",
                                 qualified.not_in_force))

    def qualify(checked: ir.Table) -> ir.Table:
        q = engine.qualify_contacts(checked, coverage, member_policy, params)
        return q.filter(q.not_in_force.isnull()) if check_in_force else q

    rules, _, details = engine.bill_days(
        contacts, qualify, coverage, segs, billed, stages.store, step,
        hold_missing_pos=settings.missing_pos == "hold")
    stages.drop("month_rows")  # the month rules hold what the outputs need

    step("writing outputs")
    # lines carry ids; the member (subscriber) fields an 837P needs are written once a member
    # in `subscribers`, not repeated on every line
    providers = stages.dictionary("providers", lines.providers(coverage, details))
    line_rows = lines.line_rows(engine.days(rules, billed, segs, qualifying=True), details,
                                providers)
    in_lines = None
    if stages.few_rows():  # text for the kinds the lines have, not for every kind
        # one stage read twice (the kinds, the lines): DuckDB computes such a CTE once
        line_rows = in_lines = stages.shared("line_rows", line_rows)
    line_kinds = stages.dictionary("line_kinds",
                                   kinds.line_kinds(segs, coverage, reasons, in_lines))
    line_table = lines.with_text(line_rows, line_kinds, providers)
    if stages.any_row("payer_id", auths.filter(auths.payer_id.notnull())):
        line_table = _with_payer(line_table, auths)
    outputs = {
        "lines": (line_table, ["member_id", "service_date"]),
        "member_months": (lines.member_months(rules, coverage, params, segs),
                          ["member_id", "month"]),
        "unbilled_days": (lines.unbilled_days(
            engine.days(rules, billed, segs, qualifying=False),
            stages.dictionary("day_kinds", kinds.unbilled_kinds(segs, reasons))),
                          ["member_id", "service_date"]),
        "other_provider_contacts": (other_provider, ["member_id", "contact_date"]),
        "subscribers": (members.select(*SUBSCRIBER_COLUMNS), ["member_id"]),
    }
    return Graph(outputs, errors, used, members, auths)


def date_span(raw: ir.Table, coverage: ir.Table) -> ir.Table:
    """One row: the first and last date of the contacts (as read; unreadable dates are left
    to the checks) and of the authorizations (from the first day of a month), before they
    are bounded to the dates a contact may have."""
    date = raw.contact_date
    if not date.type().is_date():
        date = date.cast("string").strip().try_cast("date")
    span = ibis.union(
        raw.select(first=date.min(), last=date.max()),
        coverage.select(first=coverage.effective_start.truncate("M").min(),
                        last=coverage.end_date.max()))
    return span.aggregate(first=span["first"].min(), last=span["last"].max())


def _payer_check(payer_ids: frozenset[str] | None) -> ExtraChecks | None:
    """With the submitter config's payers, an authorization naming any other payer is a
    rejected row (its days are then outside every authorization)."""
    if payer_ids is None:
        return None
    known = sorted(payer_ids)

    def check(t: ir.Table) -> tuple[ir.Table, list[Check]]:
        named = t.__typed_payer_id
        return t, [(named.notnull() & ~named.isin(known), "payer_id",
                    "not a payer of the submitter config (--config)")]

    return check


def _with_payer(lines: ir.Table, auths: ir.Table) -> ir.Table:
    """Lines with their authorization's ``payer_id`` (the 837P sends each claim to it); only
    joined when some authorization names a payer."""
    payers = auths.group_by(p_auth=auths.authorization_id).aggregate(
        payer_id=auths.payer_id.max())
    view = lines.view()  # a select over a join chain: join its result, not the chain
    joined = view.left_join(payers, view.authorization_id == payers.p_auth)
    return joined.drop("p_auth")
