"""Read the CMS HCPCS Level II quarterly file: the fixed-width contractor record, or its
spreadsheet form (xlsx or csv with the same fields as columns).

Field positions (1-based, inclusive) are those of the CMS record layout published with each
release as ``HCPC<year>_recordlayout.txt`` ("HCPCS Contractor Record", 320 bytes; trailing
filler may be trimmed on disk):

====  =========  ==========================================================
1-5   HCPCS code (for modifier records, the modifier is in 4-5)
6-10  sequence number
11    record identification code: 3 first line of a procedure, 4 its continuation
      lines, 7 first line of a modifier, 8 its continuation lines
12-91   long description (80 characters a record; continuation records carry the rest)
92-119  short description (28 characters)
269-276 code added date (YYYYMMDD)
277-284 action effective date (YYYYMMDD)
285-292 termination date (YYYYMMDD)
293     action code (A add, B/C/S descriptor changes, D discontinued, F/N/P/T, R reactivated)
====  =========  ==========================================================

Continuation text is joined to the first line with one space: CMS wraps long descriptions at
word boundaries.

A malformed record rejects the whole file (the catalog is never left half-replaced) with the
file, line and field named.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhpolicy.catalog.store import ImportedRecord
from bhpolicy.catalog.units import unit_from_descriptor
from bhpolicy.errors import DataFileError
from bhpolicy.io.small_csv import ragged, small_csv_rows

RECORD_LENGTH = 320
DETAIL_END = 293  # the last position a first-line record must reach (action code)
LEVEL_II = re.compile(r"^[A-Z][0-9]{4}$")
MODIFIER = re.compile(r"^[A-Z0-9]{2}$")

# (name, first, last) 1-based inclusive, from the CMS record layout.
F_CODE = ("HCPCS code", 1, 5)
F_RECID = ("record identification code", 11, 11)
F_LONG = ("long description", 12, 91)
F_SHORT = ("short description", 92, 119)
F_ADDED = ("code added date", 269, 276)
F_EFFECTIVE = ("action effective date", 277, 284)
F_TERMINATION = ("termination date", 285, 292)
F_ACTION = ("action code", 293, 293)
ACTION_CODES = frozenset("ABCDFNPRST")


def _cut(line: str, spec: tuple[str, int, int]) -> str:
    return line[spec[1] - 1: spec[2]]


@dataclass
class _Draft:
    code: str
    where: str
    long_parts: list[str]
    short: str | None
    added: dt.date | None
    effective: dt.date | None
    terminated: dt.date | None
    action: str | None

    def record(self) -> ImportedRecord:
        long = " ".join(p for p in self.long_parts if p)
        return ImportedRecord(
            code=self.code, long_descriptor=long, short_descriptor=self.short or None,
            unit=unit_from_descriptor(long), added_date=self.added,
            action_effective_date=self.effective, termination_date=self.terminated,
            action_code=self.action)


@dataclass
class ImportResult:
    records: list[ImportedRecord]
    modifier_records: int = 0
    lines: int = 0
    skipped: list[str] = field(default_factory=list)


def _date(raw: Any, path: str, where: str, name: str) -> dt.date | None:
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    if text.endswith(".0"):  # a spreadsheet number read as float
        text = text[:-2]
    if not text:
        return None
    try:
        if re.fullmatch(r"[0-9]{8}", text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise DataFileError(path, where, f"field '{name}': {text!r} is not a date "
                            "(YYYYMMDD)") from None


class _Assembler:
    """Joins first-line and continuation records into one record per code."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.drafts: dict[str, _Draft] = {}
        self.current: _Draft | None = None
        self.modifiers = 0
        self.current_modifier: str | None = None

    def first(self, draft: _Draft) -> None:
        if draft.code in self.drafts:
            raise DataFileError(self.path, draft.where, f"field '{F_CODE[0]}': "
                                f"{draft.code} appears twice (first at "
                                f"{self.drafts[draft.code].where})")
        if not draft.long_parts or not draft.long_parts[0]:
            raise DataFileError(self.path, draft.where, f"field '{F_LONG[0]}': empty")
        self.drafts[draft.code] = draft
        self.current, self.current_modifier = draft, None

    def continuation(self, code: str, text: str, where: str) -> None:
        if self.current is None or self.current.code != code:
            raise DataFileError(self.path, where, f"field '{F_RECID[0]}': continuation of "
                                f"{code!r} does not follow that code's first record")
        self.current.long_parts.append(text)

    def modifier(self, code: str, first: bool, where: str) -> None:
        if first:
            self.modifiers += 1
            self.current, self.current_modifier = None, code
        elif self.current_modifier != code:
            raise DataFileError(self.path, where, f"field '{F_RECID[0]}': continuation of "
                                f"modifier {code!r} does not follow its first record")

    def result(self, lines: int) -> ImportResult:
        if not self.drafts:
            raise DataFileError(self.path, "file", "no HCPCS procedure records found")
        return ImportResult([d.record() for d in self.drafts.values()], self.modifiers, lines)


def read_fixed_width(path: Path) -> ImportResult:
    """Parse the fixed-width contractor file."""
    name = str(path)
    assembler = _Assembler(name)
    count = 0
    try:
        handle = path.open(encoding="latin-1", newline="")
    except OSError as exc:
        raise DataFileError(name, "file", f"cannot read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            count += 1
            where = f"line {number}"
            if len(line) > RECORD_LENGTH:
                raise DataFileError(name, where, f"record is {len(line)} characters; the "
                                    f"layout has {RECORD_LENGTH}")
            if len(line) < F_RECID[2]:
                raise DataFileError(name, where, f"field '{F_RECID[0]}': record ends at "
                                    f"position {len(line)}")
            recid = _cut(line, F_RECID)
            raw_code = _cut(line, F_CODE)
            if recid in "34":
                code = raw_code.strip()
                if not LEVEL_II.match(code):
                    raise DataFileError(name, where, f"field '{F_CODE[0]}' (positions 1-5): "
                                        f"{raw_code!r} is not a Level II code")
                if recid == "4":
                    assembler.continuation(code, _cut(line, F_LONG).strip(), where)
                    continue
                if len(line) < DETAIL_END:
                    raise DataFileError(name, where, f"field '{F_ACTION[0]}' (position "
                                        f"{F_ACTION[1]}): record ends at position {len(line)}")
                action = _cut(line, F_ACTION).strip()
                if action and action not in ACTION_CODES:
                    raise DataFileError(name, where, f"field '{F_ACTION[0]}' (position "
                                        f"{F_ACTION[1]}): unknown action code {action!r}")
                assembler.first(_Draft(
                    code=code, where=where, long_parts=[_cut(line, F_LONG).strip()],
                    short=_cut(line, F_SHORT).strip(),
                    added=_date(_cut(line, F_ADDED), name, where, F_ADDED[0]),
                    effective=_date(_cut(line, F_EFFECTIVE), name, where, F_EFFECTIVE[0]),
                    terminated=_date(_cut(line, F_TERMINATION), name, where, F_TERMINATION[0]),
                    action=action or None))
            elif recid in "78":
                modifier = raw_code[3:5]
                if raw_code[:3].strip() or not MODIFIER.match(modifier):
                    raise DataFileError(name, where, f"field 'modifier' (positions 4-5): "
                                        f"{raw_code!r} is not a modifier record")
                assembler.modifier(modifier, recid == "7", where)
            else:
                raise DataFileError(name, where, f"field '{F_RECID[0]}' (position 11): "
                                    f"{recid!r} is not 3, 4, 7 or 8")
    return assembler.result(count)


# Spreadsheet headers, normalised to upper-case letters and digits only.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("HCPC", "HCPCS", "HCPCSCODE", "CODE"),
    "recid": ("RECID", "RECORDID", "RIC"),
    "long": ("LONGDESCRIPTION", "LONGDESC", "LONG"),
    "short": ("SHORTDESCRIPTION", "SHORTDESC", "SHORT"),
    "added": ("ADDDT", "ADDDATE", "ADDEDDATE"),
    "effective": ("ACTEFFDT", "ACTIONEFFECTIVEDATE", "ACTEFFDATE"),
    "terminated": ("TERMDT", "TERMINATIONDATE", "TERMDATE"),
    "action": ("ACTIONCD", "ACTIONCODE", "ACTION"),
}


def _header_map(header: Sequence[Any], path: str) -> dict[str, int]:
    normal = [re.sub(r"[^A-Z0-9]", "", str(h or "").upper()) for h in header]
    found: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for i, column in enumerate(normal):
            if column in names:
                found[key] = i
                break
    for needed in ("code", "long"):
        if needed not in found:
            raise DataFileError(path, "row 1", f"field '{needed}': no column named "
                                f"{' or '.join(_COLUMNS[needed])}")
    return found


def _pick(row: Sequence[Any], columns: dict[str, int], key: str) -> Any:
    i = columns.get(key)
    return row[i] if i is not None and i < len(row) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _rows_xlsx(path: Path) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook  # imported lazily: only spreadsheet imports need it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise DataFileError(str(path), "file", f"not a readable xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        yield from sheet.iter_rows(values_only=True)
    finally:
        book.close()


def _rows_csv(path: Path) -> Iterator[Sequence[Any]]:
    """The rows in order (a blank line as an empty row, so rows keep their numbers); a file
    that is not UTF-8, a quote left open or a ragged row is one error naming its row."""
    header: list[str] | None = None
    expected = 1
    for number, fields in small_csv_rows(path):
        while expected < number:
            yield []
            expected += 1
        if header is None:
            header = fields
        elif problem := ragged(fields, header):
            raise DataFileError(str(path), f"row {number}", problem)
        yield fields
        expected += 1


def read_spreadsheet(path: Path) -> ImportResult:
    """Parse the spreadsheet form: one row per record, continuation rows where RECID is 4."""
    name = str(path)
    rows: Iterable[Sequence[Any]] = (
        _rows_xlsx(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _rows_csv(path))
    assembler = _Assembler(name)
    columns: dict[str, int] | None = None
    count = 0

    for number, row in enumerate(rows, start=1):
        if columns is None:
            columns = _header_map(row, name)
            continue
        if not any(cell not in (None, "") for cell in row):
            continue
        count += 1
        where = f"row {number}"

        def cell(key: str, row: Sequence[Any] = row, columns: dict[str, int] = columns) -> str:
            return _text(_pick(row, columns, key))

        def when(key: str, label: str, row: Sequence[Any] = row, where: str = where,
                 columns: dict[str, int] = columns) -> dt.date | None:
            return _date(_pick(row, columns, key), name, where, label)

        code, recid = cell("code"), cell("recid") or "3"
        if recid.endswith(".0"):
            recid = recid[:-2]
        if recid in ("7", "8"):
            assembler.modifier(code[-2:], recid == "7", where)
            continue
        if recid not in ("3", "4"):
            raise DataFileError(name, where, f"field '{F_RECID[0]}': {recid!r} is not 3, 4, 7 "
                                "or 8")
        if not LEVEL_II.match(code):
            raise DataFileError(name, where, f"field '{F_CODE[0]}': {code!r} is not a Level II "
                                "code")
        if recid == "4":
            assembler.continuation(code, cell("long"), where)
            continue
        action = cell("action")
        if action and action not in ACTION_CODES:
            raise DataFileError(name, where, f"field '{F_ACTION[0]}': unknown action code "
                                f"{action!r}")
        assembler.first(_Draft(
            code=code, where=where, long_parts=[cell("long")], short=cell("short"),
            added=when("added", F_ADDED[0]), effective=when("effective", F_EFFECTIVE[0]),
            terminated=when("terminated", F_TERMINATION[0]), action=action or None))
    if columns is None:
        raise DataFileError(name, "file", "empty: no header row")
    return assembler.result(count)


def read_hcpcs_file(path: Path) -> ImportResult:
    """Read a CMS HCPCS file, choosing the parser by its extension."""
    if not path.is_file():
        raise DataFileError(str(path), "file", "does not exist")
    if path.suffix.lower() in (".xlsx", ".xlsm", ".csv"):
        return read_spreadsheet(path)
    return read_fixed_width(path)
