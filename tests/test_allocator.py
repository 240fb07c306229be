"""``bhpolicy serve --malloc``: jemalloc preloaded when the system has it (the warm billing
check's CPU is a third glibc malloc/free otherwise), the system allocator on request, a
missing library in one line; the server keeps its process id across the re-execution."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from bhpolicy.allocator import (
    DUCKDB_ADDED_ENV,
    DUCKDB_CONF,
    DUCKDB_CONF_ENV,
    JEMALLOC,
    PRELOADED_ENV,
    chosen_library,
    describe,
    find_jemalloc,
    loaded_libraries,
    reexec_command,
    server_environment,
    worker_environment,
)
from bhpolicy.errors import BhpolicyError
from tests.support.web import bhpolicy_command, running_server


def test_choices(tmp_path: Path) -> None:
    assert chosen_library("system") is None
    assert chosen_library("auto") == find_jemalloc()
    library = tmp_path / "liballoc.so"
    library.write_bytes(b"")
    assert chosen_library(str(library)) == library
    with pytest.raises(BhpolicyError, match="no such file"):
        chosen_library(str(tmp_path / "missing.so"))


def test_describe_names_the_allocator_mapped() -> None:
    """The start-up line: the library serve preloaded; else one the user's LD_PRELOAD
    mapped (serve had nothing to add and set no marker); else the system's."""
    je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    conf = {DUCKDB_CONF_ENV: DUCKDB_CONF}
    assert describe({PRELOADED_ENV: je, **conf}, {"libjemalloc.so.2"}) == (
        f"C allocator: libjemalloc.so.2 (preloaded); DuckDB's allocator: {DUCKDB_CONF}")
    assert describe({PRELOADED_ENV: je}, set()) == (
        "C allocator: the system's (libjemalloc.so.2 could not be preloaded)")
    assert describe({"LD_PRELOAD": f"/opt/x/libother.so {je}"}, {"libjemalloc.so.2"}) == (
        "C allocator: libjemalloc.so.2 (LD_PRELOAD)")
    assert describe({"LD_PRELOAD": je}, set()) == "C allocator: the system's"
    assert describe({}, {"libjemalloc.so.2"}) == "C allocator: the system's"


def test_find_jemalloc_in_the_library_folders(tmp_path: Path) -> None:
    assert find_jemalloc([str(tmp_path)]) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / JEMALLOC).write_bytes(b"")
    assert find_jemalloc([str(tmp_path / "a"), str(tmp_path / "b")]) == \
        tmp_path / "b" / JEMALLOC


def test_loaded_libraries_reads_the_maps(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r--p 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"
        "7f01-7f02 rw-p 00000000 00:00 0 \n"
        "7f02-7f03 r--p 00000000 00:00 0 [heap]\n", encoding="utf-8")
    assert loaded_libraries(maps) == {"libjemalloc.so.2"}
    assert loaded_libraries(tmp_path / "none") == set()


def test_only_the_command_is_executed_again(tmp_path: Path) -> None:
    script = tmp_path / "bhpolicy"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    assert reexec_command([str(script), "serve", "--port", "9"], "/py") == [
        "/py", str(script), "serve", "--port", "9"]
    assert reexec_command(["/x/bhpolicy/cli.py", "serve"], "/py") == [
        "/py", "-m", "bhpolicy.cli", "serve"]
    # pytest, a notebook, an embedding program: never executed again
    assert reexec_command(["/usr/bin/pytest", "-k", "x"], "/py") is None
    assert reexec_command([], "/py") is None


def _mapped(pid: int) -> set[str]:
    return loaded_libraries(Path(f"/proc/{pid}/maps"))


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def _worker_environ(pid: int) -> dict[str, str]:
    """The environment of the server's child process running ``bhpolicy worker``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                if b"worker" in cmdline:
                    return _environ(int(child))
        time.sleep(0.2)
    raise AssertionError("no worker process under the server")


def _upgraded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bhpolicy.db'}"
    done = subprocess.run([*bhpolicy_command(), "db", "upgrade", "--db", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return url


@pytest.mark.skipif(find_jemalloc() is None, reason="jemalloc (libjemalloc2) not installed")
def test_serve_runs_on_jemalloc_by_default_and_on_the_system_allocator_on_request(
        tmp_path: Path) -> None:
    url = _upgraded(tmp_path)
    with running_server(url, tmp_path) as server:
        assert JEMALLOC in _mapped(server.process.pid)  # same pid: executed again in place
        assert f"C allocator: {JEMALLOC} (preloaded)" in server.log_text()
        assert f"DuckDB's allocator: {DUCKDB_CONF}" in server.log_text()
        served = _environ(server.process.pid)  # after the second execution, same pid
        assert served.get(DUCKDB_CONF_ENV) == DUCKDB_CONF
        worker = _worker_environ(server.process.pid)
        assert DUCKDB_CONF_ENV not in worker and DUCKDB_ADDED_ENV not in worker
    (tmp_path / "system").mkdir()
    with running_server(url, tmp_path / "system",
                        args=("--no-worker", "--malloc", "system")) as server:
        assert JEMALLOC not in _mapped(server.process.pid)
        assert "C allocator: the system's" in server.log_text()


def test_serve_with_a_missing_allocator_is_one_line(tmp_path: Path) -> None:
    url = _upgraded(tmp_path)
    done = subprocess.run([*bhpolicy_command(), "serve", "--db", url, "--port", "1",
                           "--malloc", str(tmp_path / "nothing.so")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such file" in lines[0], done.stderr


def test_the_server_keeps_duckdbs_freed_pages_a_minute(tmp_path: Path) -> None:
    library = tmp_path / "liballoc.so"
    library.write_bytes(b"")
    env = server_environment(str(library), {"LD_PRELOAD": "/x/other.so", "PATH": "/bin"})
    assert env is not None
    assert env["LD_PRELOAD"] == f"{library} /x/other.so"
    assert env[DUCKDB_CONF_ENV] == DUCKDB_CONF and "dirty_decay_ms" in DUCKDB_CONF
    assert env[DUCKDB_ADDED_ENV] == "1"
    assert env[PRELOADED_ENV] == str(library) and env["PATH"] == "/bin"
    # the system allocator: executed again for DuckDB's setting alone
    env = server_environment("system", {"PATH": "/bin"})
    assert env is not None and "LD_PRELOAD" not in env
    assert env[DUCKDB_CONF_ENV] == DUCKDB_CONF and env[PRELOADED_ENV] == ""
    # a user's own setting is kept (even one equal to ours); nothing to change means no
    # second execution
    assert server_environment("system", {DUCKDB_CONF_ENV: "dirty_decay_ms:0"}) is None
    env = server_environment(str(library), {DUCKDB_CONF_ENV: DUCKDB_CONF})
    assert env is not None and DUCKDB_ADDED_ENV not in env
    assert server_environment("system", {PRELOADED_ENV: ""}) is None


def test_the_worker_runs_on_duckdbs_own_setting() -> None:
    served = server_environment("system", {"PATH": "/bin"})
    assert served is not None
    assert worker_environment(served) == {PRELOADED_ENV: "", "PATH": "/bin"}
    own = {DUCKDB_CONF_ENV: DUCKDB_CONF, PRELOADED_ENV: ""}
    assert worker_environment(own) == own  # the user's (equal to ours), not ours: kept
