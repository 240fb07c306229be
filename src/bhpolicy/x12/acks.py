"""The answers a payer's front end sends to an 837P: the 999 (005010X231A1, implementation
acknowledgement: was the file's syntax accepted) and the 277CA (005010X214, claim
acknowledgement: was each claim accepted into adjudication), read into frozen records in the
same pyx12 read that validates them with their own map.

Where each value comes from in the 999 TR3 (005010X231A1):

- AK1 (header): AK101 functional identifier code of the group acknowledged (HC for an 837),
  AK102 its group control number (our GS06), AK103 its version (our GS08).
- 2000 AK2: AK201 transaction set identifier (837), AK202 its control number (our ST02),
  AK203 its implementation convention reference (our ST03).
- 2100 IK3: IK301 segment id in error, IK302 its position in the transaction set (ST = 1),
  IK303 loop identifier, IK304 segment syntax error code; CTX (business unit) CTX01-1
  CLM01 with CTX01-2 the patient control number of the claim the segment belongs to.
- 2110 IK4: IK401-1 element position in the segment, IK401-2 component position, IK402 data
  element reference number, IK403 element syntax error code. IK404 (a copy of the bad
  element) is a value from the claim and is not kept.
- IK5: IK501 transaction set acknowledgement code (A accepted, E accepted with errors noted,
  M/R/W/X rejected), IK502-506 syntax error codes.
- AK9: AK901 functional group acknowledgement code (A, E, P partially accepted, M/R/W/X
  rejected), AK902 sets included, AK903 sets received, AK904 sets accepted, AK905-909 group
  syntax error codes.

Where each value comes from in the 277CA TR3 (005010X214):

- 2000A/2100A the payer (NM103 name, NM109 id), 2200A TRN02 its receipt trace, DTP*050
  receipt date, DTP*009 process date.
- 2200B (information receiver) and 2200C (billing provider) STC: statuses of the whole batch
  or of all of a provider's claims; QTY*90/AA (2200B) or QA/QC (2200C) claims accepted and
  rejected.
- 2200D (claim): TRN02 the patient control number (our CLM01); STC01-1 health care claim
  status category code (A1 received, A2 accepted into adjudication, A5 split; A3 returned
  as unprocessable, A4 not found, A6 missing information, A7 invalid information, A8
  relational field in error are rejections), STC01-2 status code, STC01-3 entity code,
  STC10 and STC11 further statuses, STC02 status date, STC03 action code (WQ accepted,
  U rejected), STC04 total claim charge (the amount billed); REF*1K payer claim control
  number; REF*D9 clearinghouse claim number; DTP*472 claim service date or period (D8 or
  RD8). STC12 free text is not kept (it may quote claim values). Patient names (NM1) are not
  kept.
- 2220D (service line): SVC01 procedure, SVC02 charge, its STC, REF*FJ line item control
  number (our REF*6R), DTP*472 date.

A value that cannot be read is one BhpolicyError naming the file, line, segment and element,
never the value."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.kind import Kind, detect
from bhpolicy.x12.validate import run_pyx12
from bhpolicy.x12.values import X12ReadError, cents, component, date, required, sha256, value, where

ACCEPTED_SET = frozenset({"A", "E"})  # IK501 / AK901 codes that let a set through
# 277CA STC01-1 categories (005010X214), in our words
ACCEPTED_CATEGORIES = {"A1": "received", "A2": "accepted into adjudication",
                       "A5": "split by the payer"}
REJECTED_CATEGORIES = {"A3": "returned as unprocessable", "A4": "not found",
                       "A6": "rejected: missing information",
                       "A7": "rejected: invalid information",
                       "A8": "rejected: relational field in error"}


# ---------------------------------------------------------------- 999

@dataclass(frozen=True)
class ElementError:
    line: int
    position: int | None  # IK401-1
    component: int | None  # IK401-2
    reference: str | None  # IK402
    code: str  # IK403


@dataclass(frozen=True)
class SegmentError:
    line: int
    segment_id: str  # IK301
    position: int | None  # IK302
    loop: str | None  # IK303
    code: str | None  # IK304
    patient_control_number: str | None = None  # CTX*CLM01
    elements: tuple[ElementError, ...] = ()


@dataclass(frozen=True)
class SetResponse:
    line: int
    transaction_set: str  # AK201
    control_number: str  # AK202 (our ST02)
    convention: str | None  # AK203
    code: str  # IK501
    codes: tuple[str, ...] = ()  # IK502-506
    errors: tuple[SegmentError, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED_SET


@dataclass(frozen=True)
class GroupResponse:
    line: int
    functional_id: str  # AK101
    group_control_number: str  # AK102 (our GS06)
    version: str  # AK103
    sets: tuple[SetResponse, ...]
    code: str  # AK901
    included: int | None  # AK902
    received: int | None  # AK903
    accepted_count: int | None  # AK904
    codes: tuple[str, ...] = ()  # AK905-909

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED_SET


@dataclass(frozen=True)
class Ack999:
    path: Path
    sha256: str
    groups: tuple[GroupResponse, ...]
    valid: bool
    findings: tuple[str, ...]

    def sets(self) -> tuple[SetResponse, ...]:
        return tuple(s for g in self.groups for s in g.sets)

    def rejected(self) -> tuple[SetResponse, ...]:
        return tuple(s for s in self.sets() if not s.accepted)


def _int(text: str, seg: str, position: int, line: int) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise X12ReadError(f"{where(seg, position, line)}: not a whole number")
    return int(text)


@dataclass
class _Set999:
    line: int
    fields: dict[str, Any]
    errors: list[SegmentError] = field(default_factory=list)


@dataclass
class _Group999:
    line: int
    fields: dict[str, Any]
    sets: list[SetResponse] = field(default_factory=list)


class _Read999:
    def __init__(self) -> None:
        self.groups: list[GroupResponse] = []
        self.group: _Group999 | None = None
        self.set: _Set999 | None = None
        self.segment: dict[str, Any] | None = None

    def _close_segment(self) -> None:
        if self.segment is not None and self.set is not None:
            self.set.errors.append(SegmentError(**self.segment))
        self.segment = None

    def __call__(self, seg: str, e: list[list[str]], loop: str, line: int) -> None:
        if seg == "AK1":
            self.group = _Group999(line, {
                "functional_id": required(e, "AK1", 1, line),
                "group_control_number": required(e, "AK1", 2, line),
                "version": value(e, 3)})
        elif seg == "AK2":
            self.set = _Set999(line, {"transaction_set": required(e, "AK2", 1, line),
                                      "control_number": required(e, "AK2", 2, line),
                                      "convention": value(e, 3) or None})
        elif seg == "IK3" and self.set is not None:
            self._close_segment()
            self.segment = {"line": line, "segment_id": required(e, "IK3", 1, line),
                            "position": _int(value(e, 2), "IK3", 2, line),
                            "loop": value(e, 3) or None, "code": value(e, 4) or None,
                            "elements": ()}
        elif seg == "CTX" and self.segment is not None and loop == "2100":
            if component(e, 1, 1) == "CLM01" and component(e, 1, 2):
                self.segment["patient_control_number"] = component(e, 1, 2)
        elif seg == "IK4" and self.segment is not None:
            element = ElementError(
                line, _int(component(e, 1, 1), "IK4", 1, line),
                _int(component(e, 1, 2), "IK4", 1, line), value(e, 2) or None,
                required(e, "IK4", 3, line))
            self.segment["elements"] = (*self.segment["elements"], element)
        elif seg == "IK5" and self.set is not None and self.group is not None:
            self._close_segment()
            self.group.sets.append(SetResponse(
                line=self.set.line, code=required(e, "IK5", 1, line),
                codes=tuple(c for c in (value(e, i) for i in range(2, 7)) if c),
                errors=tuple(self.set.errors), **self.set.fields))
            self.set = None
        elif seg == "AK9" and self.group is not None:
            self.groups.append(GroupResponse(
                line=self.group.line, sets=tuple(self.group.sets),
                code=required(e, "AK9", 1, line),
                included=_int(value(e, 2), "AK9", 2, line),
                received=_int(value(e, 3), "AK9", 3, line),
                accepted_count=_int(value(e, 4), "AK9", 4, line),
                codes=tuple(c for c in (value(e, i) for i in range(5, 10)) if c),
                **self.group.fields))
            self.group = None


def _read(path: Path, name: str, reader: Any) -> tuple[Kind, bool, tuple[str, ...]]:
    kind = detect(path)
    if kind.name != name:
        raise BhpolicyError(f"{path}: file: is an {kind.label}, not a {name}")
    try:
        checked = run_pyx12(path, kind, reader)
    except X12ReadError as exc:
        raise BhpolicyError(f"{path}: {exc}") from None
    return kind, checked.valid, tuple(checked.findings)


def read_999(path: Path) -> Ack999:
    """Each functional group and transaction set a 999 acknowledges, accepted or rejected,
    with its errors tied to segment id and position."""
    reader = _Read999()
    _, valid, findings = _read(path, "999", reader)
    if not reader.groups:
        raise BhpolicyError(f"{path}: segment AK1: no functional group response")
    return Ack999(path, sha256(path), tuple(reader.groups), valid, findings)


# ---------------------------------------------------------------- 277CA

@dataclass(frozen=True)
class Status:
    category: str  # STC01-1 (or STC10-1, STC11-1)
    code: str  # STC01-2
    entity: str | None = None  # STC01-3

    @property
    def rejected(self) -> bool:
        return self.category in REJECTED_CATEGORIES

    @property
    def text(self) -> str:
        return (ACCEPTED_CATEGORIES.get(self.category)
                or REJECTED_CATEGORIES.get(self.category) or "other status category")


@dataclass(frozen=True)
class LineStatus:
    line: int
    procedure: str  # SVC01-2
    modifiers: tuple[str, ...]
    charge_cents: int  # SVC02
    statuses: tuple[Status, ...]
    line_control_number: str | None = None  # REF*FJ
    service_date: dt.date | None = None  # DTP*472

    @property
    def rejected(self) -> bool:
        return any(s.rejected for s in self.statuses)


@dataclass(frozen=True)
class ClaimStatus:
    line: int
    patient_control_number: str  # 2200D TRN02
    statuses: tuple[Status, ...]  # every STC01/10/11 of the claim, in file order
    action: str | None  # STC03 of the first STC
    status_date: dt.date | None  # STC02
    billed_cents: int | None  # STC04
    payer_claim_number: str | None = None  # REF*1K
    clearinghouse_number: str | None = None  # REF*D9
    service_from: dt.date | None = None  # DTP*472
    service_to: dt.date | None = None
    lines: tuple[LineStatus, ...] = ()

    @property
    def rejected(self) -> bool:
        """Any rejecting category (A3, A4, A6, A7, A8): the claim was never filed."""
        return any(s.rejected for s in self.statuses)

    @property
    def accepted(self) -> bool:
        return not self.rejected and any(s.category in ACCEPTED_CATEGORIES
                                         for s in self.statuses)


@dataclass(frozen=True)
class Ack277CA:
    path: Path
    sha256: str
    payer_name: str | None
    payer_id: str | None
    receipt_trace: str | None  # 2200A TRN02
    receipt_date: dt.date | None  # DTP*050
    process_date: dt.date | None  # DTP*009
    receiver_statuses: tuple[Status, ...]  # 2200B
    provider_statuses: tuple[Status, ...]  # 2200C
    claims: tuple[ClaimStatus, ...]
    valid: bool
    findings: tuple[str, ...]

    def rejected(self) -> tuple[ClaimStatus, ...]:
        return tuple(c for c in self.claims if c.rejected)

    def accepted(self) -> tuple[ClaimStatus, ...]:
        return tuple(c for c in self.claims if c.accepted)


def _statuses(e: list[list[str]], positions: tuple[int, ...]) -> list[Status]:
    found = []
    for position in positions:
        category, code = component(e, position, 1), component(e, position, 2)
        if category:
            found.append(Status(category, code, component(e, position, 3) or None))
    return found


def _period(e: list[list[str]], line: int) -> tuple[dt.date | None, dt.date | None]:
    text = value(e, 3)
    if value(e, 2) == "RD8":
        start, _, end = text.partition("-")
        return date(start, "DTP", 3, line), date(end, "DTP", 3, line)
    day = date(text, "DTP", 3, line)
    return day, day


@dataclass
class _Claim277:
    line: int
    fields: dict[str, Any]
    statuses: list[Status] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def freeze(self) -> ClaimStatus:
        return ClaimStatus(line=self.line, statuses=tuple(self.statuses),
                           lines=tuple(LineStatus(**item) for item in self.lines),
                           **self.fields)


class _Read277:
    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.receiver: list[Status] = []
        self.provider: list[Status] = []
        self.claims: list[_Claim277] = []
        self.claim: _Claim277 | None = None
        self.service: dict[str, Any] | None = None

    def __call__(self, seg: str, e: list[list[str]], loop: str, line: int) -> None:
        if loop == "2220D" and self.claim is not None:
            self._line(seg, e, line)
        elif loop == "2200D":
            self._claim(seg, e, line)
        elif loop == "2100A" and seg == "NM1":
            self.head.update(payer_name=value(e, 3) or None, payer_id=value(e, 9) or None)
        elif loop == "2200A" and seg == "TRN":
            self.head["receipt_trace"] = value(e, 2) or None
        elif loop == "2200A" and seg == "DTP" and value(e, 1) in ("050", "009"):
            key = "receipt_date" if value(e, 1) == "050" else "process_date"
            self.head[key] = date(value(e, 3), "DTP", 3, line)
        elif loop == "2200B" and seg == "STC":
            self.receiver += _statuses(e, (1, 10, 11))
        elif loop == "2200C" and seg == "STC":
            self.provider += _statuses(e, (1, 10, 11))

    def _claim(self, seg: str, e: list[list[str]], line: int) -> None:
        if seg == "TRN":
            self.claim = _Claim277(line, {
                "patient_control_number": required(e, "TRN", 2, line), "action": None,
                "status_date": None, "billed_cents": None})
            self.claims.append(self.claim)
            self.service = None
            return
        claim = self.claim
        if claim is None:
            return
        if seg == "STC":
            if not claim.statuses:
                amount = value(e, 4)
                claim.fields.update(
                    action=value(e, 3) or None,
                    status_date=date(value(e, 2), "STC", 2, line),
                    billed_cents=cents(amount, "STC", 4, line) if amount else None)
            claim.statuses += _statuses(e, (1, 10, 11))
        elif seg == "REF" and value(e, 1) in ("1K", "D9"):
            key = "payer_claim_number" if value(e, 1) == "1K" else "clearinghouse_number"
            claim.fields[key] = value(e, 2) or None
        elif seg == "DTP" and value(e, 1) == "472":
            claim.fields["service_from"], claim.fields["service_to"] = _period(e, line)

    def _line(self, seg: str, e: list[list[str]], line: int) -> None:
        assert self.claim is not None
        if seg == "SVC":
            self.service = {"line": line, "procedure": component(e, 1, 2),
                            "modifiers": tuple(m for m in e[0][2:6] if m),
                            "charge_cents": cents(required(e, "SVC", 2, line), "SVC", 2,
                                                   line), "statuses": ()}
            self.claim.lines.append(self.service)
        elif self.service is None:
            return
        elif seg == "STC":
            self.service["statuses"] = (*self.service["statuses"],
                                        *_statuses(e, (1, 10, 11)))
        elif seg == "REF" and value(e, 1) == "FJ":
            self.service["line_control_number"] = value(e, 2) or None
        elif seg == "DTP" and value(e, 1) == "472":
            self.service["service_date"] = _period(e, line)[0]


def read_277ca(path: Path) -> Ack277CA:
    """Each claim a 277CA answers, accepted or rejected by the payer's front end, with its
    status categories, the payer's claim number and the amount billed."""
    reader = _Read277()
    _, valid, findings = _read(path, "277CA", reader)
    h = reader.head
    return Ack277CA(path, sha256(path), h.get("payer_name"), h.get("payer_id"),
                    h.get("receipt_trace"), h.get("receipt_date"), h.get("process_date"),
                    tuple(reader.receiver), tuple(reader.provider),
                    tuple(c.freeze() for c in reader.claims), valid, findings)
