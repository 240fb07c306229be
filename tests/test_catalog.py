"""Curated catalog entries: every fact cited or explicitly absent; official descriptors win."""

from __future__ import annotations

import pytest

from bhpolicy.catalog.model import OPTIONAL_FIELDS
from bhpolicy.catalog.store import load_catalog, load_curated

CURATED = ["H0039", "H0040", "H2014", "H2017", "H2019", "H2020", "H2040"]

# CMS long descriptors and units of the codes in scope (shared/DOMAIN.md).
OFFICIAL = {
    "H0039": ("Assertive community treatment, face-to-face, per 15 minutes", "per_15_minutes"),
    "H0040": ("Assertive community treatment program, per diem", "per_diem"),
    "H2014": ("Skills training and development, per 15 minutes", "per_15_minutes"),
    "H2017": ("Psychosocial rehabilitation services, per 15 minutes", "per_15_minutes"),
    "H2019": ("Therapeutic behavioral services, per 15 minutes", "per_15_minutes"),
    "H2020": ("Therapeutic behavioral services, per diem", "per_diem"),
    "H2040": ("Coordinated specialty care, team-based, for first episode psychosis, per month",
              "per_month"),
}


def test_every_curated_entry_loads() -> None:
    entries, _ = load_curated()
    assert sorted(entries) == CURATED


@pytest.mark.parametrize("code", CURATED)
def test_official_descriptor_and_unit_come_from_cms(code: str) -> None:
    entry = load_catalog().get(code)
    descriptor, unit = OFFICIAL[code]
    assert entry.official_descriptor.value == descriptor
    assert entry.official_descriptor.source == "cms-hcpcs"
    assert entry.unit is not None
    assert (entry.unit.value, entry.unit.source) == (unit, "cms-hcpcs")


@pytest.mark.parametrize("code", CURATED)
def test_each_field_is_cited_or_absent(code: str) -> None:
    catalog = load_catalog()
    entry = catalog.get(code)
    for name in OPTIONAL_FIELDS:
        value = getattr(entry, name)
        assert value is None or value.source in catalog.sources, (code, name)
    for item in [*entry.related, *entry.modifiers, *entry.payer_notes]:
        assert item.source in catalog.sources
    for conflict in entry.conflicts:
        assert set(conflict.sources) <= set(catalog.sources)


def test_fields_no_source_gives_stay_absent() -> None:
    catalog = load_catalog()
    # No seed gives H2040 (as coordinated specialty care) synonyms, plain language or an RVU.
    h2040 = catalog.get("H2040")
    assert h2040.synonyms is None and h2040.plain_language is None and h2040.rvu is None
    # H0039 has no reference page among the seeds: no synonyms, specialties or RVU text.
    h0039 = catalog.get("H0039")
    assert h0039.synonyms is None and h0039.specialties is None and h0039.rvu is None


def test_seed_facts_carry_their_source() -> None:
    h0040 = load_catalog().get("H0040")
    assert h0040.synonyms is not None and h0040.synonyms.source == "rvu-edge-h0040"
    assert "assertive community treatment" in h0040.synonyms.value
    assert h0040.rvu is not None and "no physician work RVU" in h0040.rvu.value
    h2020 = load_catalog().get("H2020")
    assert h2020.plain_language is not None
    assert "daily behavior therapy" in h2020.plain_language.value


@pytest.mark.parametrize(
    ("code", "other_says"),
    [("H2040", "skills training"), ("H2014", "hour")],
)
def test_seed_conflict_with_cms_is_shown_citing_both(code: str, other_says: str) -> None:
    entry = load_catalog().get(code)
    conflict = next(c for c in entry.conflicts if c.field == "descriptor and unit")
    assert conflict.sources == ["cms-hcpcs", "article-h2040"]
    assert other_says in conflict.other
    assert "CMS descriptor wins" in conflict.resolution
    assert conflict.official.rstrip(".") == OFFICIAL[code][0]


def test_modifier_meaning_belongs_to_a_payer_or_source() -> None:
    catalog = load_catalog()
    h0040 = {m.modifier: m for m in catalog.get("H0040").modifiers}
    assert h0040["U1"].applies_to == "SC.CP.BH.500" and "Small" in h0040["U1"].meaning
    assert h0040["U3"].applies_to == "SC.CP.BH.500" and "Large" in h0040["U3"].meaning
    h2040 = {m.modifier: m for m in catalog.get("H2040").modifiers}
    assert h2040["U1"].applies_to == "per source"
    assert h2040["U1"].source == "article-h2040"
    assert h2040["U1"].meaning != h0040["U1"].meaning


def test_payer_notes_cite_policy_sections() -> None:
    notes = load_catalog().get("H0040").payer_notes
    sections = {(n.policy_id, n.section) for n in notes}
    assert ("SC.CP.BH.500", "I.F") in sections
    assert ("MN.DHS.ACT", "Billing") in sections


def test_related_codes_exist_in_catalog() -> None:
    catalog = load_catalog()
    for code in CURATED:
        for related in catalog.get(code).related:
            assert related.code in catalog.entries, (code, related.code)
