"""Moved: the packs' parameter table is :mod:`bhpolicy.domain.parameters`, the reasons
:mod:`bhpolicy.domain.reasons`. Kept for the callers outside billing and the audit that still
import it from here (services/reconcile.py)."""

from __future__ import annotations

from bhpolicy.domain.reasons import load_reasons as load_reasons
