"""X12 886 review decision reason codes (Health Care Services Review Decision Reason Code).

The code list is X12's and licensed; bhpolicy ships none. A reviewer's code is checked for its
shape (schemas.ReviewReasonCode) and, when the plan names its licensed copy in
``$BHPOLICY_REVIEW_REASON_CODES`` (one code per line, ``#`` comments), against that list.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bhpolicy.errors import DataFileError
from bhpolicy.services.errors import Invalid

CODES_ENV = "BHPOLICY_REVIEW_REASON_CODES"


@functools.cache
def _codes(path: str) -> frozenset[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "file", f"cannot read the reason code list ({exc})") from None
    codes = set()
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0].strip()
        if not code:
            continue
        if not (1 <= len(code) <= 3 and code.isalnum() and code.upper() == code):
            raise DataFileError(path, f"line {number}", "not an X12 886 code (1-3 capitals "
                                "or digits)")
        codes.add(code)
    return frozenset(codes)


def check_reason_code(code: str) -> None:
    """Refuse a code outside the plan's list, when the plan has named one."""
    path = os.environ.get(CODES_ENV)
    if path and code not in _codes(path):
        raise Invalid(f"reason_code: {code} is not in the plan's X12 886 list", "reason_code")
