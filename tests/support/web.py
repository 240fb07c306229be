"""Helpers for the web tests: an app over a test database with a fixed clock, one user of each
role with a token (and a password), and request bodies made from the example cases."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from bhpolicy.services.permissions import ROLES
from bhpolicy.services.users import add_user
from bhpolicy.web.app import create_app
from bhpolicy.web.settings import WebSettings
from tests.conftest import REPO

NOW = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"
NPI = "1234567893"
CASES = REPO / "examples" / "cases"


@dataclass
class Clock:
    now: dt.datetime = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def settings(clock: Clock | None = None, **overrides: Any) -> WebSettings:
    """Test settings: no warm-up, no background sweep, a fixed clock (each overridable)."""
    values: dict[str, Any] = {"warm": False, "sweep_seconds": 0, **overrides}
    return WebSettings(clock=clock or Clock(), **values)


def user_name(role: str) -> str:
    return role.replace("-", "_") + "_user"


def add_role_users(db: Any, passwords: bool = False) -> dict[str, str]:
    """One user a role (the reviewer with a licence); returns role -> API token."""
    tokens = {}
    for role in ROLES:
        _, token = add_user(db, user_name(role), role,
                            licence="LPC-12345" if role == "reviewer" else None,
                            password=PASSWORD if passwords else None)
        tokens[role] = token
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def case(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
    return raw


def request_body(case_name: str = "sc-initial-refer", urgency: str = "standard",
                 **changes: Any) -> dict[str, Any]:
    """A POST /api/requests body around an example case (H0040 U1, a 6-month period)."""
    raw = case(case_name)
    body = {
        "case": raw,
        "member": {"reference": raw.get("member_id") or "SYN-M-0205",
                   "birth_date": raw["facts"].get("birth_date", "1978-02-28")},
        "requesting_provider": {"npi": NPI, "name": "Midlands ACT Team"},
        "service": {"code": "H0040", "modifiers": ["U1"]},
        "period": {"start": "2026-12-01", "end": "2027-05-31"},
        "units": 180,
        "urgency": urgency,
    }
    body.update(copy.deepcopy(changes))
    return body


@contextmanager
def client_for(db: Any, clock: Clock | None = None, **overrides: Any) -> Iterator[TestClient]:
    app = create_app(db, settings(clock, **overrides))
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield client


def login(client: TestClient, role: str) -> str:
    """Sign in through the login form; returns the session's CSRF token (from the queue)."""
    import re

    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post("/login", data={"name": user_name(role), "password": PASSWORD,
                                         "login_token": token.group(1), "next": "/queue"})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/codes").text)


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert found, html[:500]
    return found.group(1)


# --- the real server ---------------------------------------------------------------------

def bhpolicy_command() -> list[str]:
    """The installed ``bhpolicy`` script beside this interpreter."""
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "bhpolicy"
    return [str(script)] if script.exists() else [shutil.which("bhpolicy") or "bhpolicy"]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    base_url: str
    process: Any
    log: Any  # Path of the server's stderr

    def log_text(self) -> str:
        text: str = self.log.read_text(encoding="utf-8", errors="replace")
        return text


@contextmanager
def running_server(db_url: str, folder: Any, env: dict[str, str] | None = None,
                   timeout: float = 90.0, args: tuple[str, ...] = ()) -> Iterator[Server]:
    """``bhpolicy serve`` on 127.0.0.1 and a free port, until /healthz says ready; stopped
    (SIGTERM, then SIGKILL) at the end. Only the process started here is ended."""
    import os
    import subprocess
    import time

    import httpx

    port = free_port()
    log = folder / "serve.log"
    handle = log.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [*bhpolicy_command(), "serve", "--db", db_url, "--host", "127.0.0.1",
         "--port", str(port), *args], stdout=handle, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    server = Server(base, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"bhpolicy serve exited {process.returncode}:\n"
                                     + server.log_text())
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("bhpolicy serve not ready in time:\n" + server.log_text())
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        handle.close()
