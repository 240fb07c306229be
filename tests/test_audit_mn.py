"""Minnesota DHS ACT page: the "ACT & Other Concurrent Services" table, row by row, and the
Billing section (one provider a day, POS 21 on inpatient days, the reversal to request).

One audit run builds every case (a claim per row and variant); each test reads its claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhpolicy.audit.model import concurrent_services
from bhpolicy.policy import load_registry
from tests.audit_helpers import Audited, claim, run
from tests.billing_helpers import AGENCY, MN_NPI, auth, member

OTHER = "1003000126"


@pytest.fixture(scope="module")
def mn(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    tmp = tmp_path_factory.mktemp("audit-mn")
    # N1: ACT from 2026-03-10 (admission month March) to 2026-08-31 (discharge month August)
    auths = [auth("A1", "N1", policy="mn-act", provider_id=MN_NPI, team_size="",
                  start="2026-03-10", end="2026-05-31", contributing=AGENCY),
             auth("A2", "N1", policy="mn-act", provider_id=MN_NPI, team_size="",
                  start="2026-06-01", end="2026-08-31", contributing=AGENCY)]
    c = claim
    claims = [
        c("tcm-admission", "N1", "2026-03-20", hcpcs="T2023"),
        c("tcm-middle", "N1", "2026-05-15", hcpcs="T2023"),
        c("tcm-middle-auth", "N1", "2026-06-15", hcpcs="T2023", authorization_id="PA1"),
        c("tcm-discharge", "N1", "2026-08-10", hcpcs="T2023"),
        c("dt-noauth", "N1", "2026-04-01", hcpcs="H2012"),
        c("dt-auth", "N1", "2026-04-02", hcpcs="H2012", authorization_id="PA2"),
        c("ph", "N1", "2026-04-03", hcpcs="H0035"),
        c("irts", "N1", "2026-04-04", "2026-04-09", hcpcs="H0019"),
        c("armhs-noauth", "N1", "2026-04-05", hcpcs="H2017"),
        c("armhs-auth", "N1", "2026-04-06", hcpcs="H2017", authorization_id="PA3"),
        c("crisis-team", "N1", "2026-04-07", hcpcs="H2011", provider_id=MN_NPI),
        c("crisis-agency", "N1", "2026-04-07", hcpcs="H2011", provider_id=AGENCY),
        c("crisis-other", "N1", "2026-04-07", hcpcs="H2011", provider_id=OTHER),
        c("stab-nonres", "N1", "2026-04-08", hcpcs="S9484"),
        c("stab-res", "N1", "2026-04-08", hcpcs="S9485"),
        c("psych-team", "N1", "2026-04-09", hcpcs="90791", provider_id=MN_NPI),
        c("psych-other", "N1", "2026-04-09", hcpcs="90791", provider_id=OTHER),
        c("therapy-agency", "N1", "2026-04-10", hcpcs="90834", provider_id=AGENCY),
        c("therapy-other", "N1", "2026-04-10", hcpcs="90834", provider_id=OTHER),
        c("inpatient", "N1", "2026-04-20", "2026-04-22", bill_type="0111"),
        c("pca", "N1", "2026-04-11", hcpcs="T1019"),
        # a stay 05-04..05-06, and two stays that meet on 05-12 (a transfer): one run of days
        c("stay-may", "N1", "2026-05-04", "2026-05-06", bill_type="0111"),
        c("stay-a", "N1", "2026-05-10", "2026-05-12", bill_type="0111"),
        c("stay-b", "N1", "2026-05-12", "2026-05-15", bill_type="0111"),
        # E/M by the team's psychiatrist, by another psychiatrist, and by the team for F17
        c("em-team-psychiatrist", "N1", "2026-04-14", hcpcs="99213", provider_id=MN_NPI,
          rendering_taxonomy="2084P0800X"),
        c("em-team-f41", "N1", "2026-04-15", hcpcs="99214", provider_id=AGENCY,
          diagnosis="F41.1"),
        c("em-other-psychiatrist", "N1", "2026-04-14", hcpcs="99213", provider_id=OTHER,
          rendering_taxonomy="2084P0800X"),
        c("em-team-f17", "N1", "2026-04-16", hcpcs="99213", provider_id=MN_NPI,
          diagnosis="F17.210"),
    ]
    act = [claim("K-ip-wrong", "N1", "2026-04-21", hcpcs="H0040", provider_id=MN_NPI,
                 pos="12", paid="200.00"),
           claim("K-ip-right", "N1", "2026-04-22", hcpcs="H0040", provider_id=MN_NPI,
                 pos="21", paid="200.00"),
           claim("K-home", "N1", "2026-04-23", hcpcs="H0040", provider_id=MN_NPI,
                 pos="12", paid="200.00"),
           claim("K-agency", "N1", "2026-04-23", hcpcs="H0040", provider_id=AGENCY,
                 pos="12", paid="200.00"),
           claim("K-agency-alone", "N1", "2026-04-24", hcpcs="H0040", provider_id=AGENCY,
                 pos="12", paid="200.00"),
           claim("K-stranger", "N1", "2026-04-25", hcpcs="H0040", provider_id=OTHER,
                 pos="12", paid="200.00")]
    act += [claim(f"K-may-{d:02d}", "N1", f"2026-05-{d:02d}", hcpcs="H0040",
                  provider_id=MN_NPI, pos="12", paid="200.00") for d in (4, 5, 6, 12, 15)]
    return run(tmp, [member("N1", state="MN")], auths, claims, act)


def test_mh_tcm_in_admission_and_discharge_months(mn: Audited) -> None:
    """MH-TCM row: covered only in the month of admission or discharge from ACT."""
    assert mn.of("tcm-admission") == [] and mn.of("tcm-discharge") == []


def test_mh_tcm_other_months_need_an_authorization(mn: Audited) -> None:
    f = mn.one("tcm-middle")
    assert (f["category"], f["carc"], f["rarc"]) == ("mh_tcm", "197", "M62")
    assert f["section"] == "ACT & Other Concurrent Services (MH-TCM)"
    assert f["crosswalk_verified"] is False  # T2023 for MH-TCM: no public source found
    assert mn.of("tcm-middle-auth") == []


def test_day_treatment_needs_authorization_and_names_the_reversal(mn: Audited) -> None:
    """Day Treatment row, and Billing: ask for the reversal, then resubmit the ACT claim."""
    f = mn.one("dt-noauth")
    assert "reversed" in f["action"] and "resubmit" in f["action"]
    assert "Billing" in f["section"]
    assert mn.of("dt-auth") == []


def test_partial_hospitalization_irts_residential_crisis_and_pca_are_allowed(mn: Audited
                                                                             ) -> None:
    """Rows answering "can be provided in addition to ACT: Yes" with no authorization."""
    for claim_id in ("ph", "irts", "stab-res", "pca"):
        assert mn.of(claim_id) == [], claim_id


def test_armhs_needs_authorization(mn: Audited) -> None:
    assert mn.one("armhs-noauth")["category"] == "armhs"
    assert mn.of("armhs-auth") == []


def test_mobile_crisis_flagged_only_from_the_act_team(mn: Audited) -> None:
    """Crisis Assessment and Intervention: "usually" part of ACT; flagged only when the ACT
    provider or a contributing agency bills it."""
    assert mn.one("crisis-team")["category"] == "mobile_crisis"
    assert mn.one("crisis-agency")["category"] == "mobile_crisis"
    assert mn.of("crisis-other") == []


def test_nonresidential_crisis_stabilization_is_never_separate(mn: Audited) -> None:
    assert mn.one("stab-nonres")["reason_id"] == "concurrent_not_allowed"


def test_psychiatric_services_and_psychotherapy_sometimes_included(mn: Audited) -> None:
    assert mn.one("psych-team")["category"] == "psychiatric_physician_services"
    assert mn.of("psych-other") == []
    assert mn.one("therapy-agency")["category"] == "outpatient_psychotherapy"
    assert mn.of("therapy-other") == []


def test_inpatient_days_need_pos_21_on_the_act_claim(mn: Audited) -> None:
    """Inpatient Hospitalization row and Billing: POS 21 for ACT given in an inpatient
    hospital."""
    assert mn.of("inpatient") == []
    f = mn.one("K-ip-wrong")
    assert (f["reason_id"], f["carc"], f["rarc"]) == ("inpatient_pos_missing", "5", "M77")
    assert mn.of("K-ip-right") == [] and mn.of("K-home") == []


def test_only_the_billing_agency_bills_the_per_diem(mn: Audited) -> None:
    """Billing: "Only one agency may bill when team members are from more than one agency.
    The billing provider reimburses other contributing agencies." A contributing agency's
    own per diem is flagged, on a day the billing provider billed too and on a day it did
    not; the billing provider's line stands."""
    assert mn.of("K-home") == []
    for claim_id in ("K-agency", "K-agency-alone"):
        f = mn.one(claim_id)
        assert (f["rule_id"], f["carc"], f["severity"]) == (
            "per_diem.contributing_agency_billed", "15", "deny"), claim_id
        assert f["section"] == "Billing"


def test_per_diem_by_a_provider_outside_the_authorization(mn: Audited) -> None:
    """Billing ("to one provider per day"): a provider that is neither the authorization's
    nor a contributing agency is flagged with its own rule, without a contact log."""
    f = mn.one("K-stranger")
    assert (f["rule_id"], f["reason_id"], f["carc"]) == (
        "per_diem.provider_not_authorized", "per_diem_provider_not_authorized", "15")


def test_admission_and_discharge_days_without_pos_21_are_for_review(mn: Audited) -> None:
    """Billing: POS 21 "if ACT services were provided to a recipient in an inpatient
    hospital". On the first and last day of a stay the recipient may have been seen at home,
    so a POS 12 line there is a review finding with no CARC; the days between are denied
    (CARC 5). Stays that meet (05-10..05-12, 05-12..05-15) are one run: 05-12 is inside."""
    for day in ("04", "06", "15"):
        f = mn.one(f"K-may-{day}")
        assert (f["rule_id"], f["severity"], f["carc"]) == (
            "per_diem.inpatient_admission_or_discharge_day", "review", None), day
        assert "Inpatient Hospitalization" in f["section"]
    for day in ("05", "12"):
        f = mn.one(f"K-may-{day}")
        assert (f["rule_id"], f["carc"]) == ("per_diem.inpatient_pos_missing", "5"), day


def test_em_visit_by_the_teams_prescriber_is_psychiatric_physician_services(mn: Audited
                                                                         ) -> None:
    """Psychiatric Physician Services ("Sometimes" included; billed separately only if not in
    the ACT rate) holds the team's medication management (Covered ACT Services: illness
    education and medication management). An E/M visit counts there when the rendering
    taxonomy is psychiatric or the primary diagnosis is in F20-F48, for review; a
    psychiatrist outside the team, or an F17 visit, is not flagged."""
    for claim_id in ("em-team-psychiatrist", "em-team-f41"):
        f = mn.one(claim_id)
        assert (f["category"], f["severity"]) == ("psychiatric_physician_services",
                                                  "review"), claim_id
    assert mn.of("em-other-psychiatrist") == [] and mn.of("em-team-f17") == []


def test_waivered_services_row_needs_county_approval_for_review() -> None:
    """Waivered Services row: no codes ship (they vary by waiver); the rule is data."""
    pack = load_registry().get("mn-act")
    row = concurrent_services(pack).categories["waivered_services"]
    assert (row.rule, row.severity) == ("needs_authorization", "review")


def test_every_table_row_is_a_category() -> None:
    pack = load_registry().get("mn-act")
    assert set(concurrent_services(pack).categories) == {
        "mh_tcm", "day_treatment", "partial_hospitalization", "irts", "armhs", "mobile_crisis",
        "crisis_stabilization_nonresidential", "crisis_stabilization_residential",
        "psychiatric_physician_services", "outpatient_psychotherapy",
        "inpatient_hospitalization", "waivered_services", "other_medical"}


def test_no_finding_without_an_episode(tmp_path: Path) -> None:
    audited = run(tmp_path, [member("N2")], [auth("A9", "N2", policy="mn-act",
                                                   provider_id=MN_NPI, team_size="",
                                                   start="2026-05-01", end="2026-05-31")],
                  [claim("early", "N2", "2026-04-15", hcpcs="S9484")])
    assert audited.findings == []
