"""Who may do what: every operation of the service names the roles allowed to call it. The web
checks each route against this table and README's role x endpoint table is tested against it.
Deciding adversely needs more than the role: a licence recorded on the user (requests.py)."""

from __future__ import annotations

from typing import Protocol

from bhpolicy.services.errors import Forbidden

ROLES = ("intake", "reviewer", "biller", "analyst", "admin", "provider-system")

PERMISSIONS: dict[str, frozenset[str]] = {
    "requests.create": frozenset({"intake", "provider-system"}),
    "requests.add_information": frozenset({"intake", "provider-system", "reviewer"}),
    "requests.decide": frozenset({"reviewer"}),
    "requests.extend": frozenset({"reviewer"}),
    "requests.peer_to_peer": frozenset({"reviewer"}),
    "requests.appeal": frozenset({"intake", "provider-system"}),
    "requests.list": frozenset({"intake", "reviewer", "analyst", "admin"}),
    "requests.read": frozenset({"intake", "reviewer", "analyst", "admin", "provider-system"}),
    "notices.read": frozenset({"intake", "reviewer", "admin", "provider-system"}),
    "audit.read": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
    "codes.read": frozenset(ROLES),
    "policies.read": frozenset(ROLES),
    # billing: runs of uploaded files, the 837P through the claim ledger, what the payer
    # sends back, the denial worklist and the month's figures
    "jobs.bill": frozenset({"biller"}),
    "jobs.read": frozenset({"biller", "admin"}),
    "billing.check": frozenset({"biller", "provider-system"}),
    "claims.write": frozenset({"biller"}),
    "claims.void": frozenset({"biller"}),
    "remits.import": frozenset({"biller"}),
    "worklist.read": frozenset({"biller", "analyst", "admin"}),
    "billing.dashboard": frozenset({"biller", "analyst", "admin"}),
}

# Roles that see only the requests they created themselves.
OWN_REQUESTS_ONLY = frozenset({"provider-system"})


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


def allowed(role: str, operation: str) -> bool:
    return role in PERMISSIONS[operation]


def require(actor: HasRole, operation: str) -> None:
    """Raise :class:`Forbidden` unless ``actor``'s role may perform ``operation``."""
    roles = PERMISSIONS.get(operation)
    if roles is None:
        raise KeyError(f"unknown operation {operation!r}")
    if actor.role not in roles:
        raise Forbidden(f"the role {actor.role} may not perform {operation}")
