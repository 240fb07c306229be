"""Users, tokens, passwords and sessions: tokens and cookies kept only as SHA-256, passwords
as argon2id; revoked tokens, inactive users and expired or closed sessions get nobody."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bhpolicy.db import Database
from bhpolicy.db.models import ApiToken, User, WebSession
from bhpolicy.services import users
from bhpolicy.services.errors import Conflict, Forbidden, Invalid
from bhpolicy.services.permissions import PERMISSIONS, ROLES, allowed, require
from tests.support.db import NOW


def test_token_shown_once_and_stored_hashed(database: Database) -> None:
    view, token = users.add_user(database, "rita", "reviewer", licence="LICSW 7", now=NOW)
    assert view.role == "reviewer" and view.licence == "LICSW 7" and view.active
    assert token.startswith(users.TOKEN_PREFIX)
    with database.read() as session:
        stored = session.scalars(select(ApiToken.token_sha256)).one()
    assert stored == users.sha256_hex(token) and token not in stored
    actor = users.authenticate_token(database, token, now=NOW)
    assert actor == users.Actor(view.id, "rita", "reviewer", "LICSW 7")
    assert users.authenticate_token(database, token + "x", now=NOW) is None
    assert users.authenticate_token(database, "Bearer " + token, now=NOW) is None
    with database.read() as session:
        assert session.scalars(select(ApiToken.last_used_at)).one() == NOW


def test_revoked_token_and_inactive_user(database: Database) -> None:
    _, admin_token = users.add_user(database, "root", "admin", now=NOW)
    admin = users.authenticate_token(database, admin_token, now=NOW)
    assert admin is not None
    view, token = users.add_user(database, "ivan", "intake", by=admin, now=NOW)
    second = users.new_token(database, admin, view.id, now=NOW)
    assert users.revoke_token(database, admin, token, now=NOW)
    assert users.authenticate_token(database, token, now=NOW) is None
    assert users.authenticate_token(database, second, now=NOW) is not None
    users.set_active(database, admin, view.id, False, now=NOW)
    assert users.authenticate_token(database, second, now=NOW) is None
    assert [u.name for u in users.list_users(database, admin)] == ["ivan", "root"]
    intake = users.Actor(view.id, "ivan", "intake", None)
    with pytest.raises(Forbidden):
        users.add_user(database, "x", "intake", by=intake, now=NOW)


def test_names_roles_and_duplicates(database: Database) -> None:
    users.add_user(database, "ann", "analyst", now=NOW)
    with pytest.raises(Conflict):
        users.add_user(database, "ann", "analyst", now=NOW)
    with pytest.raises(Invalid) as caught:
        users.add_user(database, "bad\nname", "analyst", now=NOW)
    assert caught.value.element == "name"
    with pytest.raises(Invalid) as caught:
        users.add_user(database, "bob", "superuser", now=NOW)
    assert caught.value.element == "role"


def test_password_argon2id(database: Database) -> None:
    users.add_user(database, "pat", "reviewer", licence="LPCC 1", password="correct horse",
                   now=NOW)
    with database.read() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$")
    assert users.verify_password(database, "pat", "correct horse") is not None
    assert users.verify_password(database, "pat", "wrong") is None
    assert users.verify_password(database, "nobody", "correct horse") is None
    users.set_password(database, "pat", "new one", now=NOW)
    assert users.verify_password(database, "pat", "correct horse") is None
    assert users.verify_password(database, "pat", "new one") is not None
    users.add_user(database, "nopass", "intake", now=NOW)
    assert users.verify_password(database, "nopass", "") is None


def test_sessions(database: Database) -> None:
    view, _ = users.add_user(database, "sam", "intake", now=NOW)
    actor = users.Actor(view.id, "sam", "intake", None)
    cookie, csrf = users.open_session(database, actor, now=NOW)
    with database.read() as session:
        row = session.scalars(select(WebSession)).one()
    assert row.cookie_sha256 == users.sha256_hex(cookie) and cookie not in row.cookie_sha256
    assert users.actor_for_session(database, cookie, now=NOW) == (actor, csrf)
    expiry = NOW + users.SESSION_LIFETIME
    assert users.actor_for_session(database, cookie, now=expiry) is None
    assert users.actor_for_session(database, "forged", now=NOW) is None
    users.close_session(database, cookie, now=NOW)
    assert users.actor_for_session(database, cookie, now=NOW + dt.timedelta(minutes=1)) is None
    users.close_session(database, "unknown", now=NOW)  # ignored


def test_permissions_table() -> None:
    assert set(ROLES) == {"intake", "reviewer", "biller", "analyst", "admin", "provider-system"}
    for operation, roles in PERMISSIONS.items():
        assert roles <= set(ROLES), operation
    assert PERMISSIONS["requests.decide"] == {"reviewer"}
    assert allowed("admin", "audit.read") and not allowed("reviewer", "audit.read")
    require(users.Actor(1, "a", "biller", None), "codes.read")
    with pytest.raises(Forbidden) as caught:
        require(users.Actor(1, "a", "biller", None), "requests.create")
    assert caught.value.status == 403
    with pytest.raises(KeyError):
        require(users.Actor(1, "a", "admin", None), "no.such.operation")
