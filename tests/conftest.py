from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.dates import AS_OF_TEXT

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=60)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty data home, no extra policy path and a fixed as-of
    date."""
    home = tmp_path / "bhpolicy-home"
    monkeypatch.setenv("BHPOLICY_HOME", str(home))
    monkeypatch.setenv("BHPOLICY_AS_OF", AS_OF_TEXT)  # no output depends on the day it runs
    monkeypatch.delenv("BHPOLICY_POLICY_PATH", raising=False)
    return home

# Database fixtures (database, database_url, sqlite_database, pg_cluster) for the serve tests.
pytest_plugins = ["tests.support.db"]
