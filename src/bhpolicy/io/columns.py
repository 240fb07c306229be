"""The input files' columns: name, kind, whether required, allowed values, bounds.

One tuple of :class:`Column` a kind of input file (contacts, members, authorizations, a run's
own lines, claim lines); the readers (:mod:`bhpolicy.io.readers`, and the Spark reader) and
the checks (:mod:`bhpolicy.io.validate`) read them.
"""

from __future__ import annotations

from dataclasses import dataclass

Kind = str  # text | date | int | bool | enum | pos | decimal
DECIMAL = "decimal(18, 2)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    required: bool = True
    values: tuple[str, ...] = ()
    minimum: int | None = None
    # a date: why it may not be after the as-of date (a date of service, a birth date); empty:
    # it may be (an authorization's end), up to LATEST_DATE. Every date is EARLIEST_DATE or
    # later (an older one is a typo: not policy).
    future: str = ""


SERVICE = "a future date of service cannot be billed"


CONTACTS = (
    Column("contact_id"), Column("member_id"), Column("provider_id"),
    Column("staff_id", required=False), Column("contact_date", "date", future=SERVICE),
    Column("minutes", "int", minimum=0),
    Column("mode", "enum", values=("in_person", "video", "phone")),  # = domain.parameters.MODES
    Column("participant", "enum", values=("member", "family", "collateral")),
    Column("group", "bool"), Column("pos", "pos", required=False),
)
MEMBERS = (
    Column("member_id"), Column("medicaid_id"), Column("last_name"), Column("first_name"),
    Column("birth_date", "date", future="a birth date cannot be in the future"),
    Column("sex", "enum", values=("F", "M", "U")),
    Column("address_line", required=False), Column("city", required=False),
    Column("state", required=False), Column("zip", required=False),
    Column("primary_dx"),
)
AUTHORIZATIONS = (
    Column("authorization_id"), Column("member_id"), Column("policy"),
    Column("provider_id"), Column("team_size", "enum", required=False,
                                  values=("small", "large")),
    Column("start_date", "date"), Column("end_date", "date"),
    Column("billing_code", required=False), Column("contributing_provider_ids", required=False),
    Column("payer_id", required=False),
)
# A run's own lines file (Parquet or CSV, with all its columns) is accepted as it is: its held
# lines have no provider. ``status`` (billable, held, already_billed) is read when present.
ALREADY_BILLED = (
    Column("line_id"), Column("member_id"), Column("service_date", "date", future=SERVICE),
    Column("hcpcs"), Column("provider_id", required=False),
    Column("status", "enum", required=False, values=("billable", "held", "already_billed")),
)
# Claim lines (other services, or ACT claims already billed) for the audit.
CLAIMS = (
    Column("claim_id"), Column("member_id"), Column("from_date", "date", future=SERVICE),
    Column("to_date", "date", future=SERVICE), Column("hcpcs", required=False),
    Column("modifiers", required=False), Column("revenue_code", required=False),
    Column("bill_type", required=False), Column("provider_id"),
    Column("pos", "pos", required=False), Column("units", "decimal", required=False),
    Column("paid_amount", "decimal", required=False),
    Column("authorization_id", required=False),
    Column("rendering_taxonomy", required=False), Column("diagnosis", required=False),
)
OPTIONAL_COLUMNS = {"billing_code", "contributing_provider_ids", "staff_id", "pos",
                    "team_size", "address_line", "city", "state", "zip", "hcpcs",
                    "modifiers", "revenue_code", "bill_type", "units", "paid_amount",
                    "authorization_id", "payer_id", "rendering_taxonomy", "diagnosis"}


