"""Every endpoint x every role, from services.permissions.PERMISSIONS: an allowed role gets
its answer (2xx), any other 403, and no token 401. The API routes and the pages are read from
the app itself, each with the operation it declares; README's role x endpoint table is
generated from the same and checked here."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bhpolicy.services import jobs, users
from bhpolicy.services.permissions import PERMISSIONS, ROLES
from bhpolicy.web import api, billing_api, billing_pages, pages
from bhpolicy.web.app import create_app
from bhpolicy.web.auth import OPERATION, SESSION_COOKIE
from tests.billing_helpers import (
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    auth,
    days,
    member,
    write_csv,
)
from tests.conftest import REPO
from tests.support import x12_remit as remit
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


API_ROUTES = sorted(_routes(api.router, with_operation_only=False)
                    + _routes(billing_api.router, with_operation_only=False),
                    key=lambda r: (r[1], r[0]))
PAGE_ROUTES = (_routes(pages.router, with_operation_only=True)
               + _routes(billing_pages.router, with_operation_only=True))


def role_table() -> str:
    """README's table: one row an API endpoint, one column a role."""
    head = "| Endpoint | Operation | " + " | ".join(ROLES) + " |"
    rule = "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |"
    rows = [f"| `{method} {path}` | `{operation}` | " + " | ".join(
        "yes" if role in PERMISSIONS[operation] else "" for role in ROLES) + " |"
        for method, path, operation in API_ROUTES]
    return "\n".join([head, rule, *rows])


def test_every_api_route_declares_a_known_operation() -> None:
    assert len(API_ROUTES) == 25
    for method, path, operation in API_ROUTES:
        assert operation in PERMISSIONS, f"{method} {path} declares no operation"
    declared = {operation for _, _, operation in API_ROUTES}
    assert declared == set(PERMISSIONS), "an operation has no API route"


def test_every_page_but_login_docs_and_health_declares_its_operation() -> None:
    open_pages = {"/", "/login", "/logout", "/docs", "/healthz"}
    for route in [*pages.router.routes, *billing_pages.router.routes]:
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
class Upload:
    """A multipart body (the billing uploads) in place of a JSON one."""

    files: dict[str, tuple[str, bytes]]
    data: dict[str, str] = field(default_factory=dict)


def _send(client: TestClient, method: str, url: str, body: Any,
          headers: dict[str, str] | None = None) -> Any:
    if isinstance(body, Upload):
        return client.request(method, url, files=body.files, data=body.data, headers=headers)
    return client.request(method, url, json=body, headers=headers)


@dataclass
class World:
    client: TestClient
    db: Any
    tokens: dict[str, str]
    folder: Path

    def uploads(self) -> dict[str, tuple[str, bytes]]:
        contacts = write_csv(self.folder / "c.csv", CONTACT_FIELDS, days("2026-03", 2, 12))
        members = write_csv(self.folder / "m.csv", MEMBER_FIELDS, [member()])
        auths = write_csv(self.folder / "a.csv", AUTH_FIELDS, [auth()])
        return {"contacts": ("contacts.csv", contacts.read_bytes()),
                "members": ("members.csv", members.read_bytes()),
                "authorizations": ("authorizations.csv", auths.read_bytes())}

    def job(self, done: bool = False, claims: bool = False) -> str:
        """A billing job of the biller's (run by the worker function when ``done``)."""
        answer = self.client.post("/api/billing/jobs", files=self.uploads(),
                                  headers=bearer(self.tokens["biller"]))
        assert answer.status_code == 202, answer.text
        job_id: str = answer.json()["id"]
        if done or claims:
            assert jobs.run_one(self.db, "w", lambda: NOW, dt.timedelta(seconds=60))
        if claims:
            written = self.client.post(f"/api/billing/jobs/{job_id}/837p", json={},
                                       headers=bearer(self.tokens["biller"]))
            assert written.status_code == 200, written.text
        return job_id

    def numbered_claim(self) -> str:
        """The one claim of the ledger, numbered by the payer (a 277CA), so it can be
        voided."""
        from sqlalchemy import select

        from bhpolicy.db.ledger_models import LedgerClaim
        from bhpolicy.services.ledger import post_front_end

        with self.db.read() as session:
            claim_id: str = session.scalars(select(LedgerClaim.id)).one()
        assert post_front_end(self.db, [(claim_id, True, "PAYER-1")]) == []
        return claim_id

    def remit(self) -> Upload:
        path = remit.write_835(self.folder / "r.835", [remit.Claim("C-UNKNOWN")])
        return Upload({"file": ("r.835", path.read_bytes())})

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
def world(sqlite_database: Any, tmp_path: Path) -> Iterator[World]:
    tokens = add_role_users(sqlite_database)
    config = tmp_path / "config" / "submitter.toml"
    config.parent.mkdir()
    shutil.copy(REPO / "examples" / "submitter.toml", config)
    with client_for(sqlite_database, jobs_dir=tmp_path / "jobs",
                    submitter_config=config) as client:
        yield World(client, sqlite_database, tokens, tmp_path)


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
    if path == "/api/billing/jobs" and method == "POST":
        return path, Upload(world.uploads())
    if path == "/api/billing/jobs/{job_id}":
        return path.format(job_id=world.job()), None
    if path == "/api/billing/jobs/{job_id}/837p":
        allowed = role in PERMISSIONS["claims.write"]
        return path.format(job_id=world.job(done=allowed) if allowed else NO_JOB), {}
    if path == "/api/billing/void":
        if role not in PERMISSIONS["claims.void"]:  # refused before the job is looked up
            return path, {"job_id": NO_JOB, "claims": ["C-AAAAAAAAAAAA"]}
        job_id = world.job(claims=True)
        return path, {"job_id": job_id, "claims": [world.numbered_claim()]}
    if path == "/api/remits":
        return path, world.remit()
    if path == "/api/billing/check":
        return path, {"contacts": days("2026-03", 2, 5), "members": [member()],
                      "authorizations": [auth()], "as_of": "2026-12-01"}
    assert "{" not in path, f"no preparation for {path}"
    return path, None


NO_JOB = "J-AAAAAAAAAAAA"  # a role refused is refused before the job is looked up


CELLS = [pytest.param(method, path, operation, role, id=f"{method} {path} {role}")
         for method, path, operation in API_ROUTES for role in ROLES]


@pytest.mark.parametrize(("method", "path", "operation", "role"), CELLS)
def test_api_cell(world: World, method: str, path: str, operation: str, role: str) -> None:
    url, body = prepare(world, role, method, path)
    answer = _send(world.client, method, url, body, bearer(world.tokens[role]))
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
    answer = _send(world.client, method, url, body)
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
    if path == "/billing/jobs":
        return path, Upload(world.uploads(), {"csrf_token": csrf})
    if path == "/billing/remits" and method == "POST":
        upload = world.remit()
        return path, Upload(upload.files, {"csrf_token": csrf})
    if path.startswith("/billing/jobs/{job_id}"):
        allowed = role in PERMISSIONS[dict(PAGE_OPERATIONS)[(method, path)]]
        job_id = world.job(done=path.endswith("/report") or path.endswith("/837p"),
                           claims=path.endswith("{name}")) if allowed else NO_JOB
        url = path.format(job_id=job_id, name="none.x12")
        if path.endswith("{name}") and allowed:
            page = world.client.get(f"/billing/jobs/{job_id}")
            url = re.findall(r'href="(/billing/jobs/[^"]+\.x12)"', page.text)[0]
        if method == "POST" and path.endswith("/837p"):
            return url, {"csrf_token": csrf, "claim": "0"}
        return url, {"csrf_token": csrf} if method == "POST" else None
    assert "{" not in path, f"no preparation for {path}"
    return path, None


PAGE_OPERATIONS = [((method, path), operation) for method, path, operation in PAGE_ROUTES]
#: forms that answer with the page itself (what was written or imported), not a redirect
ANSWERED_IN_PLACE = {"/billing/jobs/{job_id}/837p", "/billing/remits"}
#: answers that are not one of our pages (no CSRF meta): an htmx fragment, a file, a report
NOT_A_PAGE = {"/codes/results", "/billing/jobs/{job_id}/status",
              "/billing/jobs/{job_id}/report", "/billing/jobs/{job_id}/claims/{name}"}


def _page_send(client: TestClient, method: str, url: str, form: Any) -> Any:
    if isinstance(form, Upload):
        return client.request(method, url, files=form.files, data=form.data)
    return client.request(method, url, data=form)


PAGE_CELLS = [pytest.param(method, path, operation, role, id=f"{method} {path} {role}")
              for method, path, operation in PAGE_ROUTES for role in ROLES]


@pytest.mark.parametrize(("method", "path", "operation", "role"), PAGE_CELLS)
def test_page_cell(world: World, method: str, path: str, operation: str, role: str) -> None:
    csrf = _sign_in(world, role)
    url, form = prepare_page(world, role, method, path, csrf)
    answer = _page_send(world.client, method, url, form)
    if role in PERMISSIONS[operation]:
        expected = 303 if method == "POST" and path not in ANSWERED_IN_PLACE else 200
        assert answer.status_code == expected, answer.text[:2000]
        if method == "GET" and path not in NOT_A_PAGE:
            assert csrf_of(answer.text) == csrf
    else:
        assert answer.status_code == 403, answer.text[:2000]
        assert f"the role {role} may not perform {operation}" in answer.text


@pytest.mark.parametrize(("method", "path", "operation"), PAGE_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in PAGE_ROUTES])
def test_a_page_signed_out_goes_to_login(world: World, method: str, path: str,
                                         operation: str) -> None:
    url, form = prepare_page(world, "intake", method, path, "no-session")
    answer = _page_send(world.client, method, url, form)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
