"""The JSON API under ``/api``: one route per service operation, bearer tokens only.

Every route names its operation (:func:`bhpolicy.web.auth.operation`), which
:func:`bhpolicy.web.auth.api_actor` checks against ``services.permissions``; request and
answer bodies are the services' Pydantic models, so ``/openapi.json`` describes exactly what is
accepted. Routes are plain ``def``: the services are synchronous and run in the thread pool.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from bhpolicy.services import audit, reference, requests, users
from bhpolicy.services.errors import Invalid
from bhpolicy.services.schemas import (
    AppealCreate,
    AuditEventView,
    CodeSummary,
    CodeView,
    DecisionCreate,
    ExtensionCreate,
    InformationCreate,
    NoticeView,
    PeerToPeerCreate,
    PolicySummary,
    PolicyView,
    RequestCreate,
    RequestSummary,
    RequestView,
    Status,
    Urgency,
    UserCreate,
    UserView,
)
from bhpolicy.web.auth import ApiActor, operation


class ErrorAnswer(BaseModel):
    """Every refusal: one line, and the body element to blame when there is one."""

    model_config = ConfigDict(extra="forbid")
    detail: str
    element: str | None = None


class UserCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: UserView
    token: str = Field(description="The new user's API token, shown this once only.")


class UserCreateBody(UserCreate):
    password: Annotated[str | None, Field(min_length=1, max_length=1024)] = None


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {400: "Bad request", 401: "No or unknown bearer token",
               403: "The caller's role may not do this", 404: "Not found",
               409: "Changed meanwhile (another decision won the race)",
               413: "Body too large", 422: "A body element or parameter is not valid"}
    return {s: {"model": ErrorAnswer, "description": meaning[s]} for s in (401, 403, *statuses)}


def _operation_id(route: APIRoute) -> str:
    return route.name  # the function's name: create_request, get_request, ...


router = APIRouter(prefix="/api", tags=["api"], generate_unique_id_function=_operation_id)

_REQUEST_ID = {"request_id": "$response.body#/id"}
#: OpenAPI links: what a client (and schemathesis' stateful run) can do with an answer's ids
REQUEST_LINKS = {name: {"operationId": name, "parameters": _REQUEST_ID}
                 for name in ("get_request", "add_information", "decide", "extend",
                              "peer_to_peer", "appeal")}
NOTICE_LINKS = {"get_notice": {"operationId": "get_notice",
                               "parameters": {"notice_id": "$response.body#/notices/0/id"}}}


def _linked(status: int, *statuses: int) -> dict[int | str, dict[str, Any]]:
    answers = _errors(*statuses)
    answers[status] = {"description": "The request as it now stands",
                       "links": {**REQUEST_LINKS, **NOTICE_LINKS}}
    return answers

RequestId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$",
                                description="bhpolicy's own request id (never a member id)")]
NoticeId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]


def _db(request: Request) -> Any:
    return request.app.state.db


def _now(request: Request) -> dt.datetime:
    now: dt.datetime = request.app.state.settings.clock()
    return now


def _version(if_match: str | None) -> int | None:
    """``If-Match: "3"`` (the ETag of GET /api/requests/{id}) or ``3``; absent: None."""
    if if_match is None:
        return None
    text = if_match.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit() or len(text) > 12:
        raise Invalid("If-Match: expected the request's version (its ETag)", "header.If-Match")
    return int(text)


def _etag(response: Response, view: RequestView) -> RequestView:
    response.headers["ETag"] = f'"{view.version}"'
    return view


@router.post("/requests", status_code=201, response_model=RequestView,
             openapi_extra=operation("requests.create"), responses=_linked(201, 404, 413, 422),
             summary="Submit a prior-authorization request; it is determined at once")
def create_request(
    request: Request, response: Response, body: RequestCreate, actor: ApiActor,
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key and body returns the first answer; the same "
        "key with another body is refused (422).")] = None,
) -> RequestView:
    view = requests.create_request(_db(request), actor, body, idempotency_key, _now(request))
    response.headers["Location"] = f"/api/requests/{view.id}"
    return _etag(response, view)


@router.get("/requests", response_model=list[RequestSummary],
            openapi_extra=operation("requests.list"), responses=_errors(422),
            summary="The queue, sorted by the time each decision is due")
def list_requests(
    request: Request, actor: ApiActor, status: Status | None = None,
    urgency: Urgency | None = None, overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many, soonest due "
                                "first")] = 100,
) -> list[RequestSummary]:
    return requests.list_requests(_db(request), actor, status=status, urgency=urgency,
                                  overdue=overdue, now=_now(request), limit=limit)


@router.get("/requests/{request_id}", response_model=RequestView,
            openapi_extra=operation("requests.read"), responses=_linked(200, 404, 422),
            summary="A request with every determination, decision, notice and its history")
def get_request(request: Request, response: Response, request_id: RequestId,
                actor: ApiActor) -> RequestView:
    return _etag(response, requests.get_request(_db(request), actor, request_id,
                                                _now(request)))


@router.post("/requests/{request_id}/information", response_model=RequestView,
             openapi_extra=operation("requests.add_information"),
             responses=_errors(404, 409, 413, 422),
             summary="Add facts or documents; the request is determined again")
def add_information(request: Request, response: Response, request_id: RequestId,
                    body: InformationCreate, actor: ApiActor) -> RequestView:
    return _etag(response, requests.add_information(_db(request), actor, request_id, body,
                                                    _now(request)))


@router.post("/requests/{request_id}/decision", response_model=RequestView,
             openapi_extra=operation("requests.decide"), responses=_linked(200, 404, 409, 413, 422),
             summary="A reviewer's decision: approve, partial approval or deny")
def decide(
    request: Request, response: Response, request_id: RequestId, body: DecisionCreate,
    actor: ApiActor,
    if_match: Annotated[str | None, Header(
        max_length=40, description="The request's version as read (its ETag): a decision "
        "made on an older version is refused with 409.")] = None,
) -> RequestView:
    return _etag(response, requests.decide(_db(request), actor, request_id, body,
                                           _version(if_match), _now(request)))


@router.post("/requests/{request_id}/extension", response_model=RequestView,
             openapi_extra=operation("requests.extend"), responses=_errors(404, 409, 413, 422),
             summary="Extend the decision time once, with a notice")
def extend(request: Request, response: Response, request_id: RequestId,
           body: ExtensionCreate, actor: ApiActor) -> RequestView:
    return _etag(response, requests.extend(_db(request), actor, request_id, body,
                                           _now(request)))


@router.post("/requests/{request_id}/peer-to-peer", response_model=RequestView,
             openapi_extra=operation("requests.peer_to_peer"),
             responses=_errors(404, 409, 413, 422),
             summary="Log a peer-to-peer offer to the requesting provider")
def peer_to_peer(request: Request, response: Response, request_id: RequestId,
                 body: PeerToPeerCreate, actor: ApiActor) -> RequestView:
    return _etag(response, requests.offer_peer_to_peer(_db(request), actor, request_id,
                                                       body, _now(request)))


@router.post("/requests/{request_id}/appeal", response_model=RequestView,
             openapi_extra=operation("requests.appeal"), responses=_errors(404, 409, 413, 422),
             summary="File a plan appeal of an adverse decision")
def appeal(request: Request, response: Response, request_id: RequestId, body: AppealCreate,
           actor: ApiActor) -> RequestView:
    return _etag(response, requests.file_appeal(_db(request), actor, request_id, body,
                                                _now(request)))


@router.get("/notices/{notice_id}", response_model=NoticeView,
            openapi_extra=operation("notices.read"), responses=_errors(404, 422),
            summary="A notice as sent, every required element a field")
def get_notice(request: Request, notice_id: NoticeId, actor: ApiActor) -> NoticeView:
    return requests.get_notice(_db(request), actor, notice_id, _now(request))


@router.get("/audit", response_model=list[AuditEventView],
            openapi_extra=operation("audit.read"), responses=_errors(422),
            summary="The audit log, newest first (no PHI in it)")
def read_audit(
    request: Request, actor: ApiActor,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[AuditEventView]:
    return audit.read_audit(_db(request), actor, limit, before_id)


@router.get("/users", response_model=list[UserView], openapi_extra=operation("users.manage"),
            responses=_errors(), summary="Every user")
def list_users(request: Request, actor: ApiActor) -> list[UserView]:
    return users.list_users(_db(request), actor)


@router.post("/users", status_code=201, response_model=UserCreated,
             openapi_extra=operation("users.manage"), responses=_errors(409, 413, 422),
             summary="Add a user; the answer holds its API token, shown once")
def add_user(request: Request, body: UserCreateBody, actor: ApiActor) -> UserCreated:
    view, token = users.add_user(_db(request), body.name, body.role, licence=body.licence,
                                 password=body.password, by=actor, now=_now(request))
    return UserCreated(user=view, token=token)


@router.get("/codes", response_model=list[CodeSummary], openapi_extra=operation("codes.read"),
            responses=_errors(422), summary="Codes of the catalog, or those matching q")
def list_codes(
    request: Request, actor: ApiActor,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[CodeSummary]:
    return reference.search_codes(actor, q, limit) if q else reference.list_codes(actor)


@router.get("/codes/{code}", response_model=CodeView, openapi_extra=operation("codes.read"),
            responses=_errors(404, 422),
            summary="A code's whole catalog entry, every fact with its source")
def get_code(request: Request, actor: ApiActor, code: Annotated[str, Path(
        min_length=1, max_length=10, pattern=r"^[A-Za-z0-9]+$")]) -> CodeView:
    return reference.get_code(actor, code)


@router.get("/policies", response_model=list[PolicySummary],
            openapi_extra=operation("policies.read"), responses=_errors(),
            summary="The policy packs")
def list_policies(request: Request, actor: ApiActor) -> list[PolicySummary]:
    return reference.list_policies(actor)


@router.get("/policies/{policy}", response_model=PolicyView,
            openapi_extra=operation("policies.read"), responses=_errors(404, 422),
            summary="A pack with its parameters in force on as_of and its criteria sections")
def get_policy(
    request: Request, actor: ApiActor,
    policy: Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")],
    as_of: dt.date | None = None,
) -> PolicyView:
    return reference.get_policy(actor, policy, as_of or _now(request).date())
