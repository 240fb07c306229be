"""Property (issue 5): the engine's billed days equal a plain Python reading of the SC rules
on random inputs; at most one line a member-day; billed days a month never above the cap."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.billing_helpers import MN_NPI, OTHER_NPI, SC_NPI, auth, contact, member, run

# Parameters as SC.CP.BH.500 states them (rev. 02/26), written out here on purpose: the
# reference must not read the pack it is checking.
MIN_MINUTES, CAP = 8, 15
AUTH_START, AUTH_END = dt.date(2026, 3, 5), dt.date(2026, 4, 25)

contact_strategy = st.fixed_dictionaries({
    "member": st.sampled_from(["M1", "M2", "M3", "M4"]),
    "day": st.dates(min_value=dt.date(2026, 3, 1), max_value=dt.date(2026, 4, 30)),
    "minutes": st.integers(min_value=0, max_value=40),
    "mode": st.sampled_from(["in_person", "in_person", "in_person", "video", "phone"]),
    "participant": st.sampled_from(["member", "member", "family", "collateral"]),
    "group": st.booleans(),
    "provider": st.sampled_from([SC_NPI, SC_NPI, SC_NPI, OTHER_NPI]),
})


def reference(contacts: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Billable (member, day) by a direct reading of the rules."""
    qualifying = sorted({
        (c["member"], c["day"]) for c in contacts
        if c["mode"] == "in_person" and c["participant"] in ("member", "family")
        and not c["group"] and c["minutes"] >= MIN_MINUTES and c["provider"] == SC_NPI
        and AUTH_START <= c["day"] <= AUTH_END})
    used: Counter[tuple[str, int, int]] = Counter()
    billable = set()
    for member_id, day in qualifying:
        key = (member_id, day.year, day.month)
        if used[key] < CAP:
            used[key] += 1
            billable.add((member_id, day.isoformat()))
    return billable


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(contact_strategy, min_size=1, max_size=120))
def test_engine_matches_reference(tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    rows = [contact(c["day"].isoformat(), minutes=c["minutes"], mode=c["mode"],
                    participant=c["participant"], group=c["group"],
                    provider_id=c["provider"], member_id=c["member"]) for c in drawn]
    auths = [auth(f"A{i}", f"M{i}", start=AUTH_START.isoformat(), end=AUTH_END.isoformat(),
                  team_size="small" if i % 2 else "large") for i in range(1, 5)]
    folder = f"case{abs(hash(str(drawn))) % 10**12}"
    billed = run(tmp_path, rows, members=[member(f"M{i}") for i in range(1, 5)], auths=auths,
                 name=folder)
    engine = {(r["member_id"], str(r["service_date"])) for r in billed.lines
              if r["status"] == "billable"}
    assert engine == reference(drawn)
    per_day = Counter((r["member_id"], r["service_date"]) for r in billed.lines)
    assert max(per_day.values(), default=0) <= 1
    per_month: defaultdict[tuple[str, int, int], int] = defaultdict(int)
    for member_id, day in engine:
        date = dt.date.fromisoformat(day)
        per_month[(member_id, date.year, date.month)] += 1
    assert max(per_month.values(), default=0) <= CAP


# Minnesota "Billing": POS 21 on a day the recipient was an inpatient (a contact with the
# recipient there: POS 21 "if ACT services were provided to a recipient in an inpatient
# hospital", so a family member met at a hospital does not make the day inpatient);
# otherwise the POS of the day's longest qualifying contact that has one (a tie between
# longest contacts goes to the higher code, so a run's answer does not depend on the order
# it reads the contacts); otherwise the pack's default (99), and the line says so
# (pos_defaulted, issue 15). Days 1-31, so every POS lane of the engine's day bitmaps is
# drawn.
MN_INPATIENT, MN_DEFAULT = "21", "99"
MN_MEMBER = member("N1", state="MN")
MN_AUTH = auth("B1", "N1", "mn-act", MN_NPI, team_size="")
pos_contact_strategy = st.fixed_dictionaries({
    "day": st.integers(min_value=1, max_value=31),
    "minutes": st.integers(min_value=1, max_value=20),
    "mode": st.sampled_from(["in_person", "in_person", "phone"]),
    "participant": st.sampled_from(["member", "member", "family"]),
    "pos": st.sampled_from(["", "02", "11", "12", "12", "99", "04", "21"]),
})


def pos_reference(contacts: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    """The POS of each billed day, and whether it is the pack's default."""
    allowed: dict[str, tuple[str, bool]] = {}
    for day in {c["day"] for c in contacts}:
        that_day = [c for c in contacts if c["day"] == day]
        qualifying = [c for c in that_day
                      if c["mode"] == "in_person" and c["participant"] == "member"]
        if not qualifying:
            continue
        key = f"2026-03-{day:02d}"
        if any(c["pos"] == MN_INPATIENT and c["participant"] == "member" for c in that_day):
            allowed[key] = (MN_INPATIENT, False)
            continue
        with_pos = [c for c in qualifying if c["pos"]]
        longest = max((c["minutes"] for c in with_pos), default=None)
        allowed[key] = ((max(c["pos"] for c in with_pos if c["minutes"] == longest), False)
                        if with_pos else (MN_DEFAULT, True))
    return allowed


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(pos_contact_strategy, min_size=1, max_size=80))
def test_line_pos_matches_reference(tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    rows = [contact(f"2026-03-{c['day']:02d}", minutes=c["minutes"], mode=c["mode"],
                    participant=c["participant"], pos=c["pos"], provider_id=MN_NPI,
                    member_id="N1") for c in drawn]
    folder = f"pos{abs(hash(str(drawn))) % 10**12}"
    billed = run(tmp_path, rows, members=[MN_MEMBER], auths=[MN_AUTH], name=folder)
    engine = {str(r["service_date"]): (r["pos"], r["pos_defaulted"]) for r in billed.lines}
    expected = pos_reference(drawn)
    assert engine == expected
