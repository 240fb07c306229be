"""``bhpolicy serve``, ``bhpolicy db upgrade`` and ``bhpolicy users add``: the commands of the
review service. cli.py registers them; everything heavy (FastAPI, uvicorn, SQLAlchemy, the
services) is imported inside the commands so ``bhpolicy --help`` stays quick."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from bhpolicy.cli_support import user_errors
from bhpolicy.errors import BhpolicyError

P = ParamSpec("P")
R = TypeVar("R")

DB_ENV = "BHPOLICY_DATABASE_URL"

db_app = typer.Typer(help="The review service's database.", no_args_is_help=True)
users_app = typer.Typer(help="Users of the review service.", no_args_is_help=True)

DbUrl = Annotated[str | None, typer.Option(
    "--db", envvar=DB_ENV, help="Database URL: sqlite:///PATH or postgresql+psycopg://... "
    "(default: bhpolicy.db in the data home).")]


def _cli_settings() -> tuple[tuple[Path, ...], Path | None]:
    """--policy-dir and --home of the root command (read late: cli.py imports this module)."""
    from bhpolicy.cli_support import settings

    return tuple(settings.policy_dirs), settings.home


def _export_cli_settings() -> None:
    """The services read the packs from $BHPOLICY_POLICY_PATH and the catalog from
    $BHPOLICY_HOME: pass --policy-dir and --home on to them that way."""
    policy_dirs, home = _cli_settings()
    if policy_dirs:
        extra = [str(p) for p in policy_dirs]
        known = os.environ.get("BHPOLICY_POLICY_PATH", "")
        os.environ["BHPOLICY_POLICY_PATH"] = os.pathsep.join(
            [*extra, *([known] if known else [])])
    if home is not None:
        os.environ["BHPOLICY_HOME"] = str(home)


def open_database(url: str | None, need_current: bool = True) -> Any:
    """Open the database at ``url`` (default: the data home's SQLite file); with
    ``need_current``, refuse one behind the latest migration in one line."""
    from bhpolicy.db.database import DB_FILE, Database

    _, home = _cli_settings()
    if url is None and home is not None:
        url = f"sqlite:///{home / DB_FILE}"
    db = Database.open(url)
    if need_current:
        current, head = db.current_revision(), db.head_revision()
        if current != head:
            db.close()
            state = "is empty" if current is None else f"is at revision {current}"
            raise BhpolicyError(f"the database {state}, behind the latest migration {head}: "
                                "run `bhpolicy db upgrade` first")
    return db


def _logging_config() -> dict[str, Any]:
    """Our access log (method, route template, status, time) and uvicorn's start/stop lines
    on stderr; uvicorn's own access log (concrete URLs with queries) stays off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "bhpolicy": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


@user_errors
def serve(
    db: DbUrl = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_body_kib: Annotated[int, typer.Option(
        min=1, help="Refuse request bodies over this many KiB (413).")] = 256,
    max_upload_mib: Annotated[int, typer.Option(
        min=1, help="Refuse uploads (billing files, 835/999/277CA) over this many MiB "
        "(413).")] = 200,
    jobs_dir: Annotated[Path | None, typer.Option(
        help="Where billing jobs keep their uploads and outputs (default: jobs/ in the "
        "data home).")] = None,
    submitter_config: Annotated[Path | None, typer.Option(
        envvar="BHPOLICY_SUBMITTER_CONFIG",
        help="Submitter configuration (TOML) for the 837P the billing pages write.")] = None,
    worker: Annotated[bool, typer.Option(
        help="Start one worker process for billing jobs beside the server.")] = True,
    malloc: Annotated[str, typer.Option(
        "--malloc", envvar="BHPOLICY_MALLOC",
        help="C allocator: auto (jemalloc when the system has it, e.g. Debian's "
        "libjemalloc2; the warm billing check takes about a third less CPU with it), "
        "system, or the path of an allocator's shared library.")] = "auto",
) -> None:
    """Run the review service: the API (/api, /openapi.json, /docs) and the reviewers'
    pages, on uvicorn. The database must be at the latest migration."""
    import logging
    import logging.config

    from bhpolicy.allocator import describe, preload

    preload(malloc)  # executes the command again with the allocator preloaded, if needed
    import uvicorn

    from bhpolicy.web.app import create_app, warm
    from bhpolicy.web.settings import WebSettings

    _export_cli_settings()
    database = open_database(db)
    if submitter_config is not None:
        from bhpolicy.x12.config import load_config

        load_config(submitter_config)  # a broken config is one line now, not at the 837P
    settings = WebSettings(max_body_bytes=max_body_kib * 1024,
                           max_upload_bytes=max_upload_mib * 1024 * 1024,
                           jobs_dir=jobs_dir, submitter_config=submitter_config)
    app = create_app(database, settings)
    warm(app)  # before uvicorn starts, so a broken pack or catalog is one line here
    config = _logging_config()
    logging.config.dictConfig(config)
    logging.getLogger("bhpolicy.serve").info(describe())
    child = _start_worker(database.url, settings.job_lease_seconds) if worker else None
    try:
        uvicorn.run(app, host=host, port=port, access_log=False, log_config=config,
                    server_header=False, proxy_headers=False, timeout_graceful_shutdown=10)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        database.close()


def _start_worker(url: str, lease_seconds: float) -> subprocess.Popen[bytes]:
    """``bhpolicy worker`` as a child process (the packs and data home reach it through
    the environment that ``_export_cli_settings`` set)."""
    from bhpolicy.allocator import worker_environment

    env = {**worker_environment(os.environ), DB_ENV: url}
    return subprocess.Popen([sys.executable, "-m", "bhpolicy.cli", "worker",
                             "--lease-seconds", str(lease_seconds),
                             "--parent-pid", str(os.getpid())],
                            env=env)


@user_errors
def worker(
    db: DbUrl = None,
    lease_seconds: Annotated[float, typer.Option(
        min=5, help="A job's lease: another worker takes the job over when this worker "
        "has not renewed it for this long.")] = 120.0,
    poll_seconds: Annotated[float, typer.Option(
        min=0.1, help="Seconds between looks for a queued job when none waits.")] = 1.0,
    once: Annotated[bool, typer.Option(
        help="Run the jobs waiting now, then stop.")] = False,
    parent_pid: Annotated[int | None, typer.Option(
        hidden=True, help="Stop when this process (the server that started this worker) "
        "ends: a server killed outright leaves no worker behind.")] = None,
) -> None:
    """Run billing jobs queued by the billing pages, one at a time (``bhpolicy serve``
    starts one by itself). Stops on SIGTERM or Ctrl-C after the job in hand."""
    import datetime as dt
    import logging.config
    import signal
    import socket
    import threading

    from bhpolicy.services import jobs

    _export_cli_settings()
    logging.config.dictConfig(_logging_config())
    database = open_database(db)
    name = f"{socket.gethostname()}:{os.getpid()}"[:80]
    lease = dt.timedelta(seconds=lease_seconds)

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    try:
        if once:
            while jobs.run_one(database, name, clock, lease) is not None:
                pass
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if parent_pid is not None:

            def watch() -> None:
                while True:
                    if os.getppid() != parent_pid:  # re-parented: the server is gone
                        stop.set()
                        return
                    if stop.wait(1.0):
                        return

            threading.Thread(target=watch, name="parent-watch", daemon=True).start()
        with contextlib.suppress(KeyboardInterrupt):
            jobs.work_forever(database, name, clock, lease, poll_seconds, stop)
    finally:
        database.close()


@db_app.command("upgrade")
@user_errors
def db_upgrade(db: DbUrl = None) -> None:
    """Create or migrate the database to the latest revision."""
    database = open_database(db, need_current=False)
    try:
        before = database.current_revision()
        database.upgrade("head")
        after = database.current_revision()
    finally:
        database.close()
    if before == after:
        typer.echo(f"database already at the latest revision {after}")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to {after}")


@users_app.command("add")
@user_errors
def users_add(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[str, typer.Option(help="intake, reviewer, biller, analyst, admin or "
                                      "provider-system.")],
    licence: Annotated[str | None, typer.Option(
        help="A reviewer's behavioral-health licence (needed for adverse decisions).")] = None,
    organization: Annotated[str | None, typer.Option(
        help="A provider-system user's organisation NPI.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read a password for the pages from the first line of "
        "standard input.")] = False,
    db: DbUrl = None,
) -> None:
    """Add a user and print its API token (shown once; only its hash is kept)."""
    from bhpolicy.services.users import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise BhpolicyError("--password-stdin: the first line of standard input is empty")
    database = open_database(db)
    try:
        user, token = add_user(database, name, role, licence=licence, password=password,
                               organization=organization)
    finally:
        database.close()
    typer.echo(f"user {user.name} ({user.role}) added; API token, shown once:")
    typer.echo(token)
