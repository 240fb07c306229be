"""Each pack parameter that once had no reader, read by its rule: a copy of the pack with the
value changed changes the answer (so the parameter is not decoration). Each test cites the
section the parameter states."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tests.audit_helpers as audit_helpers
import tests.billing_helpers as billing_helpers
from bhpolicy.criteria.cases import parse_case
from bhpolicy.criteria.evaluate import determine
from bhpolicy.errors import BhpolicyError
from bhpolicy.policy.registry import (
    PolicyRegistry,
    builtin_policy_root,
    load_pack,
    load_registry,
)
from tests.audit_helpers import claim
from tests.billing_helpers import AGENCY, MN_NPI, SC_NPI, auth, contact, member
from tests.criteria_helpers import AS_OF, SC_INITIAL_MEETS, node

MN_MEMBER = member("N1", state="MN")
MN_AUTH = auth("B1", "N1", "mn-act", MN_NPI, team_size="", contributing=AGENCY)
MN_INITIAL = {"ma_eligible": True, "birth_date": "1980-05-05",
              "serious_mental_illness_primary": True, "in_team_target_population": True,
              "locus_level": 4, "impaired_domains": ["mental_health_symptoms",
                                                     "social_functioning_including_leisure",
                                                     "self_care_and_independent_living"]}


def pack_copy(tmp_path: Path, alias: str, name: str, value_yaml: str,
              edit: Callable[[Path], None] | None = None) -> PolicyRegistry:
    """The built-in packs, with ``alias`` replaced by a copy whose parameter ``name`` has
    ``value_yaml`` as its one value (from its first date); ``edit(folder)`` may change
    more of the copy."""
    root = Path(tempfile.mkdtemp(prefix="packs-", dir=tmp_path)) / "packs"
    shutil.copytree(builtin_policy_root(), root)
    if edit is not None:
        edit(root / alias)
    path = root / alias / "parameters.yaml"
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line == f"  {name}:\n")
    values = next(i for i in range(start, len(lines)) if lines[i].strip() == "values:")
    end = next((i for i in range(values + 1, len(lines)) if lines[i].startswith("  ")
                and not lines[i].startswith("    ")), len(lines))
    since = next(line.split("since:")[1].strip() for line in lines[values:end]
                 if "since:" in line)
    lines[values + 1:end] = [f"      - since: {since}\n", f"        value: {value_yaml}\n",
                             "\n"]
    path.write_text("".join(lines))
    pack = load_pack(root / alias)
    return PolicyRegistry(tuple(pack if p.alias == alias else p
                                for p in load_registry().packs))


def _patched(monkeypatch: pytest.MonkeyPatch, registry: PolicyRegistry
             ) -> Callable[[], PolicyRegistry]:
    def load(*_: Any) -> PolicyRegistry:
        return registry
    monkeypatch.setattr(billing_helpers, "load_registry", load)
    monkeypatch.setattr(audit_helpers, "load_registry", load)
    return load


def test_pack_copy_swaps_only_the_one_pack(tmp_path: Path) -> None:
    registry = pack_copy(tmp_path, "sc-act", "pos_restrictions", '["12"]')
    sc = registry.get("sc-act")
    assert sc.folder.startswith(str(tmp_path))
    assert sc.parameters["pos_restrictions"].values[0].value == ["12"]
    assert not registry.get("mn-act").folder.startswith(str(tmp_path))


# SC Other General Guidelines: "no restrictions on place of service"; pos_restrictions is
# the list of excluded places, empty as written.
def test_sc_pos_restrictions_exclude_a_contact_at_a_listed_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contacts = [contact("2026-03-02", pos="12"), contact("2026-03-03", pos="11")]
    as_written = billing_helpers.run(tmp_path, contacts, name="as-written")
    assert as_written.billable_days() == ["2026-03-02", "2026-03-03"]
    _patched(monkeypatch, pack_copy(tmp_path, "sc-act", "pos_restrictions", '["12"]'))
    billed = billing_helpers.run(tmp_path, contacts, name="restricted")
    assert billed.billable_days() == ["2026-03-03"]
    day = billed.no_line("2026-03-02")
    assert (day["reason_id"], day["carc"], day["rarc"]) == ("place_of_service_excluded", "5",
                                                             "M77")
    assert day["section"] == "Other General Guidelines"


# SC Other General Guidelines: "Only one per diem may be billed per member, per day".
def test_sc_per_diems_per_member_day_sets_the_duplicate_and_other_provider_checks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members, auths = [member("S1")], [auth("A1", "S1", contributing=AGENCY)]
    act = [claim("K1", "S1", "2026-03-10", hcpcs="H0040", provider_id=SC_NPI),
           claim("K2", "S1", "2026-03-10", hcpcs="H0040", provider_id=SC_NPI),
           claim("K3", "S1", "2026-03-10", hcpcs="H0040", provider_id=AGENCY)]
    one = audit_helpers.run(tmp_path / "one", members, auths, [], act=act)
    assert [f["rule_id"] for f in one.findings] == ["per_diem.duplicate_per_diem",
                                                     "per_diem.per_diem_other_provider"]
    _patched(monkeypatch, pack_copy(tmp_path, "sc-act", "per_diems_per_member_day", "2"))
    two = audit_helpers.run(tmp_path / "two", members, auths, [], act=act)
    # two per diems a day: the provider's second is no duplicate; SC names no provider
    # limit, so a second provider's per diem is the day's second and also allowed
    assert two.findings == []


def _without_agency_rule(folder: Path) -> None:
    """MN read without "Only one agency may bill" (its contributing_agency_billed rule)."""
    path = folder / "concurrent_services.yaml"
    text = path.read_text()
    start = text.index("  contributing_agency_billed:")
    end = text.index("  inpatient_admission_or_discharge_day:")
    path.write_text(text[:start] + text[end:])


# MN Billing: "To one provider per day". In the pack as written the more specific MN rules
# decide first (a contributing agency may not bill at all, an unnamed provider is not
# authorized), so the provider count decides where those rules are not in the pack.
def test_mn_providers_per_member_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    act = [claim("K1", "N1", "2026-03-10", hcpcs="H0040", provider_id=MN_NPI),
           claim("K2", "N1", "2026-03-10", hcpcs="H0040", provider_id=AGENCY)]
    as_written = audit_helpers.run(tmp_path / "as-written", [MN_MEMBER], [MN_AUTH], [],
                                   act=act)
    assert [f["rule_id"] for f in as_written.findings] == [
        "per_diem.contributing_agency_billed"]
    _patched(monkeypatch, pack_copy(tmp_path, "mn-act", "providers_per_member_day", "1",
                                    _without_agency_rule))
    one = audit_helpers.run(tmp_path / "one", [MN_MEMBER], [MN_AUTH], [], act=act)
    assert [(f["claim_id"], f["rule_id"]) for f in one.findings] == [
        ("K2", "per_diem.per_diem_other_provider")]
    _patched(monkeypatch, pack_copy(tmp_path, "mn-act", "providers_per_member_day", "2",
                                    _without_agency_rule))
    two = audit_helpers.run(tmp_path / "two", [MN_MEMBER], [MN_AUTH], [], act=act)
    assert two.findings == []


# MN Billing: "Based on one, all-inclusive daily rate".
def test_mn_per_diems_per_member_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    act = [claim("K1", "N1", "2026-03-10", hcpcs="H0040", provider_id=MN_NPI),
           claim("K2", "N1", "2026-03-10", hcpcs="H0040", provider_id=MN_NPI)]
    one = audit_helpers.run(tmp_path / "one", [MN_MEMBER], [MN_AUTH], [], act=act)
    assert [f["rule_id"] for f in one.of("K2")] == ["per_diem.duplicate_per_diem"]
    _patched(monkeypatch, pack_copy(tmp_path, "mn-act", "per_diems_per_member_day", "2"))
    two = audit_helpers.run(tmp_path / "two", [MN_MEMBER], [MN_AUTH], [], act=act)
    assert two.findings == []


def _determine(registry: PolicyRegistry, policy: str, facts: dict[str, Any],
               request_date: str = "2026-03-10") -> Any:
    raw = {"case_id": "T-1", "policy": policy, "request_type": "initial",
           "request_date": request_date, "facts": facts}
    return determine(parse_case(raw, registry, "test", as_of=AS_OF))


# SC I.B: the groups that qualify; I.B.4: "other psychiatric illnesses" on judgment.
def test_sc_diagnosis_groups_decide_which_groups_qualify(tmp_path: Path) -> None:
    bipolar = {**SC_INITIAL_MEETS, "primary_diagnosis": "F31.2"}
    as_written = _determine(load_registry(), "sc-act", bipolar)
    assert node(as_written, "I.B.2")["status"] == "met"
    assert node(as_written, "I.B.2")["parameters"]["diagnosis_groups"] == [
        "schizophrenia", "bipolar", "other_psychotic", "other_psychiatric"]
    registry = pack_copy(tmp_path, "sc-act", "diagnosis_groups",
                         "[schizophrenia, other_psychotic, other_psychiatric]")
    without = _determine(registry, "sc-act", bipolar)
    assert node(without, "I.B.2")["status"] == "not_met"
    assert "diagnosis_groups" in node(without, "I.B.2")["detail"]


def test_sc_judgment_diagnosis_groups_send_a_group_to_the_reviewer(tmp_path: Path) -> None:
    depression = {**SC_INITIAL_MEETS, "primary_diagnosis": "F33.2"}
    as_written = _determine(load_registry(), "sc-act", depression)
    assert node(as_written, "I.B.4")["status"] == "needs_judgment"
    assert "I.B.4" in node(as_written, "I.B.4")["question"]
    decided = _determine(pack_copy(tmp_path, "sc-act", "judgment_diagnosis_groups", "[]"),
                         "sc-act", depression)
    assert node(decided, "I.B.4")["status"] == "met"


def test_a_judgment_group_needs_its_question(tmp_path: Path) -> None:
    from bhpolicy.criteria.loader import criteria_for
    registry = pack_copy(tmp_path, "sc-act", "judgment_diagnosis_groups", "[bipolar]")
    with pytest.raises(BhpolicyError, match=r"groups\.bipolar\.question"):
        criteria_for(registry.get("sc-act"))


# MN Eligible Recipients: "Be eligible for MA".
def test_mn_requires_ma_eligibility(tmp_path: Path) -> None:
    not_eligible = {**MN_INITIAL, "ma_eligible": False}
    as_written = _determine(load_registry(), "mn-act", not_eligible)
    assert node(as_written, "MN.MA")["status"] == "not_met"
    assert node(as_written, "MN.MA")["parameters"] == {"requires_ma_eligibility": True}
    relaxed = _determine(pack_copy(tmp_path, "mn-act", "requires_ma_eligibility", "false"),
                         "mn-act", not_eligible)
    assert node(relaxed, "MN.MA")["status"] == "met"


# MN Eligible Recipients: a functional assessment with significant impairment in three or
# more of the domains of Minn. Stat. 245.462 subd. 11a (functional_domains).
def test_mn_functional_domains_are_what_the_impairments_count_from(tmp_path: Path) -> None:
    found = node(_determine(load_registry(), "mn-act", MN_INITIAL), "MN.FUNCTIONAL")
    assert found["status"] == "met"
    assert "self_care_and_independent_living" in found["parameters"]["functional_domains"]
    with pytest.raises(BhpolicyError, match="functional_domains"):
        _determine(load_registry(), "mn-act", {**MN_INITIAL, "impaired_domains": [
            "mental_health_symptoms", "social_functioning_including_leisure", "finances"]})
    registry = pack_copy(tmp_path, "mn-act", "functional_domains",
                         "[mental_health_symptoms, social_functioning_including_leisure, "
                         "self_care_and_independent_living, housing_and_transportation_needs]")
    two = {**MN_INITIAL, "impaired_domains": ["mental_health_symptoms",
                                              "housing_and_transportation_needs"]}
    assert node(_determine(registry, "mn-act", two), "MN.FUNCTIONAL")["status"] == "not_met"
