"""The app factory: ``create_app(db, settings)``.

The lifespan warms what the first request would otherwise pay for (the packs, every compiled
criteria tree, the catalog and its search index, the ICD-10-CM code set, one database
round trip) before the server reports ready, and runs the overdue sweep in the background
(``services.requests.sweep_overdue``, every ``settings.sweep_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from bhpolicy.web import api, billing_api, billing_pages, errors, fhir_api, pages
from bhpolicy.web.auth import LoginThrottle
from bhpolicy.web.guard import Guard
from bhpolicy.web.settings import WebSettings

LOG = logging.getLogger("bhpolicy.web")
WARM_JOIN_SECONDS = 60.0  # at shutdown, the wait for the billing warm-up (it takes seconds)

DESCRIPTION = (
    "Prior-authorization reviews of behavioral-health services as a system of record: "
    "requests are determined by the same criteria as `bhpolicy check`, referred ones decided "
    "by a licensed reviewer inside the decision clock, every write audited. Every operation "
    "needs `Authorization: Bearer TOKEN` (from `bhpolicy users add`); the roles each "
    "operation allows are in the README.")


def warm(app: FastAPI) -> None:
    """Load and compile everything a first request would need (runs before ready): the
    packs with their review rules and every compiled criteria tree, the ICD-10-CM code set,
    the notice wording, the catalog and its search index, one database round trip."""
    from bhpolicy.criteria import icd10
    from bhpolicy.criteria.evaluate import compiled
    from bhpolicy.criteria.loader import criteria_for
    from bhpolicy.errors import NotFoundError
    from bhpolicy.services import reference
    from bhpolicy.services.determining import registry
    from bhpolicy.services.errors import ServiceError
    from bhpolicy.services.notice_wording import wording
    from bhpolicy.services.review_rules import review_rules

    for pack in registry().packs:
        try:
            criteria = criteria_for(pack)
        except NotFoundError:  # a pack without medical-necessity criteria
            continue
        try:
            review_rules(pack)
        except ServiceError as exc:  # a user pack without review rules: its requests say so
            LOG.warning("pack %s: no review rules loaded (%s)", pack.id, exc)
        for request_type in criteria.criteria.requests:
            compiled(criteria, request_type)
    icd10.lookup("F20.0")
    wording()
    reference.catalog()
    with app.state.db.read() as session:  # the pool's first connection
        session.connection()
    # What warm-up loaded (code sets, catalog, compiled trees) lives as long as the server:
    # move it out of the collector's reach, so that a full collection no longer walks those
    # millions of objects in the middle of a request (it showed as a 100-300 ms stall of
    # every request in flight in bench/serve.py).
    billing_api.settle_heap()
    app.state.warmed = True


def sweep_once(app: FastAPI) -> int:
    from bhpolicy.services.requests import sweep_overdue

    flagged: int = sweep_overdue(app.state.db, app.state.settings.clock())
    if flagged:
        LOG.info("overdue sweep flagged %d request(s)", flagged)
    _deliver_notifications(app)
    return flagged


def _deliver_notifications(app: FastAPI) -> None:
    """PAS Subscription notifications due (final results of pended requests); a receiver's
    trouble is retried later and never stops the sweep."""
    from bhpolicy.fhir.subscription import deliver
    from bhpolicy.services.determining import registry

    try:
        delivered = deliver(app.state.db, app.state.settings.clock(), registry())
    except Exception as exc:  # the type only (no PHI); the overdue sweep is not affected
        LOG.error("notification delivery failed: %s", type(exc).__name__)
        return
    if delivered:
        LOG.info("delivered %d subscription notification(s)", delivered)


async def _sweep_forever(app: FastAPI, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(sweep_once, app)
        except Exception as exc:  # keep sweeping; the type only (no PHI)
            LOG.error("overdue sweep failed: %s", type(exc).__name__)


def warm_billing(app: FastAPI) -> None:
    """Compile the one-member billing plan (POST /api/billing/check) for today. It takes
    seconds, so it runs beside the server once it is ready; a check that comes first
    compiles it (the plan cache is locked) and waits."""
    from bhpolicy.billing import one
    from bhpolicy.services.determining import registry

    try:
        one.warm(registry(), app.state.settings.clock().date())
    except Exception as exc:  # the type only; a check will compile it (or say why) itself
        LOG.error("billing warm-up failed: %s", type(exc).__name__)
        return
    billing_api.settle_heap()  # what the compilation left, out of the collector's passes


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: WebSettings = app.state.settings
    if settings.warm and not getattr(app.state, "warmed", False):
        await run_in_threadpool(warm, app)
    warming = None
    if settings.warm:
        warming = threading.Thread(target=warm_billing, args=(app,), name="warm-billing",
                                   daemon=True)
        warming.start()
    task = (asyncio.create_task(_sweep_forever(app, settings.sweep_seconds))
            if settings.sweep_seconds > 0 else None)
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if warming is not None:  # never leave it inside DuckDB while the interpreter ends
            await run_in_threadpool(warming.join, WARM_JOIN_SECONDS)
            if warming.is_alive():
                LOG.warning("billing warm-up still running at shutdown after %.0f s",
                            WARM_JOIN_SECONDS)


def create_app(db: Any, settings: WebSettings | None = None) -> FastAPI:
    """The whole server over an open :class:`bhpolicy.db.Database`."""
    settings = settings or WebSettings()
    app = FastAPI(title="bhpolicy", version=_version(), description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  lifespan=lifespan)
    app.state.db = db
    app.state.settings = settings
    app.state.ready = False
    app.state.throttle = LoginThrottle(settings.login_failures, settings.login_window_seconds)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(fhir_api.router)  # /fhir: PAS $submit/$inquire (answers FHIR itself)
    app.include_router(billing_api.router)
    app.include_router(pages.router)
    app.include_router(billing_pages.router)
    app.mount("/static", StaticFiles(directory=str(files("bhpolicy") / "web" / "static")),
              name="static")
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes,
                       upload_bytes=settings.max_upload_bytes,
                       upload_paths=billing_api.UPLOAD_PATHS)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bhpolicy")
    except PackageNotFoundError:
        return "0"
