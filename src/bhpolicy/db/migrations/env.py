"""Alembic environment of bhpolicy's database. Run through ``bhpolicy.db.Database.upgrade``,
which passes an open connection; batch mode lets SQLite alter tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bhpolicy.db import (
    job_models,  # noqa: F401  (background jobs of the server)
    ledger_models,  # noqa: F401  (the claim ledger)
    pas_models,  # noqa: F401  (the FHIR API's tables)
    posting_models,  # noqa: F401  (what the payer sends back, posted)
)
from bhpolicy.db.models import Base

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through bhpolicy.db.Database.upgrade or "
                           "`bhpolicy db upgrade`")
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
