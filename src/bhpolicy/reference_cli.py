"""``bhpolicy codes``, ``policies``, ``reasons`` and ``team``: what a code, a pack, a pack's
denial reasons and a team roster say."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from bhpolicy.cli_support import JsonFlag, settings, user_errors
from bhpolicy.cli_support import catalog as _catalog
from bhpolicy.cli_support import parse_date as _date
from bhpolicy.cli_support import print_json as _print_json
from bhpolicy.cli_support import registry as _registry

codes_app = typer.Typer(help="Look up, search and import HCPCS codes.", no_args_is_help=True)
policies_app = typer.Typer(help="List and show policy packs.", no_args_is_help=True)


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


reasons_app = typer.Typer(help="Denial reasons of a pack and their CARC/RARC codes.",
                          no_args_is_help=True)


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
    from bhpolicy.domain.reasons import check_reasons, read_code_list

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


team_app = typer.Typer(help="ACT team roster against a pack's required roles.",
                       no_args_is_help=True)


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
