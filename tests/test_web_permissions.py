"""Every endpoint x every role, from services.permissions.PERMISSIONS: an allowed role gets
its answer (2xx), any other 403, and no token 401. The API routes and the pages are read from
the app itself, each with the operation it declares; README's role x endpoint table is
generated from the same and checked here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bhpolicy.services import users
from bhpolicy.services.permissions import PERMISSIONS, ROLES
from bhpolicy.web import api, pages
from bhpolicy.web.app import create_app
from bhpolicy.web.auth import OPERATION, SESSION_COOKIE
from tests.conftest import REPO
from tests.support.web import (
    NOW,
    add_role_users,
    bearer,
    client_for,
    csrf_of,
    request_body,
    settings,
)

APP = create_app(None, settings())


def _routes(router: APIRouter, with_operation_only: bool) -> list[tuple[str, str, str]]:
    found = []
    for route in router.routes:
        assert isinstance(route, APIRoute)
        operation = (route.openapi_extra or {}).get(OPERATION)
        for method in sorted(route.methods - {"HEAD"}):
            if operation is not None or not with_operation_only:
                found.append((method, route.path, operation))
    return sorted(found, key=lambda r: (r[1], r[0]))


API_ROUTES = _routes(api.router, with_operation_only=False)
PAGE_ROUTES = _routes(pages.router, with_operation_only=True)


def role_table() -> str:
    """README's table: one row an API endpoint, one column a role."""
    head = "| Endpoint | Operation | " + " | ".join(ROLES) + " |"
    rule = "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |"
    rows = [f"| `{method} {path}` | `{operation}` | " + " | ".join(
        "yes" if role in PERMISSIONS[operation] else "" for role in ROLES) + " |"
        for method, path, operation in API_ROUTES]
    return "\n".join([head, rule, *rows])


def test_every_api_route_declares_a_known_operation() -> None:
    assert len(API_ROUTES) == 16
    for method, path, operation in API_ROUTES:
        assert operation in PERMISSIONS, f"{method} {path} declares no operation"
    declared = {operation for _, _, operation in API_ROUTES}
    assert declared == set(PERMISSIONS), "an operation has no API route"


def test_every_page_but_login_docs_and_health_declares_its_operation() -> None:
    open_pages = {"/", "/login", "/logout", "/docs", "/healthz"}
    for route in pages.router.routes:
        assert isinstance(route, APIRoute)
        operation = (route.openapi_extra or {}).get(OPERATION)
        assert route.path in open_pages or operation in PERMISSIONS, route.path
    assert {path for _, path, _ in API_ROUTES} == {
        path for path in APP.openapi()["paths"]}, "the API in /openapi.json is the router's"


def test_readme_has_the_role_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert role_table() in readme, "README's role x endpoint table is stale:\n" + role_table()


# --- the world each cell runs in ---------------------------------------------------------

@dataclass
class World:
    client: TestClient
    db: Any
    tokens: dict[str, str]

    def create(self, case_name: str, owner: str) -> dict[str, Any]:
        answer = self.client.post("/api/requests", json=request_body(case_name),
                                  headers=bearer(self.tokens[owner]))
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def deny(self, request_id: str) -> None:
        answer = self.client.post(
            f"/api/requests/{request_id}/decision", headers=bearer(self.tokens["reviewer"]),
            json={"kind": "deny", "criteria": ["I.D"],
                  "reason": "No impairment of basic functioning is documented."})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def world(sqlite_database: Any) -> Iterator[World]:
    tokens = add_role_users(sqlite_database)
    with client_for(sqlite_database) as client:
        yield World(client, sqlite_database, tokens)


def _owner(role: str) -> str:
    """Who creates the request a cell reads: the role itself when it sees only its own."""
    return "provider-system" if role == "provider-system" else "intake"


def prepare(world: World, role: str, method: str, path: str) -> tuple[str, Any]:
    """The URL and JSON body that a role allowed the operation would succeed with."""
    owner = _owner(role)
    if path == "/api/requests":
        return path, request_body() if method == "POST" else None
    if path == "/api/requests/{request_id}":
        return path.format(request_id=world.create("sc-initial-refer", owner)["id"]), None
    if path.endswith("/information"):
        request_id = world.create("sc-initial-pend", owner)["id"]
        return path.format(request_id=request_id), {"facts": {
            "impairment_basic_functioning": True}}
    if path.endswith("/appeal"):
        request_id = world.create("sc-initial-refer", owner)["id"]
        world.deny(request_id)
        return path.format(request_id=request_id), {"expedited": False}
    if path.startswith("/api/requests/{request_id}/"):
        request_id = world.create("sc-initial-refer", owner)["id"]
        body = {"decision": {"kind": "approve"},
                "extension": {"reason": "provider_request", "days": 5},
                "peer-to-peer": {"note": "Offered a call with the team psychiatrist."},
                }[path.rsplit("/", 1)[1]]
        return path.format(request_id=request_id), body
    if path == "/api/notices/{notice_id}":
        notices = world.create("sc-initial-meets", owner)["notices"]
        assert notices, "an approval sends a notice"
        return path.format(notice_id=notices[0]["id"]), None
    if path == "/api/users":
        return path, {"name": "new_analyst", "role": "analyst"} if method == "POST" else None
    if path == "/api/codes/{code}":
        return path.format(code="H0040"), None
    if path == "/api/policies/{policy}":
        return path.format(policy="sc-act"), None
    assert "{" not in path, f"no preparation for {path}"
    return path, None


CELLS = [pytest.param(method, path, operation, role, id=f"{method} {path} {role}")
         for method, path, operation in API_ROUTES for role in ROLES]


@pytest.mark.parametrize(("method", "path", "operation", "role"), CELLS)
def test_api_cell(world: World, method: str, path: str, operation: str, role: str) -> None:
    url, body = prepare(world, role, method, path)
    answer = world.client.request(method, url, json=body, headers=bearer(world.tokens[role]))
    if role in PERMISSIONS[operation]:
        assert 200 <= answer.status_code < 300, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"] == f"the role {role} may not perform {operation}"


@pytest.mark.parametrize(("method", "path", "operation"), API_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in API_ROUTES])
def test_api_without_a_token_is_401(world: World, method: str, path: str,
                                    operation: str) -> None:
    url, body = prepare(world, "intake", method, path)
    answer = world.client.request(method, url, json=body)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


# --- the pages ---------------------------------------------------------------------------

def _sign_in(world: World, role: str) -> str:
    """A session for ``role`` without the login form (its argon2 check is tested
    elsewhere); returns the CSRF token."""
    actor = users.authenticate_token(world.db, world.tokens[role], now=NOW)
    assert actor is not None
    cookie, csrf = users.open_session(world.db, actor, now=NOW)
    world.client.cookies.set(SESSION_COOKIE, cookie)
    return csrf


def prepare_page(world: World, role: str, method: str, path: str,
                 csrf: str) -> tuple[str, dict[str, Any] | None]:
    owner = _owner(role)
    if path == "/requests/{request_id}":
        return path.format(request_id=world.create("sc-initial-refer", owner)["id"]), None
    if path.startswith("/requests/{request_id}/"):
        request_id = world.create("sc-initial-refer", owner)["id"]
        form = {"decision": {"kind": "approve"},
                "extension": {"extension_reason": "member_request", "days": "3"},
                "peer-to-peer": {"p2p_note": "Offered a call."}}[path.rsplit("/", 1)[1]]
        return path.format(request_id=request_id), {"csrf_token": csrf, **form}
    if path == "/notices/{notice_id}":
        return path.format(notice_id=world.create("sc-initial-meets", owner)["notices"][0][
            "id"]), None
    if path == "/codes/{code}":
        return "/codes/H0040", None
    if path == "/policies/{policy}":
        return "/policies/sc-act", None
    if path == "/codes/results":
        return "/codes/results?q=assertive", None
    assert "{" not in path, f"no preparation for {path}"
    return path, None


PAGE_CELLS = [pytest.param(method, path, operation, role, id=f"{method} {path} {role}")
              for method, path, operation in PAGE_ROUTES for role in ROLES]


@pytest.mark.parametrize(("method", "path", "operation", "role"), PAGE_CELLS)
def test_page_cell(world: World, method: str, path: str, operation: str, role: str) -> None:
    csrf = _sign_in(world, role)
    url, form = prepare_page(world, role, method, path, csrf)
    answer = world.client.request(method, url, data=form)
    if role in PERMISSIONS[operation]:
        expected = 303 if method == "POST" else 200
        assert answer.status_code == expected, answer.text[:2000]
        if method == "GET" and path != "/codes/results":  # a fragment for htmx has no head
            assert csrf_of(answer.text) == csrf
    else:
        assert answer.status_code == 403, answer.text[:2000]
        assert f"the role {role} may not perform {operation}" in answer.text


@pytest.mark.parametrize(("method", "path", "operation"), PAGE_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in PAGE_ROUTES])
def test_a_page_signed_out_goes_to_login(world: World, method: str, path: str,
                                         operation: str) -> None:
    url, form = prepare_page(world, "intake", method, path, "no-session")
    answer = world.client.request(method, url, data=form)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
