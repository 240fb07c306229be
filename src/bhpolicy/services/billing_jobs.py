"""A billing run of uploaded files, as a background job: the same ``bill_to_folder`` that
``bhpolicy bill`` calls, over the job folder's ``inputs/`` into its ``run/`` folder (with
report.html), the run's steps reported as the job's progress.

A job's ``params``: ``inputs`` (the stored file name of contacts, members and
authorizations), ``as_of`` (the day the run bills to, ISO), optional ``memory_limit``,
``payer_ids`` (the submitter config's payers, when the server has one) and ``missing_pos``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bhpolicy.errors import BhpolicyError

INPUT_NAMES = ("contacts", "members", "authorizations")
INPUT_SUFFIXES = (".csv", ".parquet")
RUN = "run"


def input_name(kind: str, filename: str) -> str:
    """The stored name of an upload: its kind and its suffix (never the user's file name)."""
    suffix = Path(filename).suffix.lower()
    if kind not in INPUT_NAMES:
        raise BhpolicyError(f"upload {kind!r}: expected one of {', '.join(INPUT_NAMES)}")
    if suffix not in INPUT_SUFFIXES:
        raise BhpolicyError(f"upload {kind}: give a .csv or .parquet file")
    return f"{kind}{suffix}"


def run_folder(folder: Path) -> Path:
    return folder / RUN


def run_bill_job(folder: Path, params: dict[str, Any],
                 step: Callable[[str], None]) -> dict[str, Any]:
    from bhpolicy.billing.run import BillInputs, bill_to_folder
    from bhpolicy.domain.runs import RunSettings
    from bhpolicy.report.billing import run_report
    from bhpolicy.services.determining import registry

    names = params.get("inputs") or {}
    missing = [kind for kind in INPUT_NAMES if not names.get(kind)]
    if missing:
        raise BhpolicyError(f"job inputs missing: {', '.join(missing)}")
    inputs = BillInputs(*(folder / "inputs" / str(names[kind]) for kind in INPUT_NAMES))
    payers = params.get("payer_ids")
    settings = RunSettings(
        out=run_folder(folder), formats=("parquet", "csv"),
        memory_limit=str(params.get("memory_limit") or "1GB"),
        temp_directory=folder / "tmp",
        as_of=dt.date.fromisoformat(str(params["as_of"])),
        missing_pos=str(params.get("missing_pos") or "default"),
        payer_ids=frozenset(payers) if payers is not None else None)
    try:
        summary = bill_to_folder(inputs, settings, registry(), step, run_report)
    except BhpolicyError as exc:  # named by the upload, not by where the server keeps it
        raise BhpolicyError(str(exc).replace(f"{folder / 'inputs'}{os.sep}", "")
                            .replace(str(folder), "job folder")) from None
    return {"counts": dict(summary.counts), "rejected_rows": summary.rejected_rows,
            "policies": summary.policies, "rows": dict(summary.rows)}


CLAIMS = "claims"


def claim_files(folder: Path) -> list[str]:
    """The 837P files written for a job, oldest first (names only)."""
    claims = folder / CLAIMS
    if not claims.is_dir():
        return []
    return sorted((p.name for p in claims.iterdir() if p.suffix == ".x12"),
                  key=lambda name: (claims / name).stat().st_mtime_ns)


def free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``...: the first that no file of the job's claims
    folder starts with (a writer adds a receiver's id to the stem when a file goes to
    several), so a second file written in the same second never replaces the first."""
    taken = claim_files(folder)
    n = 1
    while True:  # each file rules out at most two stems: this ends
        candidate = stem if n == 1 else f"{stem}-{n}"
        if not any(name.startswith((f"{candidate}.", f"{candidate}-")) for name in taken):
            return candidate
        n += 1


def claim_file(folder: Path, name: str) -> Path:
    """One of :func:`claim_files` by its exact name (never a path the caller builds)."""
    if name not in claim_files(folder):
        from bhpolicy.services.errors import NotFound

        raise NotFound(f"837P file {name[:80]!r} not found")
    return folder / CLAIMS / name


ClaimKey = tuple[str, str, str]  # member, authorization, month (YYYY-MM)


def claim_groups(folder: Path) -> list[dict[str, Any]]:
    """The claims a finished job's billable lines make (member, authorization and month,
    as the 837P groups them), with their line counts: what a user chooses from."""
    import duckdb

    lines = run_folder(folder) / "lines.parquet"
    if not lines.is_file():
        return []
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT member_id, authorization_id, strftime(service_date, '%Y-%m') AS month, "
            "count(*) AS lines, min(service_date) AS first, max(service_date) AS last "
            "FROM read_parquet(?) WHERE status = 'billable' GROUP BY ALL ORDER BY ALL",
            [str(lines)]).fetchall()
    finally:
        con.close()
    return [{"member_id": m, "authorization_id": a, "month": month, "lines": n,
             "first": str(first), "last": str(last)}
            for m, a, month, n, first, last in rows]


def write_job_837p(db: Any, actor: Any, job_id: str, config_path: Path | None,
                   now: dt.datetime, *, added_days: str = "new",
                   resend: bool = False,
                   chosen: set[ClaimKey] | None = None) -> dict[str, Any]:
    """The 837P of a finished billing job, through the claim ledger of the server's database
    (lines sent before are left out unless ``resend``; CLM01 never repeats), validated by
    pyx12; with ``chosen``, only those claims (member, authorization, month). Returns what
    was written (no PHI)."""
    from bhpolicy.services import jobs, reference
    from bhpolicy.services.determining import registry
    from bhpolicy.services.errors import Invalid
    from bhpolicy.services.ledger import write_837p_with_ledger
    from bhpolicy.services.permissions import require
    from bhpolicy.x12.config import load_config
    from bhpolicy.x12.validate import validate_837p

    require(actor, "claims.write")
    job = jobs.get(db, actor, job_id)
    if job.status != "done":
        raise Invalid(f"job {job_id} has not finished; write its 837P when it is done", "job")
    if config_path is None:
        raise Invalid("the server has no submitter configuration (bhpolicy serve "
                      "--submitter-config)", "config")
    if added_days not in ("new", "replace"):
        raise Invalid("added_days: choose new or replace", "added_days")
    if chosen is not None and not chosen:
        raise Invalid("choose at least one claim to write", "claims")
    config = load_config(config_path)
    out_dir = job.folder / CLAIMS
    out_dir.mkdir(mode=0o700, exist_ok=True)
    out = out_dir / f"{free_stem(job.folder, f'837p-{now:%Y%m%dT%H%M%S}')}.x12"
    try:
        result, ledger_run = write_837p_with_ledger(
            db, run_folder(job.folder), config, out, config_path.parent /
            config.control_numbers_file, set(reference.catalog()[0].entries), now=now,
            as_of=now.date(), registry=registry(), resend=resend,
            added_days="replace" if added_days == "replace" else "new",
            keep=None if chosen is None else lambda claim: (
                str(claim.member["member_id"]), claim.authorization_id, claim.month)
            in chosen)
    except BhpolicyError as exc:  # named by the job, not by where the server keeps it
        raise Invalid(str(exc).replace(str(run_folder(job.folder)), f"job {job.id}")
                      .replace(str(job.folder), f"job {job.id}"), "job") from None
    return {"files": [{"name": f.path.name, "claims": len(f.claims),
                       "valid": validate_837p(f.path).valid} for f in result.files],
            "claims": len(result.claims), "lines": sum(len(c.lines) for c in result.claims),
            "lines_sent_before": ledger_run.skipped_lines,
            "rejected": [str(p) for p in result.rejected],
            "warnings": [str(w) for w in result.warnings]}


def void_job_claims(db: Any, actor: Any, job_id: str, config_path: Path | None,
                    now: dt.datetime, claim_ids: list[str]) -> dict[str, Any]:
    """Void claims of the server's claim ledger (``ledger.void_claims``, the function
    ``bhpolicy claims void`` calls): an 837P of frequency-8 claims written to the job's
    claims folder, the subscriber fields from the finished job's run. A claim that cannot be
    voided is refused (409; 422 for a claim not in the ledger), with nothing written.
    Returns what was written (no PHI)."""
    from bhpolicy.services import jobs, reference
    from bhpolicy.services.errors import Conflict, Invalid
    from bhpolicy.services.ledger import VoidRefused, void_claims
    from bhpolicy.services.permissions import require
    from bhpolicy.x12.config import load_config
    from bhpolicy.x12.validate import validate_837p

    require(actor, "claims.void")
    if not claim_ids:
        raise Invalid("name at least one claim to void", "claims")
    job = jobs.get(db, actor, job_id)
    if job.status != "done":
        raise Invalid(f"job {job_id} has not finished; its run supplies the subscribers "
                      "when it is done", "job_id")
    if config_path is None:
        raise Invalid("the server has no submitter configuration (bhpolicy serve "
                      "--submitter-config)", "config")
    config = load_config(config_path)
    out_dir = job.folder / CLAIMS
    out_dir.mkdir(mode=0o700, exist_ok=True)
    name = free_stem(job.folder, f"void-{now:%Y%m%dT%H%M%S}")
    try:
        result, planned = void_claims(
            db, claim_ids, run_folder(job.folder), config, out_dir / f"{name}.x12",
            config_path.parent / config.control_numbers_file,
            set(reference.catalog()[0].entries), now=now)
    except VoidRefused as exc:
        raise (Invalid if exc.unknown else Conflict)(str(exc), "claims") from None
    except BhpolicyError as exc:  # named by the job, not by where the server keeps it
        raise Invalid(str(exc).replace(str(run_folder(job.folder)), f"job {job.id}")
                      .replace(str(job.folder), f"job {job.id}"), "job_id") from None
    return {"files": [{"name": f.path.name, "claims": len(f.claims),
                       "valid": validate_837p(f.path).valid} for f in result.files],
            "voids": [{"claim_id": c.claim_id, "voids": planned.replaces[c.claim_id],
                       "payer_claim_number": c.payer_claim_number, "lines": len(c.lines),
                       "total_cents": int((c.total * 100).to_integral_value())}
                      for c in result.claims],
            "warnings": [str(w) for w in result.warnings]}
