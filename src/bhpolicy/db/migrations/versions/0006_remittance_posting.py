"""What the payer sends back: acknowledgement files, remittances (835 sets), their claims,
lines, adjustments, remarks and provider adjustments; and the 837P set each claim went in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ack_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ack_files")),
        sa.UniqueConstraint("sha256", name=op.f("uq_ack_files_sha256")),
    )
    op.create_table(
        "remittances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_number", sa.String(length=50), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("control_number", sa.String(length=9), nullable=False),
        sa.Column("payer_name", sa.String(length=60), nullable=False),
        sa.Column("payer_id", sa.String(length=80), nullable=True),
        sa.Column("payment_cents", sa.Integer(), nullable=False),
        sa.Column("credit_debit", sa.String(length=1), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=True),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("imported_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittances")),
        sa.UniqueConstraint(
            "trace_number", "sha256", name=op.f("uq_remittances_trace_number_sha256")
        ),
    )
    op.create_table(
        "provider_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("remittance_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("fiscal_period", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=2), nullable=False),
        sa.Column("reference", sa.String(length=50), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittances.id"],
            name=op.f("fk_provider_adjustments_remittance_id_remittances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_adjustments")),
    )
    with op.batch_alter_table("provider_adjustments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_adjustments_remittance_id"), ["remittance_id"], unique=False
        )
    op.create_table(
        "claim_transactions",
        sa.Column("claim_id", sa.String(length=20), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("st02", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["ledger_claims.id"],
            name=op.f("fk_claim_transactions_claim_id_ledger_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["claim_files.id"], name=op.f("fk_claim_transactions_file_id_claim_files")
        ),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claim_transactions")),
    )
    with op.batch_alter_table("claim_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_claim_transactions_file_id"), ["file_id"], unique=False
        )
    op.create_table(
        "remit_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("remittance_id", sa.Integer(), nullable=False),
        sa.Column("ledger_claim_id", sa.String(length=20), nullable=True),
        sa.Column("patient_control_number", sa.String(length=38), nullable=False),
        sa.Column("status", sa.String(length=2), nullable=False),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("patient_responsibility_cents", sa.Integer(), nullable=True),
        sa.Column("payer_claim_number", sa.String(length=50), nullable=False),
        sa.Column("original_reference", sa.String(length=50), nullable=True),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ledger_claim_id"],
            ["ledger_claims.id"],
            name=op.f("fk_remit_claims_ledger_claim_id_ledger_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittances.id"],
            name=op.f("fk_remit_claims_remittance_id_remittances"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["remit_claims.id"],
            name=op.f("fk_remit_claims_reverses_id_remit_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remit_claims")),
    )
    with op.batch_alter_table("remit_claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remit_claims_ledger_claim_id"), ["ledger_claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_remit_claims_remittance_id"), ["remittance_id"], unique=False
        )
    op.create_table(
        "remit_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("remit_claim_id", sa.Integer(), nullable=False),
        sa.Column("ledger_line_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(length=12), nullable=True),
        sa.Column("line_control", sa.String(length=50), nullable=True),
        sa.Column("procedure", sa.String(length=48), nullable=False),
        sa.Column("modifiers", sa.String(length=11), nullable=False),
        sa.Column("original_procedure", sa.String(length=48), nullable=True),
        sa.Column("charge_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("allowed_cents", sa.Integer(), nullable=True),
        sa.Column("units", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ledger_line_id"],
            ["ledger_lines.id"],
            name=op.f("fk_remit_lines_ledger_line_id_ledger_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["remit_claim_id"],
            ["remit_claims.id"],
            name=op.f("fk_remit_lines_remit_claim_id_remit_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remit_lines")),
    )
    with op.batch_alter_table("remit_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remit_lines_ledger_line_id"), ["ledger_line_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_remit_lines_remit_claim_id"), ["remit_claim_id"], unique=False
        )
    op.create_table(
        "remit_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("remit_claim_id", sa.Integer(), nullable=False),
        sa.Column("remit_line_id", sa.Integer(), nullable=True),
        sa.Column("group", sa.String(length=2), nullable=False),
        sa.Column("carc", sa.String(length=5), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["remit_claim_id"],
            ["remit_claims.id"],
            name=op.f("fk_remit_adjustments_remit_claim_id_remit_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["remit_line_id"],
            ["remit_lines.id"],
            name=op.f("fk_remit_adjustments_remit_line_id_remit_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remit_adjustments")),
    )
    with op.batch_alter_table("remit_adjustments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remit_adjustments_remit_claim_id"), ["remit_claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_remit_adjustments_remit_line_id"), ["remit_line_id"], unique=False
        )
    op.create_table(
        "remit_remarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("remit_claim_id", sa.Integer(), nullable=False),
        sa.Column("remit_line_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["remit_claim_id"],
            ["remit_claims.id"],
            name=op.f("fk_remit_remarks_remit_claim_id_remit_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["remit_line_id"],
            ["remit_lines.id"],
            name=op.f("fk_remit_remarks_remit_line_id_remit_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remit_remarks")),
    )
    with op.batch_alter_table("remit_remarks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remit_remarks_remit_claim_id"), ["remit_claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_remit_remarks_remit_line_id"), ["remit_line_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("remit_remarks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remit_remarks_remit_line_id"))
        batch_op.drop_index(batch_op.f("ix_remit_remarks_remit_claim_id"))
    op.drop_table("remit_remarks")
    with op.batch_alter_table("remit_adjustments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remit_adjustments_remit_line_id"))
        batch_op.drop_index(batch_op.f("ix_remit_adjustments_remit_claim_id"))
    op.drop_table("remit_adjustments")
    with op.batch_alter_table("remit_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remit_lines_remit_claim_id"))
        batch_op.drop_index(batch_op.f("ix_remit_lines_ledger_line_id"))
    op.drop_table("remit_lines")
    with op.batch_alter_table("remit_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remit_claims_remittance_id"))
        batch_op.drop_index(batch_op.f("ix_remit_claims_ledger_claim_id"))
    op.drop_table("remit_claims")
    with op.batch_alter_table("claim_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_transactions_file_id"))
    op.drop_table("claim_transactions")
    with op.batch_alter_table("provider_adjustments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_adjustments_remittance_id"))
    op.drop_table("provider_adjustments")
    op.drop_table("remittances")
    op.drop_table("ack_files")
