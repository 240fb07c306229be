"""Element values safe for X12: a delimiter or a control character can never reach the
output, so no value can split a segment or inject one.

The writer's separators are the segment terminator ``~``, the element separator ``*``, the
component separator ``:`` (ISA16) and the repetition separator ``^`` (ISA11); segments are
written one a line, so a line break is refused too.

- Names and addresses (:meth:`Cleaner.text`): letters outside ASCII are transliterated with
  anyascii (``Zoë Ñúñez`` is sent as ``ZOE NUNEZ``), the result is upper-cased, and what is
  still outside the X12 basic character set (delimiters included: transliteration can
  produce ``*``) becomes a space, each step with a warning naming the field, never the value.
  A name that is empty after cleaning, or longer than its element, is an error.
- Ids, codes and amounts (:meth:`Cleaner.identifier`): a delimiter or a character outside the
  X12 character set is an error, since changing an id would change what it means.

Messages name the claim or key and the field, never the value (it may be PHI)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from anyascii import anyascii

DELIMITERS = "~*:^"
#: X12 basic character set (upper-case letters, digits, space and ! " & ' ( ) * + , - . / :
#: ; ? =) without the two of them the writer uses as separators (* and :).
_NOT_BASIC = re.compile(r"""[^A-Z0-9!"&'()+,\-./;?= ]""")
#: X12 extended character set (005010: adds lower case and % @ [ ] _ { } \ | < > # $) without
#: the delimiters ~ * : ^ and without control characters.
_NOT_ID = re.compile(r"""[^A-Za-z0-9!"&'()+,\-./;?= %@\[\]_{}\\|<>#$]""")


class X12ValueError(ValueError):
    """A value that cannot be sent in an element; the message names the field only."""


def transliterate(value: str) -> str:
    """Letters outside ASCII as their closest ASCII spelling (anyascii, ISC licence)."""
    return value if value.isascii() else anyascii(value)


def name_problem(value: str) -> str | None:
    """What keeps an upper-cased ASCII name out of the basic character set, or None."""
    bad = _NOT_BASIC.search(value)
    if bad is None:
        return None
    char = bad.group(0)
    if char in DELIMITERS:
        return f"contains the X12 delimiter {char!r} (~ * : ^ cannot be sent)"
    if not char.isprintable():
        return "contains a control character"
    return f"contains {char!r}, outside the X12 basic character set"


def identifier_problem(value: str) -> str | None:
    """What keeps an id out of the X12 character set, or None (the character is named only
    when it is a delimiter, since an id may be PHI)."""
    bad = _NOT_ID.search(value)
    if bad is None:
        return None
    char = bad.group(0)
    if char in DELIMITERS:
        return f"contains the X12 delimiter {char!r}"
    if not char.isascii():
        return "contains a character outside ASCII"
    return "contains a control character or a character outside the X12 character set"


@dataclass
class Cleaner:
    """Cleans names and checks ids for one file; ``warnings`` name claim and field only."""

    warnings: list[str] = field(default_factory=list)

    def text(self, value: str | None, what: str, max_length: int = 60) -> str:
        """A name or address as the X12 basic character set can carry it."""
        raw = " ".join((value or "").split())
        ascii_text = transliterate(raw)
        if ascii_text != raw:
            self.warnings.append(f"{what}: letters outside ASCII sent transliterated")
        upper = " ".join(ascii_text.upper().split())
        cleaned = " ".join(_NOT_BASIC.sub(" ", upper).split())
        if cleaned != upper:
            self.warnings.append(f"{what}: X12 delimiters or characters outside the X12 "
                                 "basic character set sent as spaces")
        if not cleaned:
            raise X12ValueError(f"{what}: empty once cleaned to the X12 character set")
        if len(cleaned) > max_length:
            raise X12ValueError(f"{what}: longer than the {max_length} characters X12 allows")
        return cleaned

    @staticmethod
    def identifier(value: str | None, what: str, max_length: int = 80) -> str:
        """An id or code: any delimiter or character outside the X12 set is an error."""
        raw = (value or "").strip()
        if not raw:
            raise X12ValueError(f"{what}: missing")
        problem = identifier_problem(raw)
        if problem:
            raise X12ValueError(f"{what}: {problem}")
        if len(raw) > max_length:
            raise X12ValueError(f"{what}: longer than the {max_length} characters X12 allows")
        return raw


def segment(*elements: str) -> str:
    """One segment with trailing empty elements trimmed, ending in ~. A separator inside an
    element is refused here too (the cleaners above make that impossible)."""
    parts = list(elements)
    while parts and parts[-1] == "":
        parts.pop()
    for part in parts[1:]:
        if any(c in part for c in "~*^\n\r"):
            raise X12ValueError(f"segment {parts[0]}: an element holds a separator")
    return "*".join(parts) + "~"
