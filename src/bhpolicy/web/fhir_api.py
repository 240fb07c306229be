"""The FHIR API under /fhir: Da Vinci PAS 2.2.1 ``Claim/$submit`` and ``Claim/$inquire``,
``Subscription`` (create, read, delete: final results pushed by rest-hook),
``Questionnaire/{id}`` (facts.yaml as a DTR-style form) and ``metadata``.

Bearer tokens as on /api (:func:`bhpolicy.web.auth.api_actor`'s rules: no token 401, a role the
operation does not allow 403). Every error under /fhir is one OperationOutcome naming the
element (a FHIRPath) and the problem, with no value from the request; never FastAPI's default
body, never a traceback. The work is in :mod:`bhpolicy.fhir` (framework-free); this module
reads the body, authenticates, and answers."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bhpolicy.errors import BhpolicyError
from bhpolicy.fhir.outcome import FhirError, operation_outcome, outcome_of, structure
from bhpolicy.services import permissions, users
from bhpolicy.services.errors import ServiceError, Unauthenticated
from bhpolicy.services.users import Actor

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
MAX_DEPTH = 64

router = APIRouter(prefix="/fhir", tags=["fhir"], include_in_schema=False)


def fhir_answer(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
                    status_code=status, media_type=FHIR_JSON)


def error_answer(error: FhirError | ServiceError) -> Response:
    if isinstance(error, FhirError):
        outcome, status = operation_outcome(error), error.status
    else:
        outcome, status = outcome_of(error.status, str(error)), error.status
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON, headers=headers)


def _actor(request: Request, operation: str) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("an Authorization: Bearer token is required")
    actor = users.authenticate_token(request.app.state.db, token.strip())
    if actor is None:
        raise Unauthenticated("the bearer token is not valid")
    permissions.require(actor, operation)
    return actor


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError("a key appears twice in one object")
        seen[key] = value
    return seen


def _depth(value: Any, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(value, dict):
        for item in value.values():
            _depth(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _depth(item, level + 1)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_resource(request: Request) -> Any:
    """The body as JSON: UTF-8, FHIR JSON media type, no key twice, no NaN, bounded nesting."""
    parsed, _ = await read_body(request)
    return parsed


async def read_body(request: Request) -> tuple[Any, str]:
    """The body as JSON (see :func:`read_resource`) and as the text it was sent as."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise FhirError(None, f"send {FHIR_JSON} (or application/json)", status=415,
                        code="not-supported")
    body = await request.body()
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, object_pairs_hook=_no_duplicates,
                            parse_constant=_reject_constant)
        _depth(parsed)
    except UnicodeDecodeError:
        raise structure(None, "the body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        problem = str(exc) if isinstance(exc, ValueError) and not isinstance(
            exc, json.JSONDecodeError) else "not valid JSON"
        raise structure(None, f"the body is not valid JSON ({problem})") from None
    return parsed, text


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _registry(request: Request) -> Any:
    from bhpolicy.services.determining import registry

    return registry()


@router.post("/Claim/$submit")
async def claim_submit(request: Request) -> Response:
    """PAS $submit: a request Bundle in, a response Bundle out."""
    from bhpolicy.fhir.submit import submit

    try:
        actor = _actor(request, "requests.create")
        raw, text = await read_body(request)
        now = request.app.state.settings.clock()
        bundle = await run_in_threadpool(partial(submit, received=text),
                                         request.app.state.db, actor, raw,
                                         _registry(request), now, _base_url(request))
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    except BhpolicyError as exc:  # a data file or pack problem: one line, no PHI
        return error_answer(FhirError(None, str(exc), status=422, code="processing"))
    return fhir_answer(bundle)


@router.post("/Claim/$inquire")
async def claim_inquire(request: Request) -> Response:
    """PAS $inquire: an inquiry Bundle in, a Parameters of 0..* response Bundles out."""
    from bhpolicy.fhir.inquire import inquire

    try:
        actor = _actor(request, "requests.read")
        raw = await read_resource(request)
        now = request.app.state.settings.clock()
        answer = await run_in_threadpool(inquire, request.app.state.db, actor, raw,
                                         _registry(request), now, _base_url(request))
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    except BhpolicyError as exc:  # a data file problem (pas_rules.yaml): one line, no PHI
        return error_answer(FhirError(None, str(exc), status=422, code="processing"))
    return fhir_answer(answer)


@router.post("/Subscription")
async def subscription_create(request: Request) -> Response:
    """A PAS Subscription (R4 backport, rest-hook, full resource) for the caller's
    organisation: 201 with the Subscription as stored."""
    from bhpolicy.fhir.subscription import read_subscription
    from bhpolicy.services.subscriptions import create_subscription

    try:
        actor = _actor(request, "requests.create")
        raw = await read_resource(request)
        organization, endpoint, resource = read_subscription(raw, actor)
        now = request.app.state.settings.clock()
        made = await run_in_threadpool(create_subscription, request.app.state.db, actor,
                                       organization, endpoint, _base_url(request), resource,
                                       now)
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    answer = fhir_answer(made.resource, status=201)
    answer.headers["Location"] = f"{_base_url(request)}/Subscription/{made.id}"
    return answer


@router.get("/Subscription/{subscription_id}")
async def subscription_read(request: Request, subscription_id: str) -> Response:
    """A Subscription of the caller's organisation (404 for any other)."""
    from bhpolicy.services.subscriptions import get_subscription

    try:
        actor = _actor(request, "requests.read")
        found = await run_in_threadpool(get_subscription, request.app.state.db, actor,
                                        subscription_id[:40])
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    return fhir_answer(found.resource)


@router.delete("/Subscription/{subscription_id}")
async def subscription_delete(request: Request, subscription_id: str) -> Response:
    """End a Subscription of the caller's organisation: nothing more is sent for it."""
    from bhpolicy.services.subscriptions import end_subscription

    try:
        actor = _actor(request, "requests.create")
        now = request.app.state.settings.clock()
        await run_in_threadpool(end_subscription, request.app.state.db, actor,
                                subscription_id[:40], now)
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    return Response(status_code=204)


@router.get("/Questionnaire/{questionnaire_id}")
async def get_questionnaire(request: Request, questionnaire_id: str) -> Response:
    """The Questionnaire of a pack and request type (``sc-act-initial``)."""
    from bhpolicy.criteria.loader import criteria_for
    from bhpolicy.errors import NotFoundError
    from bhpolicy.fhir.questionnaire import all_questionnaires

    try:
        _actor(request, "policies.read")
        packs = []
        for pack in _registry(request).packs:
            try:
                packs.append(criteria_for(pack))
            except NotFoundError:
                continue
        found = all_questionnaires(packs, request.app.state.settings.clock().date())
        if questionnaire_id not in found:
            raise FhirError("Questionnaire.id", f"no Questionnaire {questionnaire_id[:64]!r} "
                            f"(known: {', '.join(sorted(found))})", status=404)
    except (FhirError, ServiceError) as exc:
        return error_answer(exc)
    return fhir_answer(found[questionnaire_id])


@router.get("/metadata")
async def metadata(request: Request) -> Response:
    """The CapabilityStatement (no token needed, as FHIR servers publish it)."""
    from bhpolicy.fhir.capability import capability_statement

    return fhir_answer(capability_statement(_base_url(request),
                                            request.app.state.settings.clock()))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
async def unknown(request: Request, rest: str) -> Response:
    """Anything else under /fhir: an OperationOutcome, never the framework's default body."""
    return error_answer(FhirError(None, "not an interaction this server supports (see "
                                  "/fhir/metadata)", status=404, code="not-supported"))
