"""Database fixtures for the service and web tests.

* ``database``: a :class:`bhpolicy.db.Database` at the latest migration, once on SQLite (a
  file in the test's tmp_path) and once on PostgreSQL (marked ``pg``; a database of its own in
  a throwaway cluster made once a session). Each test gets a fresh, empty database copied from
  a migrated template, so the migrations run once a session per engine.
* ``database_url``: the URL of an empty, unmigrated database, on both engines (for the
  migration tests).
* ``sqlite_database``: the SQLite form only, for tests that need just one engine.
* ``pg_cluster``: the cluster itself. Without PostgreSQL on the machine the ``pg`` cases skip,
  except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhpolicy.db import Database
from tests.support.pg import PgCluster, start_cluster, unavailable

ENGINES = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]
PG_TEMPLATE = "bhpolicy_template"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs PostgreSQL for the pg tests: {reason}")
        pytest.skip(reason)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "bhpolicy.db"
    db = Database.open(f"sqlite:///{path}")
    try:
        db.upgrade()
    finally:
        db.close()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PgCluster) -> str:
    url = pg_cluster.create_database(PG_TEMPLATE)
    db = Database.open(url)
    try:
        db.upgrade()
    finally:
        db.close()
    return PG_TEMPLATE


def _sqlite_copy(template: Path, folder: Path) -> Iterator[Database]:
    path = folder / "bhpolicy.db"
    shutil.copyfile(template, path)
    os.chmod(path, 0o600)
    db = Database.open(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.close()


def _pg_database(request: pytest.FixtureRequest, template: str) -> Iterator[Database]:
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    if template != "template0":
        template = request.getfixturevalue("pg_template")
    name = cluster.new_name()
    db = Database.open(cluster.create_database(name, template))
    try:
        yield db
    finally:
        db.close()
        cluster.drop_database(name)


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield from _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        yield from _pg_database(request, PG_TEMPLATE)


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    yield from _sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.new_name("empty")
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)
