"""The outermost layer of every response: a body-size limit (413), security headers, an
access log without PHI, and a last-resort 500 that says nothing.

The access log names the method, the route *template* (``/api/requests/{request_id}``, never
the concrete path or its query), the status and the time on the server; it is the only access
log (uvicorn's own is switched off by ``bhpolicy serve``). The same time goes out as a
``Server-Timing`` header so a load test can read the server's own latency.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("bhpolicy.web.access")
ERROR_LOG = logging.getLogger("bhpolicy.web.error")

#: the pages' Content-Security-Policy: our own files only, no inline script or style
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

_SECURITY_HEADERS = (
    (b"content-security-policy", PAGE_CSP.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _own_policy(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes] | None:
    """A route's own CSP is kept only when it allows no script at all (a run's report.html,
    whose styles are inline); any other is replaced by the pages' policy."""
    for name, value in headers:
        if name.lower() == b"content-security-policy" and value.startswith(
                b"default-src 'none';") and b"script-src" not in value:
            return b"content-security-policy", value
    return None


class BodyTooLarge(HTTPException):
    """The request body passed the configured limit while it was being read (an
    HTTPException, so the framework's body parser lets it through as a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


def route_template(scope: Scope) -> str:
    """The matched route's template, or a placeholder: never the concrete path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "(no route)"


def _json(scope: Scope, status: int, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The API's error body, or an OperationOutcome under /fhir."""
    import json

    if str(scope.get("path", "")).startswith("/fhir"):
        from bhpolicy.fhir.outcome import outcome_of

        body = json.dumps(outcome_of(status, detail)).encode("utf-8")
        kind = b"application/fhir+json"
    else:
        body = json.dumps({"detail": detail, "element": None}).encode("utf-8")
        kind = b"application/json"
    return [(b"content-type", kind),
            (b"content-length", str(len(body)).encode("ascii"))], body


class Guard:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer and copy bodies)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, upload_bytes: int = 0,
                 upload_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_bytes = max(upload_bytes, max_body_bytes)
        self.upload_paths = upload_paths  # the routes that take files get upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 0, "sent": False}
        limit = (self.upload_bytes if scope.get("path") in self.upload_paths
                 else self.max_body_bytes)

        length = _content_length(scope)
        if length is not None and length > limit:
            await self._answer(scope, send, state, 413, f"request body over {limit} bytes")
            self._log(scope, state, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["sent"] = True
                elapsed = (time.perf_counter() - started) * 1000
                given = list(message.get("headers", []))
                headers = [h for h in given
                           if h[0].lower() not in {k for k, _ in _SECURITY_HEADERS}]
                headers += [_own_policy(given) or h if h[0] == b"content-security-policy"
                            else h for h in _SECURITY_HEADERS]
                if not _is_static(scope):
                    headers.append((b"cache-control", b"no-store"))
                headers.append((b"server-timing", f"app;dur={elapsed:.2f}".encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            await self._answer(scope, send, state, 413, f"request body over {limit} bytes")
        except Exception as exc:  # a bug: say nothing about it but its type (no PHI)
            if os.environ.get("BHPOLICY_DEBUG"):
                ERROR_LOG.exception("internal error in %s %s", scope.get("method"),
                                    route_template(scope))
            else:
                ERROR_LOG.error("internal error in %s %s: %s", scope.get("method"),
                                route_template(scope), type(exc).__name__)
            await self._answer(scope, send, state, 500, "internal error")
        finally:
            self._log(scope, state, started)

    async def _answer(self, scope: Scope, send: Send, state: dict[str, Any], status: int,
                      detail: str) -> None:
        if state["sent"]:  # too late for another answer: the client sees a cut response
            return
        headers, body = _json(scope, status, detail)
        headers += list(_SECURITY_HEADERS)
        headers.append((b"cache-control", b"no-store"))
        if status == 413:
            headers.append((b"connection", b"close"))
        state["status"], state["sent"] = status, True
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, state: dict[str, Any], started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        ACCESS_LOG.info("%s %s %s %.1fms", scope.get("method"), route_template(scope),
                        state["status"], elapsed)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_static(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/static/")
