"""Moved: the CARC/RARC check of a pack's reasons is :mod:`bhpolicy.domain.reasons`. Kept for
the callers outside billing and the audit that still import it from here
(reference_cli.py)."""

from __future__ import annotations

from bhpolicy.domain.reasons import check_reasons as check_reasons
from bhpolicy.domain.reasons import read_code_list as read_code_list
