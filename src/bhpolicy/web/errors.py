"""Errors as answers: JSON ``{"detail", "element"}`` on the API, a small page elsewhere.

- a :class:`ServiceError` keeps its status and its one-line message (no PHI by contract);
- a validation error is 422 with one message naming the first bad body element
  (``member.birth_date: ...``), never the value sent;
- a framework error (404, 405) keeps its status;
- anything else never gets here: :class:`bhpolicy.web.guard.Guard` answers 500 "internal
  error" without detail.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from bhpolicy.services.errors import ServiceError
from bhpolicy.web.auth import LoginRequired, login_url
from bhpolicy.web.rendering import render

#: FastAPI's 400 for a body it could not decode (not UTF-8, not JSON at all)
BODY_UNREADABLE = "There was an error parsing the body"


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/api" or path == "/openapi.json"


def element_of(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "member", "reference")`` -> ``member.reference``; a query or header
    parameter keeps its kind: ``query.limit``."""
    parts = [str(p) for p in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_message(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if not errors:
        return "body", "body: not valid"
    first = errors[0]
    element = element_of(first.get("loc", ()))
    message = str(first.get("msg", "not valid")).splitlines()[0]
    if first.get("type") == "json_invalid":
        return "body", "body: not valid JSON"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return element, f"{element}: {message}{more}"


def error_answer(request: Request, status: int, detail: str, element: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/fhir"):  # the FHIR router answers its own; just in case
        from bhpolicy.fhir.outcome import outcome_of

        return JSONResponse(outcome_of(status, detail, element), status_code=status,
                            headers=headers, media_type="application/fhir+json")
    if is_api(request):
        return JSONResponse({"detail": detail, "element": element}, status_code=status,
                            headers=headers)
    return render(request, "error.html.j2", status_code=status, status=status, detail=detail)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_answer(request, exc.status, str(exc), exc.element, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        element, message = validation_message(exc)
        return error_answer(request, 422, message, element)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 400 and detail == BODY_UNREADABLE:  # bytes that are no JSON
            return error_answer(request, 422, "body: not valid JSON", "body")
        return error_answer(request, exc.status_code, detail, None,
                            dict(exc.headers) if exc.headers else None)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_path), status_code=303)
