"""The as-of date every test runs on, so no output depends on the day the suite runs."""

import datetime as dt

AS_OF = dt.date(2026, 12, 1)
AS_OF_TEXT = AS_OF.isoformat()
