"""The C allocator ``bhpolicy serve`` runs with.

The warm one-member billing path (:mod:`bhpolicy.billing.one`) executes one prepared DuckDB
statement of about 360 operators a call. DuckDB sets up every operator's state and buffers
again on each execution, whatever the row count, and the buffers of its vectors come from
the C library's ``malloc``: with glibc's allocator about a third of a call's CPU is
``malloc``/``free`` (perf), with jemalloc far less (``bench/billing_one.py --malloc``).
A C allocator can only be chosen before the process starts, so ``serve`` executes itself
again (same process id, same arguments) with ``LD_PRELOAD`` naming the library.

``auto`` (the default) takes jemalloc when the system has it (Debian's ``libjemalloc2``)
and the system allocator otherwise; ``system`` never preloads; a path preloads that file.

DuckDB's Python wheel carries a jemalloc of its own (symbols ``duckdb_je_*``) for its
vectors and hash tables, configured to hand freed pages back to the kernel within about a
second. A billing check allocates about 45 MB and frees it (65 MB when the page faults
below were counted); checks that come a fraction of a second apart (a server, not a loop)
then take every page again from the kernel, some 6,000 page faults and about 13 ms a call
(perf: ``madvise(MADV_DONTNEED)`` from ``duckdb_je_arena_decay``).
So the re-executed server also sets ``DUCKDB_JE_MALLOC_CONF`` (that jemalloc's own setting,
read when DuckDB first allocates) to keep freed pages for a minute, unless it is set already.
The billing jobs' worker is started without it (a folder run's pages go back as before).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bhpolicy.errors import BhpolicyError

ENV = "BHPOLICY_MALLOC"
PRELOADED_ENV = "BHPOLICY_MALLOC_PRELOADED"  # set on the re-executed process (no loop)
JEMALLOC = "libjemalloc.so.2"
DUCKDB_CONF_ENV = "DUCKDB_JE_MALLOC_CONF"  # DuckDB's bundled jemalloc reads it at its start
#: freed pages kept a minute before they go back to the kernel (DuckDB's own: about 1 s)
DUCKDB_CONF = "dirty_decay_ms:60000"
DUCKDB_ADDED_ENV = "BHPOLICY_DUCKDB_CONF_ADDED"  # set when the server added DUCKDB_CONF
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib", "/usr/local/lib")


def find_jemalloc(dirs: Sequence[str] = LIBRARY_DIRS) -> Path | None:
    """jemalloc's shared library where the system keeps libraries, or None."""
    for folder in dirs:
        path = Path(folder) / JEMALLOC
        if path.is_file():
            return path
    return None


def chosen_library(choice: str) -> Path | None:
    """The library ``choice`` (auto, system or a path) preloads, or None for the system's
    own allocator. A path that is not a file is a one-line error."""
    if choice == "system":
        return None
    if choice == "auto":
        return find_jemalloc()
    path = Path(choice)
    if not path.is_file():
        raise BhpolicyError(f"--malloc {choice}: no such file (give auto, system or the path "
                            "of a C allocator's shared library)")
    return path


def loaded_libraries(maps: Path = Path("/proc/self/maps")) -> set[str]:
    """The file names of the shared objects mapped into this process."""
    try:
        text = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {Path(fields[-1]).name for line in text.splitlines()
            if len(fields := line.split()) >= 6 and fields[-1].startswith("/")}


def describe(environ: Mapping[str, str] | None = None,
             loaded: set[str] | None = None) -> str:
    """The allocator this process runs with, for the start-up log line: the library serve
    preloaded, else one the user's own ``LD_PRELOAD`` mapped (serve then had nothing to
    add), else the system's."""
    env = os.environ if environ is None else environ
    mapped = loaded_libraries() if loaded is None else loaded
    preloaded = env.get(PRELOADED_ENV)
    duckdb = env.get(DUCKDB_CONF_ENV)
    tail = f"; DuckDB's allocator: {duckdb}" if duckdb else ""
    if preloaded and Path(preloaded).name in mapped:
        return f"C allocator: {Path(preloaded).name} (preloaded){tail}"
    if preloaded:
        return (f"C allocator: the system's ({Path(preloaded).name} could not be "
                f"preloaded){tail}")
    own = [name for item in env.get("LD_PRELOAD", "").split()
           if (name := Path(item).name) in mapped]
    if own:
        return f"C allocator: {', '.join(own)} (LD_PRELOAD){tail}"
    return f"C allocator: the system's{tail}"


def server_environment(choice: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment the server runs with for allocator ``choice``: the library preloaded
    (when one is chosen and not loaded yet) and DuckDB's allocator setting (when not set);
    None when ``environ`` is already that (or the server was already executed again)."""
    if environ.get(PRELOADED_ENV) is not None:
        return None
    env = dict(environ)
    library = chosen_library(choice)
    changed = False
    if library is not None and library.name not in loaded_libraries():
        preloads = [p for p in env.get("LD_PRELOAD", "").split() if p]
        env["LD_PRELOAD"] = " ".join([str(library), *preloads])
        changed = True
    if DUCKDB_CONF_ENV not in env:
        env[DUCKDB_CONF_ENV] = DUCKDB_CONF
        env[DUCKDB_ADDED_ENV] = "1"
        changed = True
    if not changed:
        return None
    env[PRELOADED_ENV] = "" if library is None else str(library)
    return env


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the DuckDB allocator setting the server added (a user's own is
    kept): the billing jobs' worker runs folder runs, whose pages go back as DuckDB sets."""
    env = dict(environ)
    if env.pop(DUCKDB_ADDED_ENV, None) is not None:
        env.pop(DUCKDB_CONF_ENV, None)
    return env


def reexec_command(argv: Sequence[str], executable: str) -> list[str] | None:
    """The command that runs this CLI again with the same arguments, or None when the
    process was not started as the ``bhpolicy`` command (then it keeps its allocator)."""
    if not argv:
        return None
    program = Path(argv[0])
    if program.name == "bhpolicy" and program.is_file():
        return [executable, str(program), *argv[1:]]
    if program.name in ("cli.py", "__main__.py") and program.parent.name == "bhpolicy":
        return [executable, "-m", "bhpolicy.cli", *argv[1:]]
    return None


def preload(choice: str, environ: Mapping[str, str] | None = None) -> None:
    """Execute this command again in :func:`server_environment` (never returns then);
    return at once when that changes nothing, or the process was not started as the
    command."""
    env = server_environment(choice, os.environ if environ is None else environ)
    if env is None:
        return
    command = reexec_command(sys.argv, sys.executable)
    if command is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
