"""What the payer sends back, posted against the claim ledger: acknowledgement files (999,
277CA), remittances (835 transaction sets), one row a CLP and a SVC, their adjustments (CAS)
and remarks (RARC), and provider-level adjustments (PLB).

Nothing here is overwritten by a later file: a reversal is a new row pointing at the posting
it reverses (``reverses_id``); a line's current state is its latest posting that is neither
a reversal nor reversed. A claim or line the ledger does not know is stored with a null
ledger id, never dropped. Money is integer cents, signed as the payer sent it. Also kept:
which 837P transaction set (ST02) each ledger claim went out in, so a 999 rejecting a set
names its claims.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bhpolicy.db.models import Base


class ClaimTransaction(Base):
    """One row a ledger claim: the ST02 of the 837P transaction set it was sent in."""

    __tablename__ = "claim_transactions"
    claim_id: Mapped[str] = mapped_column(ForeignKey("ledger_claims.id"), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("claim_files.id"), index=True)
    st02: Mapped[int]


class AckFile(Base):
    """One row a 999 or 277CA file imported (the same file twice is one row)."""

    __tablename__ = "ack_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # 999 or 277CA
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[dt.datetime]
    # what it said, without values from the claims: counts, rejected sets/claims, segment
    # errors (segment id, position, loop, codes)
    summary: Mapped[dict[str, Any]]


class Remittance(Base):
    """One row an 835 transaction set imported."""

    __tablename__ = "remittances"
    __table_args__ = (UniqueConstraint("trace_number", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trace_number: Mapped[str] = mapped_column(String(50))  # TRN02
    sha256: Mapped[str] = mapped_column(String(64))  # of the whole file
    control_number: Mapped[str] = mapped_column(String(9))  # ST02
    payer_name: Mapped[str] = mapped_column(String(60))
    payer_id: Mapped[str | None] = mapped_column(String(80))
    payment_cents: Mapped[int]  # BPR02
    credit_debit: Mapped[str] = mapped_column(String(1))  # BPR03
    payment_date: Mapped[dt.date | None]  # BPR16
    production_date: Mapped[dt.date | None]  # DTM*405
    file_name: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[dt.datetime]
    claims: Mapped[list[RemitClaim]] = relationship(back_populates="remittance",
                                                    order_by="RemitClaim.id")
    provider_adjustments: Mapped[list[ProviderAdjustment]] = relationship(
        order_by="ProviderAdjustment.id")


class HeldRemittance(Base):
    """One row an 835 transaction set not posted because its TRN02 was posted before from
    another file (the same payment sent twice, or a file edited): nothing of it is posted.
    The same file again is the same row."""

    __tablename__ = "held_remittances"
    __table_args__ = (UniqueConstraint("trace_number", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trace_number: Mapped[str] = mapped_column(String(50))  # TRN02
    sha256: Mapped[str] = mapped_column(String(64))  # of the whole file
    control_number: Mapped[str] = mapped_column(String(9))  # ST02
    payment_cents: Mapped[int]  # BPR02
    credit_debit: Mapped[str] = mapped_column(String(1))  # BPR03
    file_name: Mapped[str] = mapped_column(String(255))
    posted_from: Mapped[str] = mapped_column(String(255))  # the file the trace was posted from
    held_at: Mapped[dt.datetime]


class RemitClaim(Base):
    """One row a CLP: the payer's word on one claim (or one part of a split claim)."""

    __tablename__ = "remit_claims"
    id: Mapped[int] = mapped_column(primary_key=True)
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"), index=True)
    remittance: Mapped[Remittance] = relationship(back_populates="claims")
    ledger_claim_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_claims.id"),
                                                        index=True)  # null: unmatched
    patient_control_number: Mapped[str] = mapped_column(String(38),
                                                        index=True)  # CLP01 as sent
    status: Mapped[str] = mapped_column(String(2))  # CLP02
    charge_cents: Mapped[int]  # CLP03
    paid_cents: Mapped[int]  # CLP04
    patient_responsibility_cents: Mapped[int | None]  # CLP05
    payer_claim_number: Mapped[str] = mapped_column(String(50))  # CLP07
    original_reference: Mapped[str | None] = mapped_column(String(50))  # REF*F8
    reversal: Mapped[bool]  # CLP02 22
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("remit_claims.id"),
                                                    index=True)
    lines: Mapped[list[RemitLine]] = relationship(back_populates="claim",
                                                  order_by="RemitLine.id")
    adjustments: Mapped[list[RemitAdjustment]] = relationship(
        primaryjoin="and_(RemitAdjustment.remit_claim_id == RemitClaim.id, "
        "RemitAdjustment.remit_line_id.is_(None))", viewonly=True,
        order_by="RemitAdjustment.id")


class RemitLine(Base):
    """One row a SVC, with the ledger line it was matched to (null: unmatched) and how."""

    __tablename__ = "remit_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    remit_claim_id: Mapped[int] = mapped_column(ForeignKey("remit_claims.id"), index=True)
    claim: Mapped[RemitClaim] = relationship(back_populates="lines")
    ledger_line_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_lines.id"),
                                                       index=True)
    matched_by: Mapped[str | None] = mapped_column(String(12))  # 6R, date_code, recoded, claim
    line_control: Mapped[str | None] = mapped_column(String(50))  # REF*6R as sent back
    procedure: Mapped[str] = mapped_column(String(48))  # SVC01-2 as adjudicated
    modifiers: Mapped[str] = mapped_column(String(11))  # SVC01-3..6, ":"-joined
    original_procedure: Mapped[str | None] = mapped_column(String(48))  # SVC06-2
    charge_cents: Mapped[int]  # SVC02
    paid_cents: Mapped[int]  # SVC03
    allowed_cents: Mapped[int | None]  # AMT*B6
    units: Mapped[Decimal] = mapped_column(Numeric(15, 3))  # SVC05
    service_date: Mapped[dt.date | None]  # DTM*472 (or DTM*150)
    adjustments: Mapped[list[RemitAdjustment]] = relationship(order_by="RemitAdjustment.id")
    remarks: Mapped[list[RemitRemark]] = relationship(order_by="RemitRemark.id")


class RemitAdjustment(Base):
    """One CAS triplet, of a claim (``remit_line_id`` null) or of a line."""

    __tablename__ = "remit_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    remit_claim_id: Mapped[int] = mapped_column(ForeignKey("remit_claims.id"), index=True)
    remit_line_id: Mapped[int | None] = mapped_column(ForeignKey("remit_lines.id"),
                                                      index=True)
    group: Mapped[str] = mapped_column(String(2))  # CO, PR, OA, PI, CR
    carc: Mapped[str] = mapped_column(String(5))
    amount_cents: Mapped[int]
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))


class RemitRemark(Base):
    """One remark code (RARC), of a claim (MOA/MIA, ``remit_line_id`` null) or a line."""

    __tablename__ = "remit_remarks"
    id: Mapped[int] = mapped_column(primary_key=True)
    remit_claim_id: Mapped[int] = mapped_column(ForeignKey("remit_claims.id"), index=True)
    remit_line_id: Mapped[int | None] = mapped_column(ForeignKey("remit_lines.id"),
                                                      index=True)
    code: Mapped[str] = mapped_column(String(30))


class ProviderAdjustment(Base):
    """One PLB adjustment (reason WO, FB, 72, L6, ...; a positive amount lowers the
    payment)."""

    __tablename__ = "provider_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"), index=True)
    provider: Mapped[str] = mapped_column(String(50))  # PLB01
    fiscal_period: Mapped[dt.date | None]  # PLB02
    reason: Mapped[str] = mapped_column(String(2))  # PLB03-1
    reference: Mapped[str | None] = mapped_column(String(50))  # PLB03-2
    amount_cents: Mapped[int]
