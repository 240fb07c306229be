"""The rules read the packs' parameters by their pack names, only those they declare; the
monthly cap is one function that billing's days, its member-months and the audit all call; the
audit's days with a qualifying contact are billing's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pytest

from bhpolicy.billing import engine
from bhpolicy.billing.synth import SynthSpec, synthesize
from bhpolicy.domain.contacts import qualifying_days
from bhpolicy.domain.coverage import member_policies, policy_keys, prepare_authorizations
from bhpolicy.domain.parameters import PARAMETER_SCHEMA, param, parameter_table, segments
from bhpolicy.domain.rules import over_monthly_cap
from bhpolicy.io.columns import AUTHORIZATIONS, CONTACTS
from bhpolicy.io.readers import read_validated
from bhpolicy.policy import load_registry
from tests.billing_helpers import AUTH_FIELDS, CONTACT_FIELDS, auth, contact, write_csv
from tests.support.dates import AS_OF

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


def test_the_audit_imports_no_billing_module() -> None:
    """audit/ reads the shared modules (bhpolicy.domain), nothing of billing (also an
    import-linter contract, indirect imports included: tests/test_import_graph.py), and no
    private name of another module."""
    import ast

    import bhpolicy.audit

    found: set[str] = set()
    for path in Path(bhpolicy.audit.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {alias.name for alias in node.names}
                if node.module.startswith("bhpolicy.billing") or (
                        node.module == "bhpolicy" and "billing" in names):
                    found |= {f"{node.module}.{name}" for name in names}
                if node.module.startswith("bhpolicy."):
                    assert not {n for n in names if n.startswith("_")}, (path, node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("bhpolicy.billing")}
    assert found == set(), found


Day = tuple[str, dt.date, bool]  # member, date, qualifying


def _both_days(folder: Path) -> tuple[list[Day], list[Day]]:
    """(the audit's qualifying days, billing's: the days its month bitmaps unnest) of the
    contacts and authorizations in ``folder`` (March and April 2026)."""
    con = ibis.duckdb.connect()
    registry = load_registry()
    auths, _ = read_validated(con, folder / "authorizations.csv", "authorizations",
                              AUTHORIZATIONS, as_of=AS_OF)
    contacts, _ = read_validated(con, folder / "contacts.csv", "contacts", CONTACTS,
                                 as_of=AS_OF)
    coverage, _ = prepare_authorizations(auths, policy_keys(registry))
    member_policy = member_policies(coverage)
    params = parameter_table(list(registry.packs), dt.date(2026, 3, 1), dt.date(2026, 4, 30))

    def qualify(checked: ibis.Table) -> ibis.Table:
        q = engine.qualify_contacts(checked, coverage, member_policy, params)
        return q.filter(q.not_in_force.isnull())

    _, billing, _ = engine.bill_days(contacts, qualify, coverage, segments(params),
                                     None,
                                     lambda name, table: con.create_table(name, table))
    audit = qualifying_days(contacts, coverage, member_policy, params)

    def rows(table: ibis.Table) -> list[Day]:
        found = con.to_pyarrow(table.select("member_id", "contact_date", "qualifying"))
        return sorted((r["member_id"], r["contact_date"], r["qualifying"])
                      for r in found.to_pylist())
    return rows(audit), rows(billing)


def test_the_audits_qualifying_days_are_billings(tmp_path: Path) -> None:
    """domain.contacts.qualifying_days (the audit's per diem check) answers as billing's
    month bitmaps do for every member-day: synthetic inputs, with the per-15-minute code's
    days short of the first unit (8 minutes) alone and summed added by hand."""
    synthesize(SynthSpec(members=40, months=2, out=tmp_path))
    hand = [("authorizations", AUTH_FIELDS, [
        auth("A1", "M1", billing_code="H0039"), auth("A2", "M2"),
        auth("A3", "M3", policy="mn-act", end="2026-03-15")]),
        ("contacts", CONTACT_FIELDS, [
            contact("2026-03-02", 5, member_id="M1"),                  # short of the unit
            contact("2026-03-03", 5, member_id="M1"), contact("2026-03-03", 5, member_id="M1"),
            contact("2026-03-04", 5, member_id="M1"),                  # short: the phone's
            contact("2026-03-04", 30, mode="phone", member_id="M1"),   # minutes do not count
            contact("2026-03-02", 5, member_id="M2"),                  # per diem: too short
            contact("2026-03-03", 30, member_id="M2"),
            contact("2026-03-20", 30, member_id="M3"),                 # outside authorization
            contact("2026-03-21", 30, member_id="M4")])]               # no authorization
    for name, fields, rows in hand:
        synthetic = (tmp_path / f"{name}.csv").read_text(encoding="utf-8")
        assert synthetic.splitlines()[0] == ",".join(fields)
        written = write_csv(tmp_path / f"{name}_hand.csv", fields, rows).read_text("utf-8")
        (tmp_path / f"{name}.csv").write_text(synthetic + written.split("\n", 1)[1],
                                              encoding="utf-8")
    audit, billing = _both_days(tmp_path)
    assert audit == billing
    assert {True, False} <= {q for m, _, q in audit if m.startswith("M0")}  # synthetic
    day = dt.date.fromisoformat
    assert [d for d in audit if len(d[0]) == 2] == [
        ("M1", day("2026-03-02"), False), ("M1", day("2026-03-03"), True),
        ("M1", day("2026-03-04"), False), ("M2", day("2026-03-02"), False),
        ("M2", day("2026-03-03"), True), ("M3", day("2026-03-20"), True)]


def _member_pack(rows: list[tuple[str, str, str, str]]) -> tuple[list[str], str]:
    """(the authorizations coverage keeps, the member's pack) of one member's
    authorizations (id, pack alias, start, end), one provider, in the order given."""
    registry = load_registry()
    n = len(rows)
    auths = ibis.memtable({
        "_line": list(range(1, n + 1)), "_file": ["a.csv"] * n, "member_id": ["M1"] * n,
        "provider_id": ["1234567893"] * n, "authorization_id": [r[0] for r in rows],
        "policy": [r[1] for r in rows],
        "start_date": [dt.date.fromisoformat(r[2]) for r in rows],
        "end_date": [dt.date.fromisoformat(r[3]) for r in rows],
        "team_size": ["small"] * n, "billing_code": [None] * n,
        "contributing_provider_ids": [None] * n},
        schema={"_line": "int64", "_file": "string", "member_id": "string",
                "provider_id": "string", "authorization_id": "string", "policy": "string",
                "start_date": "date", "end_date": "date", "team_size": "string",
                "billing_code": "string", "contributing_provider_ids": "string"})
    coverage, _ = prepare_authorizations(auths, policy_keys(registry))
    member_policy = member_policies(coverage)
    con = ibis.duckdb.connect()
    kept = sorted(r["authorization_id"] for r in con.to_pyarrow(coverage).to_pylist())
    found = con.to_pyarrow(member_policy).to_pylist()
    assert [r["member_id"] for r in found] == ["M1"]
    alias = {p.id: p.alias for p in registry.packs}
    return kept, alias[found[0]["member_policy_id"]]


@pytest.mark.parametrize(("rows", "kept", "pack"), [
    # the same start: coverage gives the later days to the larger id when it ends later
    ([("A1", "sc-act", "2026-03-01", "2026-03-31"), ("A2", "mn-act", "2026-03-01", "2026-04-30")],
     ["A1", "A2"], "mn-act"),
    ([("A2", "mn-act", "2026-03-01", "2026-04-30"), ("A1", "sc-act", "2026-03-01", "2026-03-31")],
     ["A1", "A2"], "mn-act"),
    # the larger id ending first covers no day: it has no say
    ([("A1", "sc-act", "2026-03-01", "2026-04-30"), ("A2", "mn-act", "2026-03-01", "2026-03-31")],
     ["A1"], "sc-act"),
    # inside a longer one: no day either
    ([("A1", "sc-act", "2026-01-01", "2026-12-31"), ("A2", "mn-act", "2026-03-01", "2026-03-31")],
     ["A1"], "sc-act"),
    # a renewal under another pack: the latest days are the renewal's
    ([("A1", "sc-act", "2026-01-01", "2026-03-31"), ("A2", "mn-act", "2026-04-01", "2026-06-30")],
     ["A1", "A2"], "mn-act"),
])
def test_the_member_pack_is_that_of_the_latest_covered_days(
        rows: list[tuple[str, str, str, str]], kept: list[str], pack: str) -> None:
    """A contact outside every authorization is checked under the pack of the authorization
    covering the member's latest days (argmax of the start date alone took whichever of two
    rows starting the same day came first, even one covering no day)."""
    assert _member_pack(rows) == (kept, pack)


def _prepared(rows: list[tuple[str, str, str, str, str, str | None]], shared: bool
              ) -> tuple[list[tuple[str, int, int]], list[tuple[int, str, str]]]:
    """(coverage as (id, provider key, code key), error rows as (row, field, reason)) of
    one member's authorizations (id, pack alias, provider, start, end, billing code)."""
    n = len(rows)
    auths = ibis.memtable({
        "_line": list(range(1, n + 1)), "_file": ["a.csv"] * n, "member_id": ["M1"] * n,
        "authorization_id": [r[0] for r in rows], "policy": [r[1] for r in rows],
        "provider_id": [r[2] for r in rows],
        "start_date": [dt.date.fromisoformat(r[3]) for r in rows],
        "end_date": [dt.date.fromisoformat(r[4]) for r in rows],
        "team_size": ["small"] * n, "billing_code": [r[5] for r in rows],
        "contributing_provider_ids": [None] * n},
        schema={"_line": "int64", "_file": "string", "member_id": "string",
                "provider_id": "string", "authorization_id": "string", "policy": "string",
                "start_date": "date", "end_date": "date", "team_size": "string",
                "billing_code": "string", "contributing_provider_ids": "string"})
    con = ibis.duckdb.connect()
    stored: list[str] = []

    def store(name: str, table: ibis.Table) -> ibis.Table:
        stored.append(name)
        return con.create_table(name, table)

    coverage, errors = prepare_authorizations(auths, policy_keys(load_registry()),
                                              store if shared else lambda _, t: t)
    assert stored == (["authorizations_resolved"] if shared else [])
    kept = sorted((r["authorization_id"], r["provider_key"], r["code_key"])
                  for r in con.to_pyarrow(coverage).to_pylist())
    bad = sorted((r["row"], r["field"], r["reason"]) for r in con.to_pyarrow(errors).to_pylist())
    return kept, bad


@pytest.mark.parametrize("shared", [False, True])
def test_authorization_errors_and_keys(shared: bool) -> None:
    """Each rejected authorization is one error row naming its own problem, whether the
    checked authorizations are streamed or stored once (Stages.shared): an unknown pack; an
    end before the start (even under the id of an authorization that clashes); an overlap
    with another provider's. Keys number providers from 0 and codes from 1 in order, 0 for
    none."""
    kept, bad = _prepared([
        ("A1", "sc-act", "1999999984", "2026-03-01", "2026-03-31", None),
        ("A2", "sc-act", "1234567893", "2026-03-15", "2026-04-30", "H0039"),
        ("A2", "sc-act", "1234567893", "2026-06-30", "2026-06-01", None),
        ("A3", "nowhere", "1234567893", "2026-07-01", "2026-07-31", None),
        ("A4", "sc-act", "1234567893", "2026-08-01", "2026-08-31", "H0040"),
        ("A5", "sc-act", "1999999984", "2026-09-01", "2026-09-30", "H0039"),
        ("A6", "nowhere", "1234567893", "2026-10-31", "2026-10-01", None),
        ("A7", "sc-act", "1234567893", "2026-11-01", "2026-11-30", None),
    ], shared)
    assert bad == [
        (1, "start_date", "overlaps authorization A2 of another provider"),
        (2, "start_date", "overlaps authorization A1 of another provider"),
        (3, "end_date", "before start_date"),
        (4, "policy", "unknown policy pack (give its id or alias)"),
        (7, "policy", "unknown policy pack (give its id or alias)"),  # one row, one error
    ]
    assert kept == [("A4", 0, 2), ("A5", 1, 1), ("A7", 0, 0)]
