"""Writing outputs safely: whole files or nothing, owner-only, and CSV cells a spreadsheet
will not run.

- :func:`atomic_write_bytes` / :func:`atomic_write_text`: a single output file (837P, 999,
  HTML, JSON) is written to a temporary name in the same folder, flushed, then renamed over
  the target, so a reader sees the old file or the new one, never half of one.
- :func:`run_folder`: a run's outputs are written into a staging folder beside ``--out``;
  ``manifest.json`` is written last (the commit marker) and the staging folder is then swapped
  into place. An existing ``--out`` is replaced only when it holds a bhpolicy manifest, so
  ``--out ~/Documents`` is never emptied. :func:`require_finished_run` is what every reader
  of a run folder calls first.
- :func:`csv_ready`: the table with a text cell a spreadsheet would read as a formula
  (OWASP, "CSV Injection": cells beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return get a leading apostrophe). Only text columns are touched; numbers stay numbers, and
  Parquet keeps the raw value.

All errors are one line naming the path (:class:`~bhpolicy.errors.OutputError`).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bhpolicy.errors import BhpolicyError

MANIFEST = "manifest.json"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
OWNER_ONLY = 0o077  # the umask: files 0600, folders 0700


class OutputError(BhpolicyError):
    """An output that cannot be written (exit code 2: nothing processed)."""


def owner_only_umask() -> None:
    """Every file the process creates (DuckDB's spill files included) is owner-only."""
    os.umask(OWNER_ONLY)


def describe_os_error(path: Path, exc: OSError) -> str:
    """One line for an OSError on ``path`` (no traceback, no value of any field)."""
    reasons = {errno.ENOSPC: "no space left on the device",
               errno.EROFS: "read-only file system",
               errno.EACCES: "permission denied",
               errno.EPERM: "permission denied",
               errno.ENOTDIR: "a parent of it is a file, not a folder",
               errno.EISDIR: "is a folder",
               errno.EDQUOT: "disk quota exceeded",
               errno.ENAMETOOLONG: "name too long"}
    why = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"{path}: cannot write ({why})"


def _fsync_dir(folder: Path) -> None:
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed into
    place; on any failure nothing is left behind and the old file (if any) is untouched.
    Writing to a character device (``/dev/stdout``, ``/dev/full``) writes directly."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            with path.open("wb") as handle:  # a device: no rename possible
                handle.write(data)
                handle.flush()
            return path
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        folder = path.parent if str(path.parent) else Path(".")
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(folder)
    except OSError as exc:
        raise OutputError(describe_os_error(path, exc)) from None
    return path


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(path: Path | None) -> dict[str, Any] | None:
    """An input as the manifest records it: path, size and SHA-256."""
    if path is None:
        return None
    try:
        return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)}
    except OSError:
        return {"path": str(path), "bytes": None, "sha256": None}


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class RunFolder:
    """A staging folder whose files become ``target`` when the run finishes."""

    target: Path
    staging: Path
    command: str
    started_at: str = field(default_factory=_now)
    manifest: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        """Where to write output ``name`` now (inside the staging folder)."""
        return self.staging / name

    def final(self, path: Path) -> Path:
        """Where a staged file will be once the run is committed."""
        return self.target / Path(path).relative_to(self.staging)


def _is_bhpolicy_run(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return bool(json.loads(manifest.read_text(encoding="utf-8")).get("tool") == "bhpolicy")
    except (OSError, ValueError, AttributeError):
        return False


def check_output_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file, or a folder with content that is not a finished
    bhpolicy run (which will be replaced), before any work is done."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_bhpolicy_run(out):
        raise OutputError(f"{out}: --out: folder is not empty and holds no bhpolicy "
                          f"{MANIFEST}; choose an empty or new folder")


@contextmanager
def run_folder(out: Path, command: str) -> Iterator[RunFolder]:
    """Stage a run's outputs beside ``out`` and swap them into place when the block ends
    without an error (after :func:`commit_manifest`); on an error the staging folder is
    removed and ``out`` is left as it was."""
    out = Path(out)
    check_output_folder(out)
    parent = out.parent if str(out.parent) else Path(".")
    staging = parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir(mode=0o700)
    except OSError as exc:
        raise OutputError(describe_os_error(out, exc)) from None
    folder = RunFolder(out, staging, command)
    try:
        yield folder
        if not (staging / MANIFEST).is_file():
            raise OutputError(f"{out}: run not finished (no {MANIFEST})")
        _swap(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(describe_os_error(out, exc)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, out: Path) -> None:
    """Put ``staging`` where ``out`` is: rename the old run aside, rename the new one in,
    then delete the old one (a crash between leaves the old run under a dotted name)."""
    old: Path | None = None
    if out.exists():
        if any(out.iterdir()) and not _is_bhpolicy_run(out):  # changed since the check
            raise OutputError(f"{out}: --out: folder is not empty and holds no bhpolicy "
                              f"{MANIFEST}")
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(out, old)
    os.replace(staging, out)
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def commit_manifest(folder: RunFolder, **facts: Any) -> Path:
    """Write ``manifest.json`` last: the bhpolicy version, the facts given (packs and
    revisions, as-of date, inputs, row counts), every output file with its size and SHA-256,
    start and finish. A run folder without it is not a finished run."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        bhpolicy_version = version("bhpolicy")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        bhpolicy_version = "unknown"
    outputs = []
    for path in sorted(p for p in folder.staging.rglob("*") if p.is_file()):
        outputs.append({"file": str(path.relative_to(folder.staging)),
                        "bytes": path.stat().st_size, "sha256": sha256_of(path)})
    manifest = {"tool": "bhpolicy", "version": bhpolicy_version, "command": folder.command,
                **facts, "outputs": outputs, "started_at": folder.started_at,
                "finished_at": _now()}
    folder.manifest = manifest
    return atomic_write_text(folder.path(MANIFEST),
                             json.dumps(manifest, indent=2, ensure_ascii=False, default=str)
                             + "\n")


def require_finished_run(run: Path, what: str = "--run") -> dict[str, Any]:
    """The manifest of a finished run folder, or a one-line error."""
    manifest = Path(run) / MANIFEST
    if not Path(run).is_dir():
        raise BhpolicyError(f"{run}: {what}: not a folder")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BhpolicyError(f"{run}: {what}: not a finished bhpolicy run (no readable "
                            f"{MANIFEST}; run it again)") from None
    if not isinstance(data, dict) or data.get("tool") != "bhpolicy" or \
            not data.get("finished_at"):
        raise BhpolicyError(f"{run}: {what}: {MANIFEST} is not a finished bhpolicy run")
    return data


def neutralise_value(value: str) -> str:
    """The Python twin of :func:`csv_ready`, for CSVs written with the csv module."""
    import re

    risky = value.startswith(FORMULA_STARTS) and not re.match(PLAIN_NUMBER, value)
    return "'" + value if risky else value


PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"  # "-1" is a number to a spreadsheet, not a formula


def csv_ready(table: Any) -> Any:
    """An Ibis table with every text column's formula-looking cells neutralised, for CSV
    (number, date and boolean columns untouched, and text that is a plain signed number
    such as ``-1`` kept as it is)."""
    import ibis

    fixes = {}
    for name, dtype in table.schema().items():
        if dtype.is_string():
            column = table[name]
            risky = column.left(1).isin(list(FORMULA_STARTS))
            fixes[name] = ibis.cases(
                (risky & ~column.re_search(PLAIN_NUMBER), ibis.literal("'") + column),
                else_=column)
    return table.mutate(**fixes) if fixes else table


def csv_records(path: Path) -> int:
    """The data records of a CSV file a run wrote (header excluded), counted from the file:
    a newline inside a quoted cell (quotes doubled inside it, as DuckDB and Spark write
    them here) is part of the cell, and no cell is too long to count (a rejected value is
    copied whole into errors.csv)."""
    records, quoted, pending = 0, False, False
    with path.open("rb") as stream:
        for line in stream:  # split at every newline; a quote's parity says which are cells'
            if line.count(b'"') % 2:
                quoted = not quoted
            pending = True
            if not quoted and line.endswith(b"\n"):
                records, pending = records + 1, False
    if pending and not quoted:  # a last record without a newline
        records += 1
    return max(records - 1, 0)


class RunSummary(Protocol):
    """What a command's summary has that :func:`run_to_folder` fills in."""

    out: Path
    files: list[Path]


SummaryT = TypeVar("SummaryT", bound=RunSummary)


def run_to_folder(out: Path, command: str, produce: Callable[[Path], SummaryT],
                  manifest: Callable[[SummaryT], dict[str, Any]],
                  report: Callable[[Path, SummaryT], str] | None = None,
                  step: Callable[[str], None] = lambda _: None) -> SummaryT:
    """Run a command into a staging folder beside ``out`` (``produce(staging)`` writes the
    outputs and returns the summary), add ``report(staging, summary)`` as report.html,
    write the manifest last (``manifest(summary)``: the facts it records) and swap the
    folder into place: a failed or killed run leaves ``out`` as it was. The summary's
    ``out`` and ``files`` then name the final paths. Shared by bill and audit."""
    with run_folder(out, command) as folder:
        summary = produce(folder.staging)
        if report is not None:
            step("writing the report")
            summary.files.append(atomic_write_text(folder.path("report.html"),
                                                   report(folder.staging, summary)))
        commit_manifest(folder, **manifest(summary))
    summary.out = out
    summary.files = [folder.final(f) for f in summary.files]
    return summary
