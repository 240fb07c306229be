"""Policy packs: schema, dated parameters, as-of lookup, extra pack folders."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from bhpolicy.errors import DataFileError, NotFoundError
from bhpolicy.policy import load_registry
from bhpolicy.policy.model import ParameterNotInForce
from bhpolicy.policy.registry import builtin_policy_root

D = dt.date


def test_both_packs_load_with_id_and_alias() -> None:
    registry = load_registry()
    sc = registry.get("SC.CP.BH.500")
    assert registry.get("sc-act") is sc
    assert registry.get("SC-ACT") is sc
    mn = registry.get("mn-act")
    assert mn.id == "MN.DHS.ACT"
    assert sc.header.revision == "02/26"
    assert mn.header.revision == "10-22-2013"
    assert sc.header.state == "SC" and mn.header.state == "MN"


def test_unknown_pack_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match=r"SC\.CP\.BH\.500 \(sc-act\)"):
        load_registry().get("tx-act")


def test_every_parameter_has_a_section_and_a_declared_source() -> None:
    for pack in load_registry().packs:
        for name, parameter in pack.parameters.items():
            assert parameter.section, name
            assert pack.source_of(parameter).title


# (pack, parameter, as-of date, expected value, expected section) - each row is the policy's
# own example of a value in force on a date.
AS_OF_CASES = [
    # I.A: 18 since the first revision; 02/26 only reworded it.
    ("sc-act", "min_age_years", D(2024, 2, 1), 18, "I.A"),
    # Reimbursement: a "15-minute" contact lasts at least 8 minutes.
    ("sc-act", "contact_min_minutes", D(2026, 11, 1), 8,
     "Prior Authorization, Continuity of Care, and Reimbursement"),
    # I.F: 9 and 15 days a month from 02/26.
    ("sc-act", "monthly_min_service_days", D(2026, 2, 1), 9, "I.F"),
    ("sc-act", "monthly_max_billed_days", D(2026, 2, 28), 15, "I.F"),
    # Issue 15: the 02/26 log "clarified" I.F; the 15-day limit is older (Other General
    # Guidelines: "the maximum monthly limit of fifteen visits/days"), so it holds from the
    # first revision, citing that passage. The nine-day minimum is new in 02/26: none before.
    ("sc-act", "monthly_max_billed_days", D(2024, 2, 1), 15, "Other General Guidelines"),
    ("sc-act", "monthly_max_billed_days", D(2026, 1, 31), 15, "Other General Guidelines"),
    ("sc-act", "monthly_min_service_days", D(2026, 1, 31), None, "I.F"),
    # Coding Implications: H0039 listed in 02/24, removed 03/25, listed again 02/26.
    ("sc-act", "billing_codes", D(2024, 6, 1), ["H0039", "H0040"], "Coding Implications"),
    ("sc-act", "billing_codes", D(2025, 3, 1), ["H0040"], "Coding Implications"),
    ("sc-act", "billing_codes", D(2026, 1, 31), ["H0040"], "Coding Implications"),
    ("sc-act", "billing_codes", D(2026, 2, 1), ["H0039", "H0040"], "Coding Implications"),
    # the unit is the code's own; only the listing (billing_codes) lapsed 03/25 to 02/26
    ("sc-act", "h0039_unit_minutes", D(2025, 8, 1), 15, "Coding Implications"),
    ("sc-act", "team_size_modifiers", D(2026, 3, 1), {"small": "U1", "large": "U3"},
     "Coding Implications"),
    # III.D: three months.
    ("sc-act", "discharge_min_months_without_improvement", D(2026, 3, 1), 3, "III.D"),
    # Minnesota: LOCUS level 4 as the page reads; 3 impaired domains; POS 21 inpatient.
    ("mn-act", "locus_level", D(2020, 1, 1), 4, "Eligible Recipients"),
    ("mn-act", "locus_comparison", D(2020, 1, 1), "eq", "Eligible Recipients"),
    ("mn-act", "min_impaired_domains", D(2020, 1, 1), 3, "Eligible Recipients"),
    ("mn-act", "inpatient_pos", D(2020, 1, 1), "21", "Billing"),
    ("mn-act", "qualifying_participants", D(2020, 1, 1), ["member"], "Billing"),
    ("mn-act", "contact_min_minutes", D(2020, 1, 1), None, "Billing"),
]


@pytest.mark.parametrize(("pack", "name", "as_of", "value", "section"), AS_OF_CASES)
def test_as_of_lookup_returns_value_in_force(
    pack: str, name: str, as_of: dt.date, value: object, section: str
) -> None:
    found = load_registry().get(pack).value(name, as_of)
    assert found.value == value
    assert found.citation.section == section
    assert found.citation.policy_id == load_registry().get(pack).id


def test_value_carries_its_validity_window() -> None:
    found = load_registry().get("sc-act").value("billing_codes", D(2025, 6, 1))
    assert found.since == D(2025, 3, 1)
    assert found.until == D(2026, 1, 31)
    # cited as the revision in force on the date asked about (policy.yaml: revisions)
    assert found.citation.revision == "03/25"
    sc = load_registry().get("sc-act")
    assert [sc.revision_on(d) for d in (D(2024, 1, 31), D(2024, 2, 1), D(2025, 2, 28),
                                        D(2025, 3, 1), D(2026, 2, 1))] == [
        "02/24", "02/24", "02/24", "03/25", "02/26"]
    assert load_registry().get("mn-act").revision_on(D(2020, 1, 1)) == "10-22-2013"


def test_lookup_before_first_value_fails_loudly() -> None:
    sc = load_registry().get("sc-act")
    with pytest.raises(ParameterNotInForce, match=r"monthly_max_billed_days.*2024-01-31"):
        sc.value("monthly_max_billed_days", D(2024, 1, 31))
    with pytest.raises(ParameterNotInForce, match="min_age_years"):
        sc.value("min_age_years", D(2024, 1, 31))


def test_unknown_parameter_is_an_error() -> None:
    with pytest.raises(ParameterNotInForce, match="no parameter 'eight_minutes'"):
        load_registry().get("sc-act").value("eight_minutes", D(2026, 3, 1))


def test_functional_domains_cite_the_statute() -> None:
    mn = load_registry().get("mn-act")
    found = mn.value("functional_domains", D(2024, 1, 1))
    assert isinstance(found.value, list) and len(found.value) == 11
    assert "245.462" in found.citation.source_title


# ---- malformed packs: the loader names file, key and problem ----------------------------

def _copy_pack(tmp_path: Path, alias: str = "sc-act") -> Path:
    target = tmp_path / "packs" / "xx-act"
    shutil.copytree(builtin_policy_root() / alias, target)
    policy = target / "policy.yaml"
    text = policy.read_text()
    text = text.replace("id: SC.CP.BH.500", "id: XX.TEST.1").replace("alias: sc-act",
                                                                        "alias: xx-act")
    policy.write_text(text)
    return target


def _break(pack: Path, file: str, old: str, new: str) -> None:
    path = pack / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_new_payer_is_a_new_folder(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    registry = load_registry([pack.parent])
    assert registry.get("xx-act").value("contact_min_minutes", D(2026, 3, 1)).value == 8


def test_env_var_adds_pack_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pack = _copy_pack(tmp_path)
    monkeypatch.setenv("BHPOLICY_POLICY_PATH", str(pack.parent))
    assert load_registry().get("XX.TEST.1").alias == "xx-act"


@pytest.mark.parametrize(
    ("file", "old", "new", "where", "problem"),
    [
        # a parameter without its section
        ("parameters.yaml", "    section: I.A\n", "", "parameters.min_age_years.section",
         "Field required"),
        # a code written without quotes (a string in the schema)
        ("parameters.yaml", 'value: "H0040"', "value: 4040", "parameters.per_diem_code",
         "quoted string"),
        # a duplicate key
        ("parameters.yaml", "  min_age_years:\n", "  min_age_years:\n    unit: years\n",
         "line", "duplicate key 'unit'"),
        # an unknown key
        ("policy.yaml", "state: SC", "state: SC\nregion: south", "key region",
         "Extra inputs are not permitted"),
        # a bad date
        ("policy.yaml", "revision_date: 2026-02-01", "revision_date: 2026-02-30",
         "key revision_date", "date"),
        # values out of date order
        ("parameters.yaml", "      - since: 2025-03-01\n        value: [\"H0040\"]",
         "      - since: 2023-03-01\n        value: [\"H0040\"]", "parameters.billing_codes",
         "increasing order"),
        # a null value with no note saying why
        ("parameters.yaml", "        value: null\n        note: >-\n          No monthly "
         "minimum before 02/26: the 03/25 I.F held another list (the log's \"at\n          "
         "least one (1-7)\"), and the 02/26 log is the first to name nine days.\n",
         "        value: null\n", "parameters.monthly_min_service_days",
         "'note' must say why"),
        # a source that is not declared
        ("parameters.yaml", "    section: I.A\n", "    section: I.A\n    source: nowhere\n",
         "parameters.min_age_years.source", "unknown source 'nowhere'"),
        # a state that is not a state code
        ("policy.yaml", "state: SC", "state: South Carolina", "key state", "pattern"),
    ],
)
def test_malformed_pack_fails_with_file_key_and_problem(
    tmp_path: Path, file: str, old: str, new: str, where: str, problem: str
) -> None:
    pack = _copy_pack(tmp_path)
    _break(pack, file, old, new)
    with pytest.raises(DataFileError) as err:
        load_registry([pack.parent])
    message = str(err.value)
    assert str(pack / file) in message
    assert where in message
    assert problem in message


def test_two_packs_with_one_alias_clash(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    _break(pack, "policy.yaml", "alias: xx-act", "alias: sc-act")
    with pytest.raises(DataFileError, match="clashes"):
        load_registry([pack.parent])


def test_missing_policy_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_registry([tmp_path / "nope"])


def test_mn_source_carries_both_dates_the_page_shows() -> None:
    # seed 004: header "Revised: 10-22-2013", footer "Updated: 2/23/15"
    source = load_registry().get("mn-act").header.source
    assert (source.revised, source.updated) == ("2013-10-22", "2015-02-23")
