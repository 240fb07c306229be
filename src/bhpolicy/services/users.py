"""Users, bearer tokens, passwords and browser sessions.

A token is shown once when it is made and kept only as its SHA-256 (hex); a password only as
its argon2id hash (argon2-cffi); a session cookie only as its SHA-256. The CSRF token of a
session is random and kept beside it (it is no credential without the cookie).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bhpolicy.db import Database
from bhpolicy.db.models import ApiToken, User, WebSession
from bhpolicy.services import audit
from bhpolicy.services.clock import aware, utc_now
from bhpolicy.services.errors import Conflict, Invalid, NotFound
from bhpolicy.services.permissions import ROLES, require
from bhpolicy.services.schemas import UserCreate, UserView

TOKEN_PREFIX = "bhp_"
ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,79}$")
SESSION_LIFETIME = dt.timedelta(hours=12)
# last_used_at is rewritten at most this often, so a busy client does not turn every call
# into a write.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
PASSWORD_MAX = 1024

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("not a password of anybody")


@dataclass(frozen=True)
class Actor:
    id: int
    name: str
    role: str
    licence: str | None
    # The provider organisation a provider-system user acts for (e.g. its NPI): such a user
    # sees the requests of every user of its organisation through the FHIR inquiry.
    organization: str | None = None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _actor(user: User) -> Actor:
    return Actor(user.id, user.name, user.role, user.licence, user.organization)


def _view(user: User) -> UserView:
    return UserView(id=user.id, name=user.name, role=user.role, licence=user.licence,
                    active=user.active, created_at=user.created_at)


def _check_password(password: str) -> None:
    if not password or len(password) > PASSWORD_MAX:
        raise Invalid(f"password: expected 1 to {PASSWORD_MAX} characters", "password")


def add_user(db: Database, name: str, role: str, licence: str | None = None,
             password: str | None = None, *, by: Actor | None = None,
             now: dt.datetime | None = None,
             organization: str | None = None) -> tuple[UserView, str]:
    """Add a user and their first API token; the token is returned once and never again.
    ``by`` is the admin adding them (None from the command line). ``organization`` is the
    provider organisation a provider-system user acts for (e.g. its NPI)."""
    if by is not None:
        require(by, "users.manage")
    if role not in ROLES:
        raise Invalid(f"role: not one of {', '.join(ROLES)}", "role")
    if organization is not None and not ORGANIZATION.fullmatch(organization):
        raise Invalid("organization: 1 to 80 letters, digits, spaces and . _ : / - "
                      "(starting with a letter or digit)", "organization")
    try:
        body = UserCreate.model_validate({"name": name, "role": role, "licence": licence})
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise Invalid(f"{field}: not allowed (a name is 1 to 80 letters, digits and . _ @ -; "
                      "a licence up to 100 characters, none a control character)",
                      field) from None
    if password is not None:
        _check_password(password)
    at = aware(now or utc_now())
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with db.transaction() as session:
            user = User(name=body.name, role=body.role, licence=body.licence,
                        organization=organization,
                        password_hash=_hasher.hash(password) if password is not None else None,
                        created_at=at, active=True)
            session.add(user)
            session.flush()
            session.add(ApiToken(user_id=user.id, token_sha256=sha256_hex(token),
                                 created_at=at))
            audit.record(session, at, by.id if by else None, "users.add", "user",
                         str(user.id), role=user.role, licensed=user.licence is not None,
                         organization=user.organization is not None)
            view = _view(user)
    except IntegrityError:
        raise Conflict(f"a user named {body.name!r} exists already", "name") from None
    return view, token


def new_token(db: Database, actor: Actor, user_id: int, *,
              now: dt.datetime | None = None) -> str:
    """Another token for a user (admin only); shown once."""
    require(actor, "users.manage")
    at = aware(now or utc_now())
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        if session.get(User, user_id) is None:
            raise NotFound(f"no user {user_id}")
        session.add(ApiToken(user_id=user_id, token_sha256=sha256_hex(token), created_at=at))
        audit.record(session, at, actor.id, "users.token", "user", str(user_id))
    return token


def list_users(db: Database, actor: Actor) -> list[UserView]:
    require(actor, "users.manage")
    with db.read() as session:
        return [_view(u) for u in session.scalars(select(User).order_by(User.name))]


def set_active(db: Database, actor: Actor, user_id: int, active: bool, *,
               now: dt.datetime | None = None) -> UserView:
    require(actor, "users.manage")
    at = aware(now or utc_now())
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        user.active = active
        audit.record(session, at, actor.id, "users.activate" if active else "users.deactivate",
                     "user", str(user_id))
        return _view(user)


def authenticate_token(db: Database, token: str, *,
                       now: dt.datetime | None = None) -> Actor | None:
    """The actor a bearer token belongs to, or None (unknown, revoked, or user inactive)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    at = aware(now or utc_now())
    digest = sha256_hex(token)
    with db.read() as session:
        found = session.execute(
            select(User, ApiToken.id, ApiToken.last_used_at).join(
                ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_sha256 == digest, ApiToken.revoked_at.is_(None),
                   User.active.is_(True))).first()
        if found is None:
            return None
        user, token_id, last_used = found
        actor = _actor(user)
    if last_used is None or at - last_used >= LAST_USED_GRANULARITY:
        with db.transaction() as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id)
                            .values(last_used_at=at))
    return actor


def revoke_token(db: Database, actor: Actor, token: str, *,
                 now: dt.datetime | None = None) -> bool:
    """Revoke a token (its owner or an admin). True if a live token was revoked."""
    at = aware(now or utc_now())
    with db.transaction() as session:
        row = session.scalars(select(ApiToken).where(
            ApiToken.token_sha256 == sha256_hex(token), ApiToken.revoked_at.is_(None))).first()
        if row is None:
            return False
        if row.user_id != actor.id:
            require(actor, "users.manage")
        row.revoked_at = at
        audit.record(session, at, actor.id, "users.revoke_token", "user", str(row.user_id))
        return True


def verify_password(db: Database, name: str, password: str) -> Actor | None:
    """The actor whose name and password these are, or None. Always spends one argon2 check,
    so a wrong name takes as long as a wrong password."""
    if len(password) > PASSWORD_MAX or len(name) > 80:
        return None
    with db.read() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        stored = user.password_hash if user is not None and user.active else None
        actor = _actor(user) if user is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return actor if stored else None


def set_password(db: Database, user_name: str, password: str, *, by: Actor | None = None,
                 now: dt.datetime | None = None) -> None:
    """Set a user's password (an admin, or the command line when ``by`` is None)."""
    if by is not None:
        require(by, "users.manage")
    _check_password(password)
    at = aware(now or utc_now())
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.name == user_name)).first()
        if user is None:
            raise NotFound("no such user", "name")
        user.password_hash = _hasher.hash(password)
        audit.record(session, at, by.id if by else None, "users.password", "user",
                     str(user.id))


def open_session(db: Database, actor: Actor, *, now: dt.datetime | None = None,
                 lifetime: dt.timedelta = SESSION_LIFETIME) -> tuple[str, str]:
    """Start a browser session: returns (cookie value, CSRF token)."""
    at = aware(now or utc_now())
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.add(WebSession(user_id=actor.id, cookie_sha256=sha256_hex(cookie),
                               csrf_token=csrf, created_at=at, expires_at=at + lifetime))
        audit.record(session, at, actor.id, "session.open", "user", str(actor.id))
    return cookie, csrf


def actor_for_session(db: Database, cookie: str, *,
                      now: dt.datetime | None = None) -> tuple[Actor, str] | None:
    """(actor, CSRF token) of a live session cookie, or None."""
    if not cookie or len(cookie) > 200:
        return None
    at = aware(now or utc_now())
    with db.read() as session:
        found = session.execute(
            select(User, WebSession.csrf_token).join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.cookie_sha256 == sha256_hex(cookie),
                   WebSession.closed_at.is_(None), WebSession.expires_at > at,
                   User.active.is_(True))).first()
        if found is None:
            return None
        user, csrf = found
        return _actor(user), csrf


def close_session(db: Database, cookie: str, *, now: dt.datetime | None = None) -> None:
    """End a session (log out); unknown cookies are ignored."""
    at = aware(now or utc_now())
    with db.transaction() as session:
        row = session.scalars(select(WebSession).where(
            WebSession.cookie_sha256 == sha256_hex(cookie),
            WebSession.closed_at.is_(None))).first()
        if row is None:
            return
        row.closed_at = at
        audit.record(session, at, row.user_id, "session.close", "user", str(row.user_id))
