"""The one place the service reads the wall clock. Every use case takes ``now`` as a
parameter (tests set it); only the edges (the web, the CLI) call :func:`utc_now`."""

from __future__ import annotations

import datetime as dt

from bhpolicy.services.errors import Invalid


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(now: dt.datetime) -> dt.datetime:
    """``now`` as UTC; a naive datetime is a programming error, refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise Invalid("internal: a naive datetime was given as the time")
    return now.astimezone(dt.UTC)
