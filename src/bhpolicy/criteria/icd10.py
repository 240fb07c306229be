"""The ICD-10-CM code set, from simple-icd-10-cm (the CDC release it ships, offline).

The package parses a 10 MB XML file when first imported (about 2 s) and warns of a deprecated
API on Python 3.11, so it is imported here lazily, once, with that warning silenced. This is
the only module that touches the untyped package.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

_FORMAT = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


@dataclass(frozen=True)
class Icd10Code:
    code: str  # with the dot, e.g. F20.0
    description: str
    billable: bool


_FIRST_USE = threading.Lock()


@functools.cache
def _module() -> ModuleType:
    # The package fills its code list lazily on the first dotted lookup; a second thread arriving
    # meanwhile reads a half-filled list (TypeError inside the package). functools.cache does not
    # serialise a first call, so the import and one lookup run once, under a lock.
    with _FIRST_USE, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

        simple_icd_10_cm.add_dot("F200")
    module: ModuleType = simple_icd_10_cm
    return module


@functools.cache
def release() -> str:
    """The code-set release the package ships, e.g. ``April-2026``, read from its data file's
    name without importing the package (which would parse the whole code set)."""
    spec = importlib.util.find_spec("simple_icd_10_cm")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        for item in sorted((Path(location) / "data").glob("code-list-*.txt")):
            return item.name[len("code-list-"):-len(".txt")]
    return "unknown"


def well_formed(code: str) -> bool:
    return bool(_FORMAT.match(code.strip().upper()))


@functools.lru_cache(maxsize=65536)
def lookup(code: str) -> Icd10Code | None:
    """The code in the release, or None when the code set has no such code."""
    cm = _module()
    text = code.strip().upper()
    if not _FORMAT.match(text) or not cm.is_valid_item(text):
        return None
    return Icd10Code(code=str(cm.add_dot(text)), description=str(cm.get_description(text)),
                     billable=bool(cm.is_leaf(text)))
