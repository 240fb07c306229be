"""The claim ledger: control numbers, files written, claims and their lines.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "x12_control",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("isa", sa.Integer(), nullable=False),
        sa.Column("gs", sa.Integer(), nullable=False),
        sa.Column("st", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x12_control")),
    )
    op.create_table(
        "claim_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("receiver_id", sa.String(length=80), nullable=False),
        sa.Column("isa13", sa.Integer(), nullable=False),
        sa.Column("gs06", sa.Integer(), nullable=False),
        sa.Column("st02", JSON, nullable=False),
        sa.Column("written_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_files")),
    )
    op.create_table(
        "ledger_claims",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("payer_id", sa.String(length=80), nullable=False),
        sa.Column("provider_id", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=80), nullable=False),
        sa.Column("authorization_id", sa.String(length=80), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("frequency", sa.String(length=1), nullable=False),
        sa.Column("replaces_id", sa.String(length=20), nullable=True),
        sa.Column("payer_claim_number", sa.String(length=50), nullable=True),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["claim_files.id"],
                                name=op.f("fk_ledger_claims_file_id_claim_files")),
        sa.ForeignKeyConstraint(["replaces_id"], ["ledger_claims.id"],
                                name=op.f("fk_ledger_claims_replaces_id_ledger_claims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_claims")),
    )
    with op.batch_alter_table("ledger_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_claims_file_id"), ["file_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_claims_member_id"), ["member_id"],
                              unique=False)
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.String(length=20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("line_control", sa.String(length=30), nullable=False),
        sa.Column("billing_line_id", sa.String(length=80), nullable=True),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("hcpcs", sa.String(length=5), nullable=False),
        sa.Column("modifier", sa.String(length=2), nullable=True),
        sa.Column("pos", sa.String(length=2), nullable=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["ledger_claims.id"],
                                name=op.f("fk_ledger_lines_claim_id_ledger_claims")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lines")),
        sa.UniqueConstraint("claim_id", "line_control",
                            name=op.f("uq_ledger_lines_claim_id_line_control")),
    )
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_lines_claim_id"), ["claim_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_lines_line_control"), ["line_control"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_lines_line_control"))
        batch_op.drop_index(batch_op.f("ix_ledger_lines_claim_id"))
    op.drop_table("ledger_lines")
    with op.batch_alter_table("ledger_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_claims_member_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_claims_file_id"))
    op.drop_table("ledger_claims")
    op.drop_table("claim_files")
    op.drop_table("x12_control")
