"""Write 837P (005010X222A1) claims from the billable lines of a billing run.

One claim (2300) per member, authorization and month, split at the configured number of
lines; one service line (2400) per date with one unit per per diem (H0039 lines carry their
units); transactions (ST-SE) split at the configured number of claims. Our own checks run
before anything is written: NPI check digits, subscriber fields, diagnosis codes, codes known
to the catalog, fees, totals and one date per line. A claim that fails them is not written
and is reported; the others are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import Any

import duckdb

from bhpolicy.criteria import icd10
from bhpolicy.errors import BhpolicyError, DataFileError
from bhpolicy.x12.checks import npi_valid, zip_ok
from bhpolicy.x12.config import BillingProvider, SubmitterConfig
from bhpolicy.x12.control import ControlNumbers
from bhpolicy.x12.elements import Cleaner, segment

CENTS = Decimal("0.01")
LINE_COLUMNS = ("line_id", "member_id", "service_date", "hcpcs", "modifier", "pos", "units",
                "provider_id", "authorization_id", "medicaid_id", "last_name", "first_name",
                "birth_date", "sex", "address_line", "city", "state", "zip", "primary_dx")


@dataclass
class Adjustment:
    frequency: str  # 7 replacement, 8 void
    payer_claim_number: str


@dataclass
class Claim:
    claim_id: str
    provider_id: str
    member: dict[str, Any]
    authorization_id: str
    month: str
    lines: list[dict[str, Any]]
    frequency: str = "1"
    payer_claim_number: str | None = None
    charges: list[Decimal] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.charges, Decimal(0))


@dataclass
class WriteResult:
    path: Path
    claims: list[Claim]
    rejected: list[str]
    warnings: list[str]
    control: tuple[int, int, list[int]]


def read_lines(run: Path) -> list[dict[str, Any]]:
    source = run / "lines.parquet"
    if not source.exists():
        source = run / "lines.csv"
    if not source.exists():
        raise DataFileError(str(run), "folder", "no lines.parquet or lines.csv: run "
                            "'bhpolicy bill' first")
    def reader(path: Path) -> str:
        quoted = str(path).replace("'", "''")
        return (f"read_csv('{quoted}', all_varchar=true)" if path.suffix == ".csv"
                else f"'{quoted}'")

    # the subscriber fields come from the run's subscribers file (one row a member)
    members = next((run / f"subscribers.{ext}" for ext in ("parquet", "csv")
                    if (run / f"subscribers.{ext}").exists()), None)
    if members is None:
        raise DataFileError(str(run), "folder", "no subscribers.parquet or subscribers.csv: "
                            "run 'bhpolicy bill' again")
    columns = ", ".join(f'"{c}"::VARCHAR AS "{c}"' for c in LINE_COLUMNS)
    cursor = duckdb.connect().execute(
        f"SELECT {columns} FROM {reader(source)} l "
        f"LEFT JOIN {reader(members)} s USING (member_id) WHERE status = 'billable' "
        "ORDER BY provider_id, member_id, authorization_id, service_date")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def claim_id(member_id: str, authorization_id: str, month: str, part: int) -> str:
    """Stable patient control number (CLM01, at most 20 characters)."""
    digest = hashlib.md5(f"{member_id}|{authorization_id}|{month}".encode()).hexdigest()[:15]
    digest = digest.upper()  # the X12 basic character set has no lower case
    return f"C{digest}" + (f"-{part}" if part > 1 else "")


def build_claims(lines: list[dict[str, Any]], config: SubmitterConfig,
                 adjustments: dict[str, Adjustment]) -> list[Claim]:
    claims: list[Claim] = []
    limit = config.limits.max_lines_per_claim

    def key(line: dict[str, Any]) -> tuple[str, str, str, str]:
        return (line["provider_id"], line["member_id"], line["authorization_id"],
                line["service_date"][:7])

    for (provider, member_id, authorization, month), group in groupby(lines, key=key):
        rows = list(group)
        for part, start in enumerate(range(0, len(rows), limit), start=1):
            chunk = rows[start:start + limit]
            claim = Claim(claim_id(member_id, authorization, month, part), provider, chunk[0],
                          authorization, month, chunk)
            adjustment = adjustments.get(claim.claim_id)
            if adjustment:
                claim.frequency = adjustment.frequency
                claim.payer_claim_number = adjustment.payer_claim_number
            claims.append(claim)
    return claims


def check_claim(claim: Claim, config: SubmitterConfig, known_codes: set[str]) -> list[str]:
    """Our checks of one claim; fills in its line charges."""
    problems: list[str] = []
    where = f"claim {claim.claim_id} (member {claim.member['member_id']}, {claim.month})"
    provider = config.provider(claim.provider_id)
    if provider is None:
        problems.append(f"{where}: billing provider {claim.provider_id} is not in the config")
    elif not npi_valid(provider.npi):
        problems.append(f"{where}: billing provider NPI {provider.npi} fails its check digit")
    member = claim.member
    for name in ("medicaid_id", "last_name", "first_name", "birth_date", "sex",
                 "address_line", "city", "state", "zip", "primary_dx"):
        if not member.get(name):
            problems.append(f"{where}: subscriber {name} is missing (needed in 2010BA/2300)")
    if member.get("zip") and not zip_ok(member["zip"]):
        problems.append(f"{where}: subscriber zip {member['zip']!r} is not 5 or 9 digits")
    if member.get("primary_dx"):
        code = icd10.lookup(member["primary_dx"])
        if code is None or not code.billable:
            problems.append(f"{where}: diagnosis {member['primary_dx']!r} is not a billable "
                            "ICD-10-CM code")
    dates = Counter(line["service_date"] for line in claim.lines)
    if any(n > 1 for n in dates.values()):
        problems.append(f"{where}: a date appears on more than one line")
    claim.charges = []
    for line in claim.lines:
        if line["hcpcs"] not in known_codes:
            problems.append(f"{where}: {line['hcpcs']} is not a code in the catalog")
        rate = config.fee(line["hcpcs"], line["modifier"])
        if rate is None:
            problems.append(f"{where}: no fee for {line['hcpcs']}"
                            f"{':' + line['modifier'] if line['modifier'] else ''} in the config")
            continue
        claim.charges.append((rate * int(line["units"])).quantize(CENTS))
    if claim.frequency in ("7", "8") and not claim.payer_claim_number:
        problems.append(f"{where}: a replacement or void needs the payer's claim number")
    if not problems and claim.total != sum(claim.charges, Decimal(0)):
        problems.append(f"{where}: claim total differs from the sum of its lines")
    return problems


def _amount(value: Decimal) -> str:
    return format(value.quantize(CENTS), "f")


def _now() -> dt.datetime:
    """The run's timestamp; SOURCE_DATE_EPOCH makes output reproducible (tests, goldens)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def _claim_segments(claim: Claim, config: SubmitterConfig, hl: int, clean: Cleaner
                    ) -> list[str]:
    m = claim.member
    ident = Cleaner.identifier
    what = f"claim {claim.claim_id}"
    pos_counts = Counter(line["pos"] for line in claim.lines)
    claim_pos = sorted(pos_counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    segments = [
        segment("HL", str(hl), "1", "22", "0"),
        segment("SBR", "P", "18", "", "", "", "", "", "", "MC"),
        segment("NM1", "IL", "1", clean.text(m["last_name"], f"{what} subscriber last name"),
                clean.text(m["first_name"], f"{what} subscriber first name"), "", "", "",
                "MI", ident(m["medicaid_id"], f"{what} medicaid_id")),
        segment("N3", clean.text(m["address_line"], f"{what} subscriber address")),
        segment("N4", clean.text(m["city"], f"{what} subscriber city"),
                ident(m["state"], f"{what} state"), ident(m["zip"], f"{what} zip")),
        segment("DMG", "D8", m["birth_date"].replace("-", ""), ident(m["sex"], f"{what} sex")),
        segment("NM1", "PR", "2", clean.text(config.payer.name, "payer name"), "", "", "", "",
                "PI", ident(config.payer.id, "payer id")),
        segment("CLM", claim.claim_id, _amount(claim.total), "", "",
                f"{ident(claim_pos, what + ' POS')}:B:{claim.frequency}", "Y", "A", "Y", "Y"),
    ]
    segments.append(segment("REF", "G1", ident(claim.authorization_id,
                                               f"{what} authorization id")))
    if claim.frequency in ("7", "8"):
        segments.append(segment("REF", "F8", ident(claim.payer_claim_number,
                                                   f"{what} payer claim number")))
    segments.append(segment("HI", "ABK:" + ident(m["primary_dx"], f"{what} diagnosis")
                            .replace(".", "")))
    for number, (line, charge) in enumerate(zip(claim.lines, claim.charges, strict=True), 1):
        procedure = ":".join(["HC", ident(line["hcpcs"], f"{what} HCPCS")] +
                             ([ident(line["modifier"], f"{what} modifier")]
                              if line["modifier"] else []))
        line_pos = line["pos"] if line["pos"] != claim_pos else ""
        segments += [
            segment("LX", str(number)),
            segment("SV1", procedure, _amount(charge), "UN", str(int(line["units"])),
                    line_pos, "", "1"),
            segment("DTP", "472", "D8", line["service_date"].replace("-", "")),
        ]
    return segments


def _provider_segments(provider: BillingProvider, clean: Cleaner) -> list[str]:
    return [
        segment("HL", "1", "", "20", "1"),
        segment("PRV", "BI", "PXC", provider.taxonomy),
        segment("NM1", "85", "2", clean.text(provider.name, "billing provider name"), "", "",
                "", "", "XX", provider.npi),
        segment("N3", clean.text(provider.address, "billing provider address")),
        segment("N4", clean.text(provider.city, "billing provider city"), provider.state,
                provider.zip),
        segment("REF", "EI", provider.tax_id),
    ]


def write_837p(run: Path, config: SubmitterConfig, out: Path, control_file: Path,
               adjustments: dict[str, Adjustment] | None = None,
               known_codes: set[str] | None = None) -> WriteResult:
    clean = Cleaner()
    lines = read_lines(run)
    claims = build_claims(lines, config, adjustments or {})
    codes = known_codes if known_codes is not None else set()
    rejected: list[str] = []
    good: list[Claim] = []
    for claim in claims:
        problems = check_claim(claim, config, codes)
        try:
            _claim_segments(claim, config, 2, Cleaner())  # ids must be clean too
        except ValueError as exc:
            problems.append(f"claim {claim.claim_id}: {exc}")
        if problems:
            rejected += problems
        else:
            good.append(claim)
    if not good:
        raise BhpolicyError(f"{run}: no claim to write" + (f" ({len(rejected)} problems; "
                            f"first: {rejected[0]})" if rejected else " (no billable lines)"))
    # transactions: one billing provider each, at most max_claims_per_transaction claims
    batches: list[tuple[BillingProvider, list[Claim]]] = []
    size = config.limits.max_claims_per_transaction
    for npi, group in groupby(good, key=lambda c: c.provider_id):
        provider = config.provider(npi)
        assert provider is not None
        chunk = list(group)
        batches += [(provider, chunk[i:i + size]) for i in range(0, len(chunk), size)]
    control = ControlNumbers.load(control_file).reserve(len(batches))
    isa, gs, sts = control
    now = _now()
    ic = config.interchange
    text = [
        "ISA*00*" + " " * 10 + "*00*" + " " * 10 + f"*{ic.sender_qualifier}*"
        f"{ic.sender_id:<15}*{ic.receiver_qualifier}*{ic.receiver_id:<15}*"
        f"{now:%y%m%d}*{now:%H%M}*^*00501*{isa:09d}*0*{ic.usage}*:~",
        segment("GS", "HC", ic.application_sender, ic.application_receiver, f"{now:%Y%m%d}",
                f"{now:%H%M}", str(gs), "X", "005010X222A1"),
    ]
    for (provider, batch), st in zip(batches, sts, strict=True):
        body = [
            segment("ST", "837", f"{st:04d}", "005010X222A1"),
            segment("BHT", "0019", "00", f"B{st:08d}", f"{now:%Y%m%d}", f"{now:%H%M}", "CH"),
            segment("NM1", "41", "2", clean.text(config.submitter.name, "submitter name"), "",
                    "", "", "", "46", config.submitter.id),
            segment("PER", "IC", clean.text(config.submitter.contact_name, "contact name"),
                    "TE", config.submitter.phone),
            segment("NM1", "40", "2", clean.text(config.receiver.name, "receiver name"), "",
                    "", "", "", "46", config.receiver.id),
            *_provider_segments(provider, clean),
        ]
        for hl, claim in enumerate(batch, start=2):
            body += _claim_segments(claim, config, hl, clean)
        body.append(segment("SE", str(len(body) + 1), f"{st:04d}"))
        text += body
    text += [segment("GE", str(len(batches)), str(gs)), segment("IEA", "1", f"{isa:09d}")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text) + "\n", encoding="ascii")
    return WriteResult(out, good, rejected, clean.warnings, control)
