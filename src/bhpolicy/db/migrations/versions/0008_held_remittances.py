"""835 transaction sets held, not posted: their TRN02 was posted before from another file.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "held_remittances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_number", sa.String(length=50), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("control_number", sa.String(length=9), nullable=False),
        sa.Column("payment_cents", sa.Integer(), nullable=False),
        sa.Column("credit_debit", sa.String(length=1), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("posted_from", sa.String(length=255), nullable=False),
        sa.Column("held_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_remittances")),
        sa.UniqueConstraint(
            "trace_number", "sha256", name=op.f("uq_held_remittances_trace_number_sha256")
        ),
    )


def downgrade() -> None:
    op.drop_table("held_remittances")
