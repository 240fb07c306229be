"""Posting what the payer sends back into the claim ledger: 999 and 277CA acknowledgements
(``import_acks``) and 835 remittances (``import_remittance``), one database transaction a
file, each idempotent (a file imported again changes nothing and says so).

- A 999 rejecting a transaction set (IK501 not A/E): every claim of the 837P set it names
  (AK102 = our GS06, AK202 = our ST02) was never filed: status ``rejected``, so its lines
  count as unsent and go out again as a new original. Its segment errors are kept with the
  file for the report (segment id, position, loop, codes; never IK404, a claim value).
- A 277CA: each claim accepted (REF*1K kept as the payer's claim number) or rejected (never
  filed), through the same rules as :func:`bhpolicy.services.ledger.post_front_end`. A
  rejected replacement puts the claim it would have replaced back in force.
- An 835: read once (pyx12 validation in the same read); a file that pyx12 finds invalid or
  that does not balance is reported with its problems and nothing is written. CLP01 is
  matched to a ledger claim; each SVC to one of its lines by REF*6R, else by date and code
  (and modifier), else by SVC06 (the code as submitted, where the payer recoded). A reversal
  (CLP02 22) points at the posting it reverses; a later correction is an ordinary posting.
  Each part of a payer-split claim is posted. CLP07 becomes the ledger claim's payer claim
  number (what a replacement's REF*F8 carries). PLB rows are kept. A claim or line the
  ledger does not know is stored with no ledger id and listed in the result. A reversal of
  a void (or of a replacement) under its own CLM01 reverses the claim it withdrew.
- A file with a set whose TRN02 was posted before from another file (the same payment sent
  twice, or an edited file) is held: recorded (``HeldRemittance``), reported in one line
  a set, and nothing of it posted.

:func:`line_states` gives each ledger line's current state: its latest posting that is
neither a reversal nor reversed. Results are plain dataclasses with no PHI (control numbers,
codes, dates, amounts), for the CLI and the web pages alike.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import Dialect, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import ClaimFile, LedgerClaim, LedgerLine
from bhpolicy.db.posting_models import (
    AckFile,
    ClaimTransaction,
    HeldRemittance,
    ProviderAdjustment,
    RemitAdjustment,
    RemitClaim,
    RemitLine,
    RemitRemark,
    Remittance,
)
from bhpolicy.errors import BhpolicyError
from bhpolicy.x12 import remit as x12remit
from bhpolicy.x12.acks import Ack277CA, Ack999, read_277ca, read_999
from bhpolicy.x12.kind import detect

# ---------------------------------------------------------------- front end (999, 277CA)


def front_end(session: Session, results: Iterable[tuple[str, bool, str | None]]
              ) -> tuple[list[str], list[str], list[str]]:
    """Verdicts (patient control number, accepted, payer claim number) in one session.
    Returns (accepted, rejected, unknown) patient control numbers. A claim already replaced
    keeps that status; a rejected replacement puts the claim it replaced back in force."""
    accepted: list[str] = []
    rejected: list[str] = []
    unknown: list[str] = []
    for pcn, ok, payer_number in results:
        claim = session.get(LedgerClaim, pcn)
        if claim is None:
            unknown.append(pcn)
            continue
        (accepted if ok else rejected).append(pcn)
        if claim.status in ("replaced", "voided"):
            continue
        claim.status = "accepted" if ok else "rejected"
        if ok and payer_number:
            claim.payer_claim_number = payer_number
        if not ok and claim.replaces_id is not None:  # a replacement or a void not filed
            earlier = session.get(LedgerClaim, claim.replaces_id)
            if earlier is not None and earlier.status in ("replaced", "voided"):
                earlier.status = "accepted" if earlier.payer_claim_number else "sent"
    return accepted, rejected, unknown


@dataclass
class SegmentProblem:
    """One segment a 999 names in error, without the element's value."""

    set_control_number: str  # AK202 (our ST02)
    segment: str  # IK301
    position: int | None  # IK302
    loop: str | None  # IK303
    code: str | None  # IK304
    claim: str | None  # CTX CLM01 (our patient control number)
    elements: list[str] = field(default_factory=list)  # "position[:component] code"


@dataclass
class AckImport:
    file: str
    kind: str  # 999 or 277CA
    already_imported: bool = False
    valid: bool = True
    sets_accepted: int = 0
    sets_rejected: int = 0
    claims_accepted: list[str] = field(default_factory=list)
    claims_rejected: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # control numbers the ledger lacks
    errors: list[SegmentProblem] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _claims_of_set(session: Session, file: ClaimFile, st02: int) -> list[str]:
    rows = list(session.scalars(select(ClaimTransaction.claim_id).where(
        ClaimTransaction.file_id == file.id, ClaimTransaction.st02 == st02)))
    if rows:
        return rows
    sets = [int(s) for s in file.st02]
    if sets == [st02]:  # written before sets were recorded: the file's only set
        return list(session.scalars(select(LedgerClaim.id).where(
            LedgerClaim.file_id == file.id)))
    return []


def _post_999(session: Session, ack: Ack999, out: AckImport) -> None:
    verdicts: list[tuple[str, bool, str | None]] = []
    for group in ack.groups:
        try:
            gs06 = int(group.group_control_number)
        except ValueError:
            gs06 = -1
        file = session.scalars(select(ClaimFile).where(ClaimFile.gs06 == gs06)).first()
        for item in group.sets:
            if item.accepted:
                out.sets_accepted += 1
            else:
                out.sets_rejected += 1
            for error in item.errors:
                out.errors.append(SegmentProblem(
                    item.control_number, error.segment_id, error.position, error.loop,
                    error.code, error.patient_control_number,
                    [f"{e.position}{'' if e.component is None else f':{e.component}'} "
                     f"{e.code}" for e in error.elements]))
            if file is None:
                out.unknown.append(f"GS06 {group.group_control_number} "
                                   f"ST02 {item.control_number}")
                continue
            try:
                st02 = int(item.control_number)
            except ValueError:
                st02 = -1
            claims = _claims_of_set(session, file, st02)
            if not claims:
                out.unknown.append(f"GS06 {group.group_control_number} "
                                   f"ST02 {item.control_number}")
            if not item.accepted:  # an accepted set says nothing of its claims yet
                verdicts += [(pcn, False, None) for pcn in claims]
    _, rejected, _ = front_end(session, verdicts)
    out.claims_rejected += rejected


def _post_277ca(session: Session, ack: Ack277CA, out: AckImport) -> None:
    verdicts = [(c.patient_control_number, c.accepted, c.payer_claim_number)
                for c in ack.claims if c.accepted or c.rejected]
    accepted, rejected, unknown = front_end(session, verdicts)
    out.claims_accepted += accepted
    out.claims_rejected += rejected
    out.unknown += unknown


def import_acks(db: Database, path: Path, *, now: dt.datetime | None = None) -> AckImport:
    """Post a 999 or a 277CA (see the module's docstring). A file pyx12 finds invalid is
    reported, not posted."""
    kind = detect(path).name
    if kind not in ("999", "277CA"):
        raise BhpolicyError(f"{path}: file: is an {kind}, not a 999 or a 277CA "
                            "(an 835 goes to `bhpolicy remit import`)")
    ack: Ack999 | Ack277CA = read_999(path) if kind == "999" else read_277ca(path)
    out = AckImport(str(path), kind, valid=ack.valid, findings=list(ack.findings))
    if not ack.valid:
        return out
    with db.transaction() as session:
        if session.scalars(select(AckFile.id).where(AckFile.sha256 == ack.sha256)).first():
            out.already_imported = True
            return out
        if isinstance(ack, Ack999):
            _post_999(session, ack, out)
        else:
            _post_277ca(session, ack, out)
        summary = out.as_dict()
        summary.pop("file")
        session.add(AckFile(kind=kind, sha256=ack.sha256, name=path.name[:255],
                            received_at=now or dt.datetime.now(dt.UTC), summary=summary))
    return out


# ---------------------------------------------------------------- 835


@dataclass
class UnmatchedLine:
    patient_control_number: str  # CLP01
    line_control: str | None  # REF*6R as sent back
    procedure: str
    service_date: str | None
    paid_cents: int


@dataclass
class RemitImport:
    file: str
    posted: bool = False
    already_imported: bool = False
    sets: int = 0
    claims: int = 0
    lines: int = 0
    reversals: int = 0
    paid_cents: int = 0  # BPR02 total of the sets posted (debits negative)
    provider_adjustments: int = 0
    unmatched_claims: list[str] = field(default_factory=list)
    unmatched_lines: list[UnmatchedLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why it was not posted
    warnings: list[str] = field(default_factory=list)
    # a set's TRN02 was posted before from another file: nothing posted, the file held
    held: bool = False

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _day(service: x12remit.ServicePayment) -> dt.date | None:
    if service.service_date is not None:
        return service.service_date
    return service.period[0] if service.period else None


class _Line(NamedTuple):
    """A ledger line as posting reads it (a plain row, not an ORM object)."""

    id: int
    line_control: str
    service_date: dt.date
    hcpcs: str
    modifier: str | None
    units: int
    charge_cents: int


@dataclass(slots=True)
class _LedgerClaim:
    """A ledger claim as posting reads it: plain values, its lines in LX order and by REF*6R.
    ``status`` and ``payer_claim_number`` are changed here as claims are posted and written
    back in one UPDATE (:func:`_write_back`)."""

    id: str
    frequency: str
    replaces_id: str | None
    status: str
    payer_claim_number: str | None
    lines: list[_Line] = field(default_factory=list)
    by_control: dict[str, list[_Line]] = field(default_factory=dict)
    loaded: tuple[str, str | None] = ("", None)  # status and payer claim number as read


def _match(service: x12remit.ServicePayment, ledger: _LedgerClaim, taken: set[int]
           ) -> tuple[_Line | None, str | None]:
    """The first line not taken yet with the SVC's REF*6R, else with its date and code (and
    modifier), else with its SVC06 code, in LX order."""
    if service.line_control_number:
        for line in ledger.by_control.get(service.line_control_number, ()):
            if line.id not in taken:
                return line, "6R"
    day = _day(service)

    def find(code: str, modifiers: tuple[str, ...]) -> _Line | None:
        modifier = modifiers[0] if modifiers else ""
        for line in ledger.lines:
            if (line.service_date == day and line.hcpcs == code
                    and (line.modifier or "") == modifier and line.id not in taken):
                return line
        return None

    found = find(service.procedure, service.modifiers)
    if found is not None:
        return found, "date_code"
    if service.original_procedure:
        found = find(service.original_procedure, service.original_modifiers)
        if found is not None:
            return found, "recoded"
    return None, None


def _reversed_target(session: Session, claim: x12remit.ClaimPayment,
                     ledger: _LedgerClaim | None = None) -> RemitClaim | None:
    """The latest posting of the same claim (CLP01, and CLP07 when one matches) that is not
    a reversal and not reversed yet. A reversal sent for a void or a replacement (CLP01 its
    own CLM01, which nothing was posted to) reverses the claim it withdrew."""
    reversed_ids = select(RemitClaim.reverses_id).where(RemitClaim.reverses_id.is_not(None))
    numbers = [claim.patient_control_number]
    seen = {claim.patient_control_number}
    replaces = ledger.replaces_id if ledger is not None else None
    while replaces is not None and replaces not in seen:
        numbers.append(replaces)
        seen.add(replaces)
        replaces = session.scalar(select(LedgerClaim.replaces_id).where(
            LedgerClaim.id == replaces))
    candidates: list[RemitClaim] = []
    for number in numbers:
        candidates = list(session.scalars(
            select(RemitClaim).where(
                RemitClaim.patient_control_number == number,
                RemitClaim.reversal.is_(False), RemitClaim.id.not_in(reversed_ids))
            .order_by(RemitClaim.id.desc())))
        if candidates:
            break
    same = [c for c in candidates if c.payer_claim_number == claim.payer_claim_number]
    found = same or candidates
    return found[0] if found else None


def _ledger_claims(session: Session, sets: list[x12remit.Remittance]
                   ) -> dict[str, _LedgerClaim]:
    """The ledger claims the sets' CLP01s name, with their lines, read as plain rows (the
    columns posting needs) in a few queries (not two a claim)."""
    numbers = sorted({c.patient_control_number for item in sets for c in item.claims})
    found: dict[str, _LedgerClaim] = {}
    for start in range(0, len(numbers), LOOKUP_CHUNK):
        chunk = numbers[start:start + LOOKUP_CHUNK]
        for pcn, frequency, replaces_id, status, payer_number in session.execute(
                select(LedgerClaim.id, LedgerClaim.frequency, LedgerClaim.replaces_id,
                       LedgerClaim.status, LedgerClaim.payer_claim_number)
                .where(LedgerClaim.id.in_(chunk))):
            found[pcn] = _LedgerClaim(pcn, frequency, replaces_id, status, payer_number,
                                      loaded=(status, payer_number))
        for row in session.execute(
                select(LedgerLine.claim_id, LedgerLine.id, LedgerLine.line_control,
                       LedgerLine.service_date, LedgerLine.hcpcs, LedgerLine.modifier,
                       LedgerLine.units, LedgerLine.charge_cents)
                .where(LedgerLine.claim_id.in_(chunk))
                .order_by(LedgerLine.claim_id, LedgerLine.number, LedgerLine.id)):
            claim = found[row[0]]
            line = _Line(*row[1:])
            claim.lines.append(line)
            claim.by_control.setdefault(line.line_control, []).append(line)
    return found


def _write_back(session: Session, ledger: dict[str, _LedgerClaim]) -> None:
    """The ledger claims whose status or payer claim number posting changed, in one
    UPDATE (an executemany)."""
    changed = [{"b_id": claim.id, "b_status": claim.status,
                "b_payer_claim_number": claim.payer_claim_number}
               for claim in ledger.values()
               if (claim.status, claim.payer_claim_number) != claim.loaded]
    if changed:
        table = _table(LedgerClaim)
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            status=bindparam("b_status"),
            payer_claim_number=bindparam("b_payer_claim_number")), changed)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


LOOKUP_CHUNK = 500  # ids a query (well under SQLite's and PostgreSQL's parameter limits)


@dataclass
class _PendingLine:
    row: dict[str, Any]  # a remit_lines row, less remit_claim_id
    adjustments: list[dict[str, Any]]  # remit_adjustments rows, less the two ids
    remarks: list[str]


@dataclass
class _PendingClaim:
    row: dict[str, Any]  # a remit_claims row
    adjustments: list[dict[str, Any]]
    remarks: list[str]
    lines: list[_PendingLine]


@dataclass
class _Batch:
    """Postings waiting to be inserted: rows in bulk (a statement a table and a batch, the
    new ids read back in order), not an ORM flush a line."""

    claims: list[_PendingClaim] = field(default_factory=list)

    def insert(self, session: Session) -> None:
        if not self.claims:
            return
        claim_ids = _insert(session, RemitClaim, [c.row for c in self.claims])
        lines = [(claim_id, line) for claim_id, claim in zip(claim_ids, self.claims,
                                                              strict=True)
                 for line in claim.lines]
        line_ids = _insert(session, RemitLine, [{**line.row, "remit_claim_id": claim_id}
                                                for claim_id, line in lines])
        adjustments = [{**a, "remit_claim_id": claim_id, "remit_line_id": None}
                       for claim_id, claim in zip(claim_ids, self.claims, strict=True)
                       for a in claim.adjustments]
        adjustments += [{**a, "remit_claim_id": claim_id, "remit_line_id": line_id}
                        for (claim_id, line), line_id in zip(lines, line_ids, strict=True)
                        for a in line.adjustments]
        remarks = [{"remit_claim_id": claim_id, "remit_line_id": None, "code": code}
                   for claim_id, claim in zip(claim_ids, self.claims, strict=True)
                   for code in claim.remarks]
        remarks += [{"remit_claim_id": claim_id, "remit_line_id": line_id, "code": code}
                    for (claim_id, line), line_id in zip(lines, line_ids, strict=True)
                    for code in line.remarks]
        _executemany(session, _table(RemitAdjustment), adjustments)
        _executemany(session, _table(RemitRemark), remarks)
        self.claims.clear()


def _insert(session: Session, model: type[RemitClaim] | type[RemitLine],
            rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in bulk; their new ids, in the rows' order. On SQLite the ids are
    given (the table's largest id plus one onwards: the write transaction began IMMEDIATE,
    so no other writer runs) and the rows go in one executemany: SQLAlchemy cannot keep
    RETURNING in the rows' order on SQLite and would insert them one statement a row."""
    if not rows:
        return []
    table = _table(model)
    if session.get_bind().dialect.name == "sqlite":
        first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
        ids = list(range(first, first + len(rows)))
        _executemany(session, table, [{**row, "id": new} for row, new in
                                      zip(rows, ids, strict=True)])
        return ids
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def _executemany(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) in one executemany. On SQLite the statement
    SQLAlchemy compiles is run by the driver directly, each value through its column type's
    own bind processor: the same SQL and values as ``session.execute(insert(table), rows)``
    without SQLAlchemy's per-row parameter building (a fifth of the posting's time in a
    profile at 10,000 claims)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        session.execute(insert(table), rows)
        return
    sql, keys, processors = _compiled_insert(table, tuple(rows[0]), dialect)
    columns = [[row[key] for row in rows] if processor is None
               else [processor(row[key]) for row in rows]
               for key, processor in zip(keys, processors, strict=True)]
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


@lru_cache(maxsize=32)
def _compiled_insert(table: Table, keys: tuple[str, ...], dialect: Dialect
                     ) -> tuple[str, list[str], list[Callable[[Any], Any] | None]]:
    """An INSERT of ``keys`` into ``table`` as ``dialect`` writes it (positional
    parameters): its text, its parameters' columns in order and their bind processors."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    order = list(compiled.positiontup or ())
    return compiled.string, order, [
        table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in order]


BATCH_CLAIMS = 1000  # claims inserted together


def _adjustment_row(adjustment: x12remit.Adjustment, share: int | None = None
                    ) -> dict[str, Any]:
    """A CAS triplet as a row; ``share``: a line's share of a claim-level amount (then with
    no quantity)."""
    return {"group": adjustment.group[:2], "carc": adjustment.reason[:5],
            "amount_cents": adjustment.amount_cents if share is None else share,
            "quantity": adjustment.quantity if share is None else None}


def _post_claim(session: Session, batch: _Batch, remittance: Remittance,
                claim: x12remit.ClaimPayment, out: RemitImport, ledger: _LedgerClaim | None
                ) -> None:
    row: dict[str, Any] = {
        "remittance_id": remittance.id,
        "ledger_claim_id": ledger.id if ledger is not None else None,
        "patient_control_number": claim.patient_control_number[:38],
        "status": claim.status[:2], "charge_cents": claim.charge_cents,
        "paid_cents": claim.paid_cents,
        "patient_responsibility_cents": claim.patient_responsibility_cents,
        "payer_claim_number": claim.payer_claim_number[:50],
        "original_reference": (claim.original_reference or None) and
        str(claim.original_reference)[:50],
        "reversal": claim.reversal, "reverses_id": None}
    if claim.reversal:
        out.reversals += 1
        batch.insert(session)  # the posting it reverses may be earlier in this file
        target = _reversed_target(session, claim, ledger)
        if target is None:
            out.warnings.append(f"claim {claim.patient_control_number}: a reversal (CLP02 "
                                "22) of no posting imported before")
        else:
            row["reverses_id"] = target.id
        if ledger is not None and ledger.frequency == "8" and ledger.status == "sent":
            ledger.status = "accepted"  # the payer acted on the void
    elif ledger is not None:
        if claim.payer_claim_number:
            ledger.payer_claim_number = claim.payer_claim_number[:50]
        if ledger.status in ("sent", "rejected"):
            ledger.status = "accepted"  # the payer adjudicated it
    if ledger is None:
        out.unmatched_claims.append(claim.patient_control_number)
    pending = _PendingClaim(row, [_adjustment_row(a) for a in claim.adjustments],
                            [remark[:30] for remark in claim.remarks], [])
    lines = ledger.lines if ledger is not None else []
    taken: set[int] = set()
    for service in claim.services:
        matched, how = (_match(service, ledger, taken) if ledger is not None
                        else (None, None))
        if matched is not None:
            taken.add(matched.id)
        else:
            day = _day(service)
            out.unmatched_lines.append(UnmatchedLine(
                claim.patient_control_number, service.line_control_number,
                service.procedure, day.isoformat() if day else None, service.paid_cents))
        pending.lines.append(_PendingLine({
            "ledger_line_id": matched.id if matched else None, "matched_by": how,
            "line_control": (service.line_control_number or None) and
            str(service.line_control_number)[:50],
            "procedure": service.procedure[:48],
            "modifiers": ":".join(service.modifiers)[:11],
            "original_procedure": service.original_procedure and
            service.original_procedure[:48],
            "charge_cents": service.charge_cents, "paid_cents": service.paid_cents,
            "allowed_cents": service.allowed_cents, "units": service.units,
            "service_date": _day(service)},
            [_adjustment_row(a) for a in service.adjustments],
            [remark[:30] for remark in service.remarks]))
        out.lines += 1
    if not claim.services and lines and not claim.reversal:
        pending.lines = _spread(claim, lines)
        out.lines += len(lines)
    batch.claims.append(pending)
    if len(batch.claims) >= BATCH_CLAIMS:
        batch.insert(session)
    out.claims += 1


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` cents split in proportion to ``weights`` (the largest remainders get the
    odd cents, the first line on a tie), summing exactly to ``total``."""
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1) if weights else []
    sign = -1 if total < 0 else 1
    raw = [abs(total) * w for w in weights]
    parts = [r // whole for r in raw]
    order = sorted(range(len(weights)), key=lambda n: (-(raw[n] % whole), n))
    for n in order[:abs(total) - sum(parts)]:
        parts[n] += 1
    return [sign * part for part in parts]


def _spread(claim: x12remit.ClaimPayment, lines: list[_Line]) -> list[_PendingLine]:
    """A claim the payer adjudicated as a whole (a CLP with no SVC: a claim-level denial,
    say) on each line the claim carried: its payment and each claim-level CAS in proportion
    to the lines' charges (:func:`shares`, cent-exact), marked ``matched_by="claim"``. The
    claim-level rows stay as they were received; reconciliation reads the lines'."""
    weights = [line.charge_cents for line in lines]
    paid = shares(claim.paid_cents, weights)
    # each CAS as the difference of the running totals' shares: a line's adjustments then
    # add up to its share of them all (its charge, when the claim paid nothing)
    per_adjustment, running, before = [], 0, [0] * len(lines)
    for adjustment in claim.adjustments:
        running += adjustment.amount_cents
        now = shares(running, weights)
        per_adjustment.append([a - b for a, b in zip(now, before, strict=True)])
        before = now
    return [_PendingLine(
        {"ledger_line_id": ledger.id, "matched_by": "claim",
         "line_control": ledger.line_control, "procedure": ledger.hcpcs,
         "modifiers": ledger.modifier or "", "original_procedure": None,
         "charge_cents": ledger.charge_cents, "paid_cents": paid[n], "allowed_cents": None,
         "units": Decimal(ledger.units), "service_date": ledger.service_date},
        [_adjustment_row(adjustment, amounts[n])
         for adjustment, amounts in zip(claim.adjustments, per_adjustment, strict=True)],
        [remark[:30] for remark in claim.remarks]) for n, ledger in enumerate(lines)]


HELD = ("a payment with this trace number was already posted from another file; not "
        "posted")


def _hold(session: Session, path: Path, fresh: list[x12remit.Remittance], out: RemitImport,
          at: dt.datetime) -> bool:
    """Hold the whole file, posting nothing of it, when a set's TRN02 was posted before
    from another file (a payment sent twice, or a file edited): one line a set, and a
    held row each (the same file again is the same row)."""
    for item in fresh:
        trace = item.trace_number[:50]
        other = session.scalars(select(Remittance.file_name).where(
            Remittance.trace_number == trace).order_by(Remittance.id)).first()
        if other is None:
            continue
        out.problems.append(f"{path}: TRN02 {trace} (set {item.control_number}): {HELD} "
                            f"(posted from {other})")
        known = session.scalars(select(HeldRemittance.id).where(
            HeldRemittance.trace_number == trace,
            HeldRemittance.sha256 == item.sha256)).first()
        if known is None:
            session.add(HeldRemittance(
                trace_number=trace, sha256=item.sha256,
                control_number=item.control_number[:9], payment_cents=item.payment_cents,
                credit_debit=item.credit_debit[:1], file_name=path.name[:255],
                posted_from=other, held_at=at))
    out.held = bool(out.problems)
    return out.held


def import_remittance(db: Database, path: Path, *, now: dt.datetime | None = None
                      ) -> RemitImport:
    """Post an 835 file (see the module's docstring)."""
    sets = x12remit.read_835s(path)
    out = RemitImport(str(path))
    for item in sets:
        if not item.valid:
            out.problems += [f"{path}: pyx12: {f}" for f in item.findings] or [
                f"{path}: pyx12: not a valid {x12remit.VERSION} file"]
            break
    for item in sets:
        out.problems += list(item.problems)
    if out.problems:
        return out
    # the records read (and all else alive now) left out of the collector's full passes
    # while posting allocates its rows: each pass would walk them all again (a fifth of the
    # posting's CPU at 2,000 claims); back in its care once posted. Not when something else
    # froze objects already (the web app after its warm-up): unfreeze would undo that.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        _post_remittance(db, path, sets, out, now or dt.datetime.now(dt.UTC))
    finally:
        if freeze:
            gc.unfreeze()
    return out


def _post_remittance(db: Database, path: Path, sets: tuple[x12remit.Remittance, ...],
                     out: RemitImport, at: dt.datetime) -> None:
    with db.transaction() as session:
        fresh = []
        for item in sets:
            known = session.scalars(select(Remittance.id).where(
                Remittance.trace_number == item.trace_number[:50],
                Remittance.sha256 == item.sha256)).first()
            if known is None:
                fresh.append(item)
        if not fresh:
            out.already_imported = True
            return
        if _hold(session, path, fresh, out, at):
            return
        ledger = _ledger_claims(session, fresh)
        for item in fresh:
            remittance = Remittance(
                trace_number=item.trace_number[:50], sha256=item.sha256,
                control_number=item.control_number[:9], payer_name=item.payer_name[:60],
                payer_id=item.payer_id and item.payer_id[:80],
                payment_cents=item.payment_cents, credit_debit=item.credit_debit[:1],
                payment_date=item.payment_date, production_date=item.production_date,
                file_name=path.name[:255], imported_at=at)
            session.add(remittance)
            session.flush()
            batch = _Batch()
            for claim in item.claims:
                _post_claim(session, batch, remittance, claim, out,
                            ledger.get(claim.patient_control_number))
            batch.insert(session)
            for plb in item.provider_adjustments:
                session.add(ProviderAdjustment(
                    remittance_id=remittance.id, provider=plb.provider[:50],
                    fiscal_period=plb.fiscal_period, reason=plb.reason[:2],
                    reference=plb.reference and plb.reference[:50],
                    amount_cents=plb.amount_cents))
                out.provider_adjustments += 1
            out.sets += 1
            out.paid_cents += (-item.payment_cents if item.credit_debit == "D"
                               else item.payment_cents)
        _write_back(session, ledger)
        out.posted = True


# ---------------------------------------------------------------- current state


@dataclass(frozen=True)
class LineState:
    """What a ledger line's latest posting in force says (``line_control`` = REF*6R, the
    same on every claim the line went out on)."""

    line_control: str
    ledger_line_id: int
    ledger_claim_id: str
    remit_line_id: int
    remit_claim_id: int
    claim_status: str  # CLP02
    payer_claim_number: str
    charge_cents: int
    paid_cents: int
    allowed_cents: int | None
    adjustments: tuple[tuple[str, str, int], ...]  # (group, CARC, cents)
    remarks: tuple[str, ...]
    payment_date: dt.date | None
    remittance_id: int

    @property
    def denied(self) -> bool:
        return self.paid_cents == 0 and self.charge_cents != 0


def line_postings(session: Session) -> list[tuple[RemitLine, RemitClaim, Remittance,
                                                  LedgerLine]]:
    """Every matched posting in force (not a reversal, not reversed), oldest first."""
    reversed_ids = select(RemitClaim.reverses_id).where(RemitClaim.reverses_id.is_not(None))
    rows = session.execute(
        select(RemitLine, RemitClaim, Remittance, LedgerLine)
        .join(RemitClaim, RemitLine.remit_claim_id == RemitClaim.id)
        .join(Remittance, RemitClaim.remittance_id == Remittance.id)
        .join(LedgerLine, RemitLine.ledger_line_id == LedgerLine.id)
        .where(RemitClaim.reversal.is_(False), RemitClaim.id.not_in(reversed_ids))
        .order_by(Remittance.id, RemitLine.id))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def line_states(session: Session) -> dict[str, LineState]:
    """Each line's current state, by its REF*6R line control number."""
    out: dict[str, LineState] = {}
    for line, claim, remittance, ledger in line_postings(session):
        out[ledger.line_control] = LineState(
            line_control=ledger.line_control, ledger_line_id=ledger.id,
            ledger_claim_id=ledger.claim_id, remit_line_id=line.id, remit_claim_id=claim.id,
            claim_status=claim.status, payer_claim_number=claim.payer_claim_number,
            charge_cents=line.charge_cents, paid_cents=line.paid_cents,
            allowed_cents=line.allowed_cents,
            adjustments=tuple((a.group, a.carc, a.amount_cents) for a in line.adjustments),
            remarks=tuple(r.code for r in line.remarks),
            payment_date=remittance.payment_date or remittance.production_date,
            remittance_id=remittance.id)
    return out
