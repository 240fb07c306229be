"""The claim ledger: every 837P written with a database, each claim and each line in it,
and the X12 control numbers (which come from here, not from a file, when a ledger is used).

A claim's id is its CLM01 (patient control number), bhpolicy's own and never reused; a line's
``line_control`` is its REF*6R line item control number, given the first time the line is
sent and kept on every replacement, so a remittance names the line exactly. Money is integer
cents. Member and authorization ids are stored (they are what the claim is about) and, like
everything here, never logged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bhpolicy.db.models import Base


class X12Control(Base):
    """One row: the last ISA13, GS06 and ST02 used."""

    __tablename__ = "x12_control"
    id: Mapped[int] = mapped_column(primary_key=True)
    isa: Mapped[int]
    gs: Mapped[int]
    st: Mapped[int]


class ClaimFile(Base):
    """One row an interchange (file) written."""

    __tablename__ = "claim_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    receiver_id: Mapped[str] = mapped_column(String(80))
    isa13: Mapped[int]
    gs06: Mapped[int]
    st02: Mapped[list[Any]]
    written_at: Mapped[dt.datetime]


class LedgerClaim(Base):
    """One row a claim sent (an original, a replacement or a void)."""

    __tablename__ = "ledger_claims"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # CLM01
    file_id: Mapped[int] = mapped_column(ForeignKey("claim_files.id"), index=True)
    payer_id: Mapped[str] = mapped_column(String(80))
    provider_id: Mapped[str] = mapped_column(String(80))
    member_id: Mapped[str] = mapped_column(String(80), index=True)
    authorization_id: Mapped[str] = mapped_column(String(80))
    month: Mapped[str] = mapped_column(String(7))
    frequency: Mapped[str] = mapped_column(String(1))
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_claims.id"))
    payer_claim_number: Mapped[str | None] = mapped_column(String(50))
    total_cents: Mapped[int]
    # sent, accepted or rejected (front end), replaced (a later claim took its place)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime]
    lines: Mapped[list[LedgerLine]] = relationship(back_populates="claim",
                                                   order_by="LedgerLine.number")


class LedgerLine(Base):
    """One row a service line of a claim sent."""

    __tablename__ = "ledger_lines"
    __table_args__ = (UniqueConstraint("claim_id", "line_control"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("ledger_claims.id"), index=True)
    claim: Mapped[LedgerClaim] = relationship(back_populates="lines")
    number: Mapped[int]  # LX
    line_control: Mapped[str] = mapped_column(String(30), index=True)  # REF*6R
    billing_line_id: Mapped[str | None] = mapped_column(String(80))
    service_date: Mapped[dt.date]
    hcpcs: Mapped[str] = mapped_column(String(5))
    modifier: Mapped[str | None] = mapped_column(String(2))
    pos: Mapped[str | None] = mapped_column(String(2))
    units: Mapped[int]
    charge_cents: Mapped[int]
