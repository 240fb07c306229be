"""The rules read the packs' parameters by their pack names, only those they declare, and the
monthly cap is one function that billing's days, its member-months and the audit all call."""

from __future__ import annotations

import ibis
import pytest

from bhpolicy.domain.parameters import PARAMETER_SCHEMA, param
from bhpolicy.domain.rules import over_monthly_cap
from bhpolicy.policy import load_registry

BOOKKEEPING = {"policy_id", "policy_revision", "day", "segment", "not_in_force", "not_issued"}


def test_parameter_columns_are_named_after_pack_parameters() -> None:
    names = {name for pack in load_registry().packs for name in pack.parameters}
    columns = {column.split("__")[0] for column in PARAMETER_SCHEMA} - BOOKKEEPING
    assert columns <= names, sorted(columns - names)


def test_a_rule_reading_a_parameter_it_does_not_declare_is_refused() -> None:
    t = ibis.table({"monthly_max_billed_days": "int64", "pos_restrictions": "string"})
    param(t, "over_monthly_cap", "monthly_max_billed_days")
    with pytest.raises(AssertionError, match="without declaring it"):
        param(t, "over_monthly_cap", "pos_restrictions")


def test_over_monthly_cap() -> None:
    rows = {"monthly_max_billed_days": [15, 15, 15, 15, None],
            "rank": [15, 16, 13, 14, 99], "billed": [0, 0, 2, 2, 0]}
    t = ibis.memtable(rows, schema={"monthly_max_billed_days": "int64", "rank": "int64",
                                    "billed": "int64"})
    got = t.select(before=over_monthly_cap(t, t["rank"], t.billed),
                   alone=over_monthly_cap(t, t["rank"])).to_pyarrow().to_pydict()
    # the cap less the days billed before: rank 14 with 2 billed is the 16th day
    assert got["before"] == [False, True, False, True, False]
    assert got["alone"] == [False, True, False, False, False]
