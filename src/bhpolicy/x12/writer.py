"""Write 837P (005010X222A1) claims from the billable lines of a billing run.

Each line goes to one payer of the submitter config: the one its authorization names (a
``payer_id`` column on the lines, when the run carries it), else the payer whose ``packs``
include the line's policy (two such payers and no ``payer_id`` is an error for the claim).
One interchange (ISA-IEA, one file) per receiver; inside it one transaction set (ST-SE) per
payer and billing provider, split at the configured number of claims; one claim (2300) per
member, authorization and month, split at the configured number of lines; one service line
(2400) per date, one unit per per diem (H0039 lines carry their units), its charge from the
payer's fee schedule in force on the date of service.

Our own checks run before anything is written or any control number reserved: NPI check
digits, subscriber fields, diagnosis codes, codes known to the catalog, fees, totals, one
date per line, and every value against the X12 character set. A claim that fails them is
not written and is reported; the others are. Lines older than their payer's filing limit
are sent with a warning. Messages name the claim id, the field and the problem, never a
value of a field holding PHI (names, ids, birth dates, dates of service, diagnoses).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from bhpolicy.criteria import icd10
from bhpolicy.errors import BhpolicyError, DataFileError, NotFoundError
from bhpolicy.io.outputs import OutputError, atomic_write_text
from bhpolicy.x12 import control
from bhpolicy.x12.checks import npi_valid, zip_ok
from bhpolicy.x12.config import BillingProvider, Payer, Receiver, SubmitterConfig
from bhpolicy.x12.elements import Cleaner, X12ValueError, segment

if TYPE_CHECKING:
    from bhpolicy.policy import PolicyRegistry

CENTS = Decimal("0.01")
VERSION = "005010X222A1"
LINE_COLUMNS = ("line_id", "member_id", "service_date", "hcpcs", "modifier", "pos", "units",
                "provider_id", "authorization_id", "medicaid_id", "last_name", "first_name",
                "birth_date", "sex", "address_line", "city", "state", "zip", "primary_dx")
OPTIONAL_LINE_COLUMNS = ("policy_id", "payer_id")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HCPCS = re.compile(r"^[A-Z0-9]{5}$")
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
_POS = re.compile(r"^[0-9]{2}$")


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
    payer: Payer | None = None
    payer_problem: str | None = None
    # REF*6R line item control numbers, one a line, when a claim ledger assigns them
    line_controls: list[str] | None = None

    @property
    def total(self) -> Decimal:
        return sum(self.charges, Decimal(0))


@dataclass
class InterchangeFile:
    """One interchange written: its file, receiver, control numbers and claims."""

    path: Path
    receiver: Receiver
    control: tuple[int, int, list[int]]
    claims: list[Claim]


@dataclass
class WriteResult:
    path: Path  # the first (with one receiver, the only) file written
    claims: list[Claim]
    rejected: list[str]
    warnings: list[str]
    control: tuple[int, int, list[int]]  # the first interchange's ISA13, GS06, ST02s
    files: list[InterchangeFile] = field(default_factory=list)


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
    con = duckdb.connect()
    try:
        present = {row[0] for row in con.execute(
            f"DESCRIBE SELECT * FROM {reader(source)}").fetchall()}
        columns = ", ".join(f'"{c}"::VARCHAR AS "{c}"' for c in LINE_COLUMNS)
        optional = "".join(f', l."{c}"::VARCHAR AS "{c}"' if c in present
                           else f', NULL::VARCHAR AS "{c}"' for c in OPTIONAL_LINE_COLUMNS)
        cursor = con.execute(
            f"SELECT {columns}{optional} FROM {reader(source)} l "
            f"LEFT JOIN {reader(members)} s USING (member_id) WHERE status = 'billable' "
            "ORDER BY provider_id, member_id, authorization_id, service_date")
        names = [d[0] for d in cursor.description]
        lines = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error as exc:  # the message may quote a row: name the kind only
        raise DataFileError(str(run), "lines and subscribers", "cannot read them as a "
                            f"billing run's outputs ({type(exc).__name__})") from None
    finally:
        con.close()
    for line in lines:  # the keys claims are grouped by: a changed lines file may lack one
        for key in GROUP_KEYS:
            if not (line[key] or "").strip():
                raise DataFileError(str(source), f"field {key}", "missing on a billable "
                                    "line (the run's lines were changed: run 'bhpolicy bill' "
                                    "again)")
    return lines


GROUP_KEYS = ("member_id", "authorization_id", "service_date", "provider_id")
SUBSCRIBER_FIELDS = ("member_id", "medicaid_id", "last_name", "first_name", "birth_date",
                     "sex", "address_line", "city", "state", "zip", "primary_dx")


def read_subscribers(run: Path, member_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The subscriber fields (2010BA, the diagnosis of 2300) of ``member_ids`` from a billing
    run's subscribers file, by member id (a void's claim is built from the ledger, which
    keeps no names or birth dates)."""
    members = next((run / f"subscribers.{ext}" for ext in ("parquet", "csv")
                    if (run / f"subscribers.{ext}").exists()), None)
    if members is None:
        raise DataFileError(str(run), "folder", "no subscribers.parquet or subscribers.csv: "
                            "give the folder of a 'bhpolicy bill' run holding the member")
    quoted = str(members).replace("'", "''")
    source = (f"read_csv('{quoted}', all_varchar=true)" if members.suffix == ".csv"
              else f"'{quoted}'")
    columns = ", ".join(f'"{c}"::VARCHAR AS "{c}"' for c in SUBSCRIBER_FIELDS)
    con = duckdb.connect()
    try:
        cursor = con.execute(f"SELECT {columns} FROM {source} WHERE member_id::VARCHAR IN "
                             "(SELECT unnest($ids))", {"ids": sorted(member_ids)})
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error as exc:  # the message may quote a row: name the kind only
        raise DataFileError(str(members), "subscribers", "cannot read it as a billing run's "
                            f"subscribers ({type(exc).__name__})") from None
    finally:
        con.close()
    return {str(row["member_id"]): row for row in rows}


def claim_id(member_id: str, authorization_id: str, month: str, part: int) -> str:
    """Stable patient control number (CLM01, at most 20 characters)."""
    digest = hashlib.md5(f"{member_id}|{authorization_id}|{month}".encode()).hexdigest()[:15]
    digest = digest.upper()  # the X12 basic character set has no lower case
    return f"C{digest}" + (f"-{part}" if part > 1 else "")


class PayerChooser:
    """The payer of a line: its authorization's ``payer_id``, else the one payer whose packs
    include the line's policy."""

    def __init__(self, config: SubmitterConfig, registry: PolicyRegistry | None) -> None:
        self.payers = config.all_payers()
        self.by_id = {p.id: p for p in self.payers}
        self.policies: list[frozenset[str] | None] = []
        for index, payer in enumerate(self.payers):
            if payer.packs is None:
                self.policies.append(None)
                continue
            ids: set[str] = set()
            for pack in payer.packs:
                ids.add(_policy_id(pack, registry, config, index))
            self.policies.append(frozenset(ids))

    def choose(self, line: dict[str, Any]) -> tuple[Payer | None, str | None]:
        named = (line.get("payer_id") or "").strip()
        policy = (line.get("policy_id") or "").strip().lower()
        if named:
            payer = self.by_id.get(named)
            if payer is None:
                return None, (f"the authorization's payer_id {named!r} is not a payer in "
                              "the config")
            ids = self.policies[self.payers.index(payer)]
            if ids is not None and policy and policy not in ids:
                # a pack belongs to its issuer: a payer that does not pay under the line's
                # policy is never billed under it
                return None, (f"the authorization's payer {named!r} does not pay under "
                              f"policy {line.get('policy_id')!r} (its packs in the config)")
            return payer, None
        found = [p for p, ids in zip(self.payers, self.policies, strict=True)
                 if ids is None or policy in ids]
        if len(found) == 1:
            return found[0], None
        if not found:
            return None, (f"no payer in the config pays under policy "
                          f"{line.get('policy_id') or '(none)'!r}")
        return None, (f"payers {', '.join(p.id for p in found)} all pay under policy "
                      f"{line.get('policy_id')!r}: give the authorization a payer_id")


def _policy_id(pack: str, registry: PolicyRegistry | None, config: SubmitterConfig,
               index: int) -> str:
    """A payer's pack (alias or id) as the policy id lines carry, lower case."""
    if registry is None:
        from bhpolicy.policy import load_registry

        registry = load_registry()
    try:
        return registry.get(pack).id.lower()
    except NotFoundError as exc:
        raise DataFileError(str(config.source or "submitter config"),
                            f"key payers.{index}.packs", str(exc)) from None


def build_claims(lines: list[dict[str, Any]], config: SubmitterConfig,
                 adjustments: dict[str, Adjustment],
                 chooser: PayerChooser | None = None) -> list[Claim]:
    """Claims grouped by receiver, payer, provider, member, authorization and month."""
    chooser = chooser or PayerChooser(config, None)
    chosen = [(line, *chooser.choose(line)) for line in lines]
    order = {p.id: i for i, p in enumerate(chooser.payers)}
    receivers = {r.id: i for i, r in enumerate(config.all_receivers())}

    def rank(item: tuple[dict[str, Any], Payer | None, str | None]) -> tuple[int, int]:
        payer = item[1]
        if payer is None:
            return (len(receivers), len(order))
        return (receivers[config.receiver_of(payer).id], order[payer.id])

    chosen.sort(key=rank)  # stable: the lines' own order holds inside a payer
    claims: list[Claim] = []
    limit = config.limits.max_lines_per_claim

    def key(item: tuple[dict[str, Any], Payer | None, str | None]
            ) -> tuple[str, str, str, str, str, str]:
        line, payer, problem = item
        return (payer.id if payer else "", problem or "", line["provider_id"],
                line["member_id"], line["authorization_id"], line["service_date"][:7])

    for (_, problem, provider, member_id, authorization, month), group in groupby(
            chosen, key=key):
        items = list(group)
        rows = [item[0] for item in items]
        for part, start in enumerate(range(0, len(rows), limit), start=1):
            chunk = rows[start:start + limit]
            claim = Claim(claim_id(member_id, authorization, month, part), provider, chunk[0],
                          authorization, month, chunk, payer=items[0][1],
                          payer_problem=problem or None)
            adjustment = adjustments.get(claim.claim_id)
            if adjustment:
                claim.frequency = adjustment.frequency
                claim.payer_claim_number = adjustment.payer_claim_number
            claims.append(claim)
    return claims


def _date(text: str | None) -> dt.date | None:
    if not text or not _DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def check_claim(claim: Claim, config: SubmitterConfig, known_codes: set[str],
                as_of: dt.date | None = None, warnings: list[str] | None = None
                ) -> list[str]:
    """Our checks of one claim (no value of a PHI field in any message); fills in its line
    charges and adds a warning for lines past the payer's filing limit."""
    problems: list[str] = []
    where = f"claim {claim.claim_id}"
    if claim.payer_problem:
        problems.append(f"{where}: {claim.payer_problem}")
    provider = config.provider(claim.provider_id)
    if provider is None:
        problems.append(f"{where}: billing provider {claim.provider_id!r} is not in the "
                        "config")
    elif not npi_valid(provider.npi):
        problems.append(f"{where}: billing provider NPI {provider.npi} fails its check digit")
    member = claim.member
    for name in ("medicaid_id", "last_name", "first_name", "birth_date", "sex",
                 "address_line", "city", "state", "zip", "primary_dx"):
        if not (member.get(name) or "").strip():
            problems.append(f"{where}: subscriber {name} is missing (needed in 2010BA/2300)")
    if (member.get("zip") or "").strip() and not zip_ok(member["zip"]):
        problems.append(f"{where}: subscriber zip is not 5 or 9 digits")
    if (member.get("birth_date") or "").strip() and _date(member["birth_date"]) is None:
        problems.append(f"{where}: subscriber birth_date is not a date (YYYY-MM-DD)")
    if (member.get("sex") or "").strip() and member["sex"] not in ("M", "F", "U"):
        problems.append(f"{where}: subscriber sex is not M, F or U")
    if (member.get("state") or "").strip() and not re.fullmatch(r"[A-Z]{2}", member["state"]):
        problems.append(f"{where}: subscriber state is not a two-letter code")
    if (member.get("primary_dx") or "").strip():
        code = icd10.lookup(member["primary_dx"])
        if code is None or not code.billable:
            problems.append(f"{where}: subscriber primary_dx is not a billable ICD-10-CM "
                            "code")
    dates = Counter(line["service_date"] for line in claim.lines)
    if any(n > 1 for n in dates.values()):
        problems.append(f"{where}: a date appears on more than one line")
    # a void carries its lines exactly as they were last sent, charges included (the
    # ledger gives them): no fee is looked up again and no filing limit applies
    sent_as_is = claim.frequency == "8" and len(claim.charges) == len(claim.lines) > 0
    given = list(claim.charges) if sent_as_is else []
    claim.charges = []
    late = 0
    payer = claim.payer
    for number, line in enumerate(claim.lines, start=1):
        label = f"{where}: line {number}"
        hcpcs, modifier, pos = line["hcpcs"] or "", line["modifier"] or "", line["pos"] or ""
        if not _HCPCS.match(hcpcs):
            problems.append(f"{label}: hcpcs is not a five-character HCPCS code")
            continue
        if modifier and not _MODIFIER.match(modifier):
            problems.append(f"{label}: modifier is not a two-character modifier")
            continue
        if not _POS.match(pos):
            problems.append(f"{label}: pos is not a two-digit place of service code")
        if hcpcs not in known_codes:
            problems.append(f"{label}: {hcpcs} is not a code in the catalog")
        day = _date(line["service_date"])
        units = line["units"]
        if day is None:
            problems.append(f"{label}: service_date is not a date (YYYY-MM-DD)")
        if not (units or "").isdigit() or int(units) < 1:
            problems.append(f"{label}: units is not a whole number of at least 1")
        if payer is None or day is None or not (units or "").isdigit():
            continue
        if sent_as_is:
            claim.charges.append(given[number - 1])
            continue
        if payer.filing_limit_days is not None and as_of is not None and \
                (as_of - day).days > payer.filing_limit_days:
            late += 1
        rate = payer.fee(line["hcpcs"], line["modifier"], day)
        if rate is None:
            code = line["hcpcs"] + (":" + line["modifier"] if line["modifier"] else "")
            problems.append(f"{label}: no fee for {code} in payer {payer.id}'s schedule on "
                            "its date of service")
            continue
        claim.charges.append((rate * int(units)).quantize(CENTS))
    if late and warnings is not None and payer is not None:
        warnings.append(f"{where}: {late} line(s) older than payer {payer.id}'s filing limit "
                        f"of {payer.filing_limit_days} days (as of {as_of}); sent anyway")
    if claim.frequency in ("7", "8") and not claim.payer_claim_number:
        problems.append(f"{where}: a replacement or void needs the payer's claim number")
    if not problems and len(claim.charges) != len(claim.lines):
        problems.append(f"{where}: claim total differs from the sum of its lines")
    return problems


def _amount(value: Decimal) -> str:
    return format(value.quantize(CENTS), "f")


def _now() -> dt.datetime:
    """The run's timestamp; SOURCE_DATE_EPOCH makes output reproducible (tests, goldens)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def _claim_segments(claim: Claim, config: SubmitterConfig, hl: int, clean: Cleaner
                    ) -> list[str]:
    m = claim.member
    ident = Cleaner.identifier
    what = f"claim {claim.claim_id}"
    payer = claim.payer
    if payer is None:
        raise X12ValueError(f"{what}: no payer")
    pos_counts = Counter(line["pos"] for line in claim.lines)
    claim_pos = sorted(pos_counts.items(), key=lambda kv: (-kv[1], kv[0] or ""))[0][0]
    birth = _date(m["birth_date"])
    if birth is None:
        raise X12ValueError(f"{what}: subscriber birth_date: not a date")
    segments = [
        segment("HL", str(hl), "1", "22", "0"),
        segment("SBR", "P", "18", "", "", "", "", "", "", "MC"),
        segment("NM1", "IL", "1", clean.text(m["last_name"], f"{what}: subscriber last_name"),
                clean.text(m["first_name"], f"{what}: subscriber first_name", 35), "", "",
                "", "MI", ident(m["medicaid_id"], f"{what}: subscriber medicaid_id")),
        segment("N3", clean.text(m["address_line"], f"{what}: subscriber address_line", 55)),
        segment("N4", clean.text(m["city"], f"{what}: subscriber city", 30),
                ident(m["state"], f"{what}: subscriber state", 2),
                ident(m["zip"], f"{what}: subscriber zip", 15)),
        segment("DMG", "D8", f"{birth:%Y%m%d}", ident(m["sex"], f"{what}: subscriber sex", 1)),
        segment("NM1", "PR", "2", clean.text(payer.name, f"{what}: payer name"), "", "", "",
                "", "PI", ident(payer.id, f"{what}: payer id")),
        segment("CLM", ident(claim.claim_id, f"{what}: claim id", 20), _amount(claim.total),
                "", "", f"{ident(claim_pos, what + ': POS', 2)}:B:{claim.frequency}", "Y",
                "A", "Y", "Y"),
    ]
    segments.append(segment("REF", "G1", ident(claim.authorization_id,
                                               f"{what}: authorization_id", 50)))
    if claim.frequency in ("7", "8"):
        segments.append(segment("REF", "F8", ident(claim.payer_claim_number,
                                                   f"{what}: payer_claim_number", 50)))
    segments.append(segment("HI", "ABK:" + ident(m["primary_dx"], f"{what}: primary_dx", 8)
                            .replace(".", "")))
    for number, (line, charge) in enumerate(zip(claim.lines, claim.charges, strict=True), 1):
        label = f"{what}: line {number}"
        procedure = ":".join(["HC", ident(line["hcpcs"], f"{label}: hcpcs", 5)] +
                             ([ident(line["modifier"], f"{label}: modifier", 2)]
                              if line["modifier"] else []))
        line_pos = ident(line["pos"], f"{label}: pos", 2) if line["pos"] != claim_pos else ""
        day = _date(line["service_date"])
        if day is None:
            raise X12ValueError(f"{label}: service_date: not a date")
        segments += [
            segment("LX", str(number)),
            segment("SV1", procedure, _amount(charge), "UN", str(int(line["units"])),
                    line_pos, "", "1"),
            segment("DTP", "472", "D8", f"{day:%Y%m%d}"),
        ]
        if claim.line_controls is not None:  # 2400 REF*6R: how an 835 names this line
            segments.append(segment("REF", "6R", ident(claim.line_controls[number - 1],
                                                       f"{label}: line control", 30)))
    return segments


def _provider_segments(provider: BillingProvider, clean: Cleaner) -> list[str]:
    key = "config billing provider"
    return [
        segment("HL", "1", "", "20", "1"),
        segment("PRV", "BI", "PXC", provider.taxonomy),
        segment("NM1", "85", "2", clean.text(provider.name, f"{key} {provider.npi} name"), "",
                "", "", "", "XX", provider.npi),
        segment("N3", clean.text(provider.address, f"{key} {provider.npi} address", 55)),
        segment("N4", clean.text(provider.city, f"{key} {provider.npi} city", 30),
                provider.state, provider.zip),
        segment("REF", "EI", provider.tax_id),
    ]


def _isa(config: SubmitterConfig, receiver: Receiver, isa: int, now: dt.datetime) -> str:
    """The ISA segment: every element at its fixed width (106 characters with the ~)."""
    ic = config.interchange
    elements = ["ISA", "00", " " * 10, "00", " " * 10, ic.sender_qualifier,
                f"{ic.sender_id:<15}", receiver.interchange_qualifier,
                f"{receiver.interchange_id:<15}", f"{now:%y%m%d}", f"{now:%H%M}", "^", "00501",
                f"{isa:09d}", "0", ic.usage, ":"]
    widths = [3, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1]
    if [len(e) for e in elements] != widths:  # the config's checks make this impossible
        raise X12ValueError("ISA: an element is not its fixed width")
    return "*".join(elements) + "~"


def _interchange(config: SubmitterConfig, receiver: Receiver,
                 batches: list[tuple[Payer, BillingProvider, list[Claim]]],
                 numbers: control.Reserved, now: dt.datetime, clean: Cleaner) -> str:
    ic = config.interchange
    text = [
        _isa(config, receiver, numbers.isa, now),
        segment("GS", "HC", ic.application_sender, receiver.application_receiver,
                f"{now:%Y%m%d}", f"{now:%H%M}", str(numbers.gs), "X", VERSION),
    ]
    sub = config.submitter
    for (_, provider, batch), st in zip(batches, numbers.st, strict=True):
        body = [
            segment("ST", "837", f"{st:04d}", VERSION),
            segment("BHT", "0019", "00", f"B{st:08d}", f"{now:%Y%m%d}", f"{now:%H%M}", "CH"),
            segment("NM1", "41", "2", clean.text(sub.name, "config key submitter.name"), "",
                    "", "", "", "46", sub.id),
            segment("PER", "IC", clean.text(sub.contact_name,
                                            "config key submitter.contact_name"),
                    "TE", sub.phone),
            segment("NM1", "40", "2", clean.text(receiver.name, f"config receiver "
                                                 f"{receiver.id} name"), "", "", "", "",
                    "46", receiver.id),
            *_provider_segments(provider, clean),
        ]
        for hl, claim in enumerate(batch, start=2):
            body += _claim_segments(claim, config, hl, clean)
        body.append(segment("SE", str(len(body) + 1), f"{st:04d}"))
        text += body
    text += [segment("GE", str(len(batches)), str(numbers.gs)),
             segment("IEA", "1", f"{numbers.isa:09d}")]
    return "\n".join(text) + "\n"


def _file_for(out: Path, receiver: Receiver, several: bool) -> Path:
    """``--out`` itself for one receiver; with several, one file each beside it, named
    ``<stem>.<receiver id><suffix>``."""
    if not several:
        return out
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", receiver.id)
    return out.with_name(f"{out.stem}.{safe}{out.suffix}")


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be a file before any control number is reserved."""
    if out.is_dir():
        raise OutputError(f"{out}: --out: is a folder; give a file name")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{out}: cannot write (a parent of it is a file, not a "
                                  "folder)")
            break


def write_837p(run: Path, config: SubmitterConfig, out: Path, control_file: Path,
               adjustments: dict[str, Adjustment] | None = None,
               known_codes: set[str] | None = None, *,
               as_of: dt.date | None = None, registry: PolicyRegistry | None = None,
               after_read: Callable[[], None] | None = None,
               plan: Callable[[list[Claim]], list[Claim]] | None = None,
               reserve: Callable[[list[int]], list[control.Reserved]] | None = None,
               ) -> WriteResult:
    """Check every claim, then reserve control numbers and write one interchange a
    receiver (each file whole or not at all). ``as_of`` (default: the run's date) is the
    day filing limits are counted to. A claim ledger passes ``plan`` (it takes the claims
    built from the run and gives back what to send: its own claim ids and line controls,
    lines sent before left out, replacements) and ``reserve`` (control numbers from its
    database instead of ``control_file``)."""
    now = _now()
    as_of = as_of or now.date()
    _check_out(out)
    lines = read_lines(run)
    chooser = PayerChooser(config, registry)
    claims = build_claims(lines, config, adjustments or {}, chooser)
    if plan is not None:
        claims = plan(claims)
    codes = known_codes if known_codes is not None else set()
    rejected: list[str] = []
    warnings: list[str] = []
    good: list[Claim] = []
    for claim in claims:
        problems = check_claim(claim, config, codes, as_of, warnings)
        if not problems:
            try:
                _claim_segments(claim, config, 2, Cleaner())  # ids and names must be clean
            except X12ValueError as exc:
                problems.append(str(exc))
        if problems:
            rejected += problems
        else:
            good.append(claim)
    if not good:
        raise BhpolicyError(f"{run}: no claim to write" + (f" ({len(rejected)} problems; "
                            f"first: {rejected[0]})" if rejected else
                            " (no billable lines)" if plan is None else
                            " (every billable line was sent before; --resend sends again)"))
    return _send(good, config, out, control_file, rejected, warnings, after_read, reserve,
                 now)


def write_claims_837p(claims: list[Claim], config: SubmitterConfig, out: Path,
                      control_file: Path, known_codes: set[str], *,
                      reserve: Callable[[list[int]], list[control.Reserved]] | None = None,
                      ) -> WriteResult:
    """Write claims built elsewhere (a claim ledger's voids: frequency 8, their lines and
    charges as last sent) with the same checks and interchanges as :func:`write_837p`.
    Any claim failing the checks stops the whole file (a void is all or nothing)."""
    now = _now()
    _check_out(out)
    rejected: list[str] = []
    warnings: list[str] = []
    for claim in claims:
        problems = check_claim(claim, config, known_codes, None, warnings)
        if not problems:
            try:
                _claim_segments(claim, config, 2, Cleaner())
            except X12ValueError as exc:
                problems.append(str(exc))
        rejected += problems
    if rejected:
        raise BhpolicyError(f"no claim written ({len(rejected)} problem(s); first: "
                            f"{rejected[0]})")
    ordered = sorted(claims, key=lambda c: (c.payer.id if c.payer else "", c.provider_id))
    return _send(ordered, config, out, control_file, [], warnings, None, reserve, now)


def _send(good: list[Claim], config: SubmitterConfig, out: Path, control_file: Path,
          rejected: list[str], warnings: list[str], after_read: Callable[[], None] | None,
          reserve: Callable[[list[int]], list[control.Reserved]] | None, now: dt.datetime
          ) -> WriteResult:
    """Reserve control numbers and write one interchange a receiver for checked claims
    (in order of payer and billing provider)."""
    # one interchange a receiver; one transaction a payer and billing provider, at most
    # max_claims_per_transaction claims each
    size = config.limits.max_claims_per_transaction
    interchanges: dict[str, tuple[Receiver, list[tuple[Payer, BillingProvider, list[Claim]]]]] = {}
    for (_, npi), group in groupby(good, key=lambda c: (c.payer.id if c.payer else "",
                                                               c.provider_id)):
        chunk = list(group)
        payer = chunk[0].payer
        provider = config.provider(npi)
        assert payer is not None and provider is not None
        receiver = config.receiver_of(payer)
        batches = interchanges.setdefault(receiver.id, (receiver, []))[1]
        batches += [(payer, provider, chunk[i:i + size]) for i in range(0, len(chunk), size)]
    counts = [len(b) for _, b in interchanges.values()]
    reserved = (reserve(counts) if reserve is not None
                else control.reserve(control_file, counts, after_read))
    clean = Cleaner()
    files: list[InterchangeFile] = []
    several = len(interchanges) > 1
    texts = []
    for (receiver, batches), numbers in zip(interchanges.values(), reserved, strict=True):
        texts.append(_interchange(config, receiver, batches, numbers, now, clean))
    for (receiver, batches), numbers, text in zip(interchanges.values(), reserved, texts,
                                                  strict=True):
        path = atomic_write_text(_file_for(out, receiver, several), text, encoding="ascii")
        files.append(InterchangeFile(path, receiver, numbers.as_tuple(),
                                     [c for _, _, batch in batches for c in batch]))
    written = [c for f in files for c in f.claims]
    return WriteResult(files[0].path, written, rejected, _unique(warnings + clean.warnings),
                       files[0].control, files)


def _unique(messages: list[str]) -> list[str]:
    return list(dict.fromkeys(messages))
