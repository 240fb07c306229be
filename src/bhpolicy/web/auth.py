"""Who is calling, and may they: bearer tokens for the API, a session cookie for the pages.

Each route names its operation once, in ``openapi_extra[OPERATION]`` (one of
:data:`bhpolicy.services.permissions.PERMISSIONS`); :func:`api_actor` and :func:`page_actor`
read it from the matched route, authenticate, and call ``permissions.require``. A route of the
API without an operation is a bug the tests catch (tests/test_web_permissions.py).

- API: ``Authorization: Bearer TOKEN`` only. A session cookie sent to ``/api`` is never read,
  so a browser cannot be made to call the API on a user's behalf. No token or an unknown one:
  401; a role the operation does not allow: 403.
- Pages: the session cookie (HttpOnly, SameSite=Strict, Secure when the request came over
  https); signed out -> the login page. Every unsafe method also needs the session's CSRF token
  (form field ``csrf_token`` or header ``X-CSRF-Token``), checked in constant time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from bhpolicy.services import permissions, users
from bhpolicy.services.errors import Forbidden, Unauthenticated
from bhpolicy.services.users import Actor

OPERATION = "x-bhpolicy-operation"
SESSION_COOKIE = "bhpolicy_session"
LOGIN_COOKIE = "bhpolicy_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="A token printed once by `bhpolicy users add`.")


def operation(name: str) -> dict[str, Any]:
    """``openapi_extra`` naming a route's operation (checked against PERMISSIONS now)."""
    if name not in permissions.PERMISSIONS:
        raise ValueError(f"{name}: not an operation of services.permissions")
    return {OPERATION: name}


def operation_of(request: Request) -> str:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    name = extra.get(OPERATION)
    if not isinstance(name, str):
        raise RuntimeError("a route without an operation asked for its caller")
    return name


def database(request: Request) -> Any:
    return request.app.state.db


def clock(request: Request) -> dt.datetime:
    now: dt.datetime = request.app.state.settings.clock()
    return now


def api_actor(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    """The API caller, allowed the route's operation (401 / 403 otherwise)."""
    name = operation_of(request)
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("an Authorization: Bearer token is required")
    actor = users.authenticate_token(database(request), credentials.credentials,
                                     now=clock(request))
    if actor is None:
        raise Unauthenticated("the bearer token is not valid")
    permissions.require(actor, name)
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]


@dataclass(frozen=True)
class PageAuth:
    actor: Actor
    csrf: str
    cookie: str


class LoginRequired(Exception):
    """Signed out (or the session expired): the login page, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def safe_next(value: str | None) -> str:
    """Only a path of this site (no scheme, no host, no ``//``) may be a redirect target."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/queue"
    return value


def csrf_matches(expected: str, given: object) -> bool:
    return (isinstance(given, str) and bool(given) and
            hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")))


async def csrf_token_sent(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def page_session(request: Request) -> PageAuth | None:
    """The signed-in user of a page request (or None), kept on ``request.state``."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    db, now = database(request), clock(request)
    found = await run_in_threadpool(lambda: users.actor_for_session(db, cookie, now=now))
    if found is None:
        return None
    actor, csrf = found
    auth = PageAuth(actor, csrf, cookie)
    request.state.page_auth = auth
    return auth


async def page_actor(request: Request) -> Actor:
    """The page's user, allowed the route's operation; a form post also needs its CSRF
    token. Signed out -> :class:`LoginRequired`; wrong role -> 403."""
    name = operation_of(request)
    auth = await page_session(request)
    if auth is None:
        target = request.url.path if request.method in SAFE_METHODS else "/queue"
        raise LoginRequired(target)
    if request.method not in SAFE_METHODS and not csrf_matches(
            auth.csrf, await csrf_token_sent(request)):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page")
    permissions.require(auth.actor, name)
    return auth.actor


PageActor = Annotated[Actor, Depends(page_actor)]


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int | None, path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


class LoginThrottle:
    """Counts failed logins per name and per client address; past ``limit`` failures inside
    ``window`` seconds, further tries are refused until the window ends."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(name: str, address: str) -> tuple[str, str]:
        return "name:" + name.strip().lower(), "addr:" + address

    def wait_seconds(self, name: str, address: str) -> int:
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                first, count = self._failures.get(key, (now, 0))
                if now - first >= self.window:
                    self._failures.pop(key, None)
                elif count >= self.limit:
                    wait = max(wait, self.window - (now - first))
        return int(wait) + (1 if wait else 0)

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in self._keys(name, address):
                first, count = self._failures.get(key, (now, 0))
                if now - first >= self.window:
                    first, count = now, 0
                self._failures[key] = (first, count + 1)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(name, address)[0], None)
