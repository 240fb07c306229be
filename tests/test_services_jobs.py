"""Background jobs: the lease (one worker holds a job; a dead worker's job is taken over), the
heartbeat, a billing run of uploaded files with its steps as progress, uploads streamed with a
cap, and a job deleted with its folder. On SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import stat
from pathlib import Path
from typing import Any

import pytest

from bhpolicy.errors import BhpolicyError
from bhpolicy.services import jobs
from bhpolicy.services.billing_jobs import CLAIMS, free_stem, input_name, run_folder
from bhpolicy.services.errors import Forbidden, NotFound
from bhpolicy.services.users import Actor, add_user
from tests.billing_helpers import (
    AS_OF,
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    auth,
    days,
    member,
    write_csv,
)

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)


def _actor(db: Any, role: str, name: str) -> Actor:
    user, _ = add_user(db, name, role)
    return Actor(user.id, user.name, user.role, None)


def _bill_job(db: Any, actor: Actor, jobs_dir: Path, contacts: list[dict[str, Any]]
              ) -> jobs.JobView:
    job_id, folder = jobs.new_folder(jobs_dir)
    inputs = folder / "inputs"
    inputs.mkdir(mode=0o700)
    sources = {"contacts": write_csv(jobs_dir / "c.csv", CONTACT_FIELDS, contacts),
               "members": write_csv(jobs_dir / "m.csv", MEMBER_FIELDS, [member()]),
               "authorizations": write_csv(jobs_dir / "a.csv", AUTH_FIELDS, [auth()])}
    names = {}
    for kind, source in sources.items():
        names[kind] = input_name(kind, source.name)
        with source.open("rb") as handle:
            jobs.save_upload(handle, inputs / names[kind], 10_000_000)
    return jobs.enqueue(db, actor, job_id, "bill", folder,
                        {"inputs": names, "as_of": AS_OF.isoformat()}, NOW)


def test_a_billing_job_runs_once_with_its_steps_and_is_deleted_with_its_folder(
        database: Any, tmp_path: Path) -> None:
    biller = _actor(database, "biller", "biller1")
    job = _bill_job(database, biller, tmp_path / "jobs", days("2026-03", 2, 20))
    assert stat.S_IMODE(job.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((job.folder / "inputs" / "contacts.csv").stat().st_mode) == 0o600
    clock = iter(NOW + dt.timedelta(seconds=n) for n in range(1000))
    ran = jobs.run_one(database, "w1", lambda: next(clock), LEASE)
    assert ran is not None and ran.id == job.id
    done = jobs.get(database, biller, job.id)
    assert done.status == "done", done.error
    assert done.steps_done >= 3 and done.progress == "done"
    assert done.result is not None and done.result["counts"]["lines_billable"] > 0
    assert (run_folder(done.folder) / "report.html").is_file()
    assert jobs.run_one(database, "w1", lambda: NOW, LEASE) is None  # nothing else waits
    jobs.delete(database, biller, job.id)
    assert not done.folder.exists()
    with pytest.raises(NotFound):
        jobs.get(database, biller, job.id)


def test_a_job_is_held_by_one_worker_and_taken_over_when_its_lease_runs_out(
        database: Any, tmp_path: Path) -> None:
    biller = _actor(database, "biller", "biller1")
    job = _bill_job(database, biller, tmp_path / "jobs", days("2026-03", 2, 12))
    first = jobs.claim(database, "w1", NOW, LEASE)
    assert first is not None and first.id == job.id
    assert jobs.claim(database, "w2", NOW + LEASE / 2, LEASE) is None  # held
    assert jobs.heartbeat(database, job.id, "w1", NOW + LEASE / 2, LEASE, "reading")
    assert jobs.claim(database, "w2", NOW + LEASE, LEASE) is None  # the beat renewed it
    later = NOW + LEASE / 2 + LEASE + dt.timedelta(seconds=1)
    second = jobs.claim(database, "w2", later, LEASE)  # w1 went quiet: w2 takes it
    assert second is not None and second.attempts == 2
    assert not jobs.heartbeat(database, job.id, "w1", later, LEASE, "late")  # w1 lost it
    assert not jobs.finish(database, job.id, "w1", later, {})
    assert jobs.finish(database, job.id, "w2", later, {"counts": {}})
    assert jobs.get(database, biller, job.id).status == "done"


def test_a_bad_upload_fails_the_job_with_one_line_and_others_cannot_see_it(
        database: Any, tmp_path: Path) -> None:
    biller = _actor(database, "biller", "biller1")
    other = _actor(database, "biller", "biller2")
    admin = _actor(database, "admin", "admin1")
    job = _bill_job(database, biller, tmp_path / "jobs", days("2026-03", 2, 5))
    (job.folder / "inputs" / "members.csv").write_text("member_id\n\n", encoding="utf-8")
    (job.folder / "inputs" / "authorizations.csv").write_text("nonsense\n1\n",
                                                              encoding="utf-8")
    jobs.run_one(database, "w1", lambda: NOW, LEASE)
    failed = jobs.get(database, admin, job.id)  # an admin sees every job
    assert failed.status == "failed"
    assert failed.error == "members.csv: header: missing column 'medicaid_id'"
    with pytest.raises(NotFound):
        jobs.get(database, other, job.id)
    assert [j.id for j in jobs.list_jobs(database, other)] == []
    with pytest.raises(Forbidden):
        jobs.enqueue(database, admin, "J-X", "bill", tmp_path, {}, NOW)


def test_an_upload_over_the_cap_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "contacts.csv"
    with pytest.raises(jobs.UploadTooLarge):
        jobs.save_upload(io.BytesIO(b"x" * (3 * jobs.CHUNK)), target, jobs.CHUNK * 2)
    assert not target.exists()
    with pytest.raises(BhpolicyError, match=r"csv or \.parquet"):
        input_name("contacts", "contacts.xlsx")


def test_a_claim_file_written_in_the_same_second_never_replaces_another(tmp_path: Path
                                                                        ) -> None:
    stem = "837p-20261207T031500"
    assert free_stem(tmp_path, stem) == stem  # no claims folder yet
    claims = tmp_path / CLAIMS
    claims.mkdir()
    (claims / f"{stem}.x12").write_text("", encoding="ascii")
    assert free_stem(tmp_path, stem) == f"{stem}-2"
    # a file split by receiver (stem.RECEIVER.x12) and a later -2 rule their stems out
    (claims / f"{stem}-2.R1.x12").write_text("", encoding="ascii")
    (claims / f"{stem}-3.x12").write_text("", encoding="ascii")
    assert free_stem(tmp_path, stem) == f"{stem}-4"
    assert free_stem(tmp_path, "void-20261207T031500") == "void-20261207T031500"
