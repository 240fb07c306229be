"""Interchange, group and transaction control numbers that never repeat across runs: the last
numbers used are kept in a JSON file and reserved (written) before the output is.

The file is read and rewritten under an exclusive lock (``fcntl.flock`` on ``<file>.lock``
beside it), so two runs at the same time never get the same numbers; the new numbers are
written to a temporary file and renamed over the old one, so a killed run leaves either."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bhpolicy.errors import DataFileError
from bhpolicy.io.outputs import describe_os_error

LIMIT = 999_999_999


@dataclass(frozen=True)
class Reserved:
    """The numbers of one interchange: ISA13, GS06 and one ST02 a transaction."""

    isa: int
    gs: int
    st: list[int]

    def as_tuple(self) -> tuple[int, int, list[int]]:
        return self.isa, self.gs, list(self.st)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (released when the file is closed)."""
    lock = path.with_name(path.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DataFileError(str(path), "lock", describe_os_error(lock, exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> tuple[int, int, int]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0, 0, 0
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise DataFileError(str(path), "file", f"cannot read ({why})") from None
    try:
        data = json.loads(text)
        numbers = tuple(data[k] for k in ("isa", "gs", "st"))
        if not all(type(n) is int and 0 <= n <= LIMIT for n in numbers):
            raise ValueError
        return numbers
    except (ValueError, KeyError, TypeError, RecursionError):
        raise DataFileError(str(path), "content", "not a control-number file (isa, gs, st: "
                            "whole numbers)") from None


def _write(path: Path, isa: int, gs: int, st: int) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"isa": isa, "gs": gs, "st": st}))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DataFileError(str(path), "file", describe_os_error(path, exc)) from None


def reserve(path: Path, transactions: list[int],
            after_read: Callable[[], None] | None = None) -> list[Reserved]:
    """Reserve the numbers of one interchange per entry of ``transactions`` (its number of
    transaction sets) and save them before they are used. ``after_read`` runs between
    reading and writing the file (tests use it to widen the window two runs could share)."""
    if any(n < 1 for n in transactions):
        raise ValueError("every interchange holds at least one transaction")
    with _locked(path):
        isa, gs, st = _read(path)
        if after_read is not None:
            after_read()
        if isa + len(transactions) > LIMIT or st + sum(transactions) > LIMIT:
            raise DataFileError(str(path), "content", "control numbers exhausted")
        reserved: list[Reserved] = []
        for count in transactions:
            isa, gs = isa + 1, gs + 1
            reserved.append(Reserved(isa, gs, list(range(st + 1, st + count + 1))))
            st += count
        _write(path, isa, gs, st)
    return reserved


def read_numbers(path: Path) -> tuple[int, int, int]:
    """The last ISA13, GS06 and ST02 a control-number file holds (0s for no file)."""
    return _read(path)
