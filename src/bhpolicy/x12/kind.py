"""What an X12 file is, from its ISA, first GS and first ST, before pyx12 reads it.

The kinds bhpolicy reads (GS01 functional identifier, GS08 version, ST01 transaction set):

- 837P: ``HC``, ``005010X222A1``, ``837`` (professional claims; bhpolicy writes these)
- 835: ``HP``, ``005010X221A1``, ``835`` (payment and remittance advice)
- 999: ``FA``, ``005010X231A1`` (or pyx12's own ``005010X231``), ``999``
- 277CA: ``HN``, ``005010X214``, ``277`` (claim acknowledgement)

Anything else is refused in one line naming the GS01, GS08 and ST01 found. Only the head of
the file is read; delimiters come from the ISA's fixed positions (element separator after
``ISA``, component separator in ISA16, segment terminator right after it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bhpolicy.errors import BhpolicyError


@dataclass(frozen=True)
class Kind:
    name: str  # 837P, 835, 999, 277CA
    functional_id: str  # GS01
    version: str  # GS08 as found
    transaction_set: str  # ST01

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


# (GS01, GS08, ST01) -> kind name
KINDS: dict[tuple[str, str, str], str] = {
    ("HC", "005010X222A1", "837"): "837P",
    ("HP", "005010X221A1", "835"): "835",
    ("FA", "005010X231A1", "999"): "999",
    ("FA", "005010X231", "999"): "999",
    ("HN", "005010X214", "277"): "277CA",
}
SUPPORTED = "005010X222A1 (837P), 005010X221A1 (835), 005010X231A1 (999), 005010X214 (277CA)"
_HEAD = 64 * 1024  # ISA, GS and ST sit in the first few hundred bytes


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str


def delimiters(head: str) -> Delimiters | None:
    """The separators an ISA declares, or None when the text does not begin with one."""
    text = head.lstrip("\r\n\t ")
    if len(text) < 106 or not text.startswith("ISA"):
        return None
    element, component, terminator = text[3], text[104], text[105]
    if element.isalnum() or terminator.isalnum() or len({element, component, terminator}) < 3:
        return None
    return Delimiters(element, component, terminator)


def _head(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            raw = stream.read(_HEAD)
    except OSError as exc:
        raise BhpolicyError(f"{path}: file: cannot read ({exc.strerror})") from None
    return raw.decode("ascii", errors="replace")


def _pyx12_has_map(functional_id: str, version: str) -> bool:
    from bhpolicy.x12.validate import readable_maps

    return (functional_id, version) in readable_maps()


def detect(path: Path) -> Kind:
    """The kind of ``path``; a BhpolicyError (one line, no element values beyond the
    GS01/GS08/ST01 codes) when it is not X12 or not a kind bhpolicy reads."""
    head = _head(path)
    marks = delimiters(head)
    if marks is None:
        raise BhpolicyError(f"{path}: file: does not look like an X12 file "
                            "(it must begin with a 106-character ISA segment)")
    gs: list[str] | None = None
    st: list[str] | None = None
    for raw in head.lstrip("\r\n\t ").split(marks.segment):
        fields = raw.strip("\r\n\t ").split(marks.element)
        if fields[0] == "GS" and gs is None:
            gs = fields
        elif fields[0] == "ST" and gs is not None:
            st = fields
            break
    if gs is None or len(gs) < 9:
        raise BhpolicyError(f"{path}: segment GS: missing or without GS08 after the ISA")
    if st is None or len(st) < 2:
        raise BhpolicyError(f"{path}: segment ST: missing after the GS")
    functional_id, version, transaction_set = gs[1].strip(), gs[8].strip(), st[1].strip()
    name = KINDS.get((functional_id, version, transaction_set))
    if name is None:
        found = f"GS01 {functional_id[:3]}, ST01 {transaction_set[:3]}"
        if not _pyx12_has_map(functional_id, version):
            raise BhpolicyError(
                f"{path}: GS08 {version[:12]}: pyx12 has no map for this version ({found}); "
                f"bhpolicy reads {SUPPORTED}")
        raise BhpolicyError(f"{path}: GS08 {version[:12]} ({found}): not supported; "
                            f"bhpolicy reads {SUPPORTED}")
    return Kind(name, functional_id, version, transaction_set)
