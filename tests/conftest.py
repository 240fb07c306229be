from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=60)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty data home and no extra policy path."""
    home = tmp_path / "bhpolicy-home"
    monkeypatch.setenv("BHPOLICY_HOME", str(home))
    monkeypatch.delenv("BHPOLICY_POLICY_PATH", raising=False)
    return home
