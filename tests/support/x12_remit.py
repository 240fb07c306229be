"""A small builder of the X12 files a payer sends back: 835 (005010X221A1), 999 (005010X231A1)
and 277CA (005010X214), in the shape their TR3s give, for tests and the bench.

Money is integer cents here, written the way payers write it (``150``, ``150.5``, ``-75``).
Amounts left out are worked out so the file balances (SVC03 = SVC02 less the line's CAS,
CLP04 = CLP03 less the claim's and its lines' CAS, BPR02 = the CLP04 total less the PLB
total); give them to build a file that does not. Names and member ids are made up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PAYEE_NPI = "1234567893"
PAYER_ID = "1512345678"


def money(cents: int) -> str:
    """Cents as an X12 decimal with trailing zeros left off: 15000 -> 150, 15050 -> 150.5."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    if part == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{part:02d}".rstrip("0")


def seg(*elements: str) -> str:
    parts = list(elements)
    while parts and parts[-1] == "":
        parts.pop()
    return "*".join(parts) + "~"


def _isa(sender: str, receiver: str, number: int, date: str) -> str:
    return "*".join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", f"{sender:<15}", "ZZ",
                     f"{receiver:<15}", date[2:], "1200", "^", "00501", f"{number:09d}", "0",
                     "T", ":"]) + "~"


def _envelope(functional_id: str, version: str, bodies: Sequence[list[str]], number: int,
              date: str, sender: str = "PAYERSENDER", receiver: str = "PROVIDERRECV") -> str:
    """ISA/GS around transaction sets (each body from its ST to just before SE)."""
    out = [_isa(sender, receiver, number, date),
           seg("GS", functional_id, sender, receiver, date, "1200", str(number), "X", version)]
    for st, body in enumerate(bodies, start=1):
        out += body
        out.append(seg("SE", str(len(body) + 1), f"{st:04d}"))
    out += [seg("GE", str(len(bodies)), str(number)), seg("IEA", "1", f"{number:09d}")]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- 835

@dataclass
class Cas:
    group: str  # CO, PR, OA, PI, CR
    reason: str  # CARC
    amount: int  # cents; positive lowers the payment
    quantity: str = ""


@dataclass
class Service:
    charge: int = 15000
    paid: int | None = None  # None: charge less the line's CAS
    code: str = "H0040"
    modifiers: tuple[str, ...] = ("U1",)
    units: str = "1"
    date: str = "20260302"
    control: str | None = None  # REF*6R
    cas: list[Cas] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # LQ*HE
    original: str = ""  # SVC06 composite when the payer recoded, e.g. "HC:H0039:U1"
    allowed: int | None = None  # AMT*B6

    def paid_cents(self) -> int:
        return self.charge - sum(c.amount for c in self.cas) if self.paid is None else self.paid


@dataclass
class Claim:
    pcn: str
    status: str = "1"
    services: list[Service] = field(default_factory=list)
    charge: int | None = None  # None: the lines' charges (15000 without lines)
    paid: int | None = None  # None: charge less every CAS of the claim and its lines
    payer_claim: str = ""  # CLP07; made from the PCN when empty
    cas: list[Cas] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # MOA03..07
    patient_responsibility: int | None = None
    frequency: str = "1"
    statement: tuple[str, str] | None = None  # DTM*232 / DTM*233

    def charge_cents(self) -> int:
        if self.charge is not None:
            return self.charge
        return sum(s.charge for s in self.services) if self.services else 15000

    def paid_cents(self) -> int:
        if self.paid is not None:
            return self.paid
        adjusted = sum(c.amount for c in self.cas) + sum(
            c.amount for s in self.services for c in s.cas)
        return self.charge_cents() - adjusted


@dataclass
class Plb:
    reason: str  # WO, FB, 72, L6, ...
    amount: int  # cents; positive lowers the payment
    reference: str = ""
    provider: str = PAYEE_NPI
    period: str = "20261231"


def _cas(adjustments: Iterable[Cas]) -> list[str]:
    """CAS segments: one per group, up to six (reason, amount, quantity) triplets each."""
    groups: dict[str, list[Cas]] = {}
    for adjustment in adjustments:
        groups.setdefault(adjustment.group, []).append(adjustment)
    out = []
    for group, items in groups.items():
        for start in range(0, len(items), 6):
            parts = [group]
            for item in items[start:start + 6]:
                parts += [item.reason, money(item.amount), item.quantity]
            out.append(seg("CAS", *parts))
    return out


def _service(service: Service) -> list[str]:
    procedure = ":".join(["HC", service.code, *service.modifiers])
    out = [seg("SVC", procedure, money(service.charge), money(service.paid_cents()), "",
               service.units, service.original)]
    out.append(seg("DTM", "472", service.date))
    out += _cas(service.cas)
    if service.control is not None:
        out.append(seg("REF", "6R", service.control))
    if service.allowed is not None:
        out.append(seg("AMT", "B6", money(service.allowed)))
    out += [seg("LQ", "HE", remark) for remark in service.remarks]
    return out


def _claim(claim: Claim, number: int) -> list[str]:
    out = [seg("CLP", claim.pcn, claim.status, money(claim.charge_cents()),
               money(claim.paid_cents()),
               "" if claim.patient_responsibility is None
               else money(claim.patient_responsibility),
               "MC", claim.payer_claim or f"PCC{number:08d}", "11", claim.frequency)]
    out += _cas(claim.cas)
    out.append(seg("NM1", "QC", "1", "DOE", "JANE", "", "", "", "MR", f"MEM{number:06d}"))
    if claim.remarks:
        out.append(seg("MOA", "", "", *claim.remarks[:5]))
    if claim.statement:
        out += [seg("DTM", "232", claim.statement[0]), seg("DTM", "233", claim.statement[1])]
    for service in claim.services:
        out += _service(service)
    return out


def _plb(adjustments: Sequence[Plb]) -> list[str]:
    out = []
    for start in range(0, len(adjustments), 6):
        first = adjustments[start]
        parts = [first.provider, first.period]
        for item in adjustments[start:start + 6]:
            parts += [f"{item.reason}:{item.reference}" if item.reference else item.reason,
                      money(item.amount)]
        out.append(seg("PLB", *parts))
    return out


def body_835(claims: Sequence[Claim], plb: Sequence[Plb] = (), *, trace: str = "TRACE0001",
             total: int | None = None, payment_date: str = "20260405", st: int = 1,
             payer_name: str = "SC MEDICAID") -> list[str]:
    """One 835 transaction set from ST to just before SE."""
    if total is None:
        total = sum(c.paid_cents() for c in claims) - sum(p.amount for p in plb)
    method = ("ACH", "CCP", "01", "999999999", "DA", "123456", PAYER_ID, "", "01",
              "999988880", "DA", "98765") if total else ("NON", "", "", "", "", "", "", "",
                                                         "", "", "", "")
    out = [seg("ST", "835", f"{st:04d}"),
           seg("BPR", "I" if total else "H", money(total), "C", *method, payment_date),
           seg("TRN", "1", trace, "1" + PAYER_ID[1:]),
           seg("DTM", "405", payment_date),
           seg("N1", "PR", payer_name), seg("N3", "PO BOX 1"),
           seg("N4", "COLUMBIA", "SC", "29201"),
           seg("PER", "BL", "PROVIDER SERVICES", "TE", "8005550100"),
           seg("N1", "PE", "ACT TEAM", "XX", PAYEE_NPI)]
    if claims:
        out.append(seg("LX", "1"))
        for number, claim in enumerate(claims, start=1):
            out += _claim(claim, number)
    out += _plb(plb)
    return out


def build_835(claims: Sequence[Claim], plb: Sequence[Plb] = (), *, trace: str = "TRACE0001",
              total: int | None = None, payment_date: str = "20260405",
              number: int = 101) -> str:
    return _envelope("HP", "005010X221A1",
                     [body_835(claims, plb, trace=trace, total=total,
                               payment_date=payment_date)], number, payment_date)


def write_835(path: Path, claims: Sequence[Claim], plb: Sequence[Plb] = (),
              **options: object) -> Path:
    path.write_text(build_835(claims, plb, **options), encoding="ascii")  # type: ignore[arg-type]
    return path


# ---------------------------------------------------------------- 999

@dataclass
class ElementError:
    position: int  # IK401-1
    code: str  # IK403
    component: int | None = None  # IK401-2
    reference: str = ""  # IK402 data element reference number
    copy: str = ""  # IK404 (a value: the reader must not pass it on)


@dataclass
class SegmentError:
    segment: str  # IK301
    position: int  # IK302, counted from ST = 1
    loop: str = ""  # IK303
    code: str = "8"  # IK304
    claim: str = ""  # CTX*CLM01:<patient control number>
    elements: list[ElementError] = field(default_factory=list)


@dataclass
class SetAck:
    control: str  # AK202 = the ST02 acknowledged
    status: str = "A"  # IK501
    errors: list[SegmentError] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # IK502..506


def build_999(sets: Sequence[SetAck], *, group_control: str = "101",
              functional_id: str = "HC", version: str = "005010X222A1",
              group_status: str | None = None, date: str = "20260402",
              number: int = 201) -> str:
    accepted = sum(1 for s in sets if s.status in ("A", "E"))
    if group_status is None:
        group_status = "A" if accepted == len(sets) else ("R" if accepted == 0 else "P")
    body = [seg("ST", "999", "0001", "005010X231A1"),
            seg("AK1", functional_id, group_control, version)]
    for item in sets:
        body.append(seg("AK2", "837", item.control, version))
        for error in item.errors:
            body.append(seg("IK3", error.segment, str(error.position), error.loop, error.code))
            if error.claim:
                body.append(seg("CTX", f"CLM01:{error.claim}"))
            for element in error.elements:
                position = str(element.position) + (
                    f":{element.component}" if element.component is not None else "")
                body.append(seg("IK4", position, element.reference, element.code,
                                element.copy))
        body.append(seg("IK5", item.status, *item.codes[:5]))
    body.append(seg("AK9", group_status, str(len(sets)), str(len(sets)), str(accepted)))
    return _envelope("FA", "005010X231A1", [body], number, date, sender="CLEARINGHOUSE",
                     receiver="PROVIDERRECV")


# ---------------------------------------------------------------- 277CA

@dataclass
class Status:
    category: str  # STC01-1: A1, A2 accepted; A3, A4, A6, A7, A8 rejected
    code: str  # STC01-2
    entity: str = ""  # STC01-3


@dataclass
class LineAck:
    control: str  # REF*FJ = the 837P's REF*6R
    status: Status
    charge: int = 15000
    code: str = "H0040"
    modifiers: tuple[str, ...] = ("U1",)
    date: str = "20260302"


@dataclass
class ClaimAck:
    pcn: str  # 2200D TRN02
    statuses: list[Status] = field(default_factory=lambda: [Status("A2", "20", "PR")])
    charge: int = 15000  # STC04
    payer_claim: str = ""  # REF*1K
    clearinghouse: str = ""  # REF*D9
    dates: tuple[str, str] = ("20260302", "20260302")  # DTP*472
    lines: list[LineAck] = field(default_factory=list)

    def rejected(self) -> bool:
        return any(s.category in ("A3", "A4", "A6", "A7", "A8") for s in self.statuses)


def _stc(statuses: Sequence[Status], date: str, action: str, amount: int) -> str:
    def composite(status: Status) -> str:
        return ":".join(p for p in (status.category, status.code, status.entity) if p)
    extra = [composite(s) for s in statuses[1:3]]
    return seg("STC", composite(statuses[0]), date, action, money(amount), "", "", "", "",
               "", *extra)


def build_277ca(claims: Sequence[ClaimAck], *, date: str = "20260402",
                number: int = 301) -> str:
    accepted = [c for c in claims if not c.rejected()]
    rejected = [c for c in claims if c.rejected()]
    ok_total = sum(c.charge for c in accepted)
    bad_total = sum(c.charge for c in rejected)
    counts = [seg("QTY", "90", str(len(accepted))), seg("QTY", "AA", str(len(rejected))),
              seg("AMT", "YU", money(ok_total)), seg("AMT", "YY", money(bad_total))]
    body = [seg("ST", "277", "0001", "005010X214"),
            seg("BHT", "0085", "08", "ACK0001", date, "1200", "TH"),
            seg("HL", "1", "", "20", "1"),
            seg("NM1", "PR", "2", "SC MEDICAID", "", "", "", "", "PI", PAYER_ID),
            seg("TRN", "1", "RECEIPT0001"), seg("DTP", "050", "D8", date),
            seg("DTP", "009", "D8", date),
            seg("HL", "2", "1", "21", "1"),
            seg("NM1", "41", "2", "ACT TEAM", "", "", "", "", "46", "SUBMITTER1"),
            seg("TRN", "2", "B00000001"),
            seg("STC", "A1:19", date, "WQ", money(ok_total + bad_total)), *counts,
            seg("HL", "3", "2", "19", "1"),
            seg("NM1", "85", "2", "ACT TEAM", "", "", "", "", "XX", PAYEE_NPI),
            seg("TRN", "1", "0"),
            seg("STC", "A1:19:PR", "", "WQ", money(ok_total + bad_total)),
            seg("QTY", "QA", str(len(accepted))), seg("QTY", "QC", str(len(rejected))),
            seg("AMT", "YU", money(ok_total)), seg("AMT", "YY", money(bad_total))]
    for hl, claim in enumerate(claims, start=4):
        body += [seg("HL", str(hl), "3", "PT"),
                 seg("NM1", "QC", "1", "DOE", "JANE", "", "", "", "MI", f"MEM{hl:06d}"),
                 seg("TRN", "2", claim.pcn),
                 _stc(claim.statuses, date, "U" if claim.rejected() else "WQ", claim.charge)]
        if claim.payer_claim:
            body.append(seg("REF", "1K", claim.payer_claim))
        if claim.clearinghouse:
            body.append(seg("REF", "D9", claim.clearinghouse))
        start, end = claim.dates
        body.append(seg("DTP", "472", "D8", start) if start == end
                    else seg("DTP", "472", "RD8", f"{start}-{end}"))
        for item in claim.lines:
            status = ":".join(p for p in (item.status.category, item.status.code,
                                          item.status.entity) if p)
            body += [seg("SVC", ":".join(["HC", item.code, *item.modifiers]),
                         money(item.charge)),
                     seg("STC", status, date, "U"),
                     seg("REF", "FJ", item.control),
                     seg("DTP", "472", "D8", item.date)]
    return _envelope("HN", "005010X214", [body], number, date, sender="SCMEDICAID",
                     receiver="PROVIDERRECV")
