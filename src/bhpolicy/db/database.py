"""Open the service's database and run its migrations.

With no URL the database is a SQLite file ``$BHPOLICY_HOME/bhpolicy.db`` (the same home as
the imported catalog), created owner-only. SQLite runs in WAL mode with foreign keys on and a
busy timeout; the driver's own transaction handling is switched off so that a write
transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock at once, so two writers
queue instead of failing on upgrade) and a read with a plain ``BEGIN``. PostgreSQL is opened by
URL (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bhpolicy.catalog.store import default_home
from bhpolicy.errors import BhpolicyError

DB_FILE = "bhpolicy.db"
BUSY_TIMEOUT_MS = 10_000
_BEGIN_OPTION = "bhpolicy_sqlite_begin"


class DatabaseError(BhpolicyError):
    """The database cannot be opened or migrated; one line, no credentials."""


def default_url() -> str:
    return f"sqlite:///{default_home() / DB_FILE}"


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder and the file owner-only before SQLite opens it (SQLite gives its
    -wal and -shm files the mode of the database file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode: no corruption
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql("BEGIN" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


@dataclass
class Database:
    url: str
    engine: Engine
    _writer: sessionmaker[Session]
    _reader: sessionmaker[Session]

    @classmethod
    def open(cls, url: str | None = None) -> Database:
        """Open (creating a SQLite file if needed) the database at ``url``."""
        text = url or default_url()
        try:
            parsed = make_url(text)
        except ArgumentError:
            raise DatabaseError("database URL: not a URL (expected sqlite:///PATH or "
                                "postgresql+psycopg://...)") from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _prepare_sqlite_file(Path(parsed.database))
            engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                         "timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_hooks(engine)
            reader_bind: Engine = engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        elif backend == "postgresql":
            if parsed.get_driver_name() != "psycopg":
                raise DatabaseError("database URL: use the psycopg driver "
                                    "(postgresql+psycopg://...)")
            engine = create_engine(parsed, pool_pre_ping=True)
            reader_bind = engine
        else:
            raise DatabaseError(f"database URL: unsupported database {backend!r} "
                                "(sqlite or postgresql+psycopg)")
        writer = sessionmaker(engine, expire_on_commit=False)
        reader = sessionmaker(reader_bind, expire_on_commit=False)
        return cls(text, engine, writer, reader)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on an error."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work for reads: closed at the end (anything written is rolled back;
        objects loaded stay readable, detached)."""
        with self._reader() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # -- migrations ---------------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", migrations_folder())
        return config

    def upgrade(self, revision: str = "head") -> None:
        config = self._alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def downgrade(self, revision: str) -> None:
        config = self._alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except OperationalError as exc:
            raise DatabaseError(f"database: cannot connect ({type(exc.orig).__name__})") from None

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()


def migrations_folder() -> str:
    return str(resources.files("bhpolicy") / "db" / "migrations")
