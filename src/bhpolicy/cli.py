"""The ``bhpolicy`` command: thin commands that parse, call one function and print."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from bhpolicy.errors import BhpolicyError
from bhpolicy.io.outputs import (
    atomic_write_bytes,
    atomic_write_text,
    describe_os_error,
    owner_only_umask,
    require_finished_run,
)
from bhpolicy.requests_cli import requests_app
from bhpolicy.serve_cli import db_app, serve, users_app

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)
codes_app = typer.Typer(help="Look up, search and import HCPCS codes.", no_args_is_help=True)
policies_app = typer.Typer(help="List and show policy packs.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")
app.add_typer(policies_app, name="policies")
# the review service (imports its heavy modules inside the commands)
app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(requests_app, name="requests")


class Settings:
    policy_dirs: tuple[Path, ...] = ()
    home: Path | None = None


settings = Settings()

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
AsOf = Annotated[str | None, typer.Option(
    "--as-of", envvar="BHPOLICY_AS_OF", help="The run's date (YYYY-MM-DD, default today): a "
    "date of service after it is rejected, since a future day cannot be billed or reviewed.")]


def _as_of(text: str | None) -> dt.date:
    return _date(text) or dt.date.today()


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a :class:`BhpolicyError` as one line on stderr and exit non-zero."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BhpolicyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:  # an output or input the OS refused, named by its path
            where = Path(exc.filename) if exc.filename else Path("(output)")
            typer.echo(f"error: {describe_os_error(where, exc)}", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:  # a bug: one line without the message (it may hold PHI)
            if os.environ.get("BHPOLICY_DEBUG"):
                raise
            typer.echo(f"error: internal error ({type(exc).__name__}); nothing was written. "
                       "Set BHPOLICY_DEBUG=1 to see where, and please report it.", err=True)
            raise typer.Exit(2) from None

    return wrapper


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


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


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


def _catalog() -> Any:
    from bhpolicy.catalog.store import default_home, load_catalog

    return load_catalog(settings.home or default_home())


@codes_app.command("show")
@user_errors
def codes_show(code: str, as_json: JsonFlag = False) -> None:
    """Print a code's whole entry, every fact with its source."""
    from bhpolicy.report.catalog_text import entry_json, entry_text

    catalog = _catalog()
    entry = catalog.get(code)
    if as_json:
        _print_json(entry_json(entry, catalog))
    else:
        typer.echo(entry_text(entry, catalog))


@codes_app.command("search")
@user_errors
def codes_search(
    query: str,
    limit: Annotated[int, typer.Option(min=1, help="How many results.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Rank codes by a free-text query (typos and word order tolerated)."""
    from bhpolicy.catalog.search import SearchIndex
    from bhpolicy.report.catalog_text import hits_json, hits_text

    catalog = _catalog()
    hits = SearchIndex.build(catalog).search(query, limit)
    if as_json:
        _print_json({"query": query, "results": hits_json(hits, catalog)})
    else:
        typer.echo(hits_text(hits, catalog))


@codes_app.command("list")
@user_errors
def codes_list(as_json: JsonFlag = False) -> None:
    """List the codes in the catalog (curated entries, plus any imported)."""
    catalog = _catalog()
    rows = [{"code": c, "official_descriptor": e.official_descriptor.value,
             "curated": c in catalog.curated_codes}
            for c, e in sorted(catalog.entries.items())]
    if as_json:
        _print_json(rows)
    else:
        for row in rows:
            mark = "*" if row["curated"] else " "
            typer.echo(f"{mark} {row['code']}  {row['official_descriptor']}")


@codes_app.command("import")
@user_errors
def codes_import(
    file: Path,
    title: Annotated[str | None, typer.Option(
        help="How to cite the file (default: its name).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load a CMS HCPCS Level II file (fixed-width, xlsx or csv) into the catalog."""
    from bhpolicy.catalog.hcpcs_file import read_hcpcs_file
    from bhpolicy.catalog.store import ImportedCatalog, default_home, write_import

    result = read_hcpcs_file(file)
    imported = ImportedCatalog(
        source_file=file.name, source_title=title or f"CMS HCPCS Level II file {file.name}",
        imported_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        records=result.records)
    path = write_import(settings.home or default_home(), imported)
    summary = {"file": str(file), "codes": len(result.records),
               "modifier_records_skipped": result.modifier_records,
               "with_unit": sum(1 for r in result.records if r.unit),
               "terminated": sum(1 for r in result.records if r.termination_date),
               "stored_at": str(path)}
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"imported {summary['codes']} codes from {file} "
                   f"({summary['with_unit']} with a unit in the descriptor, "
                   f"{summary['terminated']} with a termination date; "
                   f"{summary['modifier_records_skipped']} modifier records not imported) "
                   f"into {path}")


def _registry() -> Any:
    from bhpolicy.policy import load_registry

    return load_registry(settings.policy_dirs)


@policies_app.command("list")
@user_errors
def policies_list(as_json: JsonFlag = False) -> None:
    """List the policy packs."""
    from bhpolicy.report.policy_text import packs_text

    packs = _registry().packs
    if as_json:
        _print_json([p.header.model_dump(mode="json", include={
            "id", "alias", "title", "issuer", "state", "revision", "revision_date",
            "effective_from", "source"}) for p in packs])
    else:
        typer.echo(packs_text(packs))


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BhpolicyError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


@policies_app.command("show")
@user_errors
def policies_show(
    policy: str,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show the values in force on this date (YYYY-MM-DD).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a pack (by id or alias) and every parameter with its section and dates."""
    from bhpolicy.report.policy_text import pack_json, pack_text

    pack = _registry().get(policy)
    when = _date(as_of)
    if as_json:
        _print_json(pack_json(pack, when))
    else:
        typer.echo(pack_text(pack, when))


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
    as_json: JsonFlag = False,
) -> None:
    """Turn a log of ACT team contacts into per diem claim lines: billable, held (with the
    CARC/RARC a payer would use) or already billed, plus a member-month summary. The outputs
    appear in --out all at once, with manifest.json, when the run finishes."""
    from bhpolicy.billing.run import BillInputs, BillSettings, BillSummary, bill_to_folder

    wanted = _output_formats(formats, html)
    if store not in ("memory", "disk", "auto"):
        raise BhpolicyError(f"--store {store!r}: choose memory or disk")
    if missing_pos not in ("default", "hold"):
        raise BhpolicyError(f"--missing-pos {missing_pos!r}: choose default or hold")
    if already_billed is not None:
        _refuse_unfinished_run_file(already_billed, "--already-billed")
    inputs = BillInputs(contacts, members, authorizations, already_billed)
    settings_ = BillSettings(out=out, formats=wanted, memory_limit=memory_limit,
                             threads=threads, store=store, as_of=_as_of(as_of),
                             missing_pos=missing_pos, payer_ids=_payer_ids(config))

    def report(folder: Path, summary: BillSummary) -> str:
        from bhpolicy.billing.report_data import report_data
        from bhpolicy.report.billing import render_billing

        return render_billing(report_data(folder, summary.rejected_rows))

    summary = _with_progress("billing", as_json, lambda step: bill_to_folder(
        inputs, settings_, _registry(), step, report if html else None))
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


reasons_app = typer.Typer(help="Denial reasons of a pack and their CARC/RARC codes.",
                          no_args_is_help=True)
app.add_typer(reasons_app, name="reasons")


@reasons_app.command("check")
@user_errors
def reasons_check(
    policy: Annotated[str, typer.Option(help="Pack id or alias.")],
    carc: Annotated[Path, typer.Option(help="Your CARC list: code, description[, stop_date].")],
    rarc: Annotated[Path | None, typer.Option(help="Your RARC list, same columns.")] = None,
    on: Annotated[str | None, typer.Option(help="Date the codes must be active (default "
                                           "today).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every CARC/RARC the pack's reasons use against your code lists."""
    from bhpolicy.billing.code_lists import check_reasons, read_code_list

    when = _date(on) or dt.date.today()
    results = check_reasons(_registry().get(policy), read_code_list(carc),
                            read_code_list(rarc) if rarc else None, when)
    if as_json:
        _print_json([r.__dict__ for r in results])
    else:
        for r in results:
            typer.echo(f"{r.status:<8} {r.kind} {r.code:<6} {r.reason_id}"
                       + (f"  ({r.description})" if r.description else ""))
    if any(r.status != "ok" for r in results):
        raise typer.Exit(1)


claims_app = typer.Typer(help="X12 837P claims out of a billing run; pyx12 validation.",
                         no_args_is_help=True)
app.add_typer(claims_app, name="claims")


def _payer_ids(config: Path | None) -> frozenset[str] | None:
    if config is None:
        return None
    from bhpolicy.x12.config import known_payer_ids

    return known_payer_ids(config)


RUN_OUTPUT_NAMES = ("lines.parquet", "lines.csv", "member_months.parquet",
                    "member_months.csv", "findings.parquet", "findings.csv")


def _refuse_unfinished_run_file(path: Path, flag: str) -> None:
    """A file inside a bhpolicy run folder is read only when that run finished (its
    manifest.json was written): a killed run's half-written files are never input."""
    folder = path.parent
    looks_like_run = path.name in RUN_OUTPUT_NAMES and (
        (folder / "manifest.json").exists() or ".staging-" in folder.name
        or any((folder / name).exists() for name in ("errors.csv", "report.html")))
    if looks_like_run:
        require_finished_run(folder, flag)


def _adjustments(path: Path | None) -> dict[str, Any]:
    """claim_id, frequency (7 replacement, 8 void), payer_claim_number; one line each."""
    import csv

    from bhpolicy.x12.writer import Adjustment

    if path is None:
        return {}
    found: dict[str, Any] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            frequency = (row.get("frequency") or "").strip()
            claim = (row.get("claim_id") or "").strip()
            number = (row.get("payer_claim_number") or "").strip()
            if frequency not in ("7", "8"):
                raise BhpolicyError(f"{path}: row {row_number}: field frequency: "
                                    f"{frequency!r} is not 7 (replacement) or 8 (void)")
            if not claim or not number:
                raise BhpolicyError(f"{path}: row {row_number}: field "
                                    f"{'claim_id' if not claim else 'payer_claim_number'}: "
                                    "missing")
            found[claim] = Adjustment(frequency, number)
    return found


@claims_app.command("837p")
@user_errors
def claims_837p(
    run: Annotated[Path, typer.Option(help="Output folder of 'bhpolicy bill'.")],
    config: Annotated[Path, typer.Option(help="Submitter configuration (TOML).")],
    out: Annotated[Path, typer.Option(help="The 837P file to write.")],
    adjustments: Annotated[Path | None, typer.Option(
        help="CSV of claim_id, frequency (7 replace, 8 void), payer_claim_number.")] = None,
    control_file: Annotated[Path | None, typer.Option(
        help="Where control numbers are kept (default: from the config).")] = None,
    validate: Annotated[bool, typer.Option(help="Validate the file with pyx12.")] = True,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="The day filing limits are counted to (YYYY-MM-DD; default: the "
        "day the 837P is dated).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the billable lines of a billing run as an 837P (005010X222A1): one interchange
    (file) per receiver of the config, one claim set per payer. With several receivers,
    --out names the files: <stem>.<receiver id><suffix> beside it."""
    import csv
    import io

    from bhpolicy.io.outputs import neutralise_value
    from bhpolicy.x12.config import load_config
    from bhpolicy.x12.validate import validate_837p
    from bhpolicy.x12.writer import write_837p

    require_finished_run(run)
    settings_ = load_config(config)
    control = control_file or (config.parent / settings_.control_numbers_file)
    codes = set(_catalog().entries)
    result = write_837p(run, settings_, out, control, _adjustments(adjustments), codes,
                        as_of=_date(as_of), registry=_registry())
    index = out.with_suffix(".claims.csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["claim_id", "member_id", "authorization_id", "month", "lines",
                     "total", "frequency", "payer_id", "file"])
    for written in result.files:
        for claim in written.claims:
            writer.writerow([neutralise_value(str(v)) for v in (
                claim.claim_id, claim.member["member_id"], claim.authorization_id)]
                + [claim.month, len(claim.lines), f"{claim.total:.2f}", claim.frequency,
                   claim.payer.id if claim.payer else "", written.path.name])
    atomic_write_text(index, buffer.getvalue())
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for problem in result.rejected:
        typer.echo(f"rejected: {problem}", err=True)
    checks = {f.path: validate_837p(f.path) for f in result.files} if validate else {}
    valid = all(c.valid for c in checks.values()) if validate else None
    summary = {"file": str(result.path), "claims": len(result.claims),
               "lines": sum(len(c.lines) for c in result.claims),
               "rejected_problems": len(result.rejected), "warnings": len(result.warnings),
               "interchange_control_number": result.control[0],
               "transactions": sum(len(f.control[2]) for f in result.files),
               "index": str(index), "pyx12_valid": valid,
               "files": [{"file": str(f.path), "receiver": f.receiver.id,
                          "interchange_control_number": f.control[0],
                          "transactions": len(f.control[2]), "claims": len(f.claims),
                          "pyx12_valid": checks[f.path].valid if validate else None}
                         for f in result.files]}
    if as_json:
        _print_json(summary)
    else:
        for f in result.files:
            typer.echo(f"wrote {len(f.claims)} claims ({sum(len(c.lines) for c in f.claims)} "
                       f"lines, {len(f.control[2])} transactions, ISA13 {f.control[0]:09d}) "
                       f"for receiver {f.receiver.id} to {f.path}"
                       + ("" if not validate else
                          f"; pyx12: {'valid' if checks[f.path].valid else 'INVALID'}"))
        typer.echo(f"index {index}")
    for path, checked in checks.items():
        for finding in checked.findings:
            typer.echo(f"pyx12: {path.name}: {finding}", err=True)
    if valid is False or result.rejected:
        raise typer.Exit(1)


@claims_app.command("validate")
@user_errors
def claims_validate(
    file: Path,
    ack: Annotated[Path | None, typer.Option(help="Write the 999 acknowledgement here.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate an 837P with pyx12 (005010X222A1); exit 1 when it is not valid."""
    from bhpolicy.x12.validate import validate_837p

    if not file.is_file():
        raise BhpolicyError(f"{file}: file: does not exist")
    checked = validate_837p(file)
    if ack is not None:
        # the 999 may echo non-ASCII bytes of a broken file: sent as "?" (X12 is ASCII)
        atomic_write_bytes(ack, checked.ack_999.encode("ascii", "replace"))
    if as_json:
        _print_json({"file": str(file), "valid": checked.valid, "findings": checked.findings})
    else:
        typer.echo(f"{file}: {'valid' if checked.valid else 'NOT valid'} (005010X222A1)")
        for finding in checked.findings:
            typer.echo(f"  {finding}")
    if not checked.valid:
        raise typer.Exit(1)


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
    as_json: JsonFlag = False,
) -> None:
    """Find services that conflict with ACT and ACT per diems billed wrongly, each finding
    with its section, the CARC/RARC a payer would use, the money at stake and the action.
    The outputs appear in --out all at once, with manifest.json, when the run finishes."""
    from bhpolicy.audit.run import AuditInputs, AuditSummary, audit_to_folder
    from bhpolicy.billing.run import BillSettings

    wanted = _output_formats(formats, html)
    if contacts is not None and act_claims is None:
        # the log is read only to check ACT per diems; never ignore an input silently
        raise BhpolicyError("--contacts needs --act-claims: the contact log is read only to "
                            "check the ACT per diems billed")
    for given, flag in ((act_claims, "--act-claims"), (contacts, "--contacts")):
        if given is not None:
            _refuse_unfinished_run_file(given, flag)
    inputs = AuditInputs(claims, members, authorizations, contacts, act_claims)
    settings_ = BillSettings(out=out, formats=wanted, memory_limit=memory_limit,
                             threads=threads, as_of=_as_of(as_of))

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


team_app = typer.Typer(help="ACT team roster against a pack's required roles.",
                       no_args_is_help=True)
app.add_typer(team_app, name="team")


@team_app.command("check")
@user_errors
def team_check(
    roster: Annotated[Path, typer.Argument(help="Roster CSV: staff_id, name, role, "
                                           "credentials, degree, degree_field, experience.")],
    policy: Annotated[str, typer.Option(help="Pack id or alias.")],
    as_json: JsonFlag = False,
) -> None:
    """Report which required roles the roster covers and which are missing. This says
    "roles covered", never "may bill": fidelity and state approval are decided elsewhere."""
    from dataclasses import asdict

    from bhpolicy.audit.roster import NOT_APPROVAL, check_roster

    result = check_roster(_registry().get(policy), roster)
    if as_json:
        _print_json({"policy_id": result.policy_id, "policy_revision": result.policy_revision,
                     "section": result.section, "roles": [asdict(r) for r in result.roles],
                     "missing": result.missing, "unknown_roles": result.unknown_roles,
                     "row_errors": result.row_errors, "note": NOT_APPROVAL})
    else:
        typer.echo(f"{result.policy_id} rev {result.policy_revision}, {result.section}")
        for r in result.roles:
            mark = "covered" if r.covered else "MISSING"
            who = f" by {', '.join(r.covered_by)}" if r.covered_by else ""
            typer.echo(f"  {mark:<8} {r.label}{who}")
            for note in r.notes:
                typer.echo(f"           note: {note}")
            for u in r.unmet:
                typer.echo(f"           {u['staff_id']} (row {u['row']}) lacks "
                           + "; ".join(u["lacks"]))
        for u in result.unknown_roles:
            typer.echo(f"  unknown role {u['role']!r} for {u['staff_id']} (row {u['row']})")
        covered = sum(r.covered for r in result.roles)
        typer.echo(f"roles covered: {covered} of {len(result.roles)}. {NOT_APPROVAL}")
        for line in result.row_errors:
            typer.echo(f"error: {line}", err=True)
    if result.row_errors:
        raise typer.Exit(1)


def main() -> None:
    owner_only_umask()  # every file written (DuckDB's spill files too) is owner-only
    app()


if __name__ == "__main__":
    main()
