"""Who may call what, and how: bearer tokens on the API (a session cookie there is ignored),
a password login with a secure session cookie on the pages, CSRF on every form, throttled
logins; and the guard around every answer (413, 422 naming the element, never a traceback,
an access log without the concrete URL, the pages' CSP)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bhpolicy.web.guard import PAGE_CSP
from tests.support.web import (
    PASSWORD,
    add_role_users,
    bearer,
    client_for,
    csrf_of,
    login,
    request_body,
    user_name,
)


@pytest.fixture
def tokens(sqlite_database: Any) -> dict[str, str]:
    return add_role_users(sqlite_database, passwords=True)


@pytest.fixture
def client(sqlite_database: Any, tokens: dict[str, str]) -> Any:
    with client_for(sqlite_database) as test_client:
        yield test_client


# --- the API: bearer tokens only ---------------------------------------------------------

def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    answer = client.get("/api/requests")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json() == {"detail": "an Authorization: Bearer token is required",
                             "element": None}


@pytest.mark.parametrize("header", ["Bearer bhp_not-a-token", "Basic dXNlcjpwYXNz",
                                    "Bearer", "bhp_only-the-token"])
def test_an_unknown_or_malformed_token_is_401(client: TestClient, header: str) -> None:
    assert client.get("/api/requests", headers={"Authorization": header}).status_code == 401


def test_a_session_cookie_does_not_authenticate_the_api(client: TestClient) -> None:
    """A signed-in browser has the cookie; a page of another site could make it call the
    API. The API never reads it."""
    login(client, "intake")
    assert client.get("/queue").status_code == 200  # the session works on the pages
    assert client.get("/api/requests").status_code == 401


def test_a_role_the_operation_does_not_allow_is_403(client: TestClient,
                                                    tokens: dict[str, str]) -> None:
    answer = client.get("/api/audit", headers=bearer(tokens["reviewer"]))
    assert answer.status_code == 403
    assert answer.json()["detail"] == "the role reviewer may not perform audit.read"
    assert client.get("/api/audit", headers=bearer(tokens["admin"])).status_code == 200


# --- the pages: login, session cookie, CSRF ----------------------------------------------

def _login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_login_sets_a_secure_httponly_samesite_strict_cookie(sqlite_database: Any,
                                                             tokens: dict[str, str]) -> None:
    with client_for(sqlite_database) as plain:
        token = _login_token(plain)
        answer = plain.post("/login", data={"name": user_name("reviewer"),
                                            "password": PASSWORD, "login_token": token})
        cookie = answer.headers["set-cookie"]
        assert answer.status_code == 303 and answer.headers["location"] == "/queue"
        assert "bhpolicy_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Secure" not in cookie  # plain http
    app_client = client_for(sqlite_database)
    with app_client as secure:
        secure.base_url = secure.base_url.copy_with(scheme="https")
        token = _login_token(secure)
        answer = secure.post("/login", data={"name": user_name("reviewer"),
                                             "password": PASSWORD, "login_token": token})
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_is_refused_without_saying_which_part(client: TestClient) -> None:
    for name in (user_name("reviewer"), "nobody"):
        answer = client.post("/login", data={"name": name, "password": "wrong",
                                             "login_token": _login_token(client)})
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text
        assert "bhpolicy_session" not in answer.headers.get("set-cookie", "")


def test_the_login_form_needs_its_own_token(client: TestClient) -> None:
    """Login CSRF: a form posted from elsewhere has no token matching the login cookie."""
    client.get("/login")
    answer = client.post("/login", data={"name": user_name("reviewer"), "password": PASSWORD,
                                         "login_token": "forged"})
    assert answer.status_code == 403
    assert "bhpolicy_session" not in answer.headers.get("set-cookie", "")


def test_logins_are_throttled_after_repeated_failures(sqlite_database: Any,
                                                      tokens: dict[str, str]) -> None:
    with client_for(sqlite_database, login_failures=3, login_window_seconds=60) as client:
        for _ in range(3):
            assert client.post("/login", data={
                "name": user_name("admin"), "password": "guess",
                "login_token": _login_token(client)}).status_code == 401
        answer = client.post("/login", data={"name": user_name("admin"), "password": PASSWORD,
                                              "login_token": _login_token(client)})
        assert answer.status_code == 429  # even the right password waits
        assert "Too many failed sign-ins" in answer.text


def test_signed_out_pages_go_to_the_login_page_and_back(client: TestClient) -> None:
    answer = client.get("/policies")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/policies"
    page = client.get(answer.headers["location"])
    assert 'name="next" value="/policies"' in page.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_the_login_redirect_stays_on_this_site(client: TestClient, target: str) -> None:
    answer = client.post("/login", data={"name": user_name("intake"), "password": PASSWORD,
                                         "login_token": _login_token(client), "next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"


def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    csrf = login(client, "reviewer")
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/queue").status_code == 200  # still signed in
    answer = client.post("/logout", headers={"X-CSRF-Token": csrf})  # the htmx way
    assert answer.status_code == 303
    assert client.get("/queue").status_code == 303  # signed out: the session is closed


def test_every_form_of_a_page_carries_the_csrf_token(client: TestClient) -> None:
    csrf = login(client, "reviewer")
    page = client.get("/queue").text
    assert csrf_of(page) == csrf
    for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", page, re.S):
        assert f'name="csrf_token" value="{csrf}"' in form


# --- the guard around every answer -------------------------------------------------------

def test_a_body_over_the_limit_is_413(sqlite_database: Any, tokens: dict[str, str]) -> None:
    with client_for(sqlite_database, max_body_bytes=2048) as client:
        big = request_body()
        big["case"]["facts"]["padding"] = "x" * 4000
        answer = client.post("/api/requests", json=big, headers=bearer(tokens["intake"]))
        assert answer.status_code == 413
        assert answer.json()["detail"] == "request body over 2048 bytes"

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            yield b'{"case": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        answer = client.post("/api/requests", content=chunks(),
                             headers={**bearer(tokens["intake"]),
                                      "Content-Type": "application/json"})
        assert answer.status_code == 413


def test_a_validation_error_names_the_element_and_not_the_value(
        client: TestClient, tokens: dict[str, str]) -> None:
    body = request_body()
    body["member"]["birth_date"] = "19780228-SECRET"
    answer = client.post("/api/requests", json=body, headers=bearer(tokens["intake"]))
    assert answer.status_code == 422
    detail = answer.json()
    assert detail["element"] == "member.birth_date"
    assert detail["detail"].startswith("member.birth_date: ")
    assert "SECRET" not in answer.text


def test_bad_json_is_a_422_naming_the_body(client: TestClient, tokens: dict[str, str]) -> None:
    answer = client.post("/api/requests", content=b'{"case": ',
                         headers={**bearer(tokens["intake"]),
                                  "Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "body: not valid JSON", "element": "body"}


def test_an_unexpected_error_is_a_bare_500_and_logs_no_detail(
        sqlite_database: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from bhpolicy.services import users

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("member SYN-M-0205 born 1978-02-28")  # a message with PHI in it

    monkeypatch.setattr(users, "list_users", broken)
    monkeypatch.delenv("BHPOLICY_DEBUG", raising=False)
    with caplog.at_level(logging.INFO), client_for(sqlite_database) as client:
        answer = client.get("/api/users", headers=bearer(tokens["admin"]))
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error", "element": None}
    assert "SYN-M-0205" not in caplog.text and "Traceback" not in caplog.text
    assert "internal error in GET /api/users: RuntimeError" in caplog.text


def test_the_access_log_names_the_route_template_not_the_url(
        client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bhpolicy.web.access"):
        client.get("/api/requests/PA-SECRETID0001?member=SYN-M-0205",
                   headers=bearer(tokens["intake"]))
        client.get("/api/requests?status=referred", headers=bearer(tokens["intake"]))
    lines = [r.getMessage() for r in caplog.records if r.name == "bhpolicy.web.access"]
    assert re.fullmatch(r"GET /api/requests/\{request_id\} 404 [0-9.]+ms", lines[0]), lines
    assert re.fullmatch(r"GET /api/requests 200 [0-9.]+ms", lines[1]), lines
    assert "SECRET" not in caplog.text and "SYN-M" not in caplog.text


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/login", "/api/requests", "/docs", "/static/app.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == PAGE_CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "server-timing" in headers
    assert client.get("/api/requests").headers["cache-control"] == "no-store"


def test_healthz_says_ready_once_started(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ready"}
