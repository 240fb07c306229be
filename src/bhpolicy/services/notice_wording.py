"""The wording of notices: ``notice_wording.toml`` (our placeholder, marked as such) or the
State's model wording from the file ``$BHPOLICY_NOTICE_WORDING`` names. Texts are
``string.Template`` strings; a file must keep every key and may name only the placeholders
each key offers, so a notice can never go out with an element missing or a blank."""

from __future__ import annotations

import functools
import os
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bhpolicy.errors import DataFileError

WORDING_ENV = "BHPOLICY_NOTICE_WORDING"

# section -> key -> the $names the text may use
KEYS: dict[str, dict[str, frozenset[str]]] = {
    "approval": {"decision": frozenset({"service", "granted"})},
    "adverse": {
        "decision_deny": frozenset({"service", "period", "units"}),
        "decision_partial": frozenset({"service", "period", "units", "granted"}),
        "reasons_intro": frozenset({"policy"}),
        "records_and_criteria": frozenset({"policy"}),
        "plan_appeal": frozenset({"days", "by"}),
        "state_fair_hearing_after_appeal": frozenset({"days"}),
        "state_fair_hearing_direct": frozenset({"days", "by"}),
        "expedited_appeal": frozenset({"hours"}),
        "expedited_hearing": frozenset(),
        "continued_benefits": frozenset({"days", "by"}),
        "advance_notice": frozenset({"service", "effective", "days"}),
        "epsdt": frozenset({"age"}),
        "appeal_resolution": frozenset(),
    },
    "refer": {"epsdt": frozenset({"age"})},
    "extension": {
        "text": frozenset({"service", "deadline", "reason"}),
        "reason_member_request": frozenset(),
        "reason_provider_request": frozenset(),
        "reason_plan_need_documented": frozenset(),
        "grievance": frozenset(),
    },
    "missed_deadline": {"text": frozenset({"service", "deadline"})},
    "appeal_overdue": {"text": frozenset({"service", "deadline"})},
}


@dataclass(frozen=True)
class Wording:
    placeholder: bool
    texts: dict[str, dict[str, string.Template]]
    path: str

    def text(self, section: str, key: str, **values: Any) -> str:
        return self.texts[section][key].substitute({k: str(v) for k, v in values.items()})


def _parse(raw: dict[str, Any], path: str) -> Wording:
    placeholder = raw.get("placeholder")
    if not isinstance(placeholder, bool):
        raise DataFileError(path, "key placeholder", "expected true or false")
    extra = sorted(set(raw) - set(KEYS) - {"placeholder"})
    if extra:
        raise DataFileError(path, f"key {extra[0]}", "not a section of the notice wording")
    texts: dict[str, dict[str, string.Template]] = {}
    for section, keys in KEYS.items():
        table = raw.get(section)
        if not isinstance(table, dict):
            raise DataFileError(path, f"key {section}", "missing section")
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise DataFileError(path, f"key {section}.{unknown[0]}", "not a wording key")
        texts[section] = {}
        for key, allowed in keys.items():
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DataFileError(path, f"key {section}.{key}", "missing or empty text")
            template = string.Template(value)
            if not template.is_valid():
                raise DataFileError(path, f"key {section}.{key}", "a stray $ in the text")
            used = set(template.get_identifiers())
            if used - allowed:
                raise DataFileError(path, f"key {section}.{key}",
                                    f"unknown placeholder ${sorted(used - allowed)[0]} "
                                    f"(allowed: {', '.join(sorted(allowed)) or 'none'})")
            texts[section][key] = template
    return Wording(placeholder, texts, path)


@functools.cache
def _load(path: str) -> Wording:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(path, "file", f"cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "file", f"not TOML ({exc})") from None
    return _parse(raw, path)


def builtin_wording_path() -> str:
    return str(resources.files("bhpolicy") / "services" / "notice_wording.toml")


def wording() -> Wording:
    """The wording in use: ``$BHPOLICY_NOTICE_WORDING`` if set, else our placeholder."""
    return _load(os.environ.get(WORDING_ENV) or builtin_wording_path())
