"""``bhpolicy remit`` (import an 835 into the claim ledger; reconcile) and ``bhpolicy
worklist`` (denied and rejected lines with their action and deadline). Both work on the
serve database given by ``--db``; nothing printed holds PHI (control numbers, codes, dates
and amounts only)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Annotated, Any

import typer

from bhpolicy.cli_support import JsonFlag, print_json, registry, user_errors
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.outputs import atomic_write_text, neutralise_value

remit_app = typer.Typer(help="835 remittances into the claim ledger; reconciliation.",
                        no_args_is_help=True)
worklist_app = typer.Typer(help="Denied and rejected lines: action, deadline, status.",
                           invoke_without_command=True)

Db = Annotated[str, typer.Option("--db", help="The serve database (sqlite:///PATH or "
                                 "postgresql+psycopg://...) holding the claim ledger.")]
ConfigOption = Annotated[Path | None, typer.Option(
    help="Submitter configuration (TOML): the payers' fee schedules and limits.")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Also write a CSV here.")]


def _open(url: str) -> Any:
    from bhpolicy.serve_cli import open_database

    return open_database(url)


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """A CSV whose text cells a spreadsheet would read as a formula are neutralised; written
    atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_value("" if v is None else str(v)) for v in row])
    atomic_write_text(path, buffer.getvalue())


def _month(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise BhpolicyError(f"--month {text!r} is not a month (YYYY-MM)") from None
    if len(text) != 7:
        raise BhpolicyError(f"--month {text!r} is not a month (YYYY-MM)")
    return text


def _config(path: Path | None) -> Any:
    if path is None:
        return None
    from bhpolicy.x12.config import load_config

    return load_config(path)


@remit_app.command("import")
@user_errors
def remit_import(file: Path, db: Db, as_json: JsonFlag = False) -> None:
    """Post an 835 (005010X221A1) into the claim ledger: validated by pyx12 and balanced,
    else refused with its problems and nothing posted (exit 1). The same file again changes
    nothing. A file whose payment trace number (TRN02) was posted before from another file
    is held, not posted (exit 1). Claims and lines the ledger does not know are listed."""
    from bhpolicy.services.posting import import_remittance

    if not file.is_file():
        raise BhpolicyError(f"{file}: file: does not exist")
    database = _open(db)
    try:
        done = import_remittance(database, file)
    finally:
        database.close()
    if as_json:
        print_json(done.as_dict())
    elif done.held:
        typer.echo(f"{file}: held, not posted: a trace number (TRN02) in it was posted "
                   "before from another file")
    elif done.problems:
        typer.echo(f"{file}: not posted ({len(done.problems)} problem(s))")
    elif done.already_imported:
        typer.echo(f"{file}: imported before (same TRN02 and file hash): nothing changed")
    else:
        typer.echo(f"{file}: posted {done.sets} payment(s), {done.claims} claim(s), "
                   f"{done.lines} line(s), {done.reversals} reversal(s), "
                   f"{done.provider_adjustments} provider adjustment(s); paid "
                   f"{money(done.paid_cents)}")
        for pcn in done.unmatched_claims:
            typer.echo(f"unmatched claim: CLP01 {pcn} is not in the ledger")
        for line in done.unmatched_lines:
            typer.echo(f"unmatched line: claim {line.patient_control_number}, REF*6R "
                       f"{line.line_control or '(none)'}, {line.procedure}, "
                       f"{line.service_date or 'no date'}, paid {money(line.paid_cents)}")
    for problem in done.problems:
        typer.echo(f"error: {problem}", err=True)
    for warning in done.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if done.problems:
        raise typer.Exit(1)


RECON_HEADER = ["line_control", "claim_id", "payer_id", "team", "month", "service_date",
                "hcpcs", "modifier", "units", "state", "charged", "expected", "expected_from",
                "allowed", "paid", "write_off", "patient_responsibility", "other_adjustment",
                "underpaid", "denial_carcs", "adjustments", "remarks", "payer_claim_number",
                "payment_date"]


@remit_app.command("reconcile")
@user_errors
def remit_reconcile(db: Db, config: ConfigOption = None,
                    month: Annotated[str | None, typer.Option(
                        help="Only this month of service (YYYY-MM).")] = None,
                    out: OutOption = None, as_json: JsonFlag = False) -> None:
    """Expected (the payer's dated fee schedule, with --config) against allowed and paid,
    per ledger line; underpayments; denials by CARC; totals by team, payer and month."""
    from bhpolicy.services.reconcile import reconcile

    wanted = _month(month)
    settings_ = _config(config)
    database = _open(db)
    try:
        result = reconcile(database, settings_, month=wanted, registry=registry())
    finally:
        database.close()
    if out is not None:
        write_csv(out, RECON_HEADER, [[
            ln.line_control, ln.claim_id, ln.payer_id, ln.team, ln.month, ln.service_date,
            ln.hcpcs, ln.modifier, ln.units, ln.state, money(ln.charged_cents),
            money(ln.expected_cents), ln.expected_from, money(ln.allowed_cents),
            money(ln.paid_cents), money(ln.write_off_cents),
            money(ln.patient_responsibility_cents), money(ln.other_adjustment_cents),
            money(ln.underpaid_cents), ";".join(ln.denial_carcs),
            ";".join(f"{a.group}-{a.carc} {money(a.cents)}" for a in ln.adjustments),
            ";".join(ln.remarks), ln.payer_claim_number, ln.payment_date]
            for ln in result.lines])
    if as_json:
        print_json(result.as_dict())
        return
    t = result.total
    typer.echo(f"{t.lines} line(s): charged {money(t.charged_cents)}, expected "
               f"{money(t.expected_cents)}, paid {money(t.paid_cents)}, write-off "
               f"{money(t.write_off_cents)}, patient responsibility "
               f"{money(t.patient_responsibility_cents)}, underpaid "
               f"{money(t.underpaid_cents)}; {t.denied_lines} denied, {t.not_posted_lines} "
               f"not posted, {t.voided_lines} voided")
    if result.fee_schedule is None:
        typer.echo("expected: no --config given, so no fee schedule to expect from")
    for name, totals in (("team", result.by_team), ("payer", result.by_payer),
                         ("month", result.by_month)):
        for total in totals:
            typer.echo(f"  {name} {total.key}: {total.lines} line(s), paid "
                       f"{money(total.paid_cents)} of expected {money(total.expected_cents)}"
                       f", {total.denied_lines} denied")
    for denial in result.denials:
        typer.echo(f"  denied CARC {denial.carc}: {denial.lines} line(s), "
                   f"{money(denial.cents)}" + (f" ({denial.label})" if denial.label else
                                              f" ({denial.why})" if denial.why else ""))
    if result.provider_adjustments_cents:
        typer.echo(f"  provider adjustments (PLB): {money(result.provider_adjustments_cents)}")
    if out is not None:
        typer.echo(f"wrote {out}")


WORK_HEADER = ["status", "days_left", "deadline", "action", "frequency", "clock",
               "clock_from", "limit_days", "reason", "carcs", "labels", "line_control",
               "claim_id", "payer_id", "team", "month", "service_date", "hcpcs", "modifier",
               "charged", "remittance_date", "payer_claim_number"]


@worklist_app.callback()
@user_errors
def worklist_command(db: Db, config: ConfigOption = None,
                     as_of: Annotated[str | None, typer.Option(
                         "--as-of", help="Count days left to this date (YYYY-MM-DD; "
                         "default today).")] = None,
                     out: OutOption = None, as_json: JsonFlag = False) -> None:
    """Denied and front-end-rejected lines with the action to take (new original,
    replacement, void, appeal), its deadline (with --config: the payer's limits) and
    status (open, sent again, done)."""
    from bhpolicy.services.worklist import worklist

    if as_of is None:
        day = dt.date.today()
    else:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise BhpolicyError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    settings_ = _config(config)
    database = _open(db)
    try:
        result = worklist(database, settings_, as_of=day, registry=registry())
    finally:
        database.close()
    if out is not None:
        write_csv(out, WORK_HEADER, [[
            i.status, i.days_left, i.deadline, i.action, i.frequency, i.clock, i.clock_from,
            i.limit_days, i.reason, ";".join(i.carcs), ";".join(i.labels), i.line_control,
            i.claim_id, i.payer_id, i.team, i.month, i.service_date, i.hcpcs, i.modifier,
            money(i.charged_cents), i.remittance_date, i.payer_claim_number]
            for i in result.items])
    if as_json:
        print_json(result.as_dict())
        return
    typer.echo(f"{len(result.open())} open item(s) of {len(result.items)} as of "
               f"{result.as_of}")
    for i in result.items:
        left = "no deadline known" if i.deadline is None else \
            f"due {i.deadline} ({i.days_left} day(s) left)"
        typer.echo(f"  [{i.status}] {i.service_date} {i.hcpcs} claim {i.claim_id} line "
                   f"{i.line_control}: {i.reason} -> {i.action}; {left}")
    if out is not None:
        typer.echo(f"wrote {out}")
