"""Reading X12 element values for the 835/999/277CA readers: money as integer cents, dates,
quantities; a value that cannot be read is an X12ReadError naming line, segment and element,
never the value (it may be PHI)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path


class X12ReadError(Exception):
    """A value the reader cannot use: 'line N, segment S, element E: problem' (no value)."""


_AMOUNT = re.compile(r"-?(\d*)(?:\.(\d*))?")


def money_text(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def where(seg: str, position: int, line: int) -> str:
    return f"line {line}, segment {seg}, element {seg}{position:02d}"


def cents(text: str, seg: str, position: int, line: int) -> int:
    """An X12 decimal amount (``150``, ``150.5``, ``-75.25``) as integer cents."""
    match = _AMOUNT.fullmatch(text)
    if match is None or not (match.group(1) or match.group(2)):
        raise X12ReadError(f"{where(seg, position, line)}: not an amount")
    whole, fraction = match.group(1) or "0", match.group(2) or ""
    if fraction[2:].strip("0"):
        raise X12ReadError(f"{where(seg, position, line)}: an amount below a cent")
    amount = int(whole) * 100 + int((fraction + "00")[:2])
    return -amount if text.startswith("-") else amount


def quantity(text: str, seg: str, position: int, line: int) -> Decimal | None:
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise X12ReadError(f"{where(seg, position, line)}: not a quantity")
    return number


def date(text: str, seg: str, position: int, line: int) -> dt.date | None:
    if not text:
        return None
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise X12ReadError(f"{where(seg, position, line)}: not a CCYYMMDD date") from None


def value(elements: list[list[str]], position: int) -> str:
    """Element ``position`` (1-based), its first component; empty when absent."""
    return elements[position - 1][0] if position <= len(elements) else ""


def component(elements: list[list[str]], position: int, sub: int) -> str:
    if position > len(elements) or sub > len(elements[position - 1]):
        return ""
    return elements[position - 1][sub - 1]


def required(elements: list[list[str]], seg: str, position: int, line: int) -> str:
    text = value(elements, position)
    if not text:
        raise X12ReadError(f"{where(seg, position, line)}: missing")
    return text


def sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
