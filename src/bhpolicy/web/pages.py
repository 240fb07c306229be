"""The reviewers' pages: login, the queue, a request (worksheet, trace, documents, history,
the decision form), notices ready to print, code search and the policy packs.

Each page names its operation like an API route does; :func:`auth.page_actor` checks the
session, the CSRF token of a form and the role. A form that the service refuses (422, 409)
shows the request page again with the one-line message and the values typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from bhpolicy.services import permissions, reference, requests, users
from bhpolicy.services.errors import Forbidden, ServiceError
from bhpolicy.services.schemas import (
    DecisionCreate,
    ExtensionCreate,
    PeerToPeerCreate,
    RequestView,
)
from bhpolicy.web import views
from bhpolicy.web.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    PageActor,
    csrf_matches,
    csrf_token_sent,
    new_login_token,
    operation,
    page_session,
    safe_next,
    set_cookie,
)
from bhpolicy.web.errors import element_of
from bhpolicy.web.rendering import render

router = APIRouter(include_in_schema=False)

STATUSES = ("pended", "referred", "approved", "partially_approved", "denied", "appeal_pending")


def _db(request: Request) -> Any:
    return request.app.state.db


def _now(request: Request) -> dt.datetime:
    now: dt.datetime = request.app.state.settings.clock()
    return now


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


# -- signing in and out -----------------------------------------------------------------------

@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/healthz")
def healthz(request: Request) -> Response:
    ready = bool(getattr(request.app.state, "ready", False))
    return JSONResponse({"status": "ready" if ready else "starting"},
                        status_code=200 if ready else 503)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    return render(request, "docs.html.j2")


def _login_page(request: Request, next_path: str, problem: str = "", name: str = "",
                status: int = 200) -> HTMLResponse:
    token = new_login_token()
    response = render(request, "login.html.j2", status_code=status, login_token=token,
                      next_path=safe_next(next_path), problem=problem, name=name)
    set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600, path="/login")
    return response


@router.get("/login")
async def login_form(request: Request, next: str = "/queue") -> Response:
    if await page_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    request.state.page_auth = None
    return _login_page(request, next)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")[:80]
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or "/queue"))
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), form.get("login_token")):
        return _login_page(request, next_path, "The sign-in form expired; please try again.",
                           name, status=403)
    throttle = request.app.state.throttle
    wait = throttle.wait_seconds(name, _address(request))
    if wait:
        return _login_page(request, next_path, f"Too many failed sign-ins; wait {wait} "
                           "seconds and try again.", name, status=429)
    actor = await run_in_threadpool(users.verify_password, _db(request), name, password)
    if actor is None:
        throttle.failed(name, _address(request))
        return _login_page(request, next_path, "Wrong user name or password.", name,
                           status=401)
    throttle.succeeded(name, _address(request))
    cookie, _csrf = await run_in_threadpool(
        lambda: users.open_session(_db(request), actor, now=_now(request)))
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie,
               max_age=int(users.SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    auth = await page_session(request)
    if auth is not None:
        if not csrf_matches(auth.csrf, await csrf_token_sent(request)):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page")
        await run_in_threadpool(
            lambda: users.close_session(_db(request), auth.cookie, now=_now(request)))
    request.state.page_auth = None
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- the queue and a request ------------------------------------------------------------------

@router.get("/queue", openapi_extra=operation("requests.list"))
def queue(request: Request, actor: PageActor, status: str = "", urgency: str = "",
          overdue: str = "") -> HTMLResponse:
    problem = ""
    chosen_status = status if status in STATUSES else None
    chosen_urgency = urgency if urgency in ("standard", "expedited") else None
    if (status and chosen_status is None) or (urgency and chosen_urgency is None):
        problem = "An unknown filter was ignored."
    only_overdue = True if overdue == "yes" else False if overdue == "no" else None
    rows = requests.list_requests(_db(request), actor, status=chosen_status,
                                  urgency=chosen_urgency, overdue=only_overdue,
                                  now=_now(request))
    return render(request, "queue.html.j2", rows=rows, statuses=STATUSES, status=status,
                  urgency=urgency, overdue=overdue, problem=problem)


def _request_page(request: Request, actor: Any, view: RequestView, problem: str = "",
                  form: dict[str, Any] | None = None, status_code: int = 200,
                  done: str = "") -> HTMLResponse:
    determination = view.determination
    trace = determination.get("trace")
    role = actor.role
    return render(
        request, "request.html.j2", status_code=status_code, view=view,
        determination=determination, rows=views.trace_rows(trace) if trace else [],
        sections=views.decision_sections(determination), problem=problem, form=form or {},
        done=done,
        can_decide=permissions.allowed(role, "requests.decide"),
        can_extend=permissions.allowed(role, "requests.extend"),
        can_offer=permissions.allowed(role, "requests.peer_to_peer"),
        can_read_notices=permissions.allowed(role, "notices.read"))


@router.get("/requests/{request_id}", openapi_extra=operation("requests.read"))
def request_page(request: Request, request_id: str, actor: PageActor,
                 done: str = "") -> HTMLResponse:
    view = requests.get_request(_db(request), actor, request_id[:40], _now(request))
    message = {"decision": "Decision recorded.", "extension": "Extension recorded.",
               "peer-to-peer": "Peer-to-peer offer logged."}.get(done, "")
    return _request_page(request, actor, view, done=message)


def _first_problem(exc: ValidationError, prefix: str = "") -> str:
    error = exc.errors()[0]
    element = element_of(error.get("loc", ())) if error.get("loc") else "form"
    return f"{prefix}{element}: {str(error.get('msg', 'not valid')).splitlines()[0]}"


async def _form_dict(request: Request) -> dict[str, Any]:
    form = await request.form()
    values: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        values[key] = items if key == "criteria" else (items[0] if items else "")
    return values


def _decision_body(form: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": form.get("kind", ""),
                            "appeal": form.get("appeal") == "yes"}
    if form.get("period_start") or form.get("period_end"):
        body["period"] = {"start": form.get("period_start", ""),
                          "end": form.get("period_end", "")}
    units = str(form.get("units", "")).strip()
    if units:
        body["units"] = int(units) if units.isdigit() and len(units) < 9 else units
    if str(form.get("code", "")).strip():
        body["code"] = str(form["code"]).strip().upper()
    if str(form.get("modifiers", "")).strip():
        body["modifiers"] = [m.upper() for m in views.split_list(str(form["modifiers"]))]
    criteria = list(form.get("criteria", []))
    criteria += [s for s in views.split_list(str(form.get("other_criteria", "")))
                 if s not in criteria]
    body["criteria"] = criteria
    if str(form.get("reason", "")).strip():
        body["reason"] = str(form["reason"]).strip()
    return body


async def _act(request: Request, actor: Any, request_id: str, form: dict[str, Any],
               done: str, call: Any) -> Response:
    """Run a form's service call; on success back to the request page (303), on a refusal
    the page again with the message."""
    try:
        await run_in_threadpool(call)
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        view = await run_in_threadpool(requests.get_request, _db(request), actor, request_id,
                                       _now(request))
        return _request_page(request, actor, view, problem=str(exc), form=form,
                             status_code=exc.status)
    return RedirectResponse(f"/requests/{request_id}?done={done}", status_code=303)


async def _refused(request: Request, actor: Any, request_id: str, form: dict[str, Any],
                   problem: str) -> Response:
    view = await run_in_threadpool(requests.get_request, _db(request), actor, request_id,
                                   _now(request))
    return _request_page(request, actor, view, problem=problem, form=form, status_code=422)


@router.post("/requests/{request_id}/decision", openapi_extra=operation("requests.decide"))
async def decision_form(request: Request, request_id: str, actor: PageActor) -> Response:
    request_id = request_id[:40]
    form = await _form_dict(request)
    try:
        body = DecisionCreate.model_validate(_decision_body(form))
    except ValidationError as exc:
        return await _refused(request, actor, request_id, form, _first_problem(exc))
    version = str(form.get("version", ""))
    expected = int(version) if version.isdigit() and len(version) < 12 else None
    return await _act(request, actor, request_id, form, "decision", lambda: requests.decide(
        _db(request), actor, request_id, body, expected, _now(request)))


@router.post("/requests/{request_id}/extension", openapi_extra=operation("requests.extend"))
async def extension_form(request: Request, request_id: str, actor: PageActor) -> Response:
    request_id = request_id[:40]
    form = await _form_dict(request)
    days = str(form.get("days", "")).strip()
    raw = {"reason": form.get("extension_reason", ""),
           "days": int(days) if days.isdigit() and len(days) < 6 else days}
    if str(form.get("note", "")).strip():
        raw["note"] = str(form["note"]).strip()
    try:
        body = ExtensionCreate.model_validate(raw)
    except ValidationError as exc:
        return await _refused(request, actor, request_id, form, _first_problem(exc, "extension "))
    return await _act(request, actor, request_id, form, "extension", lambda: requests.extend(
        _db(request), actor, request_id, body, _now(request)))


@router.post("/requests/{request_id}/peer-to-peer",
             openapi_extra=operation("requests.peer_to_peer"))
async def peer_to_peer_form(request: Request, request_id: str, actor: PageActor) -> Response:
    request_id = request_id[:40]
    form = await _form_dict(request)
    note = str(form.get("p2p_note", "")).strip()
    try:
        body = PeerToPeerCreate.model_validate({"note": note} if note else {})
    except ValidationError as exc:
        return await _refused(request, actor, request_id, form,
                              _first_problem(exc, "peer-to-peer "))
    return await _act(request, actor, request_id, form, "peer-to-peer",
                      lambda: requests.offer_peer_to_peer(_db(request), actor, request_id,
                                                          body, _now(request)))


@router.get("/notices/{notice_id}", openapi_extra=operation("notices.read"))
def notice_page(request: Request, notice_id: str, actor: PageActor) -> HTMLResponse:
    notice = requests.get_notice(_db(request), actor, notice_id[:40], _now(request))
    return render(request, "notice.html.j2", notice=notice)


# -- codes and policies -----------------------------------------------------------------------

def _code_hits(actor: Any, query: str) -> tuple[list[Any], str]:
    if not query.strip():
        return list(reference.list_codes(actor)), ""
    try:
        return list(reference.search_codes(actor, query[:200], 25)), ""
    except ServiceError as exc:
        return [], str(exc).removeprefix("q: ")


@router.get("/codes", openapi_extra=operation("codes.read"))
def codes_page(request: Request, actor: PageActor, q: str = "") -> HTMLResponse:
    hits, problem = _code_hits(actor, q)
    return render(request, "codes.html.j2", query=q[:200], hits=hits, problem=problem)


@router.get("/codes/results", openapi_extra=operation("codes.read"))
def code_results(request: Request, actor: PageActor, q: str = "") -> HTMLResponse:
    hits, problem = _code_hits(actor, q)
    return render(request, "code_results.html.j2", query=q[:200], hits=hits, problem=problem)


CODE_FIELDS = ("official_descriptor", "short_descriptor", "description", "synonyms",
               "plain_language", "clinical_context", "unit", "rvu", "documentation",
               "specialties", "denial_reasons", "added_date", "termination_date")


@router.get("/codes/{code}", openapi_extra=operation("codes.read"))
def code_page(request: Request, code: str, actor: PageActor) -> HTMLResponse:
    entry = reference.get_code(actor, code[:10]).entry
    fields, absent = [], []
    for name in CODE_FIELDS:
        fact = entry.get(name)
        if isinstance(fact, dict) and fact.get("value") not in (None, "", []):
            fields.append({"name": name, "value": fact["value"], "source": fact.get("source"),
                           "section": fact.get("section")})
        elif name in entry:
            absent.append(name)
    return render(request, "code.html.j2", entry=entry, fields=fields, absent=absent)


@router.get("/policies", openapi_extra=operation("policies.read"))
def policies_page(request: Request, actor: PageActor) -> HTMLResponse:
    return render(request, "policies.html.j2", packs=reference.list_policies(actor))


@router.get("/policies/{policy}", openapi_extra=operation("policies.read"))
def policy_page(request: Request, policy: str, actor: PageActor,
                as_of: str = "") -> HTMLResponse:
    when = _now(request).date()
    problem = ""
    if as_of:
        try:
            when = dt.date.fromisoformat(as_of)
        except ValueError:
            problem = "The date was not YYYY-MM-DD; the values shown are today's."
    view = reference.get_policy(actor, policy[:60], when)
    return render(request, "policy.html.j2", policy=view, as_of=when.isoformat(),
                  problem=problem)
