"""The one module that uses pyx12: 005010X222A1 validation of an 837P and its 999.

pyx12's ``x12n_document`` returns True only for a valid file (the ``x12valid`` script's exit
code does not say), writes the 999 acknowledgement to ``fd_997`` and logs each finding. We
capture those findings from its logger.

Findings are printed without the element values pyx12 quotes (a name too long, a birth date
that is not a date): they may be PHI. A file pyx12 cannot read at all (not X12, or a version
it has no map for, such as ``005010X222A2``) is one line naming the versions it reads."""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bhpolicy.errors import BhpolicyError

VERSION = "005010X222A1"


@dataclass
class Validation:
    valid: bool
    findings: list[str] = field(default_factory=list)
    ack_999: str = ""


_MESSAGE = re.compile(r"^Line:(\d+)\s+ELE:\w+\s+-\s+(.*)$", re.S)
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


_ELE_LINE = re.compile(r"^(Line:\d+\s+ELE:)(\w+)(\s+-\s+)(.*)$", re.S)
_REFDES = re.compile(r"\(([A-Z][A-Z0-9]{1,2}\d{2})\)")
_LENGTH = re.compile(r"\) = (\d+) ([<>]) (\d+) \((?:min|max)_len\)")
# what pyx12's element error codes (the 999's IK403) mean, said without the value
_ELEMENT_PROBLEMS = {"4": "is too short", "5": "is too long", "6": "holds an invalid character "
                     "or is not in the element's form", "7": "is not a valid code",
                     "8": "is not a valid date", "9": "is not a valid time"}
_OTHER_VALUES = [
    (re.compile(r"Segment (\w{2,3})\*.* not found\.\s+Started at (.*)$", re.S),
     r"Segment \1 not found. Started at \2"),
    (re.compile(r"must have 16 elements \(.*\)", re.S), "must have 16 elements"),
    (re.compile(r", seg_date=.*$", re.S), ""),
    (re.compile(r'".*" does not look like an X12 data file', re.S),
     "does not look like an X12 file (it must begin with ISA)"),
]


def _element_message(code: str, text: str) -> str:
    """An element finding as element name, refdes and problem: pyx12 quotes the value in
    the message and appends it, so the message is rebuilt rather than trimmed."""
    problem = _ELEMENT_PROBLEMS.get(code)
    if problem is None:  # missing, not used, too many: pyx12 gives no value
        return text
    name = re.match(r'Data element "([^"]*)"', text)
    label = name.group(1) if name else text.rsplit(" is not a valid code for ", 1)[-1]
    refdes = _REFDES.search(text if name else label)
    label = _REFDES.split(label)[0].strip() if not name else label
    lengths = _LENGTH.findall(text)
    if code in ("4", "5") and lengths:
        length, sign, limit = lengths[-1]
        problem += f": length {length} {sign} {limit}"
    where = f" ({refdes.group(1)})" if refdes else ""
    return f'Data element "{label}"{where} {problem}'


def without_values(message: str) -> str:
    """A pyx12 message without the element value it quotes (it may be PHI)."""
    element = _ELE_LINE.match(message)
    if element:
        head, code, dash, text = element.groups()
        return f"{head}{code}{dash}{_element_message(code, text)}"
    for pattern, replacement in _OTHER_VALUES:
        message = pattern.sub(replacement, message)
    return message


def readable_versions() -> list[str]:
    """The 837 versions (GS08) pyx12 has maps for, e.g. ``005010X222A1 (837P)``."""
    maps = resources.files("pyx12") / "map" / "maps.xml"
    found = []
    for node in ET.fromstring(maps.read_text(encoding="utf-8")).iter("map"):
        if node.get("fic") == "HC" and node.get("vriic"):
            found.append(f"{node.get('vriic')} ({node.get('abbr')})")
    return sorted(set(found))


def describe(path: Path, messages: list[str]) -> list[str]:
    """pyx12's messages as 'line N, segment S, loop L, element E: message'."""
    loops = _loops(path)
    out: list[str] = []
    for message in messages:
        message = without_values(message)
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
    """pyx12's verdict on an 837P; a file it cannot read is a one-line BhpolicyError."""
    import pyx12.errors
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
    except pyx12.errors.EngineError as exc:
        version = re.search(r"vriic=([0-9A-Za-z]{1,12})", str(exc))
        if version:
            raise BhpolicyError(
                f"{path}: GS08 {version.group(1)}: pyx12 has no map for this version; "
                f"bhpolicy writes and checks 837P {VERSION} (pyx12 reads 837 "
                f"{', '.join(readable_versions())})") from None
        raise BhpolicyError(f"{path}: file: pyx12 cannot read it as X12 "
                            f"({type(exc).__name__})") from None
    except (pyx12.errors.X12Error, ValueError, IndexError, KeyError, AttributeError,
            TypeError, RecursionError) as exc:
        raise BhpolicyError(f"{path}: file: pyx12 cannot read it as X12 "
                            f"({type(exc).__name__})") from None
    except OSError as exc:
        raise BhpolicyError(f"{path}: file: cannot read ({exc.strerror})") from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return Validation(valid, describe(path, handler.messages), ack.getvalue())
