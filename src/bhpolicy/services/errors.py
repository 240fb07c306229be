"""Errors of the service layer: each carries the HTTP status the web answers with and, where
one is to blame, the body element (``request.units``). Messages are one line and never hold a
value from the request (member references, birth dates and facts are PHI)."""

from __future__ import annotations

from bhpolicy.errors import BhpolicyError


class ServiceError(BhpolicyError):
    """A use case refused; ``status`` is the HTTP status, ``element`` the body element."""

    status: int = 400

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.element = element


class Invalid(ServiceError):
    status = 422


class Unauthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413
