"""What the command modules share: the global options, the one-line error wrapper, JSON
printing, dates, and the packs and catalog those options point at."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from bhpolicy.errors import BhpolicyError
from bhpolicy.io.outputs import describe_os_error, require_finished_run

P = ParamSpec("P")
R = TypeVar("R")


class Settings:
    policy_dirs: tuple[Path, ...] = ()
    home: Path | None = None


settings = Settings()

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
EngineOption = Annotated[str | None, typer.Option(
    "--engine", help="duckdb (default; one machine) or spark (Ibis's PySpark backend); "
    "also $BHPOLICY_ENGINE.")]
SparkMaster = Annotated[str | None, typer.Option(
    "--spark-master", help="With --engine spark: local[2] (default), local[*], "
    "spark://HOST:PORT, k8s://URL or yarn. A cluster master turns on RPC authentication "
    "and encryption; its shared secret is read from $BHPOLICY_SPARK_SECRET.")]
SparkConf = Annotated[list[str] | None, typer.Option(
    "--spark-conf", help="With --engine spark: KEY=VALUE, repeatable "
    "(spark.executor.memory=8g, spark.sql.shuffle.partitions=400, ...).")]
AsOf = Annotated[str | None, typer.Option(
    "--as-of", envvar="BHPOLICY_AS_OF", help="The run's date (YYYY-MM-DD, default today): a "
    "date of service after it is rejected, since a future day cannot be billed or reviewed.")]


def as_of_date(text: str | None) -> dt.date:
    return parse_date(text) or dt.date.today()


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


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def catalog() -> Any:
    from bhpolicy.catalog.store import default_home, load_catalog

    return load_catalog(settings.home or default_home())


def registry() -> Any:
    from bhpolicy.policy import load_registry

    return load_registry(settings.policy_dirs)


def parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BhpolicyError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


RUN_OUTPUT_NAMES = ("lines.parquet", "lines.csv", "member_months.parquet",
                    "member_months.csv", "findings.parquet", "findings.csv")


def refuse_unfinished_run_file(path: Path, flag: str) -> None:
    """A file inside a bhpolicy run folder is read only when that run finished (its
    manifest.json was written): a killed run's half-written files are never input."""
    folder = path.parent
    looks_like_run = path.name in RUN_OUTPUT_NAMES and (
        (folder / "manifest.json").exists() or ".staging-" in folder.name
        or any((folder / name).exists() for name in ("errors.csv", "report.html")))
    if looks_like_run:
        require_finished_run(folder, flag)
