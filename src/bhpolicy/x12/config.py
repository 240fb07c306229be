"""The submitter configuration (TOML): who sends, the receivers and payers claims go to, the
packs each payer pays under, its filing limit and dated fee schedule, the billing providers,
limits and where control numbers are kept. The one loader every command shares
(:func:`load_config`); errors name the file and the key.

Every text that reaches an X12 element is checked here like data, before any control number
is reserved or any file written: X12 delimiters (``~ * : ^``), control characters and
characters outside the X12 character set are refused, and each value is sized as its
element is (ISA06/ISA08 at most 15 characters, padded to 15 by the writer; ISA05/ISA07 a
two-character qualifier; names at most 60). Names may hold letters outside ASCII: they are
checked as they will be sent, transliterated (see :mod:`bhpolicy.x12.elements`).

Two forms are read. The current one has ``[[receivers]]`` and ``[[payers]]``::

    [[receivers]]
    name = "Example Medicaid"
    id = "MEDICAIDRCV"              # 1000B NM109
    interchange_id = "MEDICAIDRCV"  # ISA08 (interchange_qualifier, ISA07, defaults to ZZ)
    application_receiver = "MEDICAIDRCV"  # GS03

    [[payers]]
    name = "Example Health Plan"
    id = "PLAN01"                   # 2010BB NM109; an authorization's payer_id names it
    receiver = "MEDICAIDRCV"        # which receiver its claims go to
    packs = ["sc-act"]              # the policy packs it pays under (alias or id)
    filing_limit_days = 365         # from the date of service to the 837P (an original)
    correction_limit_days = 365     # optional: from the 835's date to a replacement or void
    appeal_limit_days = 90          # optional: from the 835's date to an appeal
    [[payers.fees]]                 # rates holding from a date; a later schedule replaces
    since = 2024-02-01              # the rates it names and keeps the others
    rates = { "H0040:U1" = "250.00", "H0040" = "275.00" }

Every day count is the payer's own: take it from its provider manual or contract (for
Medicaid fee-for-service, 42 CFR 447.45(d) sets the outer limit of a year from the date of
service for an original claim; correction and appeal windows are set by each state
Medicaid agency or plan and differ). The numbers above are examples, not defaults: a limit
left out is reported as unknown (``bhpolicy worklist`` shows no deadline), never assumed.

The older single-payer form (``[receiver]``, ``[payer]``, an undated ``[fees]`` table and
``receiver_qualifier``/``receiver_id``/``application_receiver`` under ``[interchange]``) is
still read as one receiver and one payer paying under every pack, its fees holding from
any date and no filing limit.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bhpolicy.errors import DataFileError
from bhpolicy.strict_model import Strict
from bhpolicy.x12.elements import identifier_problem, name_problem, transliterate

#: The highest rate a fee schedule may hold: far above any per diem, and small enough that a
#: claim's total (50 lines of many units) stays within X12's 18-digit amounts.
MAX_FEE = Decimal("9999999.99")
#: ISA05/ISA07 interchange id qualifiers of 005010X222A1.
IsaQualifier = Literal["01", "14", "20", "27", "28", "29", "30", "33", "ZZ"]


def _x12_id(min_length: int, max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value != value.strip():
            raise ValueError("has spaces before or after it")
        problem = identifier_problem(value)
        if problem:
            raise ValueError(problem)
        if not min_length <= len(value) <= max_length:
            raise ValueError(f"must be {min_length} to {max_length} characters "
                             "(its X12 element's size)")
        return value

    return check


def _x12_name(max_length: int, min_length: int = 1) -> Callable[[str], str]:
    """A name as it will be sent: transliterated, upper case, in the basic character set."""
    def check(value: str) -> str:
        if not value.isprintable():
            raise ValueError("contains a control character (a line break or tab)")
        sent = " ".join(transliterate(value).upper().split())
        if not sent:
            raise ValueError("is empty")
        problem = name_problem(sent)
        if problem:
            raise ValueError(problem)
        if not min_length <= len(sent) <= max_length:
            raise ValueError(f"must be {min_length} to {max_length} characters "
                             "(its X12 element's size)")
        return value

    return check


IsaId = Annotated[StrictStr, AfterValidator(_x12_id(1, 15))]  # ISA06, ISA08: padded to 15
GsId = Annotated[StrictStr, AfterValidator(_x12_id(2, 15))]  # GS02, GS03
PartyId = Annotated[StrictStr, AfterValidator(_x12_id(2, 80))]  # NM109
Name = Annotated[StrictStr, AfterValidator(_x12_name(60))]  # NM103, PER02
Address = Annotated[StrictStr, AfterValidator(_x12_name(55))]  # N301
City = Annotated[StrictStr, AfterValidator(_x12_name(30, 2))]  # N401


class Interchange(Strict):
    sender_qualifier: IsaQualifier = "ZZ"
    sender_id: IsaId
    application_sender: GsId
    usage: Literal["T", "P"] = "T"
    # the older single-receiver form
    receiver_qualifier: IsaQualifier | None = None
    receiver_id: IsaId | None = None
    application_receiver: GsId | None = None


class Party(Strict):
    name: Name
    id: PartyId


class Submitter(Party):
    contact_name: Name
    phone: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]


class Receiver(Strict):
    """Who an interchange goes to (1000B, ISA07/ISA08, GS03)."""

    name: Name
    id: PartyId
    interchange_qualifier: IsaQualifier = "ZZ"
    interchange_id: IsaId
    application_receiver: GsId


def _rates(fees: dict[str, Decimal]) -> dict[str, Decimal]:
    for key, amount in fees.items():
        code = key.split(":")
        if not (1 <= len(code) <= 5) or not code[0].isalnum() or len(code[0]) != 5 or \
                any(identifier_problem(part) or not part for part in code):
            raise ValueError(f"fee key {key!r}: write HCPCS[:MODIFIER...], e.g. H0040:U1")
        if not amount.is_finite() or amount < 0 or amount > MAX_FEE or \
                amount != amount.quantize(Decimal("0.01")):
            raise ValueError(f"fee {key!r}: not an amount in dollars and cents from 0 to "
                             f"{MAX_FEE}")
    return fees


class FeeSchedule(Strict):
    since: dt.date
    rates: Annotated[dict[StrictStr, Decimal], Field(min_length=1), AfterValidator(_rates)]


class Payer(Strict):
    name: Name
    id: PartyId
    receiver: PartyId | None = None  # a receiver's id; may be left out when there is one
    packs: Annotated[list[StrictStr], Field(min_length=1)] | None = None  # None: every pack
    filing_limit_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    # days from a remittance's date to send a correction (replacement or void) or an appeal
    correction_limit_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    appeal_limit_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    fees: Annotated[list[FeeSchedule], Field(min_length=1)]

    @field_validator("fees")
    @classmethod
    def _dated_in_order(cls, fees: list[FeeSchedule]) -> list[FeeSchedule]:
        dates = [f.since for f in fees]
        if len(set(dates)) != len(dates):
            raise ValueError("two fee schedules hold from the same date")
        return sorted(fees, key=lambda f: f.since)

    def fee(self, hcpcs: str, modifier: str | None, on: dt.date) -> Decimal | None:
        """Rate per unit on a date of service: the code with its modifier, else the bare
        code, each from the latest schedule holding on that date that names it."""
        keys = ([f"{hcpcs}:{modifier}"] if modifier else []) + [hcpcs]
        for key in keys:
            for schedule in reversed(self.fees):
                if schedule.since <= on and key in schedule.rates:
                    return schedule.rates[key]
        return None


class BillingProvider(Strict):
    npi: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]
    name: Name
    tax_id: Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")]
    taxonomy: Annotated[StrictStr, Field(pattern=r"^[0-9A-Z]{9}X$")]
    address: Address
    city: City
    state: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]
    zip: Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")]


class Limits(Strict):
    max_lines_per_claim: Annotated[int, Field(ge=1, le=50)] = 50
    max_claims_per_transaction: Annotated[int, Field(ge=1, le=5000)] = 5000


class SubmitterConfig(Strict):
    interchange: Interchange
    submitter: Submitter
    receivers: Annotated[list[Receiver], Field(default_factory=list)]
    payers: Annotated[list[Payer], Field(default_factory=list)]
    billing_providers: Annotated[list[BillingProvider], Field(min_length=1)]
    limits: Limits = Limits()
    control_numbers_file: StrictStr = "control-numbers.json"
    # the older single-payer form
    receiver: Party | None = None
    payer: Party | None = None
    fees: Annotated[dict[StrictStr, Decimal], AfterValidator(_rates)] | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_form(self) -> SubmitterConfig:
        ic = self.interchange
        old = {"receiver": self.receiver, "payer": self.payer, "fees": self.fees,
               "interchange.receiver_id": ic.receiver_id,
               "interchange.application_receiver": ic.application_receiver}
        if self.payers or self.receivers:
            given = [k for k, v in old.items() if v is not None]
            if ic.receiver_qualifier is not None:
                given.append("interchange.receiver_qualifier")
            if given:
                raise ValueError(f"key {given[0]}: belongs to the single-payer form; with "
                                 "[[payers]] and [[receivers]] leave it out")
            if not self.payers:
                raise ValueError("key payers: missing (at least one [[payers]])")
            if not self.receivers:
                raise ValueError("key receivers: missing (at least one [[receivers]])")
            self._check_links()
            return self
        for key, value in old.items():
            if value is None:
                raise ValueError(f"key {key}: missing (or use [[receivers]] and "
                                 "[[payers]])")
        return self

    def _check_links(self) -> None:
        named: dict[str, list[str]] = {"receivers": [r.id for r in self.receivers],
                                       "payers": [p.id for p in self.payers]}
        for kind, ids in named.items():
            for index, item_id in enumerate(ids):
                if ids.index(item_id) != index:
                    raise ValueError(f"key {kind}.{index}.id: {item_id!r} is given twice")
        receiver_ids = {r.id for r in self.receivers}
        for index, payer in enumerate(self.payers):
            if payer.packs is None:
                raise ValueError(f"key payers.{index}.packs: missing (the policy packs this "
                                 "payer pays under, e.g. [\"sc-act\"])")
            if payer.receiver is None and len(self.receivers) > 1:
                raise ValueError(f"key payers.{index}.receiver: missing (which of the "
                                 "receivers its claims go to)")
            if payer.receiver is not None and payer.receiver not in receiver_ids:
                raise ValueError(f"key payers.{index}.receiver: {payer.receiver!r} is not "
                                 "the id of a [[receivers]] entry")

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from (for messages)."""
        return self._source

    def all_receivers(self) -> list[Receiver]:
        """The receivers, whichever form the file uses."""
        if self.receivers:
            return list(self.receivers)
        ic, party = self.interchange, self.receiver
        assert party is not None and ic.receiver_id and ic.application_receiver
        return [Receiver(name=party.name, id=party.id,
                         interchange_qualifier=ic.receiver_qualifier or "ZZ",
                         interchange_id=ic.receiver_id,
                         application_receiver=ic.application_receiver)]

    def all_payers(self) -> list[Payer]:
        """The payers, whichever form the file uses (the older form's pays under every
        pack, its fees holding from any date)."""
        if self.payers:
            return list(self.payers)
        assert self.payer is not None and self.fees is not None and self.receiver
        return [Payer(name=self.payer.name, id=self.payer.id, receiver=self.receiver.id,
                      packs=None, fees=[FeeSchedule(since=dt.date.min, rates=self.fees)])]

    def receiver_of(self, payer: Payer) -> Receiver:
        receivers = self.all_receivers()
        return next((r for r in receivers if r.id == payer.receiver), receivers[0])

    def payer_ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.all_payers())

    def provider(self, npi: str) -> BillingProvider | None:
        return next((p for p in self.billing_providers if p.npi == npi), None)


def load_config(path: Path) -> SubmitterConfig:
    """Read and check a submitter configuration; any problem is one line naming the key."""
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(str(path), "file", f"not UTF-8 text (byte {exc.start} is not "
                            "valid UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(str(path), "file", f"not TOML ({exc})") from None
    except RecursionError:
        raise DataFileError(str(path), "file", "not TOML bhpolicy can read (nested too "
                            "deeply)") from None
    try:
        config = SubmitterConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in first["loc"])
        if not where and message.startswith("key ") and ": " in message:
            where, message = message.split(": ", 1)
            raise DataFileError(str(path), where, message) from None
        raise DataFileError(str(path), f"key {where or 'top level'}", message) from None
    config._source = path
    return config


def known_payer_ids(path: Path) -> frozenset[str]:
    """The payer ids a submitter configuration knows (an authorization's ``payer_id`` must
    be one of them); a bad configuration is a one-line :class:`DataFileError`."""
    return load_config(path).payer_ids()
