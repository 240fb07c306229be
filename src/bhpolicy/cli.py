"""The ``bhpolicy`` command: thin commands that parse, call one function and print."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bhpolicy.claims_cli import claims_app
from bhpolicy.cli_support import (
    AsOf,
    EngineOption,
    JsonFlag,
    SparkConf,
    SparkMaster,
    settings,
    user_errors,
)
from bhpolicy.cli_support import as_of_date as _as_of
from bhpolicy.cli_support import parse_date as _date
from bhpolicy.cli_support import print_json as _print_json
from bhpolicy.cli_support import refuse_unfinished_run_file as _refuse_unfinished_run_file
from bhpolicy.cli_support import registry as _registry
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.outputs import (
    atomic_write_text,
    describe_os_error,
    owner_only_umask,
)
from bhpolicy.reference_cli import codes_app, policies_app, reasons_app, team_app
from bhpolicy.remit_cli import remit_app, worklist_app
from bhpolicy.requests_cli import requests_app
from bhpolicy.serve_cli import db_app, serve, users_app, worker

R = TypeVar("R")

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)
app.add_typer(codes_app, name="codes")
app.add_typer(policies_app, name="policies")
app.add_typer(reasons_app, name="reasons")
app.add_typer(team_app, name="team")
# the review service (imports its heavy modules inside the commands)
app.command("serve")(serve)
app.command("worker")(worker)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(requests_app, name="requests")
app.add_typer(claims_app, name="claims")
app.add_typer(remit_app, name="remit")
app.add_typer(worklist_app, name="worklist")


def _output_formats(formats: str, html: bool) -> tuple[str, ...]:
    """--formats as a tuple; the HTML report reads the Parquet files, so it adds Parquet."""
    wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
    if not wanted or any(f not in ("parquet", "csv") for f in wanted):
        raise BhpolicyError(f"--formats {formats!r}: choose parquet, csv or both")
    if html and "parquet" not in wanted:
        wanted = ("parquet", *wanted)
    return wanted


def _with_progress(label: str, quiet: bool, work: Callable[[Callable[[str], None]], R]) -> R:
    """Run ``work(step)`` under a spinner showing the current step (stderr, when a terminal)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=quiet or not sys.stderr.isatty()) as progress:
        task = progress.add_task(label, total=None)
        return work(lambda text: progress.update(task, description=text))


@app.callback()
def root(
    policy_dir: Annotated[list[Path] | None, typer.Option(
        "--policy-dir", help="A folder of extra policy packs (repeatable; also "
        "$BHPOLICY_POLICY_PATH).")] = None,
    home: Annotated[Path | None, typer.Option(
        "--home", help="Where imported data is kept (default $BHPOLICY_HOME or "
        "~/.local/share/bhpolicy).")] = None,
) -> None:
    """bhpolicy: behavioral-health payer policy as executable rules that cite the policy."""
    settings.policy_dirs = tuple(policy_dir or ())
    settings.home = home


def _settle_heap() -> None:
    """Move the long-lived objects loaded so far (packs, the ICD-10-CM code set) out of the
    garbage collector's view, so a batch run does not rescan them at every collection."""
    import gc

    from bhpolicy.criteria import icd10

    icd10.lookup("F20.0")  # load the code set now, not inside the first case
    gc.collect()
    gc.freeze()


@app.command("check")
@user_errors
def check(
    cases: Annotated[Path, typer.Argument(help="case.json, a JSON list, or cases.jsonl")],
    form: Annotated[str, typer.Option("--format", help="text, json or html")] = "text",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    errors: Annotated[Path | None, typer.Option(help="Also write rejected cases here.")] = None,
    as_of: AsOf = None,
) -> None:
    """Determine medical necessity for each case: meets_criteria, refer or pend, with a
    trace citing every section. Exit 0: all determined; 1: some cases rejected; 2: none
    could be read."""
    import orjson

    from bhpolicy.criteria.run import check_stream
    from bhpolicy.report.determination import render

    if form not in ("text", "json", "html"):
        raise BhpolicyError(f"--format {form!r}: choose text, json or html")
    when = _as_of(as_of)
    registry = _registry()
    _settle_heap()
    rejected: list[str] = []
    kept: list[dict[str, Any]] = []
    count = 0
    lines = form == "json" and cases.suffix.lower() in (".jsonl", ".ndjson")
    staged = _staged_output(out)
    sink = (staged.open("wb") if staged is not None else
            out.open("wb") if out is not None else sys.stdout.buffer)  # a device: directly
    try:
        for item in check_stream(cases, registry, as_of=when):
            if isinstance(item, str):
                rejected.append(item)
                typer.echo(f"error: {item}", err=True)
            elif lines:  # JSON Lines: write each determination as it is made
                sink.write(orjson.dumps(item) + b"\n")
                count += 1
            else:
                kept.append(item)
                count += 1
        if form == "json" and not lines:
            body = (json.dumps(kept[0], indent=2, ensure_ascii=False) + "\n" if len(kept) == 1
                    else "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in kept))
            sink.write(body.encode("utf-8"))
        elif form != "json" and kept:
            sink.write(render(kept, form).encode("utf-8"))
        sink.flush()
        if staged is not None:
            sink.close()
            assert out is not None
            os.replace(staged, out)
        elif out is not None:
            sink.close()  # a device reports a full disk here
    except OSError as exc:
        raise BhpolicyError(describe_os_error(out or Path("(stdout)"), exc)) from None
    finally:
        if out is not None:
            sink.close()
        if staged is not None:
            staged.unlink(missing_ok=True)
    if errors is not None:
        atomic_write_text(errors, "".join(line + "\n" for line in rejected))
    if rejected:
        typer.echo(f"{count} determined, {len(rejected)} rejected", err=True)
        raise typer.Exit(1 if count else 2)


def _staged_output(out: Path | None) -> Path | None:
    """A temporary file beside ``out`` that is renamed over it when complete (``None`` for
    stdout or a device such as /dev/stdout, which are written directly)."""
    if out is None or (out.exists() and not out.is_file() and not out.is_dir()):
        return None
    if out.is_dir():
        raise BhpolicyError(f"{out}: --out: is a folder; give a file name")
    import tempfile

    folder = out.parent if str(out.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise BhpolicyError(describe_os_error(out, exc)) from None
    os.close(fd)
    return Path(name)


schema_app = typer.Typer(help="Published JSON Schemas of the inputs.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("case")
@user_errors
def schema_case(
    policy: Annotated[str | None, typer.Option(help="Only this pack (id or alias).")] = None,
) -> None:
    """Print the JSON Schema of a case file for ``bhpolicy check``."""
    from bhpolicy.criteria.loader import criteria_for
    from bhpolicy.criteria.schema import case_schema

    registry = _registry()
    packs = [registry.get(policy)] if policy else list(registry.packs)
    _print_json(case_schema([criteria_for(p) for p in packs]))


@app.command("bill")
@user_errors
def bill(
    contacts: Annotated[Path, typer.Option(help="Team contacts (CSV or Parquet).")],
    members: Annotated[Path, typer.Option(help="Members (CSV or Parquet).")],
    authorizations: Annotated[Path, typer.Option(help="ACT authorizations (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    already_billed: Annotated[Path | None, typer.Option(
        help="Lines billed by earlier runs (line_id, member_id, service_date, hcpcs, "
        "provider_id).")] = None,
    formats: Annotated[str, typer.Option(help="Output formats: parquet,csv")] = "parquet,csv",
    html: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit.")] = "2GB",
    threads: Annotated[int | None, typer.Option(help="DuckDB threads.")] = None,
    store: Annotated[str, typer.Option(
        help="Where the run keeps its work tables: memory (past the memory limit DuckDB "
        "moves them to the temp directory; fastest) or disk (a compressed temp database "
        "file: slower, less temp space). auto is memory.")] = "memory",
    missing_pos: Annotated[str, typer.Option(
        help="A line whose place of service no qualifying contact gives: default (the "
        "pack's default POS, flagged pos_defaulted) or hold (held, 'place of service "
        "missing').")] = "default",
    config: Annotated[Path | None, typer.Option(
        help="Submitter configuration (TOML): an authorization's payer_id must be one of "
        "its payers.")] = None,
    as_of: AsOf = None,
    engine: EngineOption = None,
    spark_master: SparkMaster = None,
    spark_conf: SparkConf = None,
    as_json: JsonFlag = False,
) -> None:
    """Turn a log of ACT team contacts into per diem claim lines: billable, held (with the
    CARC/RARC a payer would use) or already billed, plus a member-month summary. The outputs
    appear in --out all at once, with manifest.json, when the run finishes."""
    from bhpolicy.billing.run import BillInputs, bill_to_folder
    from bhpolicy.domain.runs import RunSettings
    from bhpolicy.engines import engine_settings
    from bhpolicy.report.billing import run_report

    wanted = _output_formats(formats, html)
    if store not in ("memory", "disk", "auto"):
        raise BhpolicyError(f"--store {store!r}: choose memory or disk")
    if missing_pos not in ("default", "hold"):
        raise BhpolicyError(f"--missing-pos {missing_pos!r}: choose default or hold")
    if already_billed is not None:
        _refuse_unfinished_run_file(already_billed, "--already-billed")
    inputs = BillInputs(contacts, members, authorizations, already_billed)
    settings_ = RunSettings(out=out, formats=wanted, memory_limit=memory_limit,
                            threads=threads, store=store, as_of=_as_of(as_of),
                            missing_pos=missing_pos, payer_ids=_payer_ids(config),
                            engine=engine_settings(engine, spark_master, spark_conf or []))

    summary = _with_progress("billing", as_json, lambda step: bill_to_folder(
        inputs, settings_, _registry(), step, run_report if html else None))
    result = {"out": str(out), **summary.counts, "rejected_rows": summary.rejected_rows,
              "files": [str(f) for f in summary.files]}
    if as_json:
        _print_json(result)
    else:
        counts = ", ".join(f"{k.removeprefix('lines_')} {v}" for k, v in summary.counts.items())
        typer.echo(f"lines: {counts or 'none'}; rejected input rows: {summary.rejected_rows}"
                   f" (errors.csv); outputs in {out}")
    if summary.rejected_rows:
        raise typer.Exit(1)


@app.command("synth")
@user_errors
def synth(
    members: Annotated[int, typer.Option(help="How many members.")],
    months: Annotated[int, typer.Option(help="How many months, from --start.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    start: Annotated[str, typer.Option(help="First month (YYYY-MM).")] = "2026-03",
    contacts_per_month: Annotated[int, typer.Option(help="Contacts a member a month.")] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 7,
    form: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    claims_per_member: Annotated[int, typer.Option(
        help="Other services' claim lines a member (for the audit).")] = 6,
) -> None:
    """Write synthetic members, authorizations and contacts (no PHI) with every billing edge."""
    from bhpolicy.billing.synth import SynthSpec, synthesize

    if form not in ("csv", "parquet"):
        raise BhpolicyError(f"--format {form!r}: choose csv or parquet")
    first = _date(f"{start}-01")
    assert first is not None
    paths = synthesize(SynthSpec(members=members, months=months, out=out, start=first,
                                 contacts_per_month=contacts_per_month, seed=seed, form=form,
                                 claims_per_member=claims_per_member))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def _payer_ids(config: Path | None) -> frozenset[str] | None:
    if config is None:
        return None
    from bhpolicy.x12.config import known_payer_ids

    return known_payer_ids(config)


@app.command("audit")
@user_errors
def audit(
    claims: Annotated[Path, typer.Option(help="Other claim lines (CSV or Parquet): claim_id, "
                                         "member_id, from_date, to_date, hcpcs, modifiers, "
                                         "revenue_code, bill_type, provider_id, pos, units, "
                                         "paid_amount, authorization_id.")],
    members: Annotated[Path, typer.Option(help="Members (CSV or Parquet).")],
    authorizations: Annotated[Path, typer.Option(help="ACT authorizations (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    contacts: Annotated[Path | None, typer.Option(
        help="Team contacts, to check each ACT per diem against the log.")] = None,
    act_claims: Annotated[Path | None, typer.Option(
        help="ACT claim lines already billed, same columns as --claims.")] = None,
    formats: Annotated[str, typer.Option(help="Output formats: parquet,csv")] = "parquet,csv",
    html: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit.")] = "2GB",
    threads: Annotated[int | None, typer.Option(help="DuckDB threads.")] = None,
    as_of: AsOf = None,
    engine: EngineOption = None,
    spark_master: SparkMaster = None,
    spark_conf: SparkConf = None,
    as_json: JsonFlag = False,
) -> None:
    """Find services that conflict with ACT and ACT per diems billed wrongly, each finding
    with its section, the CARC/RARC a payer would use, the money at stake and the action.
    The outputs appear in --out all at once, with manifest.json, when the run finishes."""
    from bhpolicy.audit.run import AuditInputs, AuditSummary, audit_to_folder
    from bhpolicy.domain.runs import RunSettings
    from bhpolicy.engines import engine_settings

    wanted = _output_formats(formats, html)
    if contacts is not None and act_claims is None:
        # the log is read only to check ACT per diems; never ignore an input silently
        raise BhpolicyError("--contacts needs --act-claims: the contact log is read only to "
                            "check the ACT per diems billed")
    for given, flag in ((act_claims, "--act-claims"), (contacts, "--contacts")):
        if given is not None:
            _refuse_unfinished_run_file(given, flag)
    inputs = AuditInputs(claims, members, authorizations, contacts, act_claims)
    settings_ = RunSettings(out=out, formats=wanted, memory_limit=memory_limit,
                            threads=threads, as_of=_as_of(as_of),
                            engine=engine_settings(engine, spark_master, spark_conf or []))

    def report(folder: Path, summary: AuditSummary) -> str:
        from bhpolicy.report.audit import render_audit

        return render_audit(folder, summary)

    summary = _with_progress("auditing", as_json, lambda step: audit_to_folder(
        inputs, settings_, _registry(), step, report if html else None))
    result = {"out": str(out), "findings": summary.findings,
              "amount_at_stake": summary.amount_at_stake, "by_rule": summary.by_rule,
              "rejected_rows": summary.rejected_rows,
              "files": [str(f) for f in summary.files]}
    if as_json:
        _print_json(result)
    else:
        typer.echo(f"findings: {summary.findings} (amount at stake {summary.amount_at_stake});"
                   f" rejected input rows: {summary.rejected_rows} (errors.csv); outputs in "
                   f"{out}")
    if summary.rejected_rows:
        raise typer.Exit(1)


def main() -> None:
    owner_only_umask()  # every file written (DuckDB's spill files too) is owner-only
    app()


if __name__ == "__main__":
    main()
