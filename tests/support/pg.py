"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a data folder and unix
socket in a temporary folder, no TCP (``listen_addresses=''``), durability off for speed.

``initdb`` refuses to run as root, so under root every server command runs as the ``postgres``
user (``runuser``); the folder is made theirs. :func:`unavailable` says why no cluster can be
made; the fixture skips then, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

SERVER_USER = "postgres"
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "60",
    "shared_buffers": "32MB",
}


def find_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder holding initdb and pg_ctl."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                     else 0)
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def unavailable() -> str | None:
    """Why a cluster cannot be made here, or None."""
    if find_bin() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if _as_root():
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER} user to run initdb"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def _run(argv: list[str]) -> None:
    program = Path(argv[0]).name
    if _as_root():
        argv = ["runuser", "-u", SERVER_USER, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{program} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-800:]}")


@dataclass
class PgCluster:
    base: Path
    bin: Path
    counter: int = 0

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@/{dbname}?host={self.socket_dir}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=str(self.socket_dir), user=SERVER_USER, dbname="postgres",
                               autocommit=True)

    def new_name(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}_{os.getpid()}_{self.counter}"

    def create_database(self, name: str, template: str = "template0") -> str:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                  "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start in a new temporary folder; the caller stops it."""
    bin_dir = find_bin()
    assert bin_dir is not None
    base = Path(tempfile.mkdtemp(prefix="bhpolicy-pg-"))
    cluster = PgCluster(base, bin_dir)
    try:
        os.chmod(base, 0o755)
        cluster.socket_dir.mkdir()
        if _as_root():
            entry = pwd.getpwnam(SERVER_USER)
            for path in (base, cluster.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        _run([str(bin_dir / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U",
              SERVER_USER, "-E", "UTF8", "--locale=C", "--no-sync"])
        settings = dict(SETTINGS, unix_socket_directories=f"'{cluster.socket_dir}'")
        with (cluster.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        _run([str(bin_dir / "pg_ctl"), "-D", str(cluster.data), "-l",
              str(base / "server.log"), "-w", "-t", "60", "start"])
    except BaseException:
        log = base / "server.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        if tail:
            raise RuntimeError(f"PostgreSQL did not start: {tail}") from None
        raise
    return cluster
