"""The billing office's pages: upload a month's files as a billing job, follow its progress,
read its report (with the calendars), write the 837P through the claim ledger and download
it, and import what the payer sends back (999, 277CA, 835).

Each page names its operation like the API does (``auth.page_actor`` checks session, CSRF
and role). The report is the run's own report.html, served with a policy that allows no
script at all (its styles are inline).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bhpolicy.errors import BhpolicyError
from bhpolicy.services import jobs, permissions
from bhpolicy.services.billing_jobs import (
    INPUT_NAMES,
    claim_file,
    claim_files,
    claim_groups,
    run_folder,
    write_job_837p,
)
from bhpolicy.services.errors import Invalid, ServiceError
from bhpolicy.web.auth import PageActor, operation
from bhpolicy.web.billing_api import (
    create_bill_job,
    import_payer_file,
    jobs_dir,
    months_of,
    worklist_of,
)
from bhpolicy.web.rendering import render

router = APIRouter(include_in_schema=False)
REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _db(request: Request) -> Any:
    return request.app.state.db


def _now(request: Request) -> dt.datetime:
    now: dt.datetime = request.app.state.settings.clock()
    return now


@router.get("/billing", openapi_extra=operation("jobs.read"))
def billing_home(request: Request, actor: PageActor, problem: str = "") -> HTMLResponse:
    rows = jobs.list_jobs(_db(request), actor)
    return render(request, "billing.html.j2", rows=rows, inputs=INPUT_NAMES,
                  problem=problem[:300], today=_now(request).date().isoformat(),
                  can_bill=permissions.allowed(actor.role, "jobs.bill"),
                  can_import=permissions.allowed(actor.role, "remits.import"))


@router.post("/billing/jobs", openapi_extra=operation("jobs.bill"))
async def billing_upload(request: Request, actor: PageActor) -> Response:
    form = await request.form(max_files=len(INPUT_NAMES), max_fields=10)
    try:
        job = await create_bill_job(request, actor, form)
    except (Invalid, BhpolicyError) as exc:
        if isinstance(exc, ServiceError) and exc.status not in (413, 422):
            raise
        rows = await run_in_threadpool(jobs.list_jobs, _db(request), actor)
        return render(request, "billing.html.j2", status_code=422, rows=rows,
                      inputs=INPUT_NAMES, problem=str(exc)[:300],
                      today=_now(request).date().isoformat(), can_bill=True,
                      can_import=permissions.allowed(actor.role, "remits.import"))
    return RedirectResponse(f"/billing/jobs/{job.id}", status_code=303)


def _job_page(request: Request, actor: Any, job: jobs.JobView, template: str,
              written: dict[str, Any] | None = None, problem: str = "",
              status_code: int = 200) -> HTMLResponse:
    groups = claim_groups(job.folder) if job.status == "done" else []
    return render(request, template, status_code=status_code, job=job, groups=groups,
                  files=claim_files(job.folder), written=written, problem=problem[:300],
                  configured=request.app.state.settings.submitter_config is not None,
                  can_write=permissions.allowed(actor.role, "claims.write"))


@router.get("/billing/jobs/{job_id}", openapi_extra=operation("jobs.read"))
def billing_job(request: Request, job_id: str, actor: PageActor) -> HTMLResponse:
    job = jobs.get(_db(request), actor, job_id[:20])
    return _job_page(request, actor, job, "billing_job.html.j2")


@router.get("/billing/jobs/{job_id}/status", openapi_extra=operation("jobs.read"))
def billing_job_status(request: Request, job_id: str, actor: PageActor) -> HTMLResponse:
    """The job's status block alone (htmx polls it while the job runs)."""
    job = jobs.get(_db(request), actor, job_id[:20])
    return _job_page(request, actor, job, "billing_job_status.html.j2")


@router.get("/billing/jobs/{job_id}/report", openapi_extra=operation("jobs.read"))
def billing_job_report(request: Request, job_id: str, actor: PageActor) -> Response:
    job = jobs.get(_db(request), actor, job_id[:20])
    report = run_folder(job.folder) / "report.html"
    if job.status != "done" or not report.is_file():
        return _job_page(request, actor, job, "billing_job.html.j2",
                         problem="The report is ready when the job is done.",
                         status_code=404)
    return HTMLResponse(report.read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": REPORT_POLICY})


@router.post("/billing/jobs/{job_id}/837p", openapi_extra=operation("claims.write"))
async def billing_job_837p(request: Request, job_id: str, actor: PageActor) -> Response:
    form = await request.form()
    settings = request.app.state.settings
    job = await run_in_threadpool(jobs.get, _db(request), actor, job_id[:20])
    groups = await run_in_threadpool(claim_groups, job.folder)
    picked = {str(v) for v in form.getlist("claim")}
    chosen = {(g["member_id"], g["authorization_id"], g["month"])
              for n, g in enumerate(groups) if str(n) in picked}
    try:
        written = await run_in_threadpool(
            lambda: write_job_837p(_db(request), actor, job.id, settings.submitter_config,
                                   _now(request),
                                   added_days=str(form.get("added_days") or "new"),
                                   resend=form.get("resend") == "yes", chosen=chosen))
    except BhpolicyError as exc:
        if isinstance(exc, ServiceError) and exc.status != 422:
            raise
        job = await run_in_threadpool(jobs.get, _db(request), actor, job_id[:20])
        return _job_page(request, actor, job, "billing_job.html.j2", problem=str(exc),
                         status_code=422)
    job = await run_in_threadpool(jobs.get, _db(request), actor, job_id[:20])
    return _job_page(request, actor, job, "billing_job.html.j2", written=written)


@router.get("/billing/jobs/{job_id}/claims/{name}", openapi_extra=operation("claims.write"))
def billing_job_claim_file(request: Request, job_id: str, name: str,
                           actor: PageActor) -> Response:
    job = jobs.get(_db(request), actor, job_id[:20])
    path = claim_file(job.folder, name)
    return FileResponse(path, media_type="application/edi-x12", filename=path.name)


@router.post("/billing/jobs/{job_id}/delete", openapi_extra=operation("jobs.read"))
def billing_job_delete(request: Request, job_id: str, actor: PageActor) -> Response:
    jobs.delete(_db(request), actor, job_id[:20])
    return RedirectResponse("/billing", status_code=303)


# -- what the payer sends back ----------------------------------------------------------------

@router.get("/billing/remits", openapi_extra=operation("remits.import"))
def billing_remits(request: Request, actor: PageActor) -> HTMLResponse:
    return render(request, "billing_remits.html.j2", imported=None, problem="")


@router.post("/billing/remits", openapi_extra=operation("remits.import"))
async def billing_remits_import(request: Request, actor: PageActor) -> Response:
    form = await request.form(max_files=1, max_fields=5)
    settings = request.app.state.settings
    try:
        imported = await run_in_threadpool(
            import_payer_file, _db(request), actor, form.get("file"),
            jobs_dir(request) / "payer-files", settings.max_upload_bytes, _now(request))
    except BhpolicyError as exc:
        if isinstance(exc, ServiceError) and exc.status != 422:
            raise
        return render(request, "billing_remits.html.j2", status_code=422, imported=None,
                      problem=str(exc)[:300])
    return render(request, "billing_remits.html.j2", imported=imported, problem="")


# -- the worklist and the month's figures -----------------------------------------------------

def _as_of(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/billing/worklist", openapi_extra=operation("worklist.read"))
def billing_worklist(request: Request, actor: PageActor, as_of: str = "",
                     show: str = "open") -> HTMLResponse:
    found = worklist_of(request, _as_of(as_of[:10]))
    items = found.items if show == "all" else found.open()
    return render(request, "billing_worklist.html.j2", worklist=found, items=items,
                  show=show, configured=request.app.state.settings.submitter_config
                  is not None)


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    x: int
    y: int
    height: int
    kind: str  # charged, paid, write_off
    cents: int


CHART_HEIGHT = 160
BAR_WIDTH = 18


def month_bars(totals: list[Any]) -> list[Bar]:
    """Three bars a month (charged, paid, written off), scaled to the largest."""
    top = max([t.charged_cents for t in totals] + [1])
    bars = []
    for n, total in enumerate(totals):
        for k, (kind, cents) in enumerate((("charged", total.charged_cents),
                                           ("paid", total.paid_cents),
                                           ("write_off", total.write_off_cents))):
            height = round(CHART_HEIGHT * max(cents, 0) / top)
            bars.append(Bar(total.key, 40 + n * (4 * BAR_WIDTH + 12) + k * BAR_WIDTH,
                            CHART_HEIGHT + 10 - height, height, kind, cents))
    return bars


@router.get("/billing/months", openapi_extra=operation("billing.dashboard"))
def billing_months(request: Request, actor: PageActor) -> HTMLResponse:
    found = months_of(request)
    bars = month_bars(found.by_month)
    width = 60 + len(found.by_month) * (4 * BAR_WIDTH + 12)
    return render(request, "billing_months.html.j2", found=found, bars=bars, width=width,
                  chart_height=CHART_HEIGHT, bar_width=BAR_WIDTH,
                  configured=request.app.state.settings.submitter_config is not None)
