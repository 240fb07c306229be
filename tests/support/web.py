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
    return WebSettings(warm=False, sweep_seconds=0, clock=clock or Clock(), **overrides)


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
