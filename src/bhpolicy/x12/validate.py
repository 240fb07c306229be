"""The one module that runs pyx12: validation of each X12 kind bhpolicy reads, with its map.

``validate_file`` names what a file is (837P 005010X222A1, 835 005010X221A1, 999
005010X231A1, 277CA 005010X214; see ``kind.py``) and validates it with that kind's map.
``run_pyx12`` is the single read the 835/999/277CA readers share: pyx12's ``x12n_document``
walks the map and calls back once per segment with the map node it matched, so a reader
gets every segment with its loop id in the same pass that validates the file.

pyx12's ``x12n_document`` returns True only for a valid file (the ``x12valid`` script's exit
code does not say) and logs each finding; we capture those from its logger. A 999 stream is
passed only when one is asked for (``ack=True``): pyx12 cannot build a 999 for an 835 (its ST
has no ST03), and its failure to do so is not a finding about the file.

Findings are printed without the element values pyx12 quotes (a name too long, a birth date
that is not a date): they may be PHI. A file pyx12 cannot read at all (not X12, or a version
it has no map for, such as ``005010X222A2``) is one line naming the versions it reads."""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.kind import SUPPORTED, Kind, detect

VERSION = "005010X222A1"


@dataclass
class Validation:
    valid: bool
    findings: list[str] = field(default_factory=list)
    ack_999: str = ""  # only when asked for (ack=True)
    kind: str = "837P"  # 837P, 835, 999, 277CA
    version: str = VERSION  # GS08
    ack_note: str = ""  # why no 999 was written although one was asked for

    @property
    def label(self) -> str:
        return f"{self.kind} {self.version}"


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


@cache
def _maps() -> tuple[tuple[str, str, str], ...]:
    """(GS01, GS08, pyx12's abbreviation) of every map pyx12 ships."""
    maps = resources.files("pyx12") / "map" / "maps.xml"
    return tuple((node.get("fic") or "", node.get("vriic") or "", node.get("abbr") or "")
                 for node in ET.fromstring(maps.read_text(encoding="utf-8")).iter("map")
                 if node.get("vriic"))


def readable_maps() -> frozenset[tuple[str, str]]:
    """(GS01, GS08) pairs pyx12 has a map for."""
    return frozenset((fic, vriic) for fic, vriic, _ in _maps())


def readable_versions() -> list[str]:
    """The 837 versions (GS08) pyx12 has maps for, e.g. ``005010X222A1 (837P)``."""
    return sorted({f"{vriic} ({abbr})" for fic, vriic, abbr in _maps() if fic == "HC"})


def describe(path: Path, messages: list[str],
             loops: dict[int, tuple[str, str]] | None = None) -> list[str]:
    """pyx12's messages as 'line N, segment S, loop L, element E: message'. ``loops`` maps a
    line to its (segment id, loop id) as pyx12's map walk found them; without it the loops
    are guessed from the 837P's loop-opening segments."""
    if loops is None:
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


# a reader's per-segment function: (segment id, its elements as lists of components, the
# loop id pyx12's map placed it in, its line) -> None
OnSegment = Callable[[str, list[list[str]], str, int], None]
_ACK_FAILED = "Failed to create 999 response"


class _Walk:
    """pyx12's callback: remembers each line's map node (for describing findings) and hands
    the segment to the reader. pyx12 swallows a callback's exception, so the first one is
    kept here and raised once pyx12 is done."""

    def __init__(self, on_segment: OnSegment | None) -> None:
        self.on_segment = on_segment
        self.nodes: list[Any] = [None]  # index = pyx12's line number (1 = ISA)
        self.unmatched: dict[int, str] = {}  # line -> segment id pyx12 found no node for
        self.error: BaseException | None = None

    def __call__(self, seg: Any, src: Any, node: Any, valid: bool) -> None:
        line = src.get_cur_line()
        seg_id = seg.seg_id or ""
        while len(self.nodes) < line:
            self.nodes.append(None)
        self.nodes.append(node)
        if node is None or node.id != seg_id:
            self.unmatched[line] = seg_id
        if self.on_segment is None or self.error is not None:
            return
        try:
            self.on_segment(seg_id, [[e.value for e in c.elements] for c in seg.elements],
                            node.parent.id if node is not None else "", line)
        except Exception as exc:  # raised again after pyx12 returns
            self.error = exc

    def loops(self) -> dict[int, tuple[str, str]]:
        found: dict[int, tuple[str, str]] = {}
        for line, node in enumerate(self.nodes):
            if node is not None or line in self.unmatched:
                seg = self.unmatched.get(line, node.id if node is not None else "?")
                found[line] = (seg, node.parent.id if node is not None else "?")
        return found


def _cannot_read(path: Path, exc: BaseException) -> BhpolicyError:
    return BhpolicyError(f"{path}: file: pyx12 cannot read it as X12 ({type(exc).__name__})")


def run_pyx12(path: Path, kind: Kind, on_segment: OnSegment | None = None,
              ack: bool = False) -> Validation:
    """One pyx12 read of ``path`` with its kind's map: the verdict, the findings (without
    values) and, when ``on_segment`` is given, every segment handed to it in file order with
    its loop id. An exception ``on_segment`` raises is raised here after the read."""
    import pyx12.errors
    import pyx12.params
    import pyx12.x12n_document

    handler = _Collect()
    logger = logging.getLogger("pyx12")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.WARNING)
    stream = io.StringIO() if ack else None
    walk = _Walk(on_segment)
    try:
        with path.open(encoding="ascii", errors="replace") as source:
            valid = bool(pyx12.x12n_document.x12n_document(
                param=pyx12.params.params(), src_file=source, fd_997=stream, fd_html=None,
                callback=walk))
    except pyx12.errors.EngineError as exc:
        version = re.search(r"vriic=([0-9A-Za-z]{1,12})", str(exc))
        if version:
            raise BhpolicyError(
                f"{path}: GS08 {version.group(1)}: pyx12 has no map for this version; "
                f"bhpolicy reads {SUPPORTED}") from None
        raise _cannot_read(path, exc) from None
    except (pyx12.errors.X12Error, ValueError, IndexError, KeyError, AttributeError,
            TypeError, RecursionError) as exc:
        raise _cannot_read(path, exc) from None
    except OSError as exc:
        raise BhpolicyError(f"{path}: file: cannot read ({exc.strerror})") from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    if walk.error is not None:
        raise walk.error
    messages = [m for m in handler.messages if m != _ACK_FAILED]
    note = ""
    if ack and len(messages) < len(handler.messages):
        note = f"pyx12 cannot write a 999 for this {kind.name} file"
    return Validation(valid, describe(path, messages, walk.loops()) if messages else [],
                      stream.getvalue() if stream is not None and not note else "",
                      kind.name, kind.version, note)


def validate_file(path: Path, ack: bool = False) -> Validation:
    """pyx12's verdict on any kind bhpolicy reads, with that kind's map; ``ack`` also asks
    pyx12 for its 999 (not made for a 999 itself). A file that is not X12 or of a kind not
    supported is a one-line BhpolicyError naming what was found."""
    return run_pyx12(path, detect(path), ack=ack)


def validate_837p(path: Path) -> Validation:
    """pyx12's verdict on an 837P and its 999; a file it cannot read, or a file of another
    kind, is a one-line BhpolicyError."""
    kind = detect(path)
    if kind.name != "837P":
        raise BhpolicyError(f"{path}: file: is an {kind.label}, not an 837P {VERSION} "
                            "(claims validate names and checks every kind)")
    return run_pyx12(path, kind, ack=True)
