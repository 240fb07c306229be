"""Indexes for the remittance lookups by claim number and by reversal.

A reversal (CLP02 22) finds the claim it reverses by its patient control number (CLP01),
and the ledger's current state leaves out every remit claim some other one reverses: both
scanned all of ``remit_claims`` before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("remit_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remit_claims_patient_control_number"),
                              ["patient_control_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_remit_claims_reverses_id"), ["reverses_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("remit_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remit_claims_reverses_id"))
        batch_op.drop_index(batch_op.f("ix_remit_claims_patient_control_number"))
