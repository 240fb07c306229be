"""Pages from the one Jinja environment (:func:`bhpolicy.report.environment.make_environment`:
escaping on, no ``|safe``, StrictUndefined), over the web templates and the report ones.

The pages carry no ``<style>`` or ``<script>`` block and no ``style=``/``on*=`` attribute:
their CSS and JS are static files, so the CSP header (:data:`guard.PAGE_CSP`) allows ``'self'``
only. A test walks every template for that.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader

from bhpolicy.report.environment import REPORT_LOADER, make_environment
from bhpolicy.services import permissions

WEB_LOADER = PackageLoader("bhpolicy", "web/templates")


def time_left(seconds: float | int | None) -> str:
    """``2 d 3 h``, ``5 h 10 min``, ``12 min``, or ``overdue by ...``: for the queue."""
    if seconds is None:
        return ""
    whole = int(seconds)
    prefix = "overdue by " if whole < 0 else ""
    whole = abs(whole)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return prefix + text


def when(value: Any) -> str:
    """A UTC timestamp as ``2026-12-01 14:05 UTC`` (a date stays a date)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def words(value: Any) -> str:
    """``needs_judgment`` -> ``needs judgment``."""
    return str(value).replace("_", " ")


@functools.cache
def environment() -> Environment:
    env = make_environment(ChoiceLoader([WEB_LOADER, REPORT_LOADER]))
    env.filters["time_left"] = time_left
    env.filters["when"] = when
    env.filters["words"] = words
    env.filters["may"] = may
    return env


def may(user: Any, operation: str) -> bool:
    """``user | may("jobs.read")``: whether the signed-in user's role allows it."""
    return user is not None and permissions.allowed(user.role, operation)


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """The page ``template`` with the common context: the signed-in user (or None) and the
    session's CSRF token (empty when signed out)."""
    auth = getattr(request.state, "page_auth", None)
    common = {"user": auth.actor if auth else None,
              "csrf_token": auth.csrf if auth else "",
              "path": request.url.path}
    body = environment().get_template(template).render(**{**common, **context})
    return HTMLResponse(body, status_code=status_code)
