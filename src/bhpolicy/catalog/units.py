"""Read a code's unit of service from its descriptor text.

The CMS HCPCS file has no unit field; the unit is part of the long descriptor ("..., per
diem", "..., per 15 minutes"). The first unit phrase in the text wins.
"""

from __future__ import annotations

import re

from bhpolicy.catalog.model import Unit

_PATTERNS: tuple[tuple[Unit, re.Pattern[str]], ...] = (
    ("per_diem", re.compile(r"\bper\s+diem\b", re.I)),
    ("per_15_minutes", re.compile(r"\b(?:per|each)\s+15\s+min(?:ute)?s?\b", re.I)),
    ("per_hour", re.compile(r"\b(?:per|each)\s+hour\b", re.I)),
    ("per_session", re.compile(r"\bper\s+session\b", re.I)),
    ("per_month", re.compile(r"\bper\s+(?:calendar\s+)?month\b", re.I)),
    ("per_week", re.compile(r"\bper\s+week\b", re.I)),
    ("per_day", re.compile(r"\bper\s+day\b", re.I)),
    ("per_visit", re.compile(r"\bper\s+visit\b", re.I)),
    ("per_encounter", re.compile(r"\bper\s+encounter\b", re.I)),
)


def unit_from_descriptor(text: str) -> Unit | None:
    """The unit a descriptor states, or None when it states none."""
    found: list[tuple[int, Unit]] = []
    for unit, pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            found.append((match.start(), unit))
    return min(found)[1] if found else None
