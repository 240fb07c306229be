"""The billing API under ``/api``: billing jobs of uploaded files, the 837P of a finished job
through the claim ledger, files the payer sends back (999, 277CA, 835), the worklist and the
month's figures. Every route names its operation, checked like the review API's.

Uploads are multipart form fields streamed to the job's owner-only folder
(:func:`bhpolicy.services.jobs.save_upload`); past ``settings.max_upload_bytes`` the answer is
413 and nothing is kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from bhpolicy.errors import BhpolicyError
from bhpolicy.services import jobs
from bhpolicy.services.billing_jobs import INPUT_NAMES, input_name
from bhpolicy.services.errors import Conflict, Invalid, ServiceError
from bhpolicy.services.permissions import require
from bhpolicy.services.users import Actor
from bhpolicy.web.auth import ApiActor, operation

#: the routes that take files (the guard lets their bodies be as large as an upload may)
UPLOAD_PATHS = frozenset({"/api/billing/jobs", "/billing/jobs", "/api/remits", "/billing/remits"})
ACK_LIMIT_NOTE = "999, 277CA or 835"
JobId = Annotated[str, PathParam(min_length=1, max_length=20, pattern=r"^J-[A-Z2-7]+$")]


def _operation_id(route: APIRoute) -> str:
    return route.name


router = APIRouter(prefix="/api", tags=["billing"], generate_unique_id_function=_operation_id)


class JobAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str
    status: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: str | None
    steps_done: int
    attempts: int
    error: str | None
    result: dict[str, Any] | None


def job_answer(view: jobs.JobView) -> JobAnswer:
    """The job as the API shows it: every field but where it is kept and its parameters."""
    fields = dataclasses.asdict(view)
    return JobAnswer(**{name: fields[name] for name in JobAnswer.model_fields})


def jobs_dir(request: Request) -> Path:
    settings = request.app.state.settings
    if settings.jobs_dir is not None:
        return Path(settings.jobs_dir)
    from bhpolicy.catalog.store import default_home

    return default_home() / "jobs"


def _now(request: Request) -> dt.datetime:
    now: dt.datetime = request.app.state.settings.clock()
    return now


async def _save(upload: Any, kind: str, target_dir: Path, limit: int) -> str:
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid(f"{kind}: attach a .csv or .parquet file", f"form.{kind}")
    try:
        name = input_name(kind, upload.filename)
    except BhpolicyError as exc:
        raise Invalid(str(exc), f"form.{kind}") from None
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(jobs.save_upload, upload.file, target_dir / name, limit)
    return name


async def create_bill_job(request: Request, actor: Actor, form: Any) -> jobs.JobView:
    """Store the three uploads in a new job folder and queue the run (pages and API)."""
    from starlette.concurrency import run_in_threadpool

    require(actor, "jobs.bill")
    settings = request.app.state.settings
    as_of_text = str(form.get("as_of") or "").strip()
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else _now(request).date()
    except ValueError:
        raise Invalid("as_of: expected a date YYYY-MM-DD", "form.as_of") from None
    job_id, folder = jobs.new_folder(jobs_dir(request))
    try:
        inputs = folder / "inputs"
        inputs.mkdir(mode=0o700)
        names = {kind: await _save(form.get(kind), kind, inputs, settings.max_upload_bytes)
                 for kind in INPUT_NAMES}
        params: dict[str, Any] = {"inputs": names, "as_of": as_of.isoformat()}
        if settings.submitter_config is not None:
            from bhpolicy.x12.config import known_payer_ids

            params["payer_ids"] = sorted(known_payer_ids(Path(settings.submitter_config)))
        return await run_in_threadpool(jobs.enqueue, request.app.state.db, actor, job_id,
                                       "bill", folder, params, _now(request))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-uploaded stays
        raise


@router.post("/billing/jobs", status_code=202, response_model=JobAnswer,
             openapi_extra=operation("jobs.bill"),
             summary="Upload a month's contacts, members and authorizations (multipart: "
             "contacts, members, authorizations; optional as_of) and queue the billing run")
async def submit_bill_job(request: Request, actor: ApiActor) -> JobAnswer:
    form = await request.form(max_files=len(INPUT_NAMES), max_fields=10)
    return job_answer(await create_bill_job(request, actor, form))


@router.get("/billing/jobs", response_model=list[JobAnswer],
            openapi_extra=operation("jobs.read"), summary="Billing jobs, newest first")
def list_bill_jobs(request: Request, actor: ApiActor) -> list[JobAnswer]:
    return [job_answer(v) for v in jobs.list_jobs(request.app.state.db, actor)]


@router.get("/billing/jobs/{job_id}", response_model=JobAnswer,
            openapi_extra=operation("jobs.read"), summary="A billing job and its progress")
def get_bill_job(request: Request, job_id: JobId, actor: ApiActor) -> JobAnswer:
    return job_answer(jobs.get(request.app.state.db, actor, job_id))


def import_payer_file(db: Any, actor: Any, upload: Any, folder: Path, limit: int,
                      now: dt.datetime) -> dict[str, Any]:
    """A 999, 277CA or 835 uploaded, posted into the ledger (pages and API)."""
    from bhpolicy.services import posting
    from bhpolicy.x12.kind import detect

    require(actor, "remits.import")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid(f"file: attach the {ACK_LIMIT_NOTE} file", "form.file")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        path = Path(scratch) / "payer-file.x12"
        jobs.save_upload(upload.file, path, limit)
        try:
            kind = detect(path).name
            if kind in ("999", "277CA"):
                result: Any = posting.import_acks(db, path, now=now)
            elif kind == "835":
                result = posting.import_remittance(db, path, now=now)
            else:
                raise Invalid(f"a {kind} cannot be imported; give a {ACK_LIMIT_NOTE}",
                              "form.file")
        except ServiceError:
            raise
        except BhpolicyError as exc:  # the file's own one line, named by the upload
            raise Invalid(f"{upload.filename[:120]}: " + str(exc).replace(
                f"{path}: ", "").replace(str(path), "the file"), "form.file") from None
    answer = dataclasses.asdict(result)
    answer["kind"] = kind
    answer["file"] = upload.filename[:120]
    if isinstance(answer.get("problems"), list):  # named by the upload, not the scratch file
        answer["problems"] = [str(p).replace(str(path), answer["file"])
                              for p in answer["problems"]]
    return answer




@router.post("/remits", response_model=dict[str, Any], openapi_extra=operation("remits.import"),
             summary="Import a 999, 277CA or 835 (multipart field: file) into the claim "
             "ledger; the same file twice changes nothing",
             responses={409: {"description": "An 835 whose payment trace number (TRN02) "
                              "was posted before from another file: held, not posted"}})
async def import_remit(request: Request, actor: ApiActor) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    form = await request.form(max_files=1, max_fields=5)
    answer: dict[str, Any] = await run_in_threadpool(
        import_payer_file, request.app.state.db, actor, form.get("file"),
        jobs_dir(request) / "payer-files", request.app.state.settings.max_upload_bytes,
        _now(request))
    if answer.get("held"):  # the payment was posted from another file: held, not posted
        raise Conflict(answer["problems"][0][:300], "form.file")
    return answer


class ClaimChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: Annotated[str, Field(min_length=1, max_length=80)]
    authorization_id: Annotated[str, Field(min_length=1, max_length=80)]
    month: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]


class ClaimsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    added_days: Literal["new", "replace"] = "new"
    resend: bool = False
    #: the claims to send (member, authorization, month); absent: every billable line
    claims: Annotated[list[ClaimChoice] | None, Field(max_length=10000)] = None


@router.post("/billing/jobs/{job_id}/837p", response_model=dict[str, Any],
             openapi_extra=operation("claims.write"),
             summary="Write the 837P of a finished job through the claim ledger")
def write_837p(request: Request, job_id: JobId, body: ClaimsRequest,
               actor: ApiActor) -> dict[str, Any]:
    from bhpolicy.services.billing_jobs import write_job_837p

    try:
        return write_job_837p(request.app.state.db, actor, job_id,
                              request.app.state.settings.submitter_config, _now(request),
                              added_days=body.added_days, resend=body.resend,
                              chosen=None if body.claims is None else {
                                  (c.member_id, c.authorization_id, c.month)
                                  for c in body.claims})
    except ServiceError:
        raise
    except BhpolicyError as exc:
        raise Invalid(str(exc), "job") from None


ClaimNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,38}$")]  # CLM01


class VoidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the finished billing job whose run holds the claims' members (the subscriber fields)
    job_id: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^J-[A-Z2-7]+$")]
    #: the claims to void, by CLM01 (patient control number)
    claims: Annotated[list[ClaimNumber], Field(min_length=1, max_length=1000)]


@router.post("/billing/void", response_model=dict[str, Any],
             openapi_extra=operation("claims.void"),
             summary="Void claims of the claim ledger (frequency 8, REF*F8 the payer's claim "
             "number, the lines as last sent): the 837P written to the job's claims, the "
             "subscriber fields from the job's run",
             responses={409: {"description": "A claim that cannot be voided (not numbered "
                              "by the payer yet, rejected, already voided or replaced, or "
                              "itself a void): nothing written"},
                        422: {"description": "A claim not in the ledger, a job not done, "
                              "or a member not in the job's run: nothing written"}})
def void_claims(request: Request, body: VoidRequest, actor: ApiActor) -> dict[str, Any]:
    from bhpolicy.services.billing_jobs import void_job_claims

    return void_job_claims(request.app.state.db, actor, body.job_id,
                           request.app.state.settings.submitter_config, _now(request),
                           body.claims)


def _config(request: Request) -> Any:
    path = request.app.state.settings.submitter_config
    if path is None:
        return None
    from bhpolicy.x12.config import load_config

    return load_config(Path(path))


def worklist_of(request: Request, as_of: dt.date | None) -> Any:
    """The denial worklist (``services.worklist``) with the server's submitter config."""
    from bhpolicy.services.determining import registry
    from bhpolicy.services.worklist import worklist

    return worklist(request.app.state.db, _config(request),
                    as_of=as_of or _now(request).date(), registry=registry())


def months_of(request: Request, month: str | None = None) -> Any:
    """Reconciliation (``services.reconcile``): billed, paid and denied by month and CARC."""
    from bhpolicy.services.determining import registry
    from bhpolicy.services.reconcile import reconcile

    return reconcile(request.app.state.db, _config(request), month=month,
                     registry=registry())


Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


@router.get("/worklist", response_model=dict[str, Any], openapi_extra=operation("worklist.read"),
            summary="Denied and rejected lines: the action to take, its deadline, days left")
def get_worklist(request: Request, actor: ApiActor,
                 as_of: Annotated[dt.date | None, Query()] = None) -> dict[str, Any]:
    answer: dict[str, Any] = worklist_of(request, as_of).as_dict()
    return answer


@router.get("/billing/months", response_model=dict[str, Any],
            openapi_extra=operation("billing.dashboard"),
            summary="Billed, expected, paid and denied by month, team and payer; denials "
            "by CARC (integer cents)")
def get_months(request: Request, actor: ApiActor, month: Month = None) -> dict[str, Any]:
    found = months_of(request, month)
    return {"by_month": [dataclasses.asdict(t) for t in found.by_month],
            "by_team": [dataclasses.asdict(t) for t in found.by_team],
            "by_payer": [dataclasses.asdict(t) for t in found.by_payer],
            "denials": [dataclasses.asdict(d) for d in found.denials],
            "total": dataclasses.asdict(found.total),
            "provider_adjustments_cents": found.provider_adjustments_cents,
            "fee_schedule": "configured" if found.fee_schedule else None}


Row = dict[str, str | int | float | bool | None]


class BillingCheck(BaseModel):
    """One member's contacts, member row and authorizations, with the columns of the files
    ``bhpolicy bill`` reads (values as text, numbers or booleans)."""

    model_config = ConfigDict(extra="forbid")
    contacts: Annotated[list[Row], Field(max_length=2000)]
    members: Annotated[list[Row], Field(min_length=1, max_length=20)]
    authorizations: Annotated[list[Row], Field(min_length=1, max_length=50)]
    already_billed: Annotated[list[Row], Field(max_length=2000)] = []
    as_of: dt.date | None = None


class BillingCheckAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[dict[str, Any]]
    unbilled_days: list[dict[str, Any]]
    member_months: list[dict[str, Any]]
    policies: list[dict[str, str]]


def settle_heap() -> None:
    """Move what is alive now out of the garbage collector's full passes, so a full
    collection does not walk it again in the middle of a request: after the start-up's
    warm-up, and once a one-member plan is compiled (at start for today's, and by the check
    that compiles another), which leaves some 250,000 long-lived objects (about 140 ms a
    full collection)."""
    gc.collect()
    gc.freeze()


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}
            for row in rows]


@router.post("/billing/check", response_model=BillingCheckAnswer,
             openapi_extra=operation("billing.check"),
             summary="Bill one member's contacts now (the same rules as bhpolicy bill, on the "
             "engine's warm one-member path): lines with status, reason and CARC, unbilled "
             "days, the member-month")
def check_billing(request: Request, body: BillingCheck, actor: ApiActor) -> BillingCheckAnswer:
    from bhpolicy.billing.one import OneInputError, bill_one, warm_state
    from bhpolicy.services.determining import registry

    as_of = body.as_of or _now(request).date()
    if as_of > _now(request).date():
        raise Invalid("as_of: a day after today cannot be billed", "as_of")
    plans = warm_state(registry()).plans
    compiled = len(plans)
    try:
        found = bill_one(body.contacts, body.members, body.authorizations,
                         registry=registry(), as_of=as_of,
                         already_billed=body.already_billed or None)
    except OneInputError as exc:
        raise Invalid(str(exc), f"{exc.table}[{exc.row - 1}].{exc.field}") from None
    except BhpolicyError as exc:
        raise Invalid(str(exc), "body") from None
    finally:
        if len(plans) != compiled:  # this call compiled a plan (a new day or variant)
            settle_heap()
    return BillingCheckAnswer(lines=_plain(found.lines),
                              unbilled_days=_plain(found.unbilled_days),
                              member_months=_plain(found.member_months),
                              policies=found.policies)
