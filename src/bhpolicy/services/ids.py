"""bhpolicy's own opaque ids: a prefix and 12 random base32 characters (60 bits). They never
carry or derive from a member or Medicaid id."""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
LENGTH = 12


def new_id(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
