"""Fault points for the never-lose-a-request test: a write can be made to die at a named
point, the way a power cut or an OOM kill would end it.

Disarmed unless ``BHPOLICY_FAULTS`` is set (read once, at import), so a production server
never pays more than a dictionary lookup. The value is a comma list of ``point@n``: the
``n``-th time the process passes ``point`` it kills itself with SIGKILL (no cleanup, no reply,
no flush), e.g. ``BHPOLICY_FAULTS=after_commit_before_reply@3``.

Points: ``before_commit`` (the rows are added, the transaction not committed) and
``after_commit_before_reply`` (committed, the answer not yet sent).
"""

from __future__ import annotations

import os
import signal
import threading

POINTS = ("before_commit", "after_commit_before_reply")


def _armed(text: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("@")
        if name not in POINTS or not count.isdigit() or int(count) < 1:
            raise ValueError(f"BHPOLICY_FAULTS: {item!r} is not point@n with point one of "
                             f"{', '.join(POINTS)}")
        armed[name] = int(count)
    return armed


_ARMED = _armed(os.environ.get("BHPOLICY_FAULTS", ""))
_PASSED: dict[str, int] = {}
_LOCK = threading.Lock()


def point(name: str) -> None:
    """Pass the fault point ``name``; dies here if it is armed for this pass."""
    if not _ARMED:
        return
    with _LOCK:
        _PASSED[name] = _PASSED.get(name, 0) + 1
        fire = _ARMED.get(name) == _PASSED[name]
    if fire:
        os.kill(os.getpid(), signal.SIGKILL)
