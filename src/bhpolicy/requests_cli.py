"""``bhpolicy requests submit``: post prior-authorization requests into the review service's
database from a file, through the same service function the API calls (no second path)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bhpolicy.cli_support import user_errors
from bhpolicy.errors import BhpolicyError
from bhpolicy.serve_cli import DbUrl, open_database

requests_app = typer.Typer(help="Prior-authorization requests of the review service.",
                           no_args_is_help=True)


class _InputError(BhpolicyError):
    """A request in the file that cannot be submitted; names the item and the element."""


def _bodies(path: Path) -> list[tuple[str, Any]]:
    """The request bodies of ``path``: a JSON array, one object, or JSON Lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"{path}: cannot read ({type(exc).__name__})") from None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        items: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((f"{path}: line {number}", json.loads(line)))
            except json.JSONDecodeError:
                raise _InputError(f"{path}: line {number}: not JSON") from None
        return items
    if isinstance(whole, list):
        return [(f"{path}: item {index}", item) for index, item in enumerate(whole)]
    return [(str(path), whole)]


@requests_app.command("submit")
@user_errors
def submit(
    file: Annotated[Path, typer.Argument(help="Request bodies (as POST /api/requests takes "
                                              "them): JSON, a JSON array or JSON Lines.")],
    token: Annotated[str, typer.Option(
        "--token", envvar="BHPOLICY_TOKEN", help="API token of an intake or provider-system "
        "user (from `bhpolicy users add`).")],
    db: DbUrl = None,
) -> None:
    """Receive each request as the API would (clock, determination, notice), printing its id,
    status and due time. A request that cannot be taken is one line naming its item."""
    from pydantic import ValidationError

    from bhpolicy.services.requests import create_request
    from bhpolicy.services.schemas import RequestCreate
    from bhpolicy.services.users import authenticate_token

    database = open_database(db)
    try:
        actor = authenticate_token(database, token)
        if actor is None:
            raise _InputError("--token: not a known, active API token")
        failed = 0
        for where, raw in _bodies(file):
            try:
                body = RequestCreate.model_validate(raw)
                view = create_request(database, actor, body, None, dt.datetime.now(dt.UTC))
            except ValidationError as exc:
                error = exc.errors()[0]
                element = ".".join(str(part) for part in error["loc"]) or "body"
                typer.echo(f"{where}: {element}: {error['msg']}", err=True)
                failed += 1
                continue
            except BhpolicyError as exc:
                typer.echo(f"{where}: {exc}", err=True)
                failed += 1
                continue
            typer.echo(f"{view.id}  {view.status:<18} {view.urgency:<9} due "
                       f"{view.due_by.isoformat(timespec='minutes')}")
    finally:
        database.close()
    if failed:
        raise typer.Exit(1)
