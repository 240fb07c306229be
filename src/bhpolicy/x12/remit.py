"""An 835 (005010X221A1, health care claim payment/advice) read into frozen records, validated
by pyx12 with the 835 map in the same single read (``validate.run_pyx12``: pyx12 walks the map
and hands each segment over with the loop it placed it in).

Where each value comes from (loops and elements of the 005010X221A1 TR3):

- header: ST02; BPR01 transaction handling, BPR02 total actual provider payment, BPR03
  credit/debit, BPR04 payment method, BPR16 check issue or EFT effective date (the payment
  date); TRN02 check or EFT trace number, TRN03 payer identifier; DTM*405 production date.
- 1000A payer: N102 name, N104 identifier when sent, REF*2U payer identification.
  1000B payee: N102 name, N103/N104 its identifier (XX = NPI).
- 2000: LX01 header number.
- 2100 claim: CLP01 patient control number (our CLM01), CLP02 status, CLP03 total charge,
  CLP04 payment, CLP05 patient responsibility, CLP06 filing indicator, CLP07 payer claim
  control number, CLP09 frequency; CAS claim adjustments; MOA03-07 or MIA05/MIA20-23 claim
  remark codes (RARC); REF*F8 original reference number; DTM*232/233 statement period.
  Patient, insured and provider names (NM1) are not kept.
- 2110 service: SVC01 adjudicated procedure (qualifier, code, modifiers 1-4), SVC02 charge,
  SVC03 payment, SVC04 revenue code, SVC05 units paid (one when absent, as the TR3 says),
  SVC06 the procedure as submitted when the payer recoded it, SVC07 units submitted;
  DTM*472 service date (DTM*150/151 a period); CAS line adjustments; REF*6R line item control
  number (our 837P's 2400 REF*6R); AMT*B6 allowed amount; LQ*HE remark codes (RARC).
- trailer: PLB provider adjustments, PLB01 provider, PLB02 fiscal period date, then up to six
  pairs of PLB03-1 reason (WO, FB, 72, L6, ...), PLB03-2 reference and PLB04 amount; a
  positive amount lowers the payment, a negative one raises it, as sent.

Balancing (TR3 section 1.10.2.1): SVC02 less the line's CAS equals SVC03; CLP03 less the
claim's and its lines' CAS equals CLP04; BPR02 equals the CLP04 total less the PLB total. A
transaction set that does not balance comes back with its ``problems`` listed; a caller does
not post it. A reversal (CLP02 22) carries negated amounts and balances the same way.

Money is integer cents. A value that cannot be read (an amount that is not one, a date that
is not a date, a required element missing) is one BhpolicyError naming the file, line,
segment and element, never the value (it may be PHI)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.kind import Kind, detect
from bhpolicy.x12.validate import run_pyx12
from bhpolicy.x12.values import (
    X12ReadError,
    cents,
    component,
    date,
    money_text,
    quantity,
    required,
    sha256,
    value,
    where,
)

VERSION = "005010X221A1"
# CLP02 codes of the 005010X221A1 TR3, in our words
CLAIM_STATUSES = {
    "1": "processed as primary", "2": "processed as secondary",
    "3": "processed as tertiary", "4": "denied",
    "19": "processed as primary, forwarded to additional payer(s)",
    "20": "processed as secondary, forwarded to additional payer(s)",
    "21": "processed as tertiary, forwarded to additional payer(s)",
    "22": "reversal of a previous payment",
    "23": "not our claim, forwarded to additional payer(s)",
    "25": "predetermination pricing only, no payment",
}
REVERSAL = "22"
DENIED = "4"


@dataclass(frozen=True)
class Adjustment:
    """One CAS triplet: group (CO, PR, OA, PI, CR), CARC, amount in cents, quantity."""
    group: str
    reason: str
    amount_cents: int
    quantity: Decimal | None = None


@dataclass(frozen=True)
class ServicePayment:
    line: int  # the SVC's line in the file
    qualifier: str  # SVC01-1 (HC)
    procedure: str  # SVC01-2 as adjudicated
    modifiers: tuple[str, ...]
    charge_cents: int  # SVC02
    paid_cents: int  # SVC03
    units: Decimal  # SVC05 (one when absent)
    revenue_code: str | None = None  # SVC04
    original_procedure: str | None = None  # SVC06-2 when the payer recoded
    original_modifiers: tuple[str, ...] = ()
    original_units: Decimal | None = None  # SVC07
    service_date: dt.date | None = None  # DTM*472
    period: tuple[dt.date | None, dt.date | None] | None = None  # DTM*150 / DTM*151
    line_control_number: str | None = None  # REF*6R
    allowed_cents: int | None = None  # AMT*B6
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()  # LQ*HE

    @property
    def adjusted_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments)

    @property
    def recoded(self) -> bool:
        return self.original_procedure is not None

    @property
    def denied(self) -> bool:
        """Nothing paid on a line that charged something."""
        return self.paid_cents == 0 and self.charge_cents != 0

    def reasons(self) -> tuple[str, ...]:
        """'group-CARC' of each adjustment, e.g. CO-119."""
        return tuple(f"{a.group}-{a.reason}" for a in self.adjustments)


@dataclass(frozen=True)
class ClaimPayment:
    line: int  # the CLP's line in the file
    patient_control_number: str  # CLP01
    status: str  # CLP02
    charge_cents: int  # CLP03
    paid_cents: int  # CLP04
    payer_claim_number: str  # CLP07
    filing_indicator: str  # CLP06
    patient_responsibility_cents: int | None = None  # CLP05
    frequency: str | None = None  # CLP09
    header_number: str | None = None  # 2000 LX01
    original_reference: str | None = None  # REF*F8
    statement_from: dt.date | None = None  # DTM*232
    statement_to: dt.date | None = None  # DTM*233
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()  # MOA / MIA remark codes
    services: tuple[ServicePayment, ...] = ()

    @property
    def reversal(self) -> bool:
        return self.status == REVERSAL

    @property
    def denied(self) -> bool:
        return self.status == DENIED

    @property
    def status_text(self) -> str:
        return CLAIM_STATUSES.get(self.status, "status not in the 005010X221A1 list")

    @property
    def adjusted_cents(self) -> int:
        """The claim's own CAS and every line's CAS."""
        return (sum(a.amount_cents for a in self.adjustments)
                + sum(s.adjusted_cents for s in self.services))


@dataclass(frozen=True)
class ProviderAdjustment:
    line: int
    provider: str  # PLB01
    fiscal_period: dt.date | None  # PLB02
    reason: str  # PLB03-1: WO, FB, 72, L6, ...
    reference: str | None  # PLB03-2
    amount_cents: int  # PLB04, sign as sent (positive lowers the payment)


@dataclass(frozen=True)
class Remittance:
    """One 835 transaction set (ST..SE) of a file."""
    path: Path
    sha256: str  # of the whole file
    control_number: str  # ST02
    trace_number: str  # TRN02
    payer_trace_id: str  # TRN03
    payer_name: str  # 1000A N102
    payer_id: str | None  # 1000A REF*2U, else N104
    payee_name: str
    payee_id: str | None  # 1000B N104
    transaction_handling: str  # BPR01
    payment_cents: int  # BPR02
    credit_debit: str  # BPR03
    payment_method: str  # BPR04
    payment_date: dt.date | None  # BPR16
    production_date: dt.date | None  # DTM*405
    claims: tuple[ClaimPayment, ...]
    provider_adjustments: tuple[ProviderAdjustment, ...]
    valid: bool  # pyx12's verdict on the file
    findings: tuple[str, ...]  # pyx12's findings on the file, without values
    problems: tuple[str, ...] = ()  # balancing

    @property
    def balanced(self) -> bool:
        return not self.problems

    @property
    def postable(self) -> bool:
        """Valid for pyx12 and balanced: what a caller may post."""
        return self.valid and not self.problems

    @property
    def key(self) -> tuple[str, str]:
        """What makes an import idempotent: TRN02 and the file's hash."""
        return self.trace_number, self.sha256

    def claims_for(self, patient_control_number: str) -> tuple[ClaimPayment, ...]:
        """Every CLP of one claim: a reversal and its correction, or a payer's split."""
        return tuple(c for c in self.claims
                     if c.patient_control_number == patient_control_number)

    def services(self) -> tuple[ServicePayment, ...]:
        return tuple(s for c in self.claims for s in c.services)


# ---------------------------------------------------------------- values

def _procedure(elements: list[list[str]], line: int) -> str:
    code = component(elements, 1, 2)
    if not code:
        raise X12ReadError(f"{where('SVC', 1, line)}: no procedure code (SVC01-2)")
    return code


def _adjustments(elements: list[list[str]], line: int) -> list[Adjustment]:
    group = required(elements, "CAS", 1, line)
    found = []
    for start in range(2, 20, 3):  # CAS02-04, CAS05-07, ... CAS17-19
        reason = value(elements, start)
        if not reason:
            continue
        amount = cents(required(elements, "CAS", start + 1, line), "CAS", start + 1, line)
        count = quantity(value(elements, start + 2), "CAS", start + 2, line)
        found.append(Adjustment(group, reason, amount, count))
    return found


# ---------------------------------------------------------------- the walk

@dataclass
class _Service:
    line: int
    fields: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def freeze(self) -> ServicePayment:
        return ServicePayment(line=self.line, adjustments=tuple(self.adjustments),
                              remarks=tuple(self.remarks), **self.fields)


@dataclass
class _Claim:
    line: int
    fields: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    services: list[_Service] = field(default_factory=list)

    def freeze(self) -> ClaimPayment:
        return ClaimPayment(line=self.line, adjustments=tuple(self.adjustments),
                            remarks=tuple(self.remarks),
                            services=tuple(s.freeze() for s in self.services),
                            **self.fields)


@dataclass
class _Set:
    line: int
    header: dict[str, Any] = field(default_factory=dict)
    bpr_line: int = 0
    claims: list[_Claim] = field(default_factory=list)
    plb: list[ProviderAdjustment] = field(default_factory=list)


class _Reader:
    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.sets: list[_Set] = []
        self.current: _Set | None = None
        self.claim: _Claim | None = None
        self.service: _Service | None = None
        self.header_number: str | None = None

    def __call__(self, seg: str, e: list[list[str]], loop: str, line: int) -> None:
        if loop == "2110":
            self._service(seg, e, line)
        elif loop == "2100":
            self._claim(seg, e, line)
        elif seg == "PLB" and self.current is not None:
            self._plb(e, line)
        elif seg == "LX":
            self.header_number = value(e, 1) or None
        elif seg == "ST":
            self._close_claim()
            self.current = _Set(line, {"control_number": value(e, 2)})
            self.sets.append(self.current)
            self.header_number = None
        elif seg == "GS":
            version = value(e, 8)
            if (value(e, 1), version) != (self.kind.functional_id, self.kind.version):
                raise X12ReadError(f"line {line}, segment GS, element GS08: a functional "
                                   f"group that is not an 835 {VERSION}")
        elif seg == "SE":
            self._close_claim()
            self.current = None
        elif self.current is not None and loop in ("HEADER", "1000A", "1000B"):
            self._header(seg, e, loop, line)

    def _header(self, seg: str, e: list[list[str]], loop: str, line: int) -> None:
        assert self.current is not None
        h = self.current.header
        if seg == "BPR":
            self.current.bpr_line = line
            h.update(transaction_handling=required(e, "BPR", 1, line),
                     payment_cents=cents(required(e, "BPR", 2, line), "BPR", 2, line),
                     credit_debit=value(e, 3), payment_method=value(e, 4),
                     payment_date=date(value(e, 16), "BPR", 16, line))
        elif seg == "TRN":
            h.update(trace_number=required(e, "TRN", 2, line), payer_trace_id=value(e, 3))
        elif seg == "DTM" and value(e, 1) == "405":
            h["production_date"] = date(value(e, 2), "DTM", 2, line)
        elif seg == "N1" and loop == "1000A":
            h["payer_name"] = value(e, 2)
            h.setdefault("payer_id", value(e, 4) or None)
        elif seg == "REF" and loop == "1000A" and value(e, 1) == "2U":
            h["payer_id"] = value(e, 2) or None
        elif seg == "N1" and loop == "1000B":
            h.update(payee_name=value(e, 2), payee_id=value(e, 4) or None)

    def _close_claim(self) -> None:
        self.claim = None
        self.service = None

    def _claim(self, seg: str, e: list[list[str]], line: int) -> None:
        if seg == "CLP":
            if self.current is None:
                raise X12ReadError(f"line {line}, segment CLP: outside a transaction set")
            responsibility = value(e, 5)
            self.claim = _Claim(line, {
                "patient_control_number": required(e, "CLP", 1, line),
                "status": required(e, "CLP", 2, line),
                "charge_cents": cents(required(e, "CLP", 3, line), "CLP", 3, line),
                "paid_cents": cents(required(e, "CLP", 4, line), "CLP", 4, line),
                "patient_responsibility_cents":
                    cents(responsibility, "CLP", 5, line) if responsibility else None,
                "filing_indicator": value(e, 6),
                "payer_claim_number": value(e, 7),
                "frequency": value(e, 9) or None,
                "header_number": self.header_number})
            self.service = None
            self.current.claims.append(self.claim)
            return
        claim = self.claim
        if claim is None:
            return
        if seg == "CAS":
            claim.adjustments += _adjustments(e, line)
        elif seg == "MOA":
            claim.remarks += [r for r in (value(e, i) for i in range(3, 8)) if r]
        elif seg == "MIA":
            claim.remarks += [r for r in (value(e, i) for i in (5, 20, 21, 22, 23)) if r]
        elif seg == "REF" and value(e, 1) == "F8":
            claim.fields["original_reference"] = value(e, 2) or None
        elif seg == "DTM" and value(e, 1) in ("232", "233"):
            key = "statement_from" if value(e, 1) == "232" else "statement_to"
            claim.fields[key] = date(value(e, 2), "DTM", 2, line)

    def _service(self, seg: str, e: list[list[str]], line: int) -> None:
        if seg == "SVC":
            if self.claim is None:
                raise X12ReadError(f"line {line}, segment SVC: outside a claim")
            units = quantity(value(e, 5), "SVC", 5, line)
            original = e[5] if len(e) > 5 and e[5][0] else None
            self.service = _Service(line, {
                "qualifier": component(e, 1, 1),
                "procedure": _procedure(e, line),
                "modifiers": tuple(m for m in e[0][2:6] if m),
                "charge_cents": cents(required(e, "SVC", 2, line), "SVC", 2, line),
                "paid_cents": cents(required(e, "SVC", 3, line), "SVC", 3, line),
                "revenue_code": value(e, 4) or None,
                "units": Decimal(1) if units is None else units,
                "original_procedure": original[1] if original and len(original) > 1
                else None,
                "original_modifiers": tuple(m for m in original[2:6] if m) if original
                else (),
                "original_units": quantity(value(e, 7), "SVC", 7, line)})
            self.claim.services.append(self.service)
            return
        service = self.service
        if service is None:
            return
        if seg == "CAS":
            service.adjustments += _adjustments(e, line)
        elif seg == "LQ" and value(e, 1) == "HE":
            service.remarks.append(required(e, "LQ", 2, line))
        elif seg == "REF" and value(e, 1) == "6R":
            service.fields["line_control_number"] = required(e, "REF", 2, line)
        elif seg == "AMT" and value(e, 1) == "B6":
            service.fields["allowed_cents"] = cents(required(e, "AMT", 2, line), "AMT", 2,
                                                     line)
        elif seg == "DTM":
            qualifier, day = value(e, 1), date(value(e, 2), "DTM", 2, line)
            if qualifier == "472":
                service.fields["service_date"] = day
            elif qualifier in ("150", "151"):
                start, end = service.fields.get("period") or (None, None)
                service.fields["period"] = (day, end) if qualifier == "150" else (start, day)

    def _plb(self, e: list[list[str]], line: int) -> None:
        assert self.current is not None
        provider = required(e, "PLB", 1, line)
        period = date(value(e, 2), "PLB", 2, line)
        for position in range(3, 15, 2):  # PLB03/04 ... PLB13/14
            reason = component(e, position, 1)
            if not reason:
                continue
            amount = cents(required(e, "PLB", position + 1, line), "PLB", position + 1,
                            line)
            self.current.plb.append(ProviderAdjustment(
                line, provider, period, reason, component(e, position, 2) or None, amount))


# ---------------------------------------------------------------- balancing

def balance_problems(path: Path, claims: tuple[ClaimPayment, ...],
                     plb: tuple[ProviderAdjustment, ...], payment_cents: int,
                     credit_debit: str, bpr_line: int) -> list[str]:
    """The TR3's three balancing rules, each failure as one line (the difference, no
    element value)."""
    problems = []
    for claim in claims:
        for service in claim.services:
            off = service.charge_cents - service.adjusted_cents - service.paid_cents
            if off:
                problems.append(f"{path}: {where('SVC', 3, service.line)}: SVC02 less the "
                                f"line's adjustments is not SVC03 (off by {money_text(off)})")
        off = claim.charge_cents - claim.adjusted_cents - claim.paid_cents
        if off:
            problems.append(f"{path}: {where('CLP', 4, claim.line)}: CLP03 less the claim's "
                            f"and its lines' adjustments is not CLP04 (off by "
                            f"{money_text(off)})")
    expected = sum(c.paid_cents for c in claims) - sum(p.amount_cents for p in plb)
    paid = -payment_cents if credit_debit == "D" else payment_cents
    if expected != paid:
        problems.append(f"{path}: {where('BPR', 2, bpr_line)}: BPR02 is not the CLP04 total "
                        f"less the PLB total (off by {money_text(expected - paid)})")
    return problems


# ---------------------------------------------------------------- entry points

def read_835s(path: Path) -> tuple[Remittance, ...]:
    """Every 835 transaction set of ``path``, each with the file's hash and pyx12's verdict
    and findings on the file, in one pyx12 read."""
    kind = detect(path)
    if kind.name != "835":
        raise BhpolicyError(f"{path}: file: is an {kind.label}, not an 835 {VERSION}")
    reader = _Reader(kind)
    try:
        checked = run_pyx12(path, kind, reader)
    except X12ReadError as exc:
        raise BhpolicyError(f"{path}: {exc}") from None
    sha = sha256(path)
    out = []
    for item in reader.sets:
        h = item.header
        what = {"trace_number": "TRN", "payment_cents": "BPR",
                "payer_name": "N1 (1000A payer)", "payee_name": "N1 (1000B payee)"}
        missing = [segment for name, segment in what.items() if name not in h]
        if missing:
            raise BhpolicyError(f"{path}: line {item.line}, transaction set: segment "
                                f"{missing[0]} missing")
        claims = tuple(c.freeze() for c in item.claims)
        plb = tuple(item.plb)
        problems = balance_problems(path, claims, plb, int(h["payment_cents"]),
                                    str(h.get("credit_debit", "")), item.bpr_line)
        out.append(Remittance(
            path=path, sha256=sha, control_number=str(h["control_number"]),
            trace_number=str(h["trace_number"]), payer_trace_id=str(h.get("payer_trace_id", "")),
            payer_name=str(h["payer_name"]), payer_id=h.get("payer_id"),
            payee_name=str(h["payee_name"]), payee_id=h.get("payee_id"),
            transaction_handling=str(h["transaction_handling"]),
            payment_cents=int(h["payment_cents"]),
            credit_debit=str(h.get("credit_debit", "")),
            payment_method=str(h.get("payment_method", "")),
            payment_date=h.get("payment_date"),
            production_date=h.get("production_date"),
            claims=claims, provider_adjustments=plb, valid=checked.valid,
            findings=tuple(checked.findings), problems=tuple(problems)))
    if not out:
        raise BhpolicyError(f"{path}: segment ST: no 835 transaction set")
    return tuple(out)


def read_835(path: Path) -> Remittance:
    """The one 835 transaction set of ``path`` (``read_835s`` reads a file of several)."""
    found = read_835s(path)
    if len(found) > 1:
        raise BhpolicyError(f"{path}: file: holds {len(found)} 835 transaction sets "
                            "(read them with read_835s)")
    return found[0]
