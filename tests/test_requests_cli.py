"""`bhpolicy requests submit`: the demo's requests go in through the API's service function."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "requests" / "demo.jsonl"


def _bh(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"BHPOLICY_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "bhpolicy.cli", *args], env=env, text=True,
                          capture_output=True, check=check, timeout=120)


@pytest.fixture
def token(tmp_path: Path) -> str:
    _bh("db", "upgrade", home=tmp_path)
    return _bh("users", "add", "demo-intake", "--role", "intake",
               home=tmp_path).stdout.strip().splitlines()[-1]


def test_demo_requests_are_received_with_their_outcomes(tmp_path: Path, token: str) -> None:
    done = _bh("requests", "submit", str(DEMO), "--token", token, home=tmp_path)
    statuses = [line.split()[1] for line in done.stdout.splitlines()]
    assert statuses == ["approved", "pended", "referred", "approved", "approved"]


def test_a_bad_request_is_one_line_naming_its_item_and_element(tmp_path: Path,
                                                                token: str) -> None:
    first = json.loads(DEMO.read_text().splitlines()[0])
    first["units"] = 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(first) + "\n" + DEMO.read_text().splitlines()[1] + "\n")
    done = _bh("requests", "submit", str(bad), "--token", token, home=tmp_path, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"{bad}: line 1: units: "
                                                + done.stderr.split("units: ", 1)[1].strip()]
    assert "Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) == 1  # the good one went on


def test_an_unknown_token_is_refused(tmp_path: Path, token: str) -> None:
    done = _bh("requests", "submit", str(DEMO), "--token", "bhp_nope", home=tmp_path,
               check=False)
    assert done.returncode == 2
    assert "--token" in done.stderr
