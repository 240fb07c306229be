"""Dates an input may hold at all. Not policy: plausibility bounds that keep one mistyped
date (``0001-01-01``, ``9999-12-31``) a rejected row instead of a table spanning centuries."""

from __future__ import annotations

import datetime as dt

EARLIEST_DATE = dt.date(1900, 1, 1)  # an older date of service or birth is a typo
LATEST_DATE = dt.date(2199, 12, 31)  # an authorization ending later is a typo
