"""The C allocator ``bhpolicy serve`` runs with.

The warm one-member billing path (:mod:`bhpolicy.billing.one`) executes one prepared DuckDB
statement of about 520 operators a call. DuckDB sets up every operator's state and buffers
again on each execution, whatever the row count, and the buffers of its vectors come from
the C library's ``malloc``: with glibc's allocator about a third of a call's CPU is
``malloc``/``free`` (perf), with jemalloc far less (``bench/billing_one.py --malloc``).
A C allocator can only be chosen before the process starts, so ``serve`` executes itself
again (same process id, same arguments) with ``LD_PRELOAD`` naming the library.

``auto`` (the default) takes jemalloc when the system has it (Debian's ``libjemalloc2``)
and the system allocator otherwise; ``system`` never preloads; a path preloads that file.
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


def describe() -> str:
    """The allocator this process runs with, for the start-up log line."""
    preloaded = os.environ.get(PRELOADED_ENV)
    if preloaded and Path(preloaded).name in loaded_libraries():
        return f"C allocator: {Path(preloaded).name} (preloaded)"
    if preloaded:
        return f"C allocator: the system's ({Path(preloaded).name} could not be preloaded)"
    return "C allocator: the system's"


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
    """Execute this command again with the chosen allocator preloaded (never returns then);
    return at once when nothing is to be preloaded, it already is, or the process was not
    started as the command."""
    env = dict(os.environ if environ is None else environ)
    library = chosen_library(choice)
    if library is None or env.get(PRELOADED_ENV) is not None:
        return
    if library.name in loaded_libraries():
        return
    command = reexec_command(sys.argv, sys.executable)
    if command is None:
        return
    preloads = [p for p in env.get("LD_PRELOAD", "").split() if p]
    env["LD_PRELOAD"] = " ".join([str(library), *preloads])
    env[PRELOADED_ENV] = str(library)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
