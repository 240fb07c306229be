"""Read cases from a file (one JSON object, a JSON list, or JSON Lines) and determine each.

A bad case is reported as one line naming the file, line (or item), case and field, and the
others go on; a file that cannot be read as a whole is one error for the file. JSON is read
strictly: no NaN or Infinity, no key given twice in one object, nesting and numbers within
bounds, UTF-8 only (a byte order mark is allowed). No message repeats a value from the file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bhpolicy.criteria.cases import CaseError, field_name, parse_case
from bhpolicy.criteria.evaluate import determine
from bhpolicy.errors import BhpolicyError, DataFileError
from bhpolicy.policy.registry import PolicyRegistry

# A case is a few levels deep (case > facts > month counts); anything much deeper is not a
# case, and refusing it early keeps the parser far from Python's recursion limit.
MAX_DEPTH = 32


class _NotCase(ValueError):
    """A JSON text that is not an acceptable case (message names no value)."""


def _constant(name: str) -> Any:
    raise _NotCase(f"not JSON ({name} is not a JSON number)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _NotCase(f"key {field_name(key)} given twice in one object")
        found[key] = value
    return found


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _depth_ok(text: str) -> bool:
    """Whether brackets nest at most MAX_DEPTH deep (strings left out), checked before
    parsing so that the parser never recurses deeply."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the usual case, counted in C
        return True
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            return False
    return True


def parse_json(text: str) -> Any:
    """One JSON text, strictly; raises _NotCase with a message that names no value."""
    if not _depth_ok(text):
        raise _NotCase(f"not a case (nested more than {MAX_DEPTH} levels deep)")
    try:
        return json.loads(text, parse_constant=_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise _NotCase(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise _NotCase("not a case (nested too deeply)") from None
    except _NotCase:
        raise
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise _NotCase("not a case (a number is too long)") from None


def _decode(data: bytes) -> str:
    return data.decode("utf-8")


def _lines(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            where = f"{path}: line {number}"
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = _decode(raw)
            except UnicodeDecodeError as exc:
                yield where, _NotCase(f"not UTF-8 text (byte {exc.start + 1} of the line)")
                continue
            if not line.strip():
                continue
            try:
                yield where, parse_json(line)
            except _NotCase as exc:
                yield where, exc


def read_cases(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, raw case or the reason it is not one) for each case in the file."""
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _lines(path)
            return
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        raise DataFileError(str(path), f"byte {exc.start + 1}", "not UTF-8 text") from None
    try:
        raw = parse_json(text)
    except _NotCase as exc:
        raise DataFileError(str(path), "file", str(exc)) from None
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            yield f"{path}: item {index}", item
    else:
        yield str(path), raw


def check_stream(path: Path, registry: PolicyRegistry,
                 as_of: dt.date | None = None) -> Iterator[dict[str, Any] | str]:
    """Each case's determination (its JSON form) in file order, or a one-line error for a
    case that cannot be evaluated. Nothing is held back, so memory stays flat. ``as_of`` is
    the run's date (default today): the determination date, and the latest request date.
    A file holding no case at all is an error for the whole file."""
    run_date = as_of or dt.date.today()
    seen = False
    try:
        for where, raw in read_cases(path):
            seen = True
            if isinstance(raw, ValueError):
                yield f"{where}: {raw}"
                continue
            try:
                case = parse_case(raw, registry, where, as_of=run_date)
            except CaseError as exc:
                yield str(exc)
                continue
            try:
                determination = determine(case)
            except BhpolicyError as exc:  # e.g. a parameter not in force on the request date
                yield f"{where}: case {case.case_id!r}: {exc}"
                continue
            yield determination.to_json()
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    if not seen:
        raise DataFileError(str(path), "file", "holds no case")
