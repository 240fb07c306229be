"""The PAS request Bundles received through the FHIR API, kept as they came.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pas_bundles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("bundle_system", sa.String(length=200), nullable=False),
        sa.Column("bundle_value", sa.String(length=200), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("received_by", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name=op.f("fk_pas_bundles_request_id_requests")),
        sa.ForeignKeyConstraint(["received_by"], ["users.id"],
                                name=op.f("fk_pas_bundles_received_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pas_bundles")),
        sa.UniqueConstraint("received_by", "bundle_system", "bundle_value",
                            name=op.f("uq_pas_bundles_received_by_bundle_system_bundle_value")),
    )
    with op.batch_alter_table("pas_bundles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pas_bundles_request_id"), ["request_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pas_bundles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pas_bundles_request_id"))
    op.drop_table("pas_bundles")
