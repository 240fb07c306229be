"""The denial worklist: each ledger line the payer's front end rejected or the payer denied
(paid nothing on a posting in force), with the action to take, its deadline and its status.

- Action (data: ``x12/denial_actions.yaml``): a line on a claim rejected at the front end
  (999 or 277CA) was never filed and goes out again as a new original; a denied line takes
  the action of its first CARC the table lists (correct and replace, void, appeal), else the
  table's default (appeal). A duplicate (CARC 18) whose conflicting claim (another claim
  with a line for the same member, day and code) has since been reversed by the payer is
  sent again as a new original.
- Deadline: an original runs on the filing clock, from the date of service plus the payer's
  ``filing_limit_days``; a correction or void on the remittance date plus
  ``correction_limit_days``; an appeal on the remittance date plus ``appeal_limit_days``
  (all in the submitter configuration; a limit not given leaves the deadline unknown).
  Days left are counted to ``as_of``.
- Status: ``open``; ``sent again`` once a newer claim carries the line and nothing has been
  posted for it since; ``done`` once a later posting pays it. A line withdrawn by a void
  (``bhpolicy claims void``) is ``sent again`` until the payer's front end accepts the void,
  then ``done``; once the payer reverses the claim, nothing is left to work.
- A void the front end rejected (999 or 277CA) puts the claim it would have voided back in
  force, and is itself work, per line, while that claim is still the line's current one:
  send the void again (the table's ``front_end_rejected_void``, on the correction clock from
  the date of the latest remittance in force for the line; none, no deadline). It is
  ``sent again`` once another void of the line is in force, ``done`` once the front end
  accepts that void. A denied line whose void was rejected shows the rejected void until a
  void is in force again, then its denial's item as above.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import LedgerClaim, LedgerLine
from bhpolicy.db.posting_models import RemitClaim, RemitLine, Remittance
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services.ledger import VOID  # CLM05-3 of a void
from bhpolicy.services.posting import line_postings
from bhpolicy.services.reconcile import (
    DenialActions,
    carc_labels,
    current_lines,
    load_denial_actions,
    withdrawn,
)
from bhpolicy.x12.config import Payer, SubmitterConfig

LIMIT_OF_CLOCK = {"filing": "filing_limit_days", "correction": "correction_limit_days",
                  "appeal": "appeal_limit_days"}


@dataclass
class WorkItem:
    line_control: str
    claim_id: str  # the claim the denial or rejection was about
    payer_id: str
    team: str
    month: str
    service_date: str
    hcpcs: str
    modifier: str | None
    charged_cents: int
    reason: str  # "rejected at the front end" or the CARCs, e.g. "CO-119"
    carcs: list[str]
    labels: list[str]  # the packs' labels of those CARCs, where they have them
    action: str  # resubmit_new, correct_replace, void, appeal
    action_summary: str
    frequency: str | None  # the CLM05-3 the action sends
    clock: str  # filing, correction, appeal
    clock_from: str | None  # the date the clock runs from
    limit_days: int | None
    deadline: str | None
    days_left: int | None
    status: str  # open, sent again, done
    remittance_date: str | None = None
    payer_claim_number: str | None = None


@dataclass
class Worklist:
    as_of: str
    items: list[WorkItem] = field(default_factory=list)

    def open(self) -> list[WorkItem]:
        return [i for i in self.items if i.status != "done"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _deadline(payer: Payer | None, clock: str, start: dt.date | None, as_of: dt.date
              ) -> tuple[int | None, dt.date | None, int | None]:
    limit = getattr(payer, LIMIT_OF_CLOCK[clock]) if payer is not None else None
    if limit is None or start is None:
        return limit, None, None
    deadline = start + dt.timedelta(days=int(limit))
    return int(limit), deadline, (deadline - as_of).days


def _conflict_reversed(session: Session, line: LedgerLine) -> bool:
    """Another claim of the member with a line for the same day and code, which the payer
    has reversed."""
    reversed_ids = select(RemitClaim.reverses_id).where(RemitClaim.reverses_id.is_not(None))
    found = session.scalars(
        select(RemitLine.id)
        .join(RemitClaim, RemitLine.remit_claim_id == RemitClaim.id)
        .join(LedgerLine, RemitLine.ledger_line_id == LedgerLine.id)
        .join(LedgerClaim, LedgerLine.claim_id == LedgerClaim.id)
        .where(LedgerClaim.member_id == line.claim.member_id,
               LedgerLine.service_date == line.service_date,
               LedgerLine.hcpcs == line.hcpcs,
               LedgerLine.claim_id != line.claim_id,
               RemitClaim.id.in_(reversed_ids))).first()
    return found is not None


def worklist(db: Database, config: SubmitterConfig | None = None, *, as_of: dt.date,
             registry: PolicyRegistry | None = None, actions: DenialActions | None = None
             ) -> Worklist:
    """Every rejected or denied line with its action, deadline and status (see the module's
    docstring)."""
    table = actions or load_denial_actions()
    payers = {p.id: p for p in config.all_payers()} if config is not None else {}
    labels = {p.id: carc_labels(registry, p.packs) for p in payers.values()}
    every = carc_labels(registry)
    out = Worklist(as_of.isoformat())
    with db.read() as session:
        history: dict[str, list[tuple[RemitLine, RemitClaim, Remittance, LedgerLine]]] = {}
        for row in line_postings(session):
            history.setdefault(row[3].line_control, []).append(row)
        rejected_lines: dict[str, LedgerLine] = {}
        rejected_voids: dict[str, LedgerLine] = {}
        for line in session.scalars(
                select(LedgerLine).join(LedgerClaim, LedgerLine.claim_id == LedgerClaim.id)
                .where(LedgerClaim.status == "rejected")
                .order_by(LedgerClaim.created_at, LedgerClaim.file_id, LedgerLine.number)):
            # the latest rejection of the line, of a void apart
            (rejected_voids if line.claim.frequency == VOID else rejected_lines)[
                line.line_control] = line
        current = {line.line_control: line for line in current_lines(session)}
        for control, line in current.items():
            payer = payers.get(line.claim.payer_id)
            postings = history.get(control, [])
            denials = [r for r in postings if r[0].paid_cents == 0 and r[0].charge_cents != 0]
            void = rejected_voids.get(control)
            if void is not None and (
                    void.claim.replaces_id == line.claim_id  # the voided claim is current
                    or (withdrawn(line) and not denials)):  # a void of it in force again
                item = _rejected_void(void, line, postings, table, payer, as_of)
            elif denials:
                item = _denied(session, line, denials[-1], postings, table, payer,
                               labels.get(line.claim.payer_id) or every, as_of)
            elif control in rejected_lines:
                item = _rejected(rejected_lines[control], line, postings, table, payer,
                                 as_of)
            else:
                continue
            out.items.append(item)
    out.items.sort(key=lambda i: (i.status == "done", i.days_left is None,
                                  i.days_left or 0, i.service_date, i.line_control))
    return out


def _item(line: LedgerLine, claim_id: str, reason: str, carcs: list[str], labels: list[str],
          action_name: str, table: DenialActions, payer: Payer | None, start: dt.date | None,
          as_of: dt.date, status: str, remittance: Remittance | None = None,
          payer_claim_number: str | None = None) -> WorkItem:
    action = table.actions[action_name]
    limit, deadline, left = _deadline(payer, action.clock, start, as_of)
    paid_on = remittance.payment_date or remittance.production_date if remittance else None
    return WorkItem(
        line_control=line.line_control, claim_id=claim_id, payer_id=line.claim.payer_id,
        team=line.claim.provider_id, month=line.claim.month,
        service_date=line.service_date.isoformat(), hcpcs=line.hcpcs, modifier=line.modifier,
        charged_cents=line.charge_cents, reason=reason, carcs=carcs, labels=labels,
        action=action_name, action_summary=action.summary, frequency=action.frequency,
        clock=action.clock, clock_from=start.isoformat() if start else None,
        limit_days=limit, deadline=deadline.isoformat() if deadline else None,
        days_left=left, status=status,
        remittance_date=paid_on.isoformat() if paid_on else None,
        payer_claim_number=payer_claim_number)


def _rejected(rejected: LedgerLine, current: LedgerLine,
              postings: list[tuple[RemitLine, RemitClaim, Remittance, LedgerLine]],
              table: DenialActions, payer: Payer | None, as_of: dt.date) -> WorkItem:
    if current.claim.frequency == VOID:  # withdrawn by a void
        status = "done" if current.claim.status == "accepted" else "sent again"
    elif any(r[0].paid_cents > 0 for r in postings):
        status = "done"
    elif current.claim.status != "rejected":
        status = "sent again"
    else:
        status = "open"
    return _item(current, rejected.claim_id, "rejected at the front end", [], [],
                 table.front_end_rejected, table, payer, rejected.service_date, as_of, status)


def _rejected_void(void: LedgerLine, current: LedgerLine,
                   postings: list[tuple[RemitLine, RemitClaim, Remittance, LedgerLine]],
                   table: DenialActions, payer: Payer | None, as_of: dt.date) -> WorkItem:
    """A void of the line that the front end rejected: send it again."""
    if withdrawn(current):  # another void of the line is in force
        status = "done" if current.claim.status == "accepted" else "sent again"
    else:
        status = "open"
    action = table.front_end_rejected_void
    remittance = postings[-1][2] if postings else None
    start = current.service_date if table.actions[action].clock == "filing" else (
        remittance.payment_date or remittance.production_date if remittance else None)
    return _item(current, void.claim_id, "void rejected at the front end", [], [], action,
                 table, payer, start, as_of, status, remittance, void.claim.payer_claim_number)


def _denied(session: Session, line: LedgerLine,
            denial: tuple[RemitLine, RemitClaim, Remittance, LedgerLine],
            postings: list[tuple[RemitLine, RemitClaim, Remittance, LedgerLine]],
            table: DenialActions, payer: Payer | None, labels: dict[str, str],
            as_of: dt.date) -> WorkItem:
    remit_line, remit_claim, remittance, denied_line = denial
    adjustments = [(a.group, a.carc) for a in remit_line.adjustments]
    listed = [carc for _, carc in adjustments if carc in table.carcs]
    carcs = list(dict.fromkeys(carc for _, carc in adjustments))
    if listed:
        entry = table.carcs[listed[0]]
        action = entry.action
        if entry.conflict_reversed and _conflict_reversed(session, denied_line):
            action = entry.conflict_reversed
    else:
        action = table.default
    later = postings[postings.index(denial) + 1:]
    if line.claim.frequency == VOID and not later:  # withdrawn by a void
        status = "done" if line.claim.status == "accepted" else "sent again"
    elif any(r[0].paid_cents > 0 for r in later):
        status = "done"
    elif line.claim_id != denied_line.claim_id and not later:
        status = "sent again"
    else:
        status = "open"
    clock = table.actions[action].clock
    start = line.service_date if clock == "filing" else (
        remittance.payment_date or remittance.production_date)
    reason = ", ".join(f"{g}-{c}" for g, c in adjustments) or f"CLP02 {remit_claim.status}"
    return _item(line, denied_line.claim_id, reason, carcs,
                 [labels[c] for c in carcs if c in labels], action, table, payer, start,
                 as_of, status, remittance, remit_claim.payer_claim_number)
