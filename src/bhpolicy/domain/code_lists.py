"""Lists as ';a;b;' text, so membership is a portable substring test on every engine."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir


def joined(values: Any) -> str | None:
    """A list as ';a;b;' (None stays None)."""
    if values is None:
        return None
    return ";" + ";".join(str(v) for v in values) + ";"


def listed(joined_list: ir.StringValue, item: ir.StringValue) -> ir.BooleanValue:
    """``item`` appears in a ';a;b;' list (a portable substring test)."""
    return joined_list.contains(ibis.literal(";") + item + ibis.literal(";"))


def code_not_listed(billing_codes: ir.StringValue, code: ir.StringValue,
                    timed: ir.BooleanValue, h0039_unit_minutes: ir.IntegerValue
                    ) -> ir.BooleanValue:
    """Coding Implications: ``code`` is not in the pack's coding table on the day (SC: H0039
    from 03/25 until 02/26), or is a per-15-minute code the pack gives no unit length. The
    table "does not guarantee coverage": a hold for review wherever the pack's reason has no
    CARC. Billing holds such a day; the audit flags a paid one the same way. Reads the pack's
    ``billing_codes`` (the per diem code alone where it has none) and
    ``h0039_unit_minutes``."""
    return ~listed(billing_codes, code) | (timed & h0039_unit_minutes.isnull())
