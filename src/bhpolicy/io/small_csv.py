"""Small CSV files (a roster, a code list) read with Python's csv module, row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from bhpolicy.errors import DataFileError


def small_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each record of a small CSV file (a roster, a code list) read with Python's csv module,
    as (row, fields): the header is row 1, a quoted field holding line breaks is one row, a
    blank line is counted but not given.

    Whole-file errors, one line naming the file and the line or row: not UTF-8, a quote
    left open or followed by text, a field longer than the csv module's limit."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # after a BOM
        line = data[:start].count(b"\n") + 1
        raise DataFileError(str(path), f"line {line}", "not UTF-8 text (save the file as UTF-8)"
                            ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = (f"a field longer than {csv.field_size_limit()} characters"
                       if "field limit" in str(exc) else f"cannot read ({exc})")
            raise DataFileError(str(path), f"row {row + 1}", problem) from None
        row += 1
        if fields:
            yield row, fields


def ragged(fields: list[str], header: list[str]) -> str | None:
    """Why a row's field count does not fit the header (trailing empty fields, as a
    spreadsheet writes them, are allowed), or None."""
    if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
        return f"{len(fields)} fields where the header has {len(header)} (a ragged row)"
    if len(fields) < len(header):
        return f"{len(fields)} fields where the header has {len(header)} (a ragged row)"
    return None
