"""Read cases from a file (one JSON object, a JSON list, or JSON Lines) and determine each.

A bad case is reported as one line naming the file, line and field, and the others go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bhpolicy.criteria.cases import CaseError, parse_case
from bhpolicy.criteria.evaluate import determine
from bhpolicy.errors import DataFileError
from bhpolicy.policy.registry import PolicyRegistry


def read_cases(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, raw case) for each case in the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                where = f"{path}: line {number}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield where, ValueError(f"not JSON ({exc.msg} at column {exc.colno})")
        return
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(str(path), f"line {exc.lineno}", f"not JSON ({exc.msg})") from None
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            yield f"{path}: item {index}", item
    else:
        yield str(path), raw


def check_stream(path: Path, registry: PolicyRegistry) -> Iterator[dict[str, Any] | str]:
    """Each case's determination (its JSON form) in file order, or a one-line error for a
    case that cannot be evaluated. Nothing is held back, so memory stays flat."""
    for where, raw in read_cases(path):
        if isinstance(raw, ValueError):
            yield f"{where}: {raw}"
            continue
        try:
            case = parse_case(raw, registry, where)
        except CaseError as exc:
            yield str(exc)
            continue
        yield determine(case).to_json()
