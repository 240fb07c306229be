"""Element values safe for X12: a delimiter (~ * : ^) or a non-printable character can never
reach the output, so no value can split a segment or inject one.

Names and addresses are cleaned (each bad character becomes a space) with a warning; ids,
codes and amounts are rejected instead, since changing them would change what they mean."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DELIMITERS = "~*:^"
_BAD = re.compile(r"[~*:^\x00-\x1f\x7f-\U0010ffff]")


@dataclass
class Cleaner:
    warnings: list[str] = field(default_factory=list)

    def text(self, value: str | None, what: str) -> str:
        """A name or address: delimiters and non-printable characters become spaces."""
        raw = value or ""
        cleaned = " ".join(_BAD.sub(" ", raw).split())
        if cleaned != " ".join(raw.split()):
            self.warnings.append(f"{what}: {raw!r} had X12 delimiters or non-printable "
                                 f"characters; sent as {cleaned!r}")
        return cleaned.upper()

    @staticmethod
    def identifier(value: str | None, what: str) -> str:
        """An id or code: any delimiter or non-printable character is an error."""
        raw = (value or "").strip()
        if not raw:
            raise ValueError(f"{what}: missing")
        if _BAD.search(raw):
            raise ValueError(f"{what}: {raw!r} contains an X12 delimiter or non-printable "
                             "character")
        return raw


def segment(*elements: str) -> str:
    """One segment with trailing empty elements trimmed, ending in ~."""
    parts = list(elements)
    while parts and parts[-1] == "":
        parts.pop()
    for part in parts[1:]:
        assert "~" not in part and "*" not in part, part  # guaranteed by Cleaner
    return "*".join(parts) + "~"
