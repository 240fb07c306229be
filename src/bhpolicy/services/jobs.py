"""Background jobs: a billing run of uploaded files, run by one worker process beside the
server, with no broker.

- :func:`new_folder` makes a job's owner-only folder; :func:`save_upload` streams one upload
  into it in chunks, refusing it past a size cap (the caller answers 413), so an upload never
  sits whole in memory.
- :func:`enqueue` records the job (queued). :func:`claim` takes the oldest queued job, or a
  running one whose lease ran out (its worker died), by a conditional UPDATE: two workers
  never hold one job. :func:`heartbeat` renews the lease and stores the run's current step;
  it returns False when the lease was lost, and the worker stops that run.
- :func:`finish` / :func:`fail` end it; a failure keeps the one-line error (no PHI).
- :func:`delete` removes the row and its folder (uploads and outputs).

Who sees a job: its owner, and admins. The kinds a worker runs are in :data:`RUNNERS`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import or_, select, update

from bhpolicy.db.job_models import Job
from bhpolicy.errors import BhpolicyError
from bhpolicy.services.errors import Forbidden, NotFound, ServiceError
from bhpolicy.services.ids import new_id
from bhpolicy.services.permissions import require
from bhpolicy.services.users import Actor

LOG = logging.getLogger("bhpolicy.jobs")
CHUNK = 1 << 20
SEES_EVERY_JOB = frozenset({"admin"})


class UploadTooLarge(ServiceError):
    """An upload over the cap (answered 413)."""

    status = 413


@dataclass(frozen=True)
class JobView:
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
    params: dict[str, Any]
    folder: Path


def _view(job: Job) -> JobView:
    return JobView(job.id, job.kind, job.status, job.created_at, job.started_at,
                   job.finished_at, job.progress, job.steps_done, job.attempts, job.error,
                   job.result, dict(job.params), Path(job.folder))


def new_folder(jobs_dir: Path) -> tuple[str, Path]:
    """A new job id and its folder (0700, under a 0700 ``jobs_dir``)."""
    jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(jobs_dir, 0o700)
    job_id = new_id("J")
    folder = jobs_dir / job_id
    folder.mkdir(mode=0o700)
    return job_id, folder


def save_upload(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy ``source`` to ``target`` (0600) in chunks; over ``limit`` bytes the partial file
    is removed and :class:`UploadTooLarge` raised. Returns the size."""
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"{target.name}: upload over {limit} bytes")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def enqueue(db: Any, actor: Actor, job_id: str, kind: str, folder: Path,
            params: dict[str, Any], now: dt.datetime) -> JobView:
    require(actor, f"jobs.{kind}")
    if kind not in RUNNERS:
        raise BhpolicyError(f"job kind {kind!r} is not known")
    with db.transaction() as session:
        job = Job(id=job_id, kind=kind, owner_id=actor.id, status="queued", folder=str(folder),
                  params=params, created_at=now, attempts=0, steps_done=0)
        session.add(job)
        session.flush()
        return _view(job)


def _visible(actor: Actor, job: Job | None, job_id: str) -> Job:
    if job is None or (job.owner_id != actor.id and actor.role not in SEES_EVERY_JOB):
        raise NotFound(f"job {job_id} not found")
    return job


def get(db: Any, actor: Actor, job_id: str) -> JobView:
    require(actor, "jobs.read")
    with db.read() as session:
        return _view(_visible(actor, session.get(Job, job_id), job_id))


def list_jobs(db: Any, actor: Actor, limit: int = 50) -> list[JobView]:
    require(actor, "jobs.read")
    query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if actor.role not in SEES_EVERY_JOB:
        query = query.where(Job.owner_id == actor.id)
    with db.read() as session:
        return [_view(job) for job in session.scalars(query)]


def delete(db: Any, actor: Actor, job_id: str) -> None:
    """Remove a job that is not running, with its folder."""
    require(actor, "jobs.read")
    with db.transaction() as session:
        job = _visible(actor, session.get(Job, job_id), job_id)
        if job.status == "running":
            raise Forbidden(f"job {job_id} is running; delete it when it has ended")
        folder = Path(job.folder)
        session.delete(job)
    shutil.rmtree(folder, ignore_errors=True)


# -- the worker's side ------------------------------------------------------------------------

def claim(db: Any, worker: str, now: dt.datetime, lease: dt.timedelta) -> JobView | None:
    """The oldest queued job, or a running one whose lease ran out, now held by ``worker``."""
    with db.transaction() as session:
        candidates = session.scalars(
            select(Job.id).where(or_(Job.status == "queued",
                                     (Job.status == "running") & (Job.lease_until < now)))
            .order_by(Job.created_at, Job.id).limit(5)).all()
        for job_id in candidates:
            taken = session.execute(
                update(Job).where(Job.id == job_id, or_(
                    Job.status == "queued",
                    (Job.status == "running") & (Job.lease_until < now)))
                .values(status="running", worker=worker, lease_until=now + lease,
                        heartbeat_at=now, started_at=now, attempts=Job.attempts + 1,
                        progress="started", steps_done=0, error=None)
                .execution_options(synchronize_session=False))
            if taken.rowcount == 1:
                job = session.get(Job, job_id)
                assert job is not None
                session.refresh(job)
                return _view(job)
    return None


def heartbeat(db: Any, job_id: str, worker: str, now: dt.datetime, lease: dt.timedelta,
              progress: str | None = None) -> bool:
    """Renew the lease (and record the step); False when another worker holds the job."""
    values: dict[str, Any] = {"lease_until": now + lease, "heartbeat_at": now}
    if progress is not None:
        values.update(progress=progress[:200], steps_done=Job.steps_done + 1)
    with db.transaction() as session:
        done = session.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker,
                              Job.status == "running").values(**values)
            .execution_options(synchronize_session=False))
        return bool(done.rowcount == 1)


def _end(db: Any, job_id: str, worker: str, now: dt.datetime, **values: Any) -> bool:
    with db.transaction() as session:
        done = session.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker,
                              Job.status == "running")
            .values(finished_at=now, lease_until=None, **values)
            .execution_options(synchronize_session=False))
        return bool(done.rowcount == 1)


def finish(db: Any, job_id: str, worker: str, now: dt.datetime,
           result: dict[str, Any]) -> bool:
    return _end(db, job_id, worker, now, status="done", result=result, progress="done")


def fail(db: Any, job_id: str, worker: str, now: dt.datetime, error: str) -> bool:
    return _end(db, job_id, worker, now, status="failed", error=error[:500],
                progress="failed")


class LeaseLost(BhpolicyError):
    """Another worker took the job over (this one was too slow to renew its lease)."""


Runner = Callable[[JobView, Callable[[str], None]], dict[str, Any]]


def _run_bill(job: JobView, step: Callable[[str], None]) -> dict[str, Any]:
    from bhpolicy.services.billing_jobs import run_bill_job

    return run_bill_job(job.folder, job.params, step)


RUNNERS: dict[str, Runner] = {"bill": _run_bill}


@contextmanager
def _keep_alive(db: Any, job: JobView, worker: str, clock: Callable[[], dt.datetime],
                lease: dt.timedelta) -> Iterator[threading.Event]:
    """Renew the lease every third of it while a step runs long (a DuckDB stage may)."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                if not heartbeat(db, job.id, worker, clock(), lease):
                    lost.set()
                    return
            except Exception as exc:  # the type only; the next beat tries again
                LOG.warning("job heartbeat failed: %s", type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def run_one(db: Any, worker: str, clock: Callable[[], dt.datetime],
            lease: dt.timedelta) -> JobView | None:
    """Claim one job and run it to its end; None when nothing was waiting."""
    job = claim(db, worker, clock(), lease)
    if job is None:
        return None
    with _keep_alive(db, job, worker, clock, lease) as lost:

        def step(name: str) -> None:
            if lost.is_set() or not heartbeat(db, job.id, worker, clock(), lease, name):
                raise LeaseLost(f"job {job.id}: another worker took it over")

        try:
            result = RUNNERS[job.kind](job, step)
        except LeaseLost:
            LOG.warning("job %s: lease lost; left to the worker holding it", job.id)
            return job
        except BhpolicyError as exc:
            fail(db, job.id, worker, clock(), str(exc))
            return job
        except Exception as exc:  # a bug: its type only (the message may hold PHI)
            LOG.error("job %s failed: %s", job.id, type(exc).__name__)
            fail(db, job.id, worker, clock(), f"internal error ({type(exc).__name__})")
            return job
    finish(db, job.id, worker, clock(), result)
    return job


def work_forever(db: Any, worker: str, clock: Callable[[], dt.datetime],
                 lease: dt.timedelta, poll_seconds: float,
                 stop: threading.Event | None = None) -> None:
    """The worker's loop: run jobs one at a time; wait ``poll_seconds`` when none waits."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            ran = run_one(db, worker, clock, lease)
        except Exception as exc:  # the database went away, say: wait and try again
            LOG.error("worker: %s", type(exc).__name__)
            ran = None
        if ran is None:
            stop.wait(poll_seconds)
