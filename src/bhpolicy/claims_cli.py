"""``bhpolicy claims``: the 837P out of a billing run, and what a file is and whether it
validates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bhpolicy.cli_support import (
    JsonFlag,
    catalog,
    parse_date,
    print_json,
    registry,
    user_errors,
)
from bhpolicy.errors import BhpolicyError
from bhpolicy.io.outputs import atomic_write_bytes, atomic_write_text, require_finished_run

claims_app = typer.Typer(help="X12 837P claims out of a billing run; pyx12 validation.",
                         no_args_is_help=True)


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


def _with_ledger(url: str, run: Path, config: Any, out: Path, control: Path,
                 codes: set[str], as_of: Any, resend: bool, added_days: Any) -> Any:
    import datetime as dt

    from bhpolicy.serve_cli import open_database
    from bhpolicy.services.ledger import write_837p_with_ledger

    database = open_database(url)
    try:
        return write_837p_with_ledger(database, run, config, out, control, codes,
                                      now=dt.datetime.now(dt.UTC), as_of=as_of,
                                      registry=registry(), resend=resend,
                                      added_days=added_days)
    finally:
        database.close()


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
    db: Annotated[str | None, typer.Option(
        "--db", help="Keep a ledger of what is sent in this database (sqlite:///PATH or "
        "postgresql+psycopg://...): CLM01 never repeats, lines sent before are left out, "
        "control numbers come from it.")] = None,
    resend: Annotated[bool, typer.Option(
        help="With --db: send lines the ledger has sent before again.")] = False,
    added_days: Annotated[str, typer.Option(
        help="With --db, days added to a month already claimed: 'new' (a new original "
        "claim) or 'replace' (a replacement, frequency 7, carrying every line).")] = "new",
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
    codes = set(catalog().entries)
    skipped = 0
    if db is None:
        if resend or added_days != "new":
            raise BhpolicyError("--resend and --added-days need --db (the ledger of what "
                                "was sent)")
        result = write_837p(run, settings_, out, control, _adjustments(adjustments), codes,
                            as_of=parse_date(as_of), registry=registry())
    else:
        if adjustments is not None:
            raise BhpolicyError("--adjustments and --db: with a ledger, replacements come "
                                "from it (--added-days replace); give one or the other")
        if added_days not in ("new", "replace"):
            raise BhpolicyError(f"--added-days {added_days!r}: choose new or replace")
        result, ledger_run = _with_ledger(db, run, settings_, out, control, codes,
                                          parse_date(as_of), resend, added_days)
        skipped = ledger_run.skipped_lines
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
               "lines_sent_before": skipped,
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
        print_json(summary)
    else:
        for f in result.files:
            typer.echo(f"wrote {len(f.claims)} claims ({sum(len(c.lines) for c in f.claims)} "
                       f"lines, {len(f.control[2])} transactions, ISA13 {f.control[0]:09d}) "
                       f"for receiver {f.receiver.id} to {f.path}"
                       + ("" if not validate else
                          f"; pyx12: {'valid' if checks[f.path].valid else 'INVALID'}"))
        typer.echo(f"index {index}")
        if skipped:
            typer.echo(f"{skipped} line(s) left out: the ledger has sent them before "
                       "(--resend sends them again)")
    for path, checked in checks.items():
        for finding in checked.findings:
            typer.echo(f"pyx12: {path.name}: {finding}", err=True)
    if valid is False or result.rejected:
        raise typer.Exit(1)


@claims_app.command("void")
@user_errors
def claims_void(
    db: Annotated[str, typer.Option(
        "--db", help="The database holding the claim ledger (sqlite:///PATH or "
        "postgresql+psycopg://...).")],
    claim: Annotated[list[str], typer.Option(
        "--claim", help="CLM01 (patient control number) of a claim to void; repeat for "
        "more.")],
    run: Annotated[Path, typer.Option(
        help="Output folder of a 'bhpolicy bill' run holding the claims' members (the "
        "subscriber fields come from its subscribers file).")],
    config: Annotated[Path, typer.Option(help="Submitter configuration (TOML).")],
    out: Annotated[Path, typer.Option(help="The 837P file to write.")],
    control_file: Annotated[Path | None, typer.Option(
        help="Control numbers to go on from the first time the database gives them "
        "(default: from the config).")] = None,
    validate: Annotated[bool, typer.Option(help="Validate the file with pyx12.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Void claims the payer has numbered: an 837P holding, for each, a frequency-8 claim
    with REF*F8 the payer's claim number and its lines as last sent (same REF*6R and
    charges), recorded in the ledger. A voided claim is no longer in force: a later
    `claims 837p --db` sends its days again as a new original only if they are still
    billable. A claim not in the ledger, never numbered by the payer (rejected at the front
    end, or no 277CA or 835 yet), or already voided or replaced is refused, and nothing is
    written."""
    import datetime as dt

    from bhpolicy.serve_cli import open_database
    from bhpolicy.services.ledger import void_claims
    from bhpolicy.x12.config import load_config
    from bhpolicy.x12.validate import validate_837p

    if not run.is_dir():
        raise BhpolicyError(f"{run}: --run: not a folder (give the output folder of "
                            "'bhpolicy bill')")
    settings_ = load_config(config)
    control = control_file or (config.parent / settings_.control_numbers_file)
    database = open_database(db)
    try:
        result, planned = void_claims(database, [c.strip() for c in claim], run, settings_, out,
                                control, set(catalog().entries),
                                now=dt.datetime.now(dt.UTC))
    finally:
        database.close()
    checks = {f.path: validate_837p(f.path) for f in result.files} if validate else {}
    valid = all(c.valid for c in checks.values()) if validate else None
    voided = [{"claim_id": c.claim_id, "voids": planned.replaces[c.claim_id],
               "payer_claim_number": c.payer_claim_number, "lines": len(c.lines),
               "total": f"{c.total:.2f}", "file": str(f.path)}
              for f in result.files for c in f.claims]
    if as_json:
        print_json({"file": str(result.path), "voids": voided, "pyx12_valid": valid,
                    "warnings": result.warnings})
    else:
        for item in voided:
            typer.echo(f"void {item['claim_id']} of claim {item['voids']} (payer claim "
                       f"{item['payer_claim_number']}, {item['lines']} line(s), "
                       f"{item['total']}) to {item['file']}")
        for path, checked in checks.items():
            typer.echo(f"{path}: pyx12: {'valid' if checked.valid else 'INVALID'}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for path, checked in checks.items():
        for finding in checked.findings:
            typer.echo(f"pyx12: {path.name}: {finding}", err=True)
    if valid is False:
        raise typer.Exit(1)


@claims_app.command("validate")
@user_errors
def claims_validate(
    file: Path,
    ack: Annotated[Path | None, typer.Option(help="Write the 999 acknowledgement here.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Say what an X12 file is (837P, 835, 999 or 277CA) and validate it with pyx12's map for
    that kind and version; exit 1 when it is not valid."""
    from bhpolicy.x12.validate import validate_file

    if not file.is_file():
        raise BhpolicyError(f"{file}: file: does not exist")
    checked = validate_file(file, ack=ack is not None)
    if ack is not None:
        if checked.ack_999:
            # the 999 may echo non-ASCII bytes of a broken file: sent as "?" (X12 is ASCII)
            atomic_write_bytes(ack, checked.ack_999.encode("ascii", "replace"))
        else:
            raise BhpolicyError(f"{file}: --ack: no 999 can be made "
                                f"({checked.ack_note or 'pyx12 made none'})")
    if as_json:
        print_json({"file": str(file), "kind": checked.kind, "version": checked.version,
                    "valid": checked.valid, "findings": checked.findings})
    else:
        typer.echo(f"{file}: {checked.kind} {checked.version}: "
                   f"{'valid' if checked.valid else 'NOT valid'}")
        for finding in checked.findings:
            typer.echo(f"  {finding}")
    if not checked.valid:
        raise typer.Exit(1)


@claims_app.command("ack")
@user_errors
def claims_ack(
    file: Path,
    db: Annotated[str, typer.Option(
        "--db", help="The database holding the claim ledger (sqlite:///PATH or "
        "postgresql+psycopg://...).")],
    as_json: JsonFlag = False,
) -> None:
    """Post a 999 or a 277CA into the claim ledger: a rejected transaction set or claim was
    never filed (its lines go out again as a new original on the next `claims 837p --db`);
    an accepted claim keeps the payer's claim number (REF*1K). The same file again changes
    nothing. Exit 1 when pyx12 finds the file invalid (nothing posted)."""
    from bhpolicy.serve_cli import open_database
    from bhpolicy.services.posting import import_acks

    if not file.is_file():
        raise BhpolicyError(f"{file}: file: does not exist")
    database = open_database(db)
    try:
        done = import_acks(database, file)
    finally:
        database.close()
    if as_json:
        print_json(done.as_dict())
    elif not done.valid:
        typer.echo(f"{file}: {done.kind}: NOT valid, nothing posted")
    elif done.already_imported:
        typer.echo(f"{file}: {done.kind}: imported before (same file hash): nothing changed")
    else:
        sets = (f"{done.sets_accepted} set(s) accepted, {done.sets_rejected} rejected; "
                if done.kind == "999" else "")
        typer.echo(f"{file}: {done.kind}: {sets}{len(done.claims_accepted)} claim(s) "
                   f"accepted, {len(done.claims_rejected)} rejected (sent again as new "
                   "originals on the next run)")
        for pcn in done.claims_rejected:
            typer.echo(f"  rejected: claim {pcn}")
        for error in done.errors:
            typer.echo(f"  set {error.set_control_number}: segment {error.segment} at "
                       f"position {error.position} (loop {error.loop or '?'}): code "
                       f"{error.code or '?'}"
                       + (f", claim {error.claim}" if error.claim else "")
                       + (f", elements {', '.join(error.elements)}" if error.elements
                          else ""))
        for unknown in done.unknown:
            typer.echo(f"  not in the ledger: {unknown}")
    if not as_json:
        for finding in done.findings:
            typer.echo(f"pyx12: {finding}", err=True)
    if not done.valid:
        raise typer.Exit(1)
