"""The audit's pack data: every category, crosswalk row and reason reference resolves; bad
files are refused naming file and key; the PSR transition edge against a plain reference."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bhpolicy.audit.model import concurrent_services, crosswalk, expand_codes
from bhpolicy.audit.tables import crosswalk_table, match_rows, rule_rows
from bhpolicy.errors import DataFileError
from bhpolicy.policy import load_registry
from bhpolicy.policy.registry import load_registry as load_with
from tests.audit_helpers import claim, run
from tests.billing_helpers import MN_NPI, SC_NPI, auth, member
from tests.conftest import REPO

PACKS = REPO / "src" / "bhpolicy" / "policies"


def test_ranges_expand_within_one_letter_and_width() -> None:
    assert expand_codes("H0010-H0014") == ["H0010", "H0011", "H0012", "H0013", "H0014"]
    assert len(expand_codes("90785-90899")) == 115
    assert expand_codes("T1019") == ["T1019"]
    with pytest.raises(ValueError):
        expand_codes("H0010-G0014")


@pytest.mark.parametrize("alias", ["sc-act", "mn-act"])
def test_every_crosswalk_row_cites_a_source(alias: str) -> None:
    pack = load_registry().get(alias)
    data = crosswalk(pack)
    assert data.rows and all(row.source in data.sources for row in data.rows)
    categories = set(concurrent_services(pack).categories)
    assert {row.category for row in data.rows} - {"act"} <= categories


def test_specific_rows_win_over_ranges() -> None:
    """H2017 is PSR in the SC crosswalk, though the H-series range also covers it."""
    rows = [r for r in match_rows(load_registry().get("sc-act")) if r["code"] == "H2017"]
    best = min(rows, key=lambda r: r["match_id"])
    assert best["category"] == "psychosocial_rehabilitation"
    assert {r["category"] for r in rows} == {"psychosocial_rehabilitation",
                                            "other_behavioral_health"}


def _copy_pack(tmp_path: Path) -> Path:
    folder = tmp_path / "sc-copy"
    shutil.copytree(PACKS / "sc-act", folder)
    policy = folder / "policy.yaml"
    policy.write_text(policy.read_text().replace("id: SC.CP.BH.500", "id: SC.COPY")
                      .replace("alias: sc-act", "alias: sc-copy"))
    return folder


@pytest.mark.parametrize(("file", "old", "new", "key"), [
    ("service_crosswalk.yaml", "category: mobile_crisis", "category: mobile_crisiss",
     "category"),
    ("service_crosswalk.yaml", "source: selecthealth-sc-sbmh", "source: nowhere", "source"),
    ("concurrent_services.yaml", "reason: psr_after_transition", "reason: nope", "reason"),
    ("concurrent_services.yaml", "parameter: psr_transition_days", "parameter: nope",
     "parameter"),
])
def test_bad_references_name_file_and_key(tmp_path: Path, file: str, old: str, new: str,
                                          key: str) -> None:
    folder = _copy_pack(tmp_path)
    path = folder / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(DataFileError) as caught:
        # a parameter reference is refused when the pack loads (the loader checks which
        # rules read each parameter), the others when the audit reads its files
        crosswalk(load_with([tmp_path]).get("sc-copy"))
    assert file in str(caught.value) and key in str(caught.value)


START = dt.date(2026, 3, 1)
END = dt.date(2026, 6, 30)
TRANSITION = 30  # the SC pack's psr_transition_days; read back below so a change shows


def test_reference_uses_the_pack_value() -> None:
    pack = load_registry().get("sc-act")
    assert pack.value("psr_transition_days", START).value == TRANSITION


spans = st.tuples(st.integers(-10, 130), st.integers(0, 20))


@settings(deadline=None, max_examples=4,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(spans, min_size=1, max_size=40))
def test_psr_flagged_days_match_a_plain_reference(tmp_path: Path,
                                                  claims: list[tuple[int, int]]) -> None:
    """Days after the transition and inside the episode are flagged, money prorated."""
    rows = []
    for i, (offset, length) in enumerate(claims):
        first = START + dt.timedelta(days=offset)
        last = first + dt.timedelta(days=length)
        rows.append(claim(f"c{i}", "S1", first.isoformat(), last.isoformat(), hcpcs="H2017",
                          paid="100.00"))
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    audited = run(folder, [member("S1")], [auth("A1", "S1", start=START.isoformat(),
                                                end=END.isoformat())], rows)
    got = {f["claim_id"]: (f["flagged_days"], f["amount_at_stake"]) for f in audited.findings}
    want = {}
    for i, (offset, length) in enumerate(claims):
        first = START + dt.timedelta(days=offset)
        last = first + dt.timedelta(days=length)
        lo = max(first, START + dt.timedelta(days=TRANSITION))
        hi = min(last, END)
        if lo <= hi and last >= START and first <= END:
            n = (hi - lo).days + 1
            want[f"c{i}"] = (n, (Decimal(100) * n / (length + 1)).quantize(Decimal("0.01")))
    assert got == want


def test_a_crosswalk_row_with_modifiers_wins_when_the_line_carries_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row with modifiers is more specific than the same code without them."""
    folder = _copy_pack(tmp_path / "packs")
    walk = folder / "service_crosswalk.yaml"
    walk.write_text(walk.read_text() + """  - category: outpatient_psychiatric
    match: hcpcs
    codes: ["90834"]
    modifiers: [HE, HF]
    source: ama-cpt
    verified: false
""")
    monkeypatch.setenv("BHPOLICY_POLICY_PATH", str(tmp_path / "packs"))
    claims = [claim("plain", "S1", "2026-04-10", hcpcs="90834"),
              claim("with-hf", "S1", "2026-04-10", hcpcs="90834", modifiers="GT:HF"),
              claim("other-mod", "S1", "2026-04-10", hcpcs="90834", modifiers="GT")]
    audited = run(tmp_path / "run", [member("S1")], [auth("A1", "S1", policy="sc-copy")],
                  claims)
    assert audited.one("plain")["category"] == "outpatient_therapy"
    assert audited.one("with-hf")["category"] == "outpatient_psychiatric"
    assert audited.one("other-mod")["category"] == "outpatient_therapy"


def test_a_claim_span_of_a_century_costs_only_the_episode(tmp_path: Path) -> None:
    """A line the reader accepts may span 1900-01-01 to the as-of date: the per diem audit
    expands only the days inside the episodes the line overlaps (61 here), and the days
    outside are one finding a span (before and after the episode), with the money prorated.
    Inpatient stays are cut to the episode the same way."""
    first, last = dt.date(1900, 1, 1), dt.date(2026, 11, 30)
    line_days = (last - first).days + 1
    act = [claim("K-century", "S1", first.isoformat(), last.isoformat(), hcpcs="H0040",
                 provider_id=SC_NPI, paid=f"{line_days}.00")]
    claims = [claim("stay-century", "N1", first.isoformat(), last.isoformat(),
                    bill_type="0111")]
    auths = [auth("A1", "S1", start="2026-03-01", end="2026-04-30"),
             auth("B1", "N1", policy="mn-act", provider_id=MN_NPI, team_size="",
                  start="2026-03-01", end="2026-03-31")]
    act += [claim("K-inpatient", "N1", "2026-03-15", hcpcs="H0040", provider_id=MN_NPI,
                  pos="12")]
    audited = run(tmp_path, [member("S1"), member("N1", state="MN")], auths, claims, act)
    outside = [f for f in audited.of("K-century")
               if f["rule_id"] == "per_diem.outside_authorization"]
    spans = sorted((str(f["flagged_from"]), str(f["flagged_to"]), f["flagged_days"],
                    f["amount_at_stake"]) for f in outside)
    before = (dt.date(2026, 3, 1) - first).days
    after = (last - dt.date(2026, 4, 30)).days
    assert spans == [("1900-01-01", "2026-02-28", before, Decimal(before)),
                     ("2026-05-01", "2026-11-30", after, Decimal(after))]
    # inside: 61 days against the 15-day cap (I.F): 16 days over in March, 15 in April
    capped = [f for f in audited.of("K-century") if f["rule_id"] == "per_diem.over_monthly_cap"]
    assert len(capped) == 16 + 15
    assert len(audited.of("K-century")) == 2 + 16 + 15
    assert audited.one("K-inpatient")["rule_id"] == "per_diem.inpatient_pos_missing"


@pytest.mark.parametrize(("file", "old", "new", "key"), [
    ("service_crosswalk.yaml", "rendering_taxonomy_in: psychiatric_taxonomies",
     "rendering_taxonomy_in: nope", "rendering_taxonomy_in"),
    ("service_crosswalk.yaml", "primary_diagnosis_in: psychiatric_diagnoses",
     "primary_diagnosis_in: psychiatric_taxonomies", "primary_diagnosis_in"),
    ("service_crosswalk.yaml", "    source: nucc-taxonomy", "    source: nowhere",
     "lists.psychiatric_taxonomies.source"),
    ("concurrent_services.yaml", "reason: per_diem_provider_not_authorized",
     "reason: nope", "per_diem_rules.provider_not_authorized.reason"),
])
def test_bad_conditions_and_per_diem_rules_name_file_and_key(
        tmp_path: Path, file: str, old: str, new: str, key: str) -> None:
    folder = _copy_pack(tmp_path)
    path = folder / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(DataFileError) as caught:
        # a parameter reference is refused when the pack loads (the loader checks which
        # rules read each parameter), the others when the audit reads its files
        crosswalk(load_with([tmp_path]).get("sc-copy"))
    assert file in str(caught.value) and key in str(caught.value)


def test_code_lists_come_from_the_pack() -> None:
    """The psychiatric taxonomies and diagnosis categories are pack data with a source."""
    for alias in ("sc-act", "mn-act"):
        data = crosswalk(load_registry().get(alias))
        taxonomies = data.lists["psychiatric_taxonomies"]
        assert "2084P0800X" in taxonomies.codes and taxonomies.source == "nucc-taxonomy"
        diagnoses = data.lists["psychiatric_diagnoses"]
        assert [c for r in diagnoses.codes for c in expand_codes(r)][::28] == ["F20", "F48"]


EPISODES = ((dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
            (dt.date(2026, 5, 1), dt.date(2026, 5, 20)))


@settings(deadline=None, max_examples=4,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(-40, 120), st.integers(0, 90)), min_size=1, max_size=20))
def test_days_outside_every_episode_match_a_plain_reference(
        tmp_path: Path, lines: list[tuple[int, int]]) -> None:
    """Per diem audit: each line's days outside both episodes (before, between, after) are
    flagged as outside the authorization, one finding a span, never a day inside one."""
    auths = [auth(f"A{i}", "S1", start=s.isoformat(), end=e.isoformat())
             for i, (s, e) in enumerate(EPISODES)]
    act = []
    for i, (offset, length) in enumerate(lines):
        first = EPISODES[0][0] + dt.timedelta(days=offset)
        act.append(claim(f"K{i}", "S1", first.isoformat(),
                         (first + dt.timedelta(days=length)).isoformat(), hcpcs="H0040",
                         provider_id=SC_NPI))
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    audited = run(folder, [member("S1")], auths, [], act)
    got: dict[str, set[dt.date]] = {}
    for f in audited.findings:
        if f["rule_id"] == "per_diem.outside_authorization":
            days = {f["flagged_from"] + dt.timedelta(days=n) for n in range(f["flagged_days"])}
            assert f["flagged_to"] == max(days)
            assert not days & got.get(f["claim_id"], set())  # spans do not overlap
            got.setdefault(f["claim_id"], set()).update(days)
    want: dict[str, set[dt.date]] = {}
    for i, (offset, length) in enumerate(lines):
        first = EPISODES[0][0] + dt.timedelta(days=offset)
        days = {first + dt.timedelta(days=n) for n in range(length + 1)}
        outside = {d for d in days if not any(s <= d <= e for s, e in EPISODES)}
        if outside:
            want[f"K{i}"] = outside
    assert got == want


def test_declared_per_diem_rules_are_in_the_rules_table() -> None:
    """Minnesota declares the single billing agency and admission/discharge day rules (Billing);
    the review rule carries no CARC, its reason text comes from the rule itself."""
    rows = {r["rule_id"]: r for r in rule_rows(load_registry().get("mn-act"))}
    edge = rows["per_diem.inpatient_admission_or_discharge_day"]
    assert (edge["severity"], edge["carc"], edge["reason_id"]) == ("review", None, None)
    assert edge["reason"] and "Inpatient Hospitalization" in edge["section"]
    agency = rows["per_diem.contributing_agency_billed"]
    assert (agency["severity"], agency["carc"], agency["section"]) == ("deny", "15", "Billing")
    sc = {r["rule_id"] for r in rule_rows(load_registry().get("sc-act"))}
    assert "per_diem.provider_not_authorized" in sc
    assert "per_diem.contributing_agency_billed" not in sc


def test_conditional_crosswalk_rows_say_their_condition_and_its_source() -> None:
    con = ibis.duckdb.connect()
    walk = con.to_pyarrow(crosswalk_table([load_registry().get("sc-act")])).to_pylist()
    conditional = [r for r in walk if r["condition"]]
    assert {r["category"] for r in conditional} == {"outpatient_medication_management"}
    assert all("NUCC" in r["condition"] and "ICD-10-CM" in r["condition"]
               for r in conditional)
