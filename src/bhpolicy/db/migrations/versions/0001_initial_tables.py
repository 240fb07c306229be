"""The first tables: users, tokens, sessions, requests and what is recorded about them, and
the append-only audit log (on PostgreSQL a trigger refuses UPDATE and DELETE of its rows).

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types (a migration never follows later model code): datetimes
# with a time zone (timestamptz on PostgreSQL, UTC text on SQLite), JSON as JSONB on PostgreSQL.
UTC = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("licence", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_events_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_object_id"), ["object_id"], unique=False)

    op.create_table(
        "requests",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("request_type", sa.String(length=20), nullable=False),
        sa.Column("service_code", sa.String(length=5), nullable=False),
        sa.Column("modifiers", JSON, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("member_reference", sa.String(length=40), nullable=False),
        sa.Column("member_birth_date", sa.Date(), nullable=False),
        sa.Column("provider_npi", sa.String(length=10), nullable=False),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("case", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("due_by", UTC, nullable=False),
        sa.Column("clock", JSON, nullable=False),
        sa.Column("extended_until", UTC, nullable=True),
        sa.Column("extension_reason", sa.String(length=40), nullable=True),
        sa.Column("decision_notice_at", UTC, nullable=True),
        sa.Column("overdue_flagged_at", UTC, nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("first_answer", JSON, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_requests_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.UniqueConstraint(
            "created_by", "idempotency_key", name=op.f("uq_requests_created_by_idempotency_key")
        ),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_requests_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_due_by"), ["due_by"], unique=False)
        batch_op.create_index("ix_requests_status_due_by", ["status", "due_by"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("cookie_sha256", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("cookie_sha256", name=op.f("uq_web_sessions_cookie_sha256")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("adverse", sa.Boolean(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("on_appeal", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("units", sa.Integer(), nullable=True),
        sa.Column("service_code", sa.String(length=5), nullable=True),
        sa.Column("modifiers", JSON, nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_decisions_request_id_requests")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_decisions_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("request_id", "seq", name=op.f("uq_decisions_request_id_seq")),
    )
    op.create_table(
        "determinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("made_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_determinations_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_determinations")),
        sa.UniqueConstraint("request_id", "seq", name=op.f("uq_determinations_request_id_seq")),
    )
    op.create_table(
        "information",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("facts", JSON, nullable=False),
        sa.Column("documents", JSON, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("received_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["received_by"], ["users.id"], name=op.f("fk_information_received_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_information_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information")),
    )
    with op.batch_alter_table("information", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_information_request_id"), ["request_id"], unique=False)

    op.create_table(
        "peer_to_peer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("offered_at", UTC, nullable=False),
        sa.Column("offered_by", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offered_by"], ["users.id"], name=op.f("fk_peer_to_peer_offered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_peer_to_peer_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_to_peer")),
    )
    with op.batch_alter_table("peer_to_peer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_peer_to_peer_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("filed_at", UTC, nullable=False),
        sa.Column("filed_by", sa.Integer(), nullable=False),
        sa.Column("expedited", sa.Boolean(), nullable=False),
        sa.Column("continue_benefits", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("due_by", UTC, nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_appeals_decision_id_decisions")
        ),
        sa.ForeignKeyConstraint(["filed_by"], ["users.id"], name=op.f("fk_appeals_filed_by_users")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_appeals_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_request_id"), ["request_id"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("content", JSON, nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_notices_decision_id_decisions")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_notices_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_request_id"), ["request_id"], unique=False)

    if op.get_context().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_request_id"))

    op.drop_table("notices")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeals_request_id"))

    op.drop_table("appeals")
    with op.batch_alter_table("peer_to_peer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peer_to_peer_request_id"))

    op.drop_table("peer_to_peer")
    with op.batch_alter_table("information", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_request_id"))

    op.drop_table("information")
    op.drop_table("determinations")
    op.drop_table("decisions")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_status_due_by")
        batch_op.drop_index(batch_op.f("ix_requests_due_by"))
        batch_op.drop_index(batch_op.f("ix_requests_created_by"))

    op.drop_table("requests")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_object_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))

    op.drop_table("audit_events")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
