"""The claim ledger: what was sent, so that nothing is sent twice and a correction carries
the whole claim.

``write_837p_with_ledger`` writes an 837P as ``claims 837p`` does and, in the same database
transaction, records every claim and line it sent; X12 control numbers come from the
database. It decides, from the ledger, what to send:

- each claim gets its own CLM01 (``C-`` and 12 base32 characters), never reused; a line gets
  its REF*6R line item control number the first time it is sent and keeps it on every
  replacement, so an 835 names the line exactly;
- a line sent before (same member, authorization, date, code and modifier, on a claim that
  was not rejected at the payer's front end or replaced) is not sent again unless ``resend``;
- days added to a month already claimed go out either as a new original claim
  (``added_days="new"``) or as a replacement of the claim already sent (``"replace"``:
  frequency 7, REF*F8 the payer's claim number from its 277CA or 835; of several claims in
  force for the month, the newest the payer has numbered), which carries every line that
  claim had plus the new ones, because a payer replaces the whole claim;
- a claim the payer's front end rejected (277CA) was never filed: its lines are sent again as
  a new original;
- a claim voided (``void_claims``: frequency 8, REF*F8 the payer's claim number, its lines
  exactly as last sent) is no longer in force, nor is the void itself: a later run sends
  those days again, as a new original, only if they are still billable.

Files are written before the commit; if recording fails they are removed again, so a file
on disk is always one the ledger knows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import ClaimFile, LedgerClaim, LedgerLine, X12Control
from bhpolicy.db.posting_models import ClaimTransaction
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.registry import PolicyRegistry
from bhpolicy.services.ids import new_id
from bhpolicy.x12 import control
from bhpolicy.x12.config import SubmitterConfig
from bhpolicy.x12.writer import (
    Claim,
    WriteResult,
    read_subscribers,
    write_837p,
    write_claims_837p,
)

AddedDays = Literal["new", "replace"]
#: claim statuses whose lines count as sent
SENT = ("sent", "accepted")
ALL_STATUSES = ("sent", "accepted", "rejected", "replaced", "voided")
VOID = "8"  # CLM05-3 of a void (claim frequency 8)
LineKey = tuple[str, str, str]  # service date, hcpcs, modifier


def _key(line: dict[str, Any]) -> LineKey:
    return (str(line["service_date"]), str(line["hcpcs"] or ""), str(line["modifier"] or ""))


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass
class LedgerRun:
    """What one ledger run decided: claims skipped because everything was sent before, and
    which claim each replacement replaces."""

    skipped_lines: int = 0
    replaces: dict[str, str] = field(default_factory=dict)


class _Planner:
    def __init__(self, session: Session, resend: bool, added_days: AddedDays,
                 keep: Callable[[Claim], bool] | None = None) -> None:
        self.session = session
        self.resend = resend
        self.added_days = added_days
        self.keep = keep
        self.run = LedgerRun()

    def _sent(self, claim: Claim, statuses: tuple[str, ...] = SENT) -> list[LedgerClaim]:
        """Claims of the same payer, provider, member, authorization and month in one of
        ``statuses`` (by default: still in force), newest first."""
        assert claim.payer is not None
        return list(self.session.scalars(
            select(LedgerClaim).where(
                LedgerClaim.payer_id == claim.payer.id,
                LedgerClaim.provider_id == claim.provider_id,
                LedgerClaim.member_id == claim.member["member_id"],
                LedgerClaim.authorization_id == claim.authorization_id,
                LedgerClaim.month == claim.month,
                LedgerClaim.status.in_(statuses),
                # a void is never in force (its lines were withdrawn), only their numbers
                LedgerClaim.frequency != VOID if statuses == SENT else true())
            .order_by(LedgerClaim.created_at.desc(), LedgerClaim.file_id.desc(),
                      LedgerClaim.id.desc())))

    def plan(self, claims: list[Claim]) -> list[Claim]:
        out: list[Claim] = []
        for claim in claims:
            if self.keep is not None and not self.keep(claim):  # not chosen this time
                continue
            if claim.payer is None:  # refused by the checks, with the reason
                out.append(claim)
                continue
            in_force = self._sent(claim)
            sent: dict[LineKey, LedgerLine] = {}
            for earlier in reversed(in_force):
                for line in earlier.lines:
                    sent[(line.service_date.isoformat(), line.hcpcs, line.modifier or "")] = line
            new = [line for line in claim.lines if self.resend or _key(line) not in sent]
            self.run.skipped_lines += len(claim.lines) - len(new)
            if not new:
                continue
            claim.claim_id = new_id("C")
            claim.frequency, claim.payer_claim_number = "1", None
            if in_force and self.added_days == "replace" and not self.resend:
                # the newest claim the payer has numbered (the one it can replace), else the
                # newest, which is then refused for want of the payer's number
                numbered = [c for c in in_force if c.payer_claim_number]
                self._replacement(claim, (numbered or in_force)[0], new)
            else:
                claim.lines = new
            known = {(line.service_date.isoformat(), line.hcpcs, line.modifier or ""):
                     line.line_control
                     for earlier in reversed(self._sent(claim, ALL_STATUSES))
                     for line in earlier.lines}  # a line keeps its number, even resent
            claim.line_controls = [known.get(_key(line)) or new_id("L")
                                   for line in claim.lines]
            out.append(claim)
        return out

    def _replacement(self, claim: Claim, earlier: LedgerClaim,
                     new: list[dict[str, Any]]) -> None:
        """Frequency 7 with every line ``earlier`` had (as it was sent) and the new ones."""
        template = claim.lines[0]
        kept = []
        for line in earlier.lines:
            row = dict(template)
            row.update(line_id=line.billing_line_id, service_date=line.service_date.isoformat(),
                       hcpcs=line.hcpcs, modifier=line.modifier or "", pos=line.pos or "",
                       units=str(line.units))
            kept.append(row)
        claim.lines = sorted(kept + new, key=lambda line: str(line["service_date"]))
        claim.frequency = "7"
        claim.payer_claim_number = earlier.payer_claim_number
        if not earlier.payer_claim_number:
            claim.payer_problem = (
                f"the days added replace claim {earlier.id}, whose payer claim number is not "
                "known yet: import its 277CA or 835 first (bhpolicy claims ack, bhpolicy "
                "remit import), or send the added days as a new claim (--added-days new)")
        self.run.replaces[claim.claim_id] = earlier.id


def _reserve(session: Session, control_file: Path) -> Callable[[list[int]], list[
        control.Reserved]]:
    """Control numbers from the database; the first time, they go on from the config's
    control-number file (so a receiver never sees a number twice)."""

    def reserve(transactions: list[int]) -> list[control.Reserved]:
        query = select(X12Control).where(X12Control.id == 1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            isa, gs, st = control.read_numbers(control_file)
            row = X12Control(id=1, isa=isa, gs=gs, st=st)
            session.add(row)
        if row.isa + len(transactions) > control.LIMIT or \
                row.st + sum(transactions) > control.LIMIT:
            raise BhpolicyError("claim ledger: X12 control numbers exhausted")
        reserved = []
        for count in transactions:
            row.isa, row.gs = row.isa + 1, row.gs + 1
            reserved.append(control.Reserved(row.isa, row.gs,
                                              list(range(row.st + 1, row.st + count + 1))))
            row.st += count
        return reserved

    return reserve


def _sets_of(data: bytes) -> dict[str, int]:
    """CLM01 -> the ST02 of the transaction set it is in, read back from the file written
    (so a 999 rejecting one set names its claims)."""
    text = data.decode("ascii")
    terminator = text[105] if len(text) > 105 else "~"
    found: dict[str, int] = {}
    st = 0
    for segment in text.split(terminator):
        elements = segment.strip().split(text[3] if len(text) > 3 else "*")
        if elements[0] == "ST" and len(elements) > 2:
            st = int(elements[2])
        elif elements[0] == "CLM" and len(elements) > 1:
            found[elements[1]] = st
    return found


def _record(session: Session, result: WriteResult, run: LedgerRun, now: dt.datetime) -> None:
    for written in result.files:
        data = written.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        sets = _sets_of(data)
        isa, gs, st = written.control
        file = ClaimFile(name=written.path.name, sha256=digest,
                         receiver_id=written.receiver.id, isa13=isa, gs06=gs, st02=st,
                         written_at=now)
        session.add(file)
        session.flush()
        for claim in written.claims:
            assert claim.payer is not None and claim.line_controls is not None
            replaces = run.replaces.get(claim.claim_id)
            session.add(LedgerClaim(
                id=claim.claim_id, file_id=file.id, payer_id=claim.payer.id,
                provider_id=claim.provider_id, member_id=claim.member["member_id"],
                authorization_id=claim.authorization_id, month=claim.month,
                frequency=claim.frequency, replaces_id=replaces,
                payer_claim_number=claim.payer_claim_number,
                total_cents=_cents(claim.total), status="sent", created_at=now))
            session.flush()
            session.add(ClaimTransaction(claim_id=claim.claim_id, file_id=file.id,
                                         st02=sets[claim.claim_id]))
            for number, (line, charge, line_control) in enumerate(zip(
                    claim.lines, claim.charges, claim.line_controls, strict=True), start=1):
                session.add(LedgerLine(
                    claim_id=claim.claim_id, number=number, line_control=line_control,
                    billing_line_id=line.get("line_id") or None,
                    service_date=dt.date.fromisoformat(str(line["service_date"])),
                    hcpcs=line["hcpcs"], modifier=line["modifier"] or None,
                    pos=line["pos"] or None, units=int(line["units"]),
                    charge_cents=_cents(charge)))
            if replaces is not None:
                earlier = session.get(LedgerClaim, replaces)
                assert earlier is not None
                earlier.status = "voided" if claim.frequency == VOID else "replaced"


def write_837p_with_ledger(db: Database, run: Path, config: SubmitterConfig, out: Path,
                           control_file: Path, known_codes: set[str], *, now: dt.datetime,
                           as_of: dt.date | None = None,
                           registry: PolicyRegistry | None = None, resend: bool = False,
                           added_days: AddedDays = "new",
                           keep: Callable[[Claim], bool] | None = None
                           ) -> tuple[WriteResult, LedgerRun]:
    """Write the 837P of a billing run through the ledger (see the module's docstring); with
    ``keep``, only the claims it keeps (the lines a user chose) are planned and sent."""
    written: list[Path] = []
    try:
        with db.transaction() as session:
            planner = _Planner(session, resend, added_days, keep)
            result = write_837p(run, config, out, control_file, {}, known_codes, as_of=as_of,
                                registry=registry, plan=planner.plan,
                                reserve=_reserve(session, control_file))
            written = [f.path for f in result.files]
            _record(session, result, planner.run, now)
    except BaseException:
        for path in written:  # the ledger does not know them: they must not be sent
            path.unlink(missing_ok=True)
        raise
    return result, planner.run


class VoidRefused(BhpolicyError):
    """Claims that cannot be voided, every reason in one line; ``unknown`` when a claim
    named is not in the ledger at all (the others conflict with the claim's state)."""

    def __init__(self, refusals: list[str], unknown: bool) -> None:
        super().__init__("; ".join(refusals))
        self.unknown = unknown


def void_refusal(claim_id: str, claim: LedgerClaim | None) -> str | None:
    """Why a claim cannot be voided (one line naming it), or None."""
    where = f"claim {claim_id}"
    if claim is None:
        return f"{where}: not in the ledger"
    if claim.frequency == VOID:
        return f"{where}: is itself a void"
    if claim.status == "voided":
        return f"{where}: already voided"
    if claim.status == "replaced":
        return (f"{where}: already replaced by a later claim; void the claim that replaced "
                "it")
    if claim.status == "rejected":
        return (f"{where}: rejected at the payer's front end, so never filed: nothing to "
                "void at the payer")
    if claim.status != "accepted" or not claim.payer_claim_number:
        return (f"{where}: the payer has not numbered it yet (no 277CA or 835 with its claim "
                "number imported): nothing to void at the payer yet")
    return None


def _void_of(earlier: LedgerClaim, config: SubmitterConfig,
             subscribers: dict[str, dict[str, Any]]) -> Claim | str:
    """The frequency-8 claim voiding ``earlier``: its lines, REF*6R and charges as last
    sent; or why it cannot be built."""
    where = f"claim {earlier.id}"
    payer = next((p for p in config.all_payers() if p.id == earlier.payer_id), None)
    if payer is None:
        return f"{where}: its payer {earlier.payer_id!r} is not in the config"
    member = subscribers.get(earlier.member_id)
    if member is None:
        return (f"{where}: its member is not in the run's subscribers file (give --run a "
                "billing run holding the member)")
    lines = [{**member, "line_id": line.billing_line_id or "", "provider_id":
              earlier.provider_id, "authorization_id": earlier.authorization_id,
              "service_date": line.service_date.isoformat(), "hcpcs": line.hcpcs,
              "modifier": line.modifier or "", "pos": line.pos or "",
              "units": str(line.units)} for line in earlier.lines]
    if not lines:
        return f"{where}: has no lines in the ledger"
    return Claim(new_id("C"), earlier.provider_id, lines[0], earlier.authorization_id,
                 earlier.month, lines, frequency=VOID,
                 payer_claim_number=earlier.payer_claim_number,
                 charges=[Decimal(line.charge_cents) / 100 for line in earlier.lines],
                 payer=payer, line_controls=[line.line_control for line in earlier.lines])


def void_claims(db: Database, claim_ids: list[str], run: Path, config: SubmitterConfig,
                out: Path, control_file: Path, known_codes: set[str], *, now: dt.datetime
                ) -> tuple[WriteResult, LedgerRun]:
    """Write an 837P voiding each named claim (frequency 8, REF*F8 the payer's claim number,
    the lines as last sent) and record the voids; the claims voided are then no longer in
    force. The subscriber fields come from the billing run ``run``. Any claim that cannot be
    voided stops the whole file, with every reason in one line (:class:`VoidRefused` when
    the ledger refuses it)."""
    written: list[Path] = []
    wanted = list(dict.fromkeys(claim_ids))
    try:
        with db.transaction() as session:
            found = {i: session.get(LedgerClaim, i) for i in wanted}
            refusals = [r for i in wanted if (r := void_refusal(i, found[i])) is not None]
            if refusals:
                raise VoidRefused(refusals, any(c is None for c in found.values()))
            earlier = [c for c in found.values() if c is not None]
            subscribers = read_subscribers(run, {c.member_id for c in earlier})
            built = [_void_of(c, config, subscribers) for c in earlier]
            problems = [b for b in built if isinstance(b, str)]
            if problems:
                raise BhpolicyError("; ".join(problems))
            voids = [b for b in built if isinstance(b, Claim)]
            planned = LedgerRun(replaces={v.claim_id: c.id
                                          for v, c in zip(voids, earlier, strict=True)})
            result = write_claims_837p(voids, config, out, control_file, known_codes,
                                       reserve=_reserve(session, control_file))
            written = [f.path for f in result.files]
            _record(session, result, planned, now)
    except BaseException:
        for path in written:  # the ledger does not know them: they must not be sent
            path.unlink(missing_ok=True)
        raise
    return result, planned


def post_front_end(db: Database, results: list[tuple[str, bool, str | None]]) -> list[str]:
    """A 277CA's verdicts: (patient control number, accepted, payer claim number). An
    accepted claim keeps the payer's number (a replacement's REF*F8); a rejected one was
    never filed, so its lines count as unsent (and a rejected replacement puts the claim it
    replaced back in force). Returns the numbers not in the ledger."""
    from bhpolicy.services.posting import front_end

    with db.transaction() as session:
        return front_end(session, results)[2]
