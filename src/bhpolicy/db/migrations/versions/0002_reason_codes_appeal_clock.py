"""A decision's X12 886 reason code, a user's organisation, and an appeal's clock (the day it
was flagged overdue) and late continued-benefits request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization", sa.String(length=80), nullable=True))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(length=3), nullable=True))
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("continue_benefits_late", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("overdue_flagged_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_column("overdue_flagged_at")
        batch_op.drop_column("continue_benefits_late")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("reason_code")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("organization")
