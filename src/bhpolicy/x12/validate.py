"""The one module that uses pyx12: 005010X222A1 validation of an 837P and its 999.

pyx12's ``x12n_document`` returns True only for a valid file (the ``x12valid`` script's exit
code does not say), writes the 999 acknowledgement to ``fd_997`` and logs each finding. We
capture those findings from its logger."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Validation:
    valid: bool
    findings: list[str] = field(default_factory=list)
    ack_999: str = ""


_MESSAGE = re.compile(r"^Line:(\d+)\s+ELE:\d+\s+-\s+(.*)$", re.S)
_ELEMENT = re.compile(r"\(([A-Z][A-Z0-9]{1,2})(\d{2})\)")
# Segments that open an 837P loop (segment id, qualifier in element 1 or 3) -> loop id.
_OPENS = {("NM1", "41"): "1000A", ("NM1", "40"): "1000B", ("HL", "20"): "2000A",
          ("NM1", "85"): "2010AA", ("HL", "22"): "2000B", ("NM1", "IL"): "2010BA",
          ("NM1", "PR"): "2010BB", ("CLM", ""): "2300", ("LX", ""): "2400",
          ("ST", ""): "header", ("GS", ""): "GS", ("ISA", ""): "ISA"}


def _loops(path: Path) -> dict[int, tuple[str, str]]:
    """Line number -> (segment id, loop) for a file with one segment a line (or ~-joined)."""
    found: dict[int, tuple[str, str]] = {}
    loop = "ISA"
    text = path.read_text(encoding="ascii", errors="replace").replace("~\n", "~")
    for number, raw in enumerate(text.split("~"), start=1):
        fields = raw.strip().split("*")
        seg = fields[0]
        qualifier = fields[3] if seg == "HL" and len(fields) > 3 else (
            fields[1] if seg == "NM1" and len(fields) > 1 else "")
        loop = _OPENS.get((seg, qualifier), loop)
        found[number] = (seg, loop)
    return found


def describe(path: Path, messages: list[str]) -> list[str]:
    """pyx12's messages as 'line N, segment S, loop L, element E: message'."""
    loops = _loops(path)
    out: list[str] = []
    for message in messages:
        match = _MESSAGE.match(message)
        if not match:
            out.append(message)
            continue
        line, text = int(match.group(1)), match.group(2).strip()
        seg, loop = loops.get(line, ("?", "?"))
        element = _ELEMENT.search(text)
        where = f"line {line}, segment {seg}, loop {loop}"
        if element:
            where += f", element {element.group(1)}{element.group(2)}"
        out.append(f"{where}: {text}")
    return out


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def validate_837p(path: Path) -> Validation:
    import pyx12.params
    import pyx12.x12n_document

    handler = _Collect()
    logger = logging.getLogger("pyx12")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.WARNING)
    ack = io.StringIO()
    try:
        with path.open(encoding="ascii", errors="replace") as source:
            valid = bool(pyx12.x12n_document.x12n_document(
                param=pyx12.params.params(), src_file=source, fd_997=ack, fd_html=None))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return Validation(valid, describe(path, handler.messages), ack.getvalue())
