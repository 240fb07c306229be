"""PAS Subscriptions (R4 backport, rest-hook) and the notifications owed to them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pas_subscriptions",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("organization", sa.String(length=80), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resource", JSON, nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"],
                                name=op.f("fk_pas_subscriptions_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pas_subscriptions")),
    )
    with op.batch_alter_table("pas_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pas_subscriptions_owner_id"), ["owner_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_pas_subscriptions_organization"),
                              ["organization"], unique=False)
    op.create_table(
        "pas_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("event_number", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("given_up_at", UTC, nullable=True),
        sa.Column("last_result", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["pas_subscriptions.id"],
                                name=op.f("fk_pas_notifications_subscription_id_pas_subscriptions")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name=op.f("fk_pas_notifications_request_id_requests")),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"],
                                name=op.f("fk_pas_notifications_decision_id_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pas_notifications")),
        sa.UniqueConstraint("subscription_id", "decision_id",
                            name=op.f("uq_pas_notifications_subscription_id_decision_id")),
    )
    with op.batch_alter_table("pas_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pas_notifications_request_id"), ["request_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_pas_notifications_next_attempt_at"),
                              ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pas_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pas_notifications_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_pas_notifications_request_id"))
    op.drop_table("pas_notifications")
    with op.batch_alter_table("pas_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pas_subscriptions_organization"))
        batch_op.drop_index(batch_op.f("ix_pas_subscriptions_owner_id"))
    op.drop_table("pas_subscriptions")
