"""schemathesis against /openapi.json: every operation with generated parameters and bodies,
sent as each role (and with no token), answers without a 5xx, and a 2xx answer matches its
documented schema; then a bounded stateful run follows the OpenAPI links (a created request
to its reads, information, decision, extension, peer-to-peer, appeal and notices), each call
made as a role the operation allows. Bounded: at most 50 examples an operation."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bhpolicy.services.permissions import PERMISSIONS, ROLES
from bhpolicy.web.app import create_app
from tests.support.web import add_role_users, bearer, request_body
from tests.support.web import settings as web_settings
from tests.test_web_permissions import API_ROUTES

CASES = ("sc-initial-refer", "sc-initial-pend", "sc-initial-meets")
OPERATION_OF = {(method, path): operation for method, path, operation in API_ROUTES}
QUICK = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck),
                 phases=[Phase.explicit, Phase.generate])


# One app for the module; each test points it at its own fresh database (the schema is read
# when the module loads, so the generated tests exist before any fixture runs).
APP = create_app(None, web_settings())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def world(sqlite_database: Any) -> tuple[Any, dict[str, str]]:
    tokens = add_role_users(sqlite_database)
    APP.state.db = sqlite_database
    return APP, tokens


def _conforms(case: Any, response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code}"
    if 200 <= response.status_code < 300:
        case.validate_response(response, checks=[not_a_server_error,
                                                 response_schema_conformance])


@schema.parametrize()
@QUICK
def test_no_5xx_as_any_role(case: Any, world: tuple[Any, dict[str, str]]) -> None:
    _, tokens = world
    operation = OPERATION_OF.get((case.method.upper(), case.path))
    generated = {k: v for k, v in (case.headers or {}).items()
                 if k.lower() != "authorization"}
    for role in ROLES:
        case.headers = {**generated, **bearer(tokens[role])}
        response = case.call()
        _conforms(case, response)
        if operation is None:  # a method the path does not have (schemathesis tries some)
            assert response.status_code == 405
        elif role not in PERMISSIONS[operation]:
            assert response.status_code in (403, 413, 422), (role, response.status_code)
    case.headers = generated
    assert case.call().status_code in (401, 405, 413, 422)


def _role_for(operation: str) -> str:
    allowed = PERMISSIONS[operation]
    for role in ("intake", "reviewer", "admin", "analyst", "provider-system", "biller"):
        if role in allowed:
            return role
    raise AssertionError(operation)


def test_stateful_links_without_a_5xx(world: tuple[Any, dict[str, str]]) -> None:
    app, tokens = world
    # the links are the review API's; the billing routes (no links; jobs and uploads that
    # pile up state between hypothesis's replays) are covered by the per-role run above
    api = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(tag="billing")
    machine = api.as_state_machine()
    calls: list[tuple[str, str, int]] = []

    class AsAllowedRoles(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            """A generated case object is almost never a valid case, so the creations use
            the example cases (a meets, a pend, a refer), and the links then lead to real
            requests; every call carries a token of a role the operation allows."""
            if (case.method.upper(), case.path) == ("POST", "/api/requests"):
                case.body = request_body(CASES[len(calls) % len(CASES)])
            operation = OPERATION_OF.get((case.method.upper(), case.path))
            headers = {k: v for k, v in (case.headers or {}).items()
                       if k.lower() != "authorization"}
            if operation is not None:
                headers.update(bearer(tokens[_role_for(operation)]))
            case.headers = headers

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            _conforms(case, response)
            calls.append((case.method.upper(), case.path, response.status_code))

    AsAllowedRoles.run(settings=settings(
        max_examples=25, stateful_step_count=6, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck)))
    assert ("POST", "/api/requests", 201) in calls
    followed = {(m, p) for m, p, status in calls if p.startswith("/api/requests/{")
                and 200 <= status < 300}
    assert followed, "no link from a created request was followed to a 2xx"


def test_the_example_request_round_trips(world: tuple[Any, dict[str, str]]) -> None:
    """A sanity anchor for the generated runs: a real body is accepted by the schema."""
    from fastapi.testclient import TestClient

    app, tokens = world
    with TestClient(app) as client:
        answer = client.post("/api/requests", json=request_body(),
                             headers=bearer(tokens["intake"]))
    assert answer.status_code == 201
