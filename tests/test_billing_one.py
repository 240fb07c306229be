"""The warm one-member path gives what the folder run writes for the same rows: lines (line ids
included), unbilled days and member-months; a row the run would reject is one error naming
the table, row and field."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bhpolicy.billing.one import OneInputError, OneResult, bill_one, warm
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy import load_registry
from bhpolicy.policy.example_schema import BillingExample
from bhpolicy.policy.examples import load_examples
from bhpolicy.policy.registry import PolicyRegistry
from tests.billing_helpers import MN_NPI, OTHER_NPI, auth, contact, days, member, run
from tests.support.dates import AS_OF

REGISTRY = load_registry()


def _same(tmp_path: Path, contacts: list[dict[str, Any]], members: list[dict[str, Any]],
          auths: list[dict[str, Any]], billed: list[dict[str, Any]] | None = None,
          missing_pos: str = "default", registry: PolicyRegistry = REGISTRY) -> None:
    folder = run(tmp_path, contacts, members, auths, already_billed=billed,
                 missing_pos=missing_pos)
    assert not folder.errors, folder.errors
    assert folder.lines and folder.months  # something to compare
    one = bill_one(contacts, members, auths, registry=registry, as_of=AS_OF,
                   already_billed=billed, missing_pos=missing_pos)
    assert one.lines == folder.lines
    assert one.unbilled_days == folder.unbilled
    assert one.member_months == folder.months


def test_a_month_past_the_cap_with_every_kind_of_day(tmp_path: Path) -> None:
    contacts = [
        *days("2026-03", 2, 21),
        contact("2026-03-22", minutes=5), contact("2026-03-23", mode="phone"),
        contact("2026-03-24", participant="collateral"), contact("2026-03-25", group=True),
        contact("2026-03-26", provider_id=OTHER_NPI), contact("2026-03-27", pos="99"),
        contact("2026-03-27", pos="11", minutes=50)]
    _same(tmp_path, contacts, [member()], [auth()])


def test_two_members_two_packs_and_days_outside_the_authorization(tmp_path: Path) -> None:
    contacts = (days("2026-04", 1, 12) + days("2026-05", 1, 3) +
                days("2026-04", 3, 9, member_id="M2", provider_id=MN_NPI) +
                [contact("2026-04-10", member_id="M2", provider_id=MN_NPI, pos="21")])
    members = [member(), member("M2", state="MN")]
    auths = [auth(end="2026-04-30", team_size="large"),
             auth("A2", "M2", policy="mn-act", provider_id=MN_NPI, team_size="",
                  start="2026-04-01", end="2026-06-30")]
    _same(tmp_path, contacts, members, auths)


def test_timed_code_units_renewal_and_already_billed(tmp_path: Path) -> None:
    contacts = (days("2026-03", 2, 6, minutes=40) + days("2026-04", 1, 4, minutes=8) +
                [contact("2026-04-06", minutes=65)])
    auths = [auth(end="2026-03-31", billing_code="H0039"),
             auth("A2", start="2026-04-01", end="2026-04-30", billing_code="H0039")]
    billed = [{"line_id": "LOLD1", "member_id": "M1", "service_date": "2026-03-03",
               "hcpcs": "H0039", "provider_id": auth()["provider_id"]}]
    _same(tmp_path, contacts, [member()], auths, billed)


def test_holding_days_without_a_place_of_service(tmp_path: Path) -> None:
    contacts = days("2026-03", 2, 4) + days("2026-03", 5, 7, pos="")
    _same(tmp_path, contacts, [member()], [auth()], missing_pos="hold")


def _example_rows(examples: list[tuple[int, str, BillingExample]]
                  ) -> tuple[list[dict[str, Any]], ...]:
    """The examples' rows, each example's ids prefixed with its number (as one run)."""
    members, auths, contacts, billed = [], [], [], []
    for n, alias, example in examples:
        x = f"x{n}."
        given = example.input
        members += [member(x + m.id, birth_date=m.birth_date.isoformat(),
                           primary_dx=m.primary_dx, medicaid_id=f"{n:05d}{i:05d}")
                    for i, m in enumerate(given.members)]
        auths += [auth(x + a.id, x + a.member, policy=a.policy or alias, provider_id=a.provider,
                       team_size=a.team_size or "", start=a.start.isoformat(),
                       end=a.end.isoformat(), billing_code=a.billing_code or "",
                       contributing=";".join(a.contributing)) for a in given.authorizations]
        contacts += [contact(c.date.isoformat(), minutes=c.minutes, mode=c.mode,
                             participant=c.participant, group=c.group, pos=c.pos or "",
                             provider_id=c.provider, member_id=x + c.member)
                     for c in given.contacts]
        billed += [{"line_id": x + b.line_id, "member_id": x + b.member,
                    "service_date": b.date.isoformat(), "hcpcs": b.hcpcs,
                    "provider_id": b.provider} for b in given.already_billed]
    return members, auths, contacts, billed


@pytest.mark.parametrize("missing_pos", ["default", "hold"])
def test_the_policy_examples_in_one_call_each_way(tmp_path: Path, missing_pos: str) -> None:
    examples = [(n, item.pack.alias, item.example)
                for n, item in enumerate(load_examples(REGISTRY))
                if isinstance(item.example, BillingExample) and
                item.example.input.missing_pos == missing_pos]
    assert examples
    members, auths, contacts, billed = _example_rows(examples)
    _same(tmp_path, contacts, members, auths, billed or None, missing_pos)


def test_rows_as_arrow_tables_and_native_values(tmp_path: Path) -> None:
    contacts = days("2026-03", 2, 5)
    native = [{**c, "contact_date": dt.date.fromisoformat(c["contact_date"]),
               "group": c["group"] == "true"} for c in contacts]
    one = bill_one(pa.Table.from_pylist(native), [member()], [auth()], registry=REGISTRY,
                   as_of=AS_OF)
    assert one.lines == bill_one(contacts, [member()], [auth()], registry=REGISTRY,
                                 as_of=AS_OF).lines
    assert [line["status"] for line in one.lines] == ["billable"] * 4
    assert {p["alias"] for p in one.policies} == {"sc-act", "mn-act"}


@pytest.mark.parametrize(("change", "table", "row", "field", "reason"), [
    ({"minutes": "thirty"}, "contacts", 2, "minutes", "not a whole number"),
    ({"member_id": "M9"}, "contacts", 2, "member_id", "unknown member"),
    ({"contact_date": "2026-02-30"}, "contacts", 2, "contact_date", "not a date"),
    ({"contact_date": "2027-01-04"}, "contacts", 2, "contact_date", "after the as-of date"),
])
def test_a_bad_row_is_one_line_naming_table_row_and_field(
        change: dict[str, Any], table: str, row: int, field: str, reason: str) -> None:
    contacts = days("2026-03", 2, 4)
    contacts[1] = {**contacts[1], **change}
    with pytest.raises(OneInputError) as caught:
        bill_one(contacts, [member()], [auth()], registry=REGISTRY, as_of=AS_OF)
    error = caught.value
    assert (error.table, error.row, error.field) == (table, row, field)
    assert reason in error.reason
    assert str(error).startswith(f"{table} row {row}, field {field}: ")
    assert "\n" not in str(error) and "M9" not in str(error)


def test_a_bad_authorization_and_an_empty_call() -> None:
    with pytest.raises(OneInputError, match=r"^authorizations row 1, field end_date: before"):
        bill_one(days("2026-03", 2, 3), [member()], [auth(end="2026-02-01")],
                 registry=REGISTRY, as_of=AS_OF)
    with pytest.raises(BhpolicyError, match="no contacts or authorizations"):
        bill_one([], [member()], [], registry=REGISTRY, as_of=AS_OF)
    with pytest.raises(OneInputError, match=r"^contacts row 1, field \(row\)"):
        bill_one(["not a row"], [member()], [auth()],  # type: ignore[list-item]
                 registry=REGISTRY, as_of=AS_OF)


def test_warm_compiles_once_and_calls_reuse_the_plan() -> None:
    state = warm(REGISTRY, AS_OF)
    plan = state.plan(AS_OF)
    assert state.plan(AS_OF) is plan
    bill_one(days("2026-03", 2, 3), [member()], [auth()], registry=REGISTRY, as_of=AS_OF)
    assert state.plans[(AS_OF, False, "default", False)] is plan
    assert any(name == "month_rules" for name, _ in plan.stages)


def _member_two() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Another member: another id, pack, provider, month and number of days."""
    return (days("2026-04", 3, 9, member_id="M2", provider_id=MN_NPI),
            [member("M2", state="MN")],
            [auth("A2", "M2", policy="mn-act", provider_id=MN_NPI, team_size="",
                  start="2026-04-01", end="2026-06-30")])


def test_calls_in_a_row_give_each_member_its_own_answer(tmp_path: Path) -> None:
    first = (days("2026-03", 2, 20), [member()], [auth()])
    second = _member_two()
    alone = [bill_one(*rows, registry=REGISTRY, as_of=AS_OF) for rows in (first, second)]
    # the same calls again, interleaved, after a rejected call and an empty one
    with pytest.raises(OneInputError):
        bill_one([{**first[0][0], "minutes": "x"}], *first[1:], registry=REGISTRY, as_of=AS_OF)
    for rows, expected in [(second, alone[1]), (first, alone[0]), (second, alone[1])]:
        assert bill_one(*rows, registry=REGISTRY, as_of=AS_OF) == expected
    assert {line["member_id"] for line in alone[0].lines} == {"M1"}
    assert {line["member_id"] for line in alone[1].lines} == {"M2"}
    assert len(alone[0].lines) == 19 and len(alone[1].lines) == 7
    folder = run(tmp_path, *second)
    assert alone[1].lines == folder.lines and alone[1].member_months == folder.months


def test_two_threads_at_once_each_get_their_own_answer() -> None:
    first = (days("2026-03", 2, 20), [member()], [auth()])
    second = _member_two()
    expected = [bill_one(*rows, registry=REGISTRY, as_of=AS_OF) for rows in (first, second)]
    state = warm(REGISTRY, AS_OF)
    assert state.pool_size >= 1
    barrier = threading.Barrier(2)
    got: dict[int, list[OneResult]] = {0: [], 1: []}
    failures: list[BaseException] = []

    def calls(n: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                got[n].append(bill_one(*(first, second)[n], registry=REGISTRY, as_of=AS_OF))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=calls, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert got[0] == [expected[0]] * 5 and got[1] == [expected[1]] * 5


def test_text_is_passed_as_it_is_given() -> None:
    """Values go into the statement as literals: quotes, a backslash and a NUL character
    are kept (an id with them is an unknown member, not a broken statement)."""
    for odd in ("O'Brien", "a\\b", "x\x00y", "'); DROP TABLE x; --"):
        with pytest.raises(OneInputError, match="member_id: unknown member"):
            bill_one(days("2026-03", 2, 3, member_id=odd), [member()], [auth()],
                     registry=REGISTRY, as_of=AS_OF)
    with pytest.raises(OneInputError, match=r"^members row 1, field last_name: not valid"):
        bill_one(days("2026-03", 2, 3), [member(last_name="\ud800")], [auth()],
                 registry=REGISTRY, as_of=AS_OF)
