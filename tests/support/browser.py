"""A page of a local HTML file in Debian's chromium, driven by Playwright (no download)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="Debian chromium not installed (CI installs it)")
# Where screenshots are kept: $BHPOLICY_TEST_ARTIFACTS when set (CI can upload it), else the
# test's own tmp_path (pytest keeps the last few runs' folders).
ARTIFACTS_ENV = "BHPOLICY_TEST_ARTIFACTS"


@contextmanager
def open_page(path: Path, console: list[str] | None = None) -> Iterator[Any]:
    """Open ``path``; when ``console`` is given, every console error or warning and every
    uncaught page error (a Content-Security-Policy violation is a console error) is
    appended to it as it happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        page = browser.new_page()
        if console is not None:
            page.on("console", lambda message: console.append(
                f"{message.type}: {message.text}") if message.type in ("error", "warning")
                else None)
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        page.goto(path.as_uri())
        try:
            yield page
        finally:
            browser.close()


def save_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot kept as a test artifact; returns where it went."""
    folder = Path(os.environ[ARTIFACTS_ENV]) if os.environ.get(ARTIFACTS_ENV) else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    page.screenshot(path=str(target), full_page=True)
    return target
