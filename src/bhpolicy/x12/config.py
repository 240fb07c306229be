"""The submitter configuration (TOML): who sends, who receives, billing providers, fees,
limits and where control numbers are kept. Errors name the file and the key."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictStr, ValidationError, field_validator

from bhpolicy.errors import DataFileError
from bhpolicy.strict_model import Strict

Id = Annotated[StrictStr, Field(min_length=1, max_length=80)]


class Interchange(Strict):
    sender_qualifier: Annotated[StrictStr, Field(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    sender_id: Annotated[StrictStr, Field(min_length=1, max_length=15)]
    receiver_qualifier: Annotated[StrictStr, Field(pattern=r"^[0-9A-Z]{2}$")] = "ZZ"
    receiver_id: Annotated[StrictStr, Field(min_length=1, max_length=15)]
    application_sender: Annotated[StrictStr, Field(min_length=2, max_length=15)]
    application_receiver: Annotated[StrictStr, Field(min_length=2, max_length=15)]
    usage: Literal["T", "P"] = "T"


class Party(Strict):
    name: Id
    id: Annotated[StrictStr, Field(min_length=2, max_length=80)]


class Submitter(Party):
    contact_name: Id
    phone: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]


class BillingProvider(Strict):
    npi: Annotated[StrictStr, Field(pattern=r"^[0-9]{10}$")]
    name: Id
    tax_id: Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")]
    taxonomy: Annotated[StrictStr, Field(pattern=r"^[0-9A-Z]{9}X$")]
    address: Id
    city: Id
    state: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]
    zip: Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")]


class Limits(Strict):
    max_lines_per_claim: Annotated[int, Field(ge=1, le=50)] = 50
    max_claims_per_transaction: Annotated[int, Field(ge=1, le=5000)] = 5000


class SubmitterConfig(Strict):
    interchange: Interchange
    submitter: Submitter
    receiver: Party
    payer: Party
    billing_providers: Annotated[list[BillingProvider], Field(min_length=1)]
    fees: dict[StrictStr, Decimal]
    limits: Limits = Limits()
    control_numbers_file: StrictStr = "control-numbers.json"

    @field_validator("fees")
    @classmethod
    def _fee_keys(cls, fees: dict[str, Decimal]) -> dict[str, Decimal]:
        for key, amount in fees.items():
            code = key.split(":")
            if not (1 <= len(code) <= 5) or not code[0].isalnum() or len(code[0]) != 5:
                raise ValueError(f"fee key {key!r}: write HCPCS[:MODIFIER...], e.g. H0040:U1")
            if amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
                raise ValueError(f"fee {key!r}: {amount} is not an amount in cents")
        return fees

    def provider(self, npi: str) -> BillingProvider | None:
        return next((p for p in self.billing_providers if p.npi == npi), None)

    def fee(self, hcpcs: str, modifier: str | None) -> Decimal | None:
        """Rate per unit: the code with its modifier, else the bare code."""
        if modifier and f"{hcpcs}:{modifier}" in self.fees:
            return self.fees[f"{hcpcs}:{modifier}"]
        return self.fees.get(hcpcs)


def load_config(path: Path) -> SubmitterConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(str(path), "file", f"not TOML ({exc})") from None
    try:
        return SubmitterConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise DataFileError(str(path), f"key {where}", first["msg"]) from None
