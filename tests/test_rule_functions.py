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


def test_the_audit_imports_no_billing_module_but_its_qualifying_days() -> None:
    """audit/ reads the shared modules (bhpolicy.domain); from billing it takes only the
    qualifying days of a contact log (bhpolicy.billing.engine.qualifying_days) and, for
    Spark's types, the Spark adapter; no private name of another module."""
    import ast
    from pathlib import Path

    import bhpolicy.audit

    found: set[str] = set()
    for path in Path(bhpolicy.audit.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {alias.name for alias in node.names}
                if node.module.startswith("bhpolicy.billing"):
                    found |= {f"{node.module}.{name}" for name in names}
                if node.module.startswith("bhpolicy."):
                    assert not {n for n in names if n.startswith("_")}, (path, node.module)
    assert found <= {"bhpolicy.billing.engine.qualifying_days",
                     "bhpolicy.billing.spark.SparkRun"}, found
