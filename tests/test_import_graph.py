"""The flow stays one way: web -> services -> db and the domain modules, never back; the audit
and billing share bhpolicy.domain and the audit imports nothing of billing. The
contracts live in pyproject.toml ([tool.importlinter]); this runs them with lint-imports,
which reads every import statement, those inside functions too."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_contracts_cover_the_layers() -> None:
    """Each layer below web is named in a contract that forbids web and the frameworks."""
    forbidding_web = [c for c in _contracts() if "bhpolicy.web" in c["forbidden_modules"]]
    sources = {m for c in forbidding_web for m in c["source_modules"]}  # type: ignore[attr-defined]
    assert {"bhpolicy.services", "bhpolicy.db", "bhpolicy.criteria", "bhpolicy.report"} <= sources
    framework = [c for c in _contracts() if "fastapi" in c["forbidden_modules"]]
    assert framework and "bhpolicy.services" in framework[0]["source_modules"]  # type: ignore[operator]
    db_up = [c for c in _contracts() if c["source_modules"] == ["bhpolicy.db"]]
    assert db_up and "bhpolicy.services" in db_up[0]["forbidden_modules"]  # type: ignore[operator]
    audit = [c for c in _contracts() if c["source_modules"] == ["bhpolicy.audit"]]
    assert audit and "bhpolicy.billing" in audit[0]["forbidden_modules"]  # type: ignore[operator]
    shared = [c for c in _contracts() if c["source_modules"] == ["bhpolicy.domain"]]
    assert shared and {"bhpolicy.billing", "bhpolicy.audit"} <= set(
        shared[0]["forbidden_modules"])  # type: ignore[call-overload]


def test_lint_imports_keeps_every_contract() -> None:
    command = str(LINT_IMPORTS) if LINT_IMPORTS.exists() else shutil.which("lint-imports")
    assert command, "lint-imports (import-linter) is not installed"
    done = subprocess.run([command, "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    count = len(_contracts())
    assert f"Contracts: {count} kept, 0 broken." in report, report
