"""Database fixtures for the service and web tests.

* ``database``: a :class:`bhpolicy.db.Database` at the latest migration, once on SQLite (a
  file in the test's tmp_path) and once on PostgreSQL (marked ``pg``; a database of its own in
  a throwaway cluster made once a session). Each test gets a fresh, empty database copied from
  a migrated template, so the migrations run once a session per engine.
* ``database_url``: the URL of an empty, unmigrated database, on both engines (for the
  migration tests).
* ``sqlite_database``: the SQLite form only, for tests that need just one engine.
* ``actors``: one user of every role in ``database`` (see :class:`Actors`); ``request_body``
  builds a request body around an example case; ``NOW`` is the tests' clock.
* ``pg_cluster``: the cluster itself. Without PostgreSQL on the machine the ``pg`` cases skip,
  except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# -- sample data for service and web tests -----------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cases"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # a Tuesday; on tests' as-of date
NPI = "1234567893"  # passes the NPI check digit


def example_case(name: str) -> dict[str, Any]:
    """A case from examples/cases (e.g. "sc-initial-refer")."""
    case: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return case


def request_body(case: str | dict[str, Any] = "sc-initial-refer", *, units: int = 90,
                 urgency: str = "standard", modifiers: tuple[str, ...] = ("U1",),
                 code: str = "H0040", period: tuple[str, str] = ("2026-12-05", "2027-03-04"),
                 birth_date: str | None = None) -> dict[str, Any]:
    """A POST /api/requests body (JSON-ready) around an example case; the member's reference
    and birth date are the case's own."""
    raw = example_case(case) if isinstance(case, str) else case
    birth = birth_date or raw["facts"].get("birth_date") or "1980-01-01"
    return {"case": raw,
            "member": {"reference": raw.get("member_id") or "SYN-M-9999", "birth_date": birth},
            "requesting_provider": {"npi": NPI, "name": "Synthetic ACT Team"},
            "service": {"code": code, "modifiers": list(modifiers)},
            "period": {"start": period[0], "end": period[1]}, "units": units,
            "urgency": urgency}


@dataclass
class Actors:
    intake: Any
    reviewer: Any  # licensed
    second_reviewer: Any  # licensed, for appeals
    unlicensed_reviewer: Any
    provider: Any  # provider-system
    other_provider: Any
    analyst: Any
    admin: Any
    biller: Any
    tokens: dict[str, str]  # user name -> API token


@pytest.fixture
def actors(database: Database) -> Actors:
    """One user of every role in ``database`` (no passwords: quick); tokens by user name."""
    from bhpolicy.services.users import Actor, add_user

    made: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    for name, role, licence in [
            ("intake", "intake", None), ("reviewer", "reviewer", "LICSW 1001"),
            ("second_reviewer", "reviewer", "LPCC 2002"), ("unlicensed_reviewer", "reviewer", None),
            ("provider", "provider-system", None), ("other_provider", "provider-system", None),
            ("analyst", "analyst", None), ("admin", "admin", None), ("biller", "biller", None)]:
        view, token = add_user(database, name, role, licence=licence, now=NOW)
        made[name] = Actor(view.id, view.name, view.role, view.licence)
        tokens[name] = token
    return Actors(tokens=tokens, **made)
