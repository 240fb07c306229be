"""SC.CP.BH.500 audit: "General Guidelines for Other Services Provided Concurrently with ACT"
(the allowable and not-allowable lists) read against "Other General Guidelines" (no other
behavioral health service; ACT claims supersede), and the per diem audit of ACT claims.

One audit run builds every case below (a claim per list item); each test reads its claim."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.audit_helpers import Audited, claim, run
from tests.billing_helpers import AGENCY, SC_NPI, auth, contact, member

OTHER = "1003000126"
ALLOWED = {  # Allowable list: each item with a code the SC crosswalk places in it
    "opioid_treatment": "H0020", "withdrawal_management": "H0014",
    "facility_based_crisis": "S9485", "residential_treatment": "H0019",
}
NOT_ALLOWED = {  # Not Allowable list
    "outpatient_therapy": "90834", "outpatient_medication_management": "H0034",
    "outpatient_psychiatric": "90791", "partial_hospitalization": "H0035",
    "medicaid_supported_employment": "H2023", "mobile_crisis": "H2011",
}

PSYCHIATRIST = "2084P0800X"  # NUCC: Psychiatry & Neurology, Psychiatry
# OP medication management billed as E/M (Not Allowable: "OP medication management"): the
# code alone is not enough; a psychiatric rendering taxonomy or a primary diagnosis in
# F20-F48 is. (claim id, code, line fields, expected category or None)
EM_CASES = [
    ("em-psychiatrist", "99213", {"rendering_taxonomy": PSYCHIATRIST, "diagnosis": "Z00.00"}),
    ("em-pmhnp", "99212", {"rendering_taxonomy": "363LP0808X"}),
    ("em-f20", "99214", {"diagnosis": "F20.9"}),
    ("em-f48-no-dot", "99215", {"diagnosis": "F481"}),
    ("em-f17", "99213", {"diagnosis": "F17.210"}),
    ("em-f03", "99213", {"diagnosis": "F03.90"}),
    ("em-f50", "99213", {"diagnosis": "F50.00"}),
    ("em-family-physician", "99213", {"rendering_taxonomy": "207Q00000X", "diagnosis": "I10"}),
    ("em-second-dx-only", "99213", {"diagnosis": "I10;F20.9"}),
    ("h2010-psychiatrist", "H2010", {"rendering_taxonomy": PSYCHIATRIST}),
    ("h2010-plain", "H2010", {}),
    ("addon-f31", "90833", {"diagnosis": "F31.9"}),
    ("addon-plain", "90833", {}),
]


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    tmp = tmp_path_factory.mktemp("audit-sc")
    members = [member("S1"), member("S2"), member("S3")]
    # S1: one episode from 2026-03-01 through a contiguous renewal (04-01 .. 06-30)
    # S2: a gap between authorizations -> two episodes; S3: one episode from 03-16
    auths = [auth("A1", "S1", end="2026-03-31"), auth("A2", "S1", start="2026-04-01",
                                                      end="2026-06-30", contributing=AGENCY),
             auth("B1", "S2", end="2026-03-31"), auth("B2", "S2", start="2026-04-05",
                                                      end="2026-06-30"),
             auth("C1", "S3", start="2026-03-16", end="2026-06-30")]
    claims = [claim(f"ok-{k}", "S1", "2026-04-10", hcpcs=code) for k, code in ALLOWED.items()]
    claims += [claim(f"no-{k}", "S1", "2026-04-10", hcpcs=code)
               for k, code in NOT_ALLOWED.items()]
    claims += [
        claim("nf", "S1", "2026-05-01", "2026-05-05", revenue_code="0120", bill_type="0211",
              paid="500.00"),
        claim("psr-30", "S1", "2026-03-30", hcpcs="H2017"),
        claim("psr-31", "S1", "2026-03-31", hcpcs="H2017"),
        # days 29..33 of the episode, across the renewal: 3 of 5 days after day 30
        claim("psr-span", "S1", "2026-03-29", "2026-04-02", hcpcs="H2017", paid="100.00"),
        # S2's second episode starts 04-05: 04-10 is its day 6
        claim("psr-new-episode", "S2", "2026-04-10", hcpcs="H2017"),
        # S3's episode starts mid-month: day 30 is 04-14, day 31 is 04-15
        claim("psr-s3-30", "S3", "2026-04-14", hcpcs="H2017"),
        claim("psr-s3-31", "S3", "2026-04-15", hcpcs="H2017"),
        claim("other-bh", "S1", "2026-04-12", hcpcs="H0031"),
        claim("group-op", "S1", "2026-04-12", hcpcs="90853"),
        claim("medical", "S1", "2026-04-12", hcpcs="99213"),
        claim("before", "S1", "2026-02-20", hcpcs="90834"),
        claim("half-in", "S1", "2026-06-29", "2026-07-02", hcpcs="H0035", paid="40.00"),
        claim("inpatient", "S1", "2026-05-20", "2026-05-22", bill_type="0111"),
    ]
    claims += [claim(claim_id, "S1", "2026-04-14", hcpcs=code, **fields)
               for claim_id, code, fields in EM_CASES]
    act = [claim("K-dup-1", "S1", "2026-05-06", hcpcs="H0040", provider_id=SC_NPI,
                 modifiers="U1", paid="180.00"),
           claim("K-dup-2", "S1", "2026-05-06", hcpcs="H0040", provider_id=SC_NPI,
                 modifiers="U1", paid="180.00"),
           claim("K-other", "S1", "2026-05-07", hcpcs="H0040", provider_id=OTHER,
                 paid="180.00"),
           claim("K-team", "S1", "2026-05-07", hcpcs="H0040", provider_id=SC_NPI,
                 paid="180.00"),
           claim("K-agency-too", "S1", "2026-05-21", hcpcs="H0040", provider_id=AGENCY,
                 paid="180.00"),
           claim("K-outside", "S1", "2026-07-03", hcpcs="H0040", provider_id=SC_NPI,
                 paid="180.00"),
           claim("K-short", "S1", "2026-05-08", hcpcs="H0040", provider_id=SC_NPI,
                 paid="180.00"),
           claim("K-inpatient", "S1", "2026-05-21", hcpcs="H0040", provider_id=SC_NPI,
                 pos="12", paid="180.00")]
    # June: 16 per diems on days with a qualifying contact -> the 16th is over the cap
    act += [claim(f"K-jun-{d:02d}", "S1", f"2026-06-{d:02d}", hcpcs="H0040",
                  provider_id=SC_NPI, paid="180.00") for d in range(1, 17)]
    contacts = [contact(d, member_id="S1") for d in
                ("2026-05-06", "2026-05-07", "2026-05-21", "2026-07-03")]
    contacts += [contact("2026-05-08", minutes=7, member_id="S1")]  # under 8 minutes
    contacts += [contact(f"2026-06-{d:02d}", member_id="S1") for d in range(1, 17)]
    return run(tmp, members, auths, claims, act, contacts)


@pytest.mark.parametrize("category", sorted(ALLOWED))
def test_allowable_list_is_an_exception_to_the_general_rule(sc: Audited, category: str
                                                            ) -> None:
    """Allowable list, citing both passages in the data: no finding."""
    assert sc.of(f"ok-{category}") == []


@pytest.mark.parametrize("category", sorted(NOT_ALLOWED))
def test_not_allowable_list_is_flagged(sc: Audited, category: str) -> None:
    f = sc.one(f"no-{category}")
    assert f["rule_id"] == f"concurrent.{category}"
    assert f["section"].startswith("General Guidelines for Other Services Provided "
                                   "Concurrently with ACT (Not Allowable)")
    assert (f["carc_group"], f["carc"], f["rarc"]) == ("CO", "97", "N20")
    assert f["severity"] == "deny" and f["amount_at_stake"] == Decimal("100.00")
    assert f["policy_id"] == "SC.CP.BH.500" and f["policy_revision"] == "02/26"
    assert f["action"]


def test_nursing_facility_recognized_by_bill_type(sc: Audited) -> None:
    """Not Allowable: nursing home facility, from the institutional bill type 021x."""
    f = sc.one("nf")
    assert f["category"] == "nursing_facility" and f["flagged_days"] == 5
    assert f["amount_at_stake"] == Decimal("500.00")


def test_psr_day_30_allowed_day_31_flagged(sc: Audited) -> None:
    """Allowable: PSR for a 30-day transition; Not Allowable: PSR after it."""
    assert sc.of("psr-30") == []
    f = sc.one("psr-31")
    assert f["day_of_episode"] == 31 and f["reason_id"] == "psr_after_transition"


def test_psr_claim_spanning_day_31_prorates_the_money_outside(sc: Audited) -> None:
    f = sc.one("psr-span")
    assert (str(f["flagged_from"]), str(f["flagged_to"])) == ("2026-03-31", "2026-04-02")
    assert f["flagged_days"] == 3 and f["amount_at_stake"] == Decimal("60.00")


def test_contiguous_authorizations_form_one_episode(sc: Audited) -> None:
    """Day 31 of S1's episode falls in its second authorization (renewed 04-01): the count
    runs on; a gap (S2) starts a new episode, whose day 6 is inside the transition."""
    assert str(sc.one("psr-span")["episode_start"]) == "2026-03-01"
    assert sc.of("psr-new-episode") == []


def test_episode_day_one_is_the_start_date(sc: Audited) -> None:
    assert sc.of("psr-s3-30") == []
    assert sc.one("psr-s3-31")["day_of_episode"] == 31


def test_general_rule_flags_other_behavioral_health_for_review(sc: Audited) -> None:
    """Other General Guidelines: no other behavioral health service beside ACT."""
    f = sc.one("other-bh")
    assert f["category"] == "other_behavioral_health" and f["severity"] == "review"
    assert f["section"] == "Other General Guidelines"


def test_finding_on_an_unverified_crosswalk_row_says_so(sc: Audited) -> None:
    f = sc.one("group-op")
    assert f["category"] == "outpatient_therapy" and f["crosswalk_verified"] is False
    assert sc.one("no-outpatient_therapy")["crosswalk_verified"] is True


def test_unmapped_and_out_of_episode_claims_are_not_findings(sc: Audited) -> None:
    assert sc.of("medical") == [] and sc.of("before") == []


def test_claim_partly_inside_the_episode_counts_days_inside(sc: Audited) -> None:
    f = sc.one("half-in")
    assert f["flagged_days"] == 2 and f["amount_at_stake"] == Decimal("20.00")


def test_sc_sets_no_place_of_service_limit(sc: Audited) -> None:
    """Other General Guidelines: no POS restriction, so inpatient days need no POS 21."""
    assert sc.of("inpatient") == [] and sc.of("K-inpatient") == []


def test_per_diem_duplicate_same_provider(sc: Audited) -> None:
    """Other General Guidelines: one per diem per member per day (CARC 18)."""
    assert sc.of("K-dup-1") == []
    f = sc.one("K-dup-2")
    assert (f["rule_id"], f["carc"], f["rarc"]) == ("per_diem.duplicate_per_diem", "18", "M86")


def test_per_diem_by_another_authorized_provider_the_same_day(sc: Audited) -> None:
    """Other General Guidelines: one per diem per member per day. The day goes to the
    authorization's provider; a contributing agency of the same authorization billing that
    day too is another provider's per diem (B20). SC names no single billing agency."""
    assert sc.of("K-inpatient") == []
    f = sc.one("K-agency-too")
    assert (f["rule_id"], f["carc"]) == ("per_diem.per_diem_other_provider", "B20")


def test_per_diem_by_a_provider_the_authorization_does_not_name(sc: Audited) -> None:
    """Prior Authorization, Continuity of Care, and Reimbursement: a provider that is
    neither the authorization's nor a contributing agency gets its own rule (CARC 15), not
    "another provider" and not "no qualifying contact"."""
    assert sc.of("K-team") == []
    f = sc.one("K-other")
    assert (f["rule_id"], f["carc"], f["rarc"]) == (
        "per_diem.provider_not_authorized", "15", "N54")
    assert f["section"] == "Prior Authorization, Continuity of Care, and Reimbursement"
    assert f["severity"] == "deny"


def test_unauthorized_provider_is_flagged_without_contacts(tmp_path: Path) -> None:
    """The check reads the authorization covering each date, not the episode: S1's episode
    runs through a renewal with another provider, so the first team billing a day of the
    renewal is not authorized that day. No contact log is given."""
    auths = [auth("A1", "S1", start="2026-03-01", end="2026-03-31"),
             auth("A2", "S1", provider_id=OTHER, start="2026-04-01", end="2026-04-30")]
    act = [claim("K-march", "S1", "2026-03-31", hcpcs="H0040", provider_id=SC_NPI),
           claim("K-april-old-team", "S1", "2026-04-01", hcpcs="H0040", provider_id=SC_NPI),
           claim("K-april-new-team", "S1", "2026-04-02", hcpcs="H0040", provider_id=OTHER)]
    audited = run(tmp_path, [member("S1")], auths, [], act)
    assert audited.of("K-march") == [] and audited.of("K-april-new-team") == []
    assert audited.one("K-april-old-team")["rule_id"] == "per_diem.provider_not_authorized"


@pytest.mark.parametrize(("claim_id", "severity_or_none", "category"), [
    ("em-psychiatrist", "review", "outpatient_medication_management"),
    ("em-pmhnp", "review", "outpatient_medication_management"),
    ("em-f20", "review", "outpatient_medication_management"),
    ("em-f48-no-dot", "review", "outpatient_medication_management"),
    ("em-f17", None, None), ("em-f03", None, None), ("em-f50", None, None),
    ("em-family-physician", None, None), ("em-second-dx-only", None, None),
    ("h2010-psychiatrist", "review", "outpatient_medication_management"),
    ("h2010-plain", "review", "other_behavioral_health"),
    ("addon-f31", "review", "outpatient_medication_management"),
    ("addon-plain", "deny", "outpatient_therapy"),
])
def test_op_medication_management_billed_as_em(sc: Audited, claim_id: str,
                                              severity_or_none: str | None,
                                              category: str | None) -> None:
    """Not Allowable: "OP medication management". An E/M visit, a psychotherapy add-on or
    H2010 counts as one only when the rendering taxonomy is psychiatric (NUCC 2084P0800X,
    363LP0808X, ...) or the primary diagnosis (the first on the line) is in F20-F48; F17
    (nicotine), F03 (dementia) and F50 are not. Inferred matches are for review; without
    the condition a code falls back to its plain row."""
    found = sc.of(claim_id)
    if category is None:
        assert found == []
        return
    assert len(found) == 1
    f = found[0]
    assert (f["category"], f["severity"]) == (category, severity_or_none)
    if category == "outpatient_medication_management":
        assert f["section"].startswith("General Guidelines for Other Services Provided "
                                       "Concurrently with ACT (Not Allowable)")


def test_per_diem_outside_every_episode(sc: Audited) -> None:
    assert sc.one("K-outside")["reason_id"] == "outside_authorization"


def test_per_diem_without_qualifying_contact(sc: Audited) -> None:
    """A 7-minute contact is not a qualifying contact (8 minutes; Prior Authorization ...)."""
    f = sc.one("K-short")
    assert f["reason_id"] == "per_diem_without_contact" and f["carc"] == "272"


def test_per_diem_over_the_monthly_cap(sc: Audited) -> None:
    """I.F: not billed for more than 15 days a month; the 16th is flagged (CARC 119)."""
    assert all(sc.of(f"K-jun-{d:02d}") == [] for d in range(1, 16))
    f = sc.one("K-jun-16")
    assert (f["reason_id"], f["carc"], f["section"]) == ("over_monthly_cap", "119", "I.F")


def test_summary_totals_match_the_findings(sc: Audited) -> None:
    assert sc.summary.findings == len(sc.findings)
    total = sum((f["amount_at_stake"] for f in sc.findings), Decimal("0"))
    assert Decimal(sc.summary.amount_at_stake) == total
    assert sc.summary.rejected_rows == 0


def test_bad_claim_rows_go_to_the_errors_file(tmp_path: Path) -> None:
    claims = [claim("good", "S1", "2026-04-10", hcpcs="90834"),
              claim("backwards", "S1", "2026-04-10", "2026-04-01", hcpcs="90834"),
              claim("stranger", "ZZ", "2026-04-10", hcpcs="90834"),
              claim("bad-money", "S1", "2026-04-10", hcpcs="90834", paid="12,50")]
    audited = run(tmp_path, [member("S1")], [auth("A1", "S1")], claims)
    assert [f["claim_id"] for f in audited.findings] == ["good"]
    reasons = {(e["row"], e["field"]) for e in audited.errors}
    assert reasons == {("3", "to_date"), ("4", "member_id"), ("5", "paid_amount")}


# Issue 15: the audit reads billing's holds (one rule): a paid day before the policy's
# first revision (Revision Log: "New policy", 02/24) and an H0039 day of 03/25 until 02/26
# (Coding Implications: the table then lists no H0039, and "does not guarantee coverage")
# are review findings without a CARC, not denials; the 15-day limit before 02/26 cites
# Other General Guidelines; every finding carries the revision in force on its date.
@pytest.fixture(scope="module")
def early(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    tmp = tmp_path_factory.mktemp("audit-sc-early")
    auths = [auth("A0", "S1", start="2024-01-01", end="2024-03-31"),
             auth("A1", "S1", start="2025-06-01", end="2025-06-30"),
             auth("A2", "S1", start="2025-09-01", end="2026-02-28", billing_code="H0039")]
    act = [claim("K-2024-01-31", "S1", "2024-01-31", hcpcs="H0040", provider_id=SC_NPI,
                 modifiers="U1"),
           claim("K-2024-02-01", "S1", "2024-02-01", hcpcs="H0040", provider_id=SC_NPI,
                 modifiers="U1"),
           claim("T-2025-09-10", "S1", "2025-09-10", hcpcs="H0039", provider_id=SC_NPI),
           claim("T-2026-01-31", "S1", "2026-01-31", hcpcs="H0039", provider_id=SC_NPI),
           claim("T-2026-02-01", "S1", "2026-02-01", hcpcs="H0039", provider_id=SC_NPI)]
    act += [claim(f"K-2025-06-{d:02d}", "S1", f"2025-06-{d:02d}", hcpcs="H0040",
                  provider_id=SC_NPI, modifiers="U1") for d in range(1, 17)]
    claims = [claim("O-2024-01-15", "S1", "2024-01-15", hcpcs="90834"),
              # spans the first revision: 2 days before it, 1 day from it
              claim("O-span", "S1", "2024-01-30", "2024-02-01", hcpcs="90834", paid="90.00"),
              claim("O-2025-06-15", "S1", "2025-06-15", hcpcs="90834")]
    return run(tmp, [member("S1")], auths, claims, act)


def test_per_diem_before_the_first_revision_is_for_review(early: Audited) -> None:
    f = early.one("K-2024-01-31")
    assert (f["rule_id"], f["severity"], f["carc"], f["section"], f["policy_revision"]) == (
        "per_diem.plan_policy_not_yet_issued", "review", None, "Revision Log", "02/24")
    assert early.of("K-2024-02-01") == []


@pytest.mark.parametrize(("claim_id", "held"), [
    ("T-2025-09-10", True), ("T-2026-01-31", True), ("T-2026-02-01", False)])
def test_h0039_while_the_coding_table_lists_none_is_for_review(early: Audited, claim_id: str,
                                                              held: bool) -> None:
    found = early.of(claim_id)
    if not held:  # 02/26 listed H0039 again
        assert found == []
        return
    (f,) = found
    assert (f["rule_id"], f["severity"], f["carc"], f["section"], f["policy_revision"]) == (
        "per_diem.code_not_listed", "review", None, "Coding Implications", "03/25")


def test_over_the_cap_before_02_26_cites_other_general_guidelines(early: Audited) -> None:
    assert all(early.of(f"K-2025-06-{d:02d}") == [] for d in range(1, 16))
    f = early.one("K-2025-06-16")
    assert (f["rule_id"], f["carc"], f["section"], f["policy_revision"]) == (
        "per_diem.over_monthly_cap", "119", "Other General Guidelines", "03/25")


def test_concurrent_service_before_the_first_revision_is_for_review(early: Audited) -> None:
    f = early.one("O-2024-01-15")
    assert (f["rule_id"], f["severity"], f["carc"], f["policy_revision"]) == (
        "concurrent.plan_policy_not_yet_issued", "review", None, "02/24")
    before, after = early.of("O-span")
    assert (str(before["flagged_from"]), str(before["flagged_to"]), before["carc"],
            before["amount_at_stake"]) == ("2024-01-30", "2024-01-31", None,
                                           Decimal("60.00"))
    assert (str(after["flagged_from"]), after["rule_id"], after["carc"],
            after["amount_at_stake"], after["policy_revision"]) == (
        "2024-02-01", "concurrent.outpatient_therapy", "97", Decimal("30.00"), "02/24")
    # each part has its own days, day of the episode (from 01/01), severity and section
    assert (before["rule_id"], before["severity"], before["section"], before["flagged_days"],
            before["day_of_episode"]) == (
        "concurrent.plan_policy_not_yet_issued", "review", "Revision Log", 2, 30)
    later = early.one("O-2025-06-15")  # the same service under the category's own rule
    assert (str(after["flagged_to"]), after["flagged_days"], after["day_of_episode"],
            after["severity"], after["section"]) == (
        "2024-02-01", 1, 32, later["severity"], later["section"])
    assert early.one("O-2025-06-15")["policy_revision"] == "03/25"
