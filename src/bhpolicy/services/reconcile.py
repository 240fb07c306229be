"""Reconciliation of what was billed against what the payer paid, per ledger line (a line is
its REF*6R line control number, the same on every claim it went out on; its current state
is its latest posting in force, :func:`bhpolicy.services.posting.line_states`).

For each line: charged; expected, the payer's dated fee schedule in the submitter
configuration for the line's code and modifier on its date times its units (``expected_from``
names the file, payer, schedule date and key; none when the schedule has no rate); allowed
(AMT*B6 when the payer sent it); paid; adjustments by group and CARC with the packs' reason
labels (``policies/*/reasons.yaml``) where a pack names that CARC. Adjustments are split
into write-off (group CO, and any CARC the denial actions list as a write-off: CARC 119,
over the monthly maximum, is never the member's to pay), patient responsibility (PR) and
other (OA, PI, CR). A line is underpaid when paid is less than expected and none of its
CARCs is a denial (``x12/denial_actions.yaml``). Totals by team (billing provider), payer
and month; denials counted by CARC. Money is integer cents.

A line withdrawn by a void (``bhpolicy claims void``, CLM05-3 8) that the payer's front end
has not rejected is ``voided``: nothing charged or expected, never underpaid; what was paid
on it shows until the payer reverses the claim. A void the front end rejected leaves the
voided claim's line current.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import LedgerClaim, LedgerLine
from bhpolicy.db.posting_models import ProviderAdjustment, Remittance
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services.ledger import VOID  # CLM05-3 of a void
from bhpolicy.services.posting import LineState, line_states
from bhpolicy.strict_model import Strict
from bhpolicy.x12.config import Payer, SubmitterConfig
from bhpolicy.yaml_strict import validate_file

VOIDED = "voided"  # the state of a line a void in force withdrew

# ---------------------------------------------------------------- denial actions (data)


class Action(Strict):
    summary: StrictStr
    frequency: StrictStr | None = None
    clock: Annotated[StrictStr, Field(pattern="^(filing|correction|appeal)$")]


class CarcAction(Strict):
    action: StrictStr
    why: StrictStr
    conflict_reversed: StrictStr | None = None


class DenialActions(Strict):
    default: StrictStr
    front_end_rejected: StrictStr
    front_end_rejected_void: StrictStr
    actions: dict[StrictStr, Action]
    carcs: dict[StrictStr, CarcAction]
    write_off: list[StrictStr]


def denial_actions_path() -> Path:
    return Path(str(resources.files("bhpolicy.x12") / "denial_actions.yaml"))


@cache
def _load(path: Path) -> DenialActions:
    from bhpolicy.errors import DataFileError

    table = validate_file(DenialActions, path)
    named = [table.default, table.front_end_rejected, table.front_end_rejected_void,
             *[c.action for c in table.carcs.values()],
             *[c.conflict_reversed for c in table.carcs.values() if c.conflict_reversed]]
    for action in named:
        if action not in table.actions:
            raise DataFileError(str(path), "key actions", f"{action!r} is used but not "
                                "defined")
    return table


def load_denial_actions(path: Path | None = None) -> DenialActions:
    """The CARC -> action table (``x12/denial_actions.yaml`` unless ``path``)."""
    return _load(path or denial_actions_path())


def carc_labels(registry: PolicyRegistry | None, packs: list[str] | None = None
                ) -> dict[str, str]:
    """CARC -> the packs' label for it ("<pack alias>: <reason id>: <summary>"), from the
    reasons.yaml of ``packs`` (aliases or ids; default every pack); the first pack naming a
    CARC gives its label."""
    from bhpolicy.domain.reasons import load_reasons

    out: dict[str, str] = {}
    if registry is None:
        return out
    chosen = [registry.get(p) for p in packs] if packs else list(registry.packs)
    for pack in chosen:
        for reason_id, reason in load_reasons(pack).items():
            if reason.carc and reason.carc not in out:
                summary = " ".join(reason.summary.split())
                out[reason.carc] = f"{pack.alias}: {reason_id}: {summary}"
    return out


# ---------------------------------------------------------------- results


@dataclass
class AdjustmentRow:
    group: str
    carc: str
    cents: int
    label: str | None = None


@dataclass
class ReconLine:
    line_control: str
    claim_id: str  # the latest claim the line went out on
    payer_id: str
    team: str  # the billing provider (NPI)
    month: str  # YYYY-MM
    service_date: str
    hcpcs: str
    modifier: str | None
    units: int
    state: str  # paid, partly paid, denied, not posted, rejected at the front end, voided
    charged_cents: int
    expected_cents: int | None
    expected_from: str | None
    allowed_cents: int | None
    paid_cents: int
    write_off_cents: int
    patient_responsibility_cents: int
    other_adjustment_cents: int
    underpaid_cents: int
    denial_carcs: list[str]
    adjustments: list[AdjustmentRow]
    remarks: list[str]
    payer_claim_number: str | None
    payment_date: str | None


@dataclass
class Total:
    key: str
    lines: int = 0
    charged_cents: int = 0
    expected_cents: int = 0
    allowed_cents: int = 0
    paid_cents: int = 0
    write_off_cents: int = 0
    patient_responsibility_cents: int = 0
    underpaid_cents: int = 0
    denied_lines: int = 0
    not_posted_lines: int = 0
    voided_lines: int = 0

    def add(self, line: ReconLine) -> None:
        self.lines += 1
        self.charged_cents += line.charged_cents
        self.expected_cents += line.expected_cents or 0
        self.allowed_cents += line.allowed_cents or 0
        self.paid_cents += line.paid_cents
        self.write_off_cents += line.write_off_cents
        self.patient_responsibility_cents += line.patient_responsibility_cents
        self.underpaid_cents += line.underpaid_cents
        self.denied_lines += line.state == "denied"
        self.not_posted_lines += line.state in ("not posted", "rejected at the front end")
        self.voided_lines += line.state == VOIDED


@dataclass
class DenialCount:
    carc: str
    label: str | None
    why: str | None
    lines: int = 0
    cents: int = 0


@dataclass
class Reconciliation:
    lines: list[ReconLine] = field(default_factory=list)
    by_team: list[Total] = field(default_factory=list)
    by_payer: list[Total] = field(default_factory=list)
    by_month: list[Total] = field(default_factory=list)
    denials: list[DenialCount] = field(default_factory=list)
    total: Total = field(default_factory=lambda: Total("all"))
    provider_adjustments_cents: int = 0  # PLB total (positive lowered the payments)
    fee_schedule: str | None = None  # the configuration file the expected amounts came from

    @property
    def underpaid(self) -> list[ReconLine]:
        return [line for line in self.lines if line.underpaid_cents > 0]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["underpaid"] = [line.line_control for line in self.underpaid]
        return data


# ---------------------------------------------------------------- the work


def expected_rate(payer: Payer, hcpcs: str, modifier: str | None, on: dt.date
                  ) -> tuple[Decimal, str] | None:
    """The rate per unit and where it comes from (the same lookup as ``Payer.fee``)."""
    keys = ([f"{hcpcs}:{modifier}"] if modifier else []) + [hcpcs]
    for key in keys:
        for schedule in reversed(payer.fees):
            if schedule.since <= on and key in schedule.rates:
                since = "any date" if schedule.since == dt.date.min else \
                    schedule.since.isoformat()
                return schedule.rates[key], f"payer {payer.id} fees since {since}, {key}"
    return None


def current_lines(session: Session, month: str | None = None) -> list[LedgerLine]:
    """One ledger line a line control number: the newest that went out on a claim the
    payer's front end did not reject (else the newest). That may be a void's line (see
    :func:`withdrawn`): the line is then withdrawn, not billed."""
    query = (select(LedgerLine).join(LedgerClaim, LedgerLine.claim_id == LedgerClaim.id)
             # files are numbered as written: the later file's claim wins a tie
             .order_by(LedgerClaim.created_at, LedgerClaim.file_id, LedgerClaim.id,
                       LedgerLine.number))
    if month is not None:
        query = query.where(LedgerClaim.month == month)
    chosen: dict[str, LedgerLine] = {}
    for line in session.scalars(query):
        earlier = chosen.get(line.line_control)
        if earlier is None or line.claim.status != "rejected" or \
                earlier.claim.status == "rejected":
            chosen[line.line_control] = line
    return sorted(chosen.values(), key=lambda ln: (ln.claim.month, ln.claim.provider_id,
                                                   ln.service_date, ln.line_control))


def withdrawn(line: LedgerLine) -> bool:
    """Whether ``line`` is a void's line that the payer's front end has not rejected (the
    line it voids is then withdrawn)."""
    return line.claim.frequency == VOID and line.claim.status != "rejected"


def _line(line: LedgerLine, state: LineState | None, payers: dict[str, Payer],
          source: str | None, labels_of: dict[str, dict[str, str]], actions: DenialActions
          ) -> ReconLine:
    claim = line.claim
    labels = labels_of.get(claim.payer_id) or labels_of.get("", {})
    payer = payers.get(claim.payer_id)
    voided = withdrawn(line)
    rate = expected_rate(payer, line.hcpcs, line.modifier, line.service_date) \
        if payer and not voided else None
    expected = int((rate[0] * line.units * 100).to_integral_value()) if rate else None
    expected_from = f"{source}: {rate[1]}" if rate and source else rate[1] if rate else None
    adjustments = [AdjustmentRow(g, c, cents, labels.get(c))
                   for g, c, cents in (state.adjustments if state else ())]
    write_off = sum(a.cents for a in adjustments
                    if a.group == "CO" or a.carc in actions.write_off)
    patient = sum(a.cents for a in adjustments
                  if a.group == "PR" and a.carc not in actions.write_off)
    other = sum(a.cents for a in adjustments) - write_off - patient
    denial = sorted({a.carc for a in adjustments if a.carc in actions.carcs})
    paid = state.paid_cents if state else 0
    if voided:
        label = VOIDED
    elif state is None:
        label = "rejected at the front end" if claim.status == "rejected" else "not posted"
    elif state.denied:
        label = "denied"
    else:
        label = "paid" if paid >= state.charge_cents else "partly paid"
    underpaid = (expected - paid if state is not None and expected is not None
                 and paid < expected and not denial else 0)
    return ReconLine(
        line_control=line.line_control, claim_id=claim.id, payer_id=claim.payer_id,
        team=claim.provider_id, month=claim.month, service_date=line.service_date.isoformat(),
        hcpcs=line.hcpcs, modifier=line.modifier, units=line.units, state=label,
        charged_cents=0 if voided else line.charge_cents, expected_cents=expected,
        expected_from=expected_from,
        allowed_cents=state.allowed_cents if state else None, paid_cents=paid,
        write_off_cents=write_off, patient_responsibility_cents=patient,
        other_adjustment_cents=other, underpaid_cents=underpaid, denial_carcs=denial,
        adjustments=adjustments, remarks=list(state.remarks) if state else [],
        payer_claim_number=state.payer_claim_number if state else claim.payer_claim_number,
        payment_date=state.payment_date.isoformat() if state and state.payment_date
        else None)


def reconcile(db: Database, config: SubmitterConfig | None = None, *,
              month: str | None = None, registry: PolicyRegistry | None = None,
              actions: DenialActions | None = None) -> Reconciliation:
    """Reconcile every ledger line (of ``month``, YYYY-MM, when given)."""
    table = actions or load_denial_actions()
    payers = {p.id: p for p in config.all_payers()} if config is not None else {}
    labels = {"": carc_labels(registry)}
    labels.update({p.id: carc_labels(registry, p.packs) for p in payers.values()})
    source = str(config.source) if config is not None and config.source else None
    out = Reconciliation(fee_schedule=source)
    with db.read() as session:
        states = line_states(session)
        for ledger in current_lines(session, month):
            out.lines.append(_line(ledger, states.get(ledger.line_control), payers, source,
                                   labels, table))
        plb = session.execute(select(ProviderAdjustment.amount_cents, Remittance.payment_date)
                              .join(Remittance,
                                    ProviderAdjustment.remittance_id == Remittance.id))
        out.provider_adjustments_cents = sum(
            cents for cents, day in plb
            if month is None or (day is not None and day.strftime("%Y-%m") == month))
    groups: dict[str, dict[str, Total]] = {"team": {}, "payer": {}, "month": {}}
    denials: dict[str, DenialCount] = {}
    for line in out.lines:
        out.total.add(line)
        for name, key in (("team", line.team), ("payer", line.payer_id),
                          ("month", line.month)):
            groups[name].setdefault(key, Total(key)).add(line)
        for adjustment in line.adjustments:
            if adjustment.carc in line.denial_carcs:
                entry = table.carcs.get(adjustment.carc)
                count = denials.setdefault(adjustment.carc, DenialCount(
                    adjustment.carc, adjustment.label, entry.why if entry else None))
                count.lines += 1
                count.cents += adjustment.cents
    out.by_team = sorted(groups["team"].values(), key=lambda t: t.key)
    out.by_payer = sorted(groups["payer"].values(), key=lambda t: t.key)
    out.by_month = sorted(groups["month"].values(), key=lambda t: t.key)
    out.denials = sorted(denials.values(), key=lambda d: (-d.lines, d.carc))
    return out
