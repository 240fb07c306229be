"""The migrations: one head; from an empty database they upgrade to the head and downgrade
back to nothing, on SQLite and on PostgreSQL; the tables match the models; audit rows are
append-only on PostgreSQL; datetimes come back aware and in UTC."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from bhpolicy.db import Database, DatabaseError, ledger_models, pas_models
from bhpolicy.db.database import migrations_folder
from bhpolicy.db.models import AuditEvent, Base, User

assert ledger_models and pas_models  # their tables are part of Base.metadata

TABLES = {"x12_control", "claim_files", "ledger_claims", "ledger_lines", "users",
          "api_tokens", "web_sessions", "requests", "determinations", "decisions",
          "pas_bundles", "pas_subscriptions", "pas_notifications",
          "notices", "information", "peer_to_peer", "appeals", "audit_events",
          "claim_transactions", "ack_files", "remittances", "remit_claims", "remit_lines",
          "remit_adjustments", "remit_remarks", "provider_adjustments", "jobs",
          "held_remittances"}


def test_one_head() -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", migrations_folder())
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_from_empty_and_downgrade_to_nothing(database_url: str) -> None:
    db = Database.open(database_url)
    try:
        assert db.current_revision() is None
        assert not db.is_current()
        db.upgrade()
        assert db.is_current() and db.current_revision() == db.head_revision()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        db.downgrade("base")
        assert db.current_revision() is None
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.upgrade()  # and up again: the downgrade left nothing behind
        assert db.is_current()
    finally:
        db.close()


def test_datetimes_aware_utc_and_naive_refused(database: Database) -> None:
    local = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    with database.transaction() as session:
        session.add(User(name="u", role="intake", created_at=local))
    with database.read() as session:
        stored = session.scalars(select(User.created_at)).one()
    assert stored.tzinfo == dt.UTC and stored == local and stored.hour == 14
    with pytest.raises(StatementError, match="naive"), database.transaction() as session:
        session.add(User(name="v", role="intake", created_at=dt.datetime(2026, 12, 1)))


def test_transaction_rolls_back_on_error(database: Database) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with pytest.raises(RuntimeError), database.transaction() as session:
        session.add(User(name="gone", role="intake", created_at=now))
        session.flush()
        raise RuntimeError("boom")
    with database.read() as session:
        assert session.scalars(select(User)).all() == []


@pytest.mark.pg
def test_audit_rows_append_only_on_postgresql(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with database.transaction() as session:
        session.add(AuditEvent(at=now, user_id=None, action="t", object_type="t",
                               object_id=None, detail={}))
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), \
                database.transaction() as session:
            session.execute(text(statement))


def test_sqlite_pragmas_and_owner_only_file(sqlite_database: Database, tmp_path) -> None:
    with sqlite_database.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db = Database.open(f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    try:
        db.upgrade()
        assert (tmp_path / "new" / "x.db").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    finally:
        db.close()


def test_default_database_under_home(isolated_home) -> None:
    db = Database.open()
    try:
        db.upgrade()
        assert (isolated_home / "bhpolicy.db").exists()
    finally:
        db.close()


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "postgresql+psycopg2://x/y"])
def test_bad_urls_one_line(url: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        Database.open(url)
    assert "\n" not in str(caught.value)
