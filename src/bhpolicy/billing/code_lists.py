"""Check the CARC/RARC codes a pack's reasons use against code lists the user has.

The official X12 code texts are licensed, so bhpolicy ships only the codes with its own
wording; a user who has the lists (code, description, optional stop date) can check that every
code a pack uses exists and is still active on a date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from bhpolicy.billing.params import load_reasons
from bhpolicy.errors import DataFileError
from bhpolicy.io.readers import ragged, small_csv_rows
from bhpolicy.policy.model import PolicyPack


@dataclass(frozen=True)
class ListedCode:
    code: str
    description: str
    stop_date: dt.date | None


@dataclass(frozen=True)
class CodeCheck:
    reason_id: str
    kind: str  # CARC or RARC
    code: str
    status: str  # ok, missing, stopped
    description: str


def read_code_list(path: Path) -> dict[str, ListedCode]:
    """A CSV with columns code, description and optionally stop_date (YYYY-MM-DD). A bad row
    is an error for the file (one line naming file, row and field)."""
    codes: dict[str, ListedCode] = {}
    rows = small_csv_rows(path)
    _, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    if not {"code", "description"} <= set(header):
        raise DataFileError(str(path), "row 1", "needs columns code and description")
    at = {name: header.index(name) for name in ("code", "description", "stop_date")
          if name in header}
    for number, fields in rows:
        problem = ragged(fields, header)
        if problem:
            raise DataFileError(str(path), f"row {number}", problem)
        row = {name: fields[i].strip() for name, i in at.items()}
        code = row["code"]
        if not code:
            raise DataFileError(str(path), f"row {number}", "field code: missing")
        stop = row.get("stop_date", "")
        try:
            stop_date = dt.date.fromisoformat(stop) if stop else None
        except ValueError:
            raise DataFileError(str(path), f"row {number}",
                                f"field stop_date: {stop!r} is not a date") from None
        codes[code] = ListedCode(code, row["description"], stop_date)
    return codes


def check_reasons(pack: PolicyPack, carc: dict[str, ListedCode],
                  rarc: dict[str, ListedCode] | None, on: dt.date) -> list[CodeCheck]:
    found: list[CodeCheck] = []
    for reason_id, reason in load_reasons(pack).items():
        # a hold for review has no CARC (nothing is denied), so nothing to check
        pairs = [("CARC", reason.carc, carc)] if reason.carc is not None else []
        if rarc is not None:
            pairs += [("RARC", code, rarc) for code in reason.rarc]
        for kind, code, listed in pairs:
            entry = listed.get(code)
            if entry is None:
                status, text = "missing", ""
            elif entry.stop_date is not None and entry.stop_date < on:
                status, text = "stopped", entry.description
            else:
                status, text = "ok", entry.description
            found.append(CodeCheck(reason_id, kind, code, status, text))
    return found
