"""Billing rules, one test per edge, each citing the section it proves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from bhpolicy.billing.run import BillInputs, run_billing
from bhpolicy.domain.runs import RunSettings
from bhpolicy.policy import load_registry
from tests.billing_helpers import (
    AGENCY,
    AUTH_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    MN_NPI,
    OTHER_NPI,
    SC_NPI,
    auth,
    contact,
    days,
    member,
    run,
    write_csv,
)

MN_MEMBER = member("N1", state="MN")
MN_AUTH = auth("B1", "N1", "mn-act", MN_NPI, team_size="", contributing=AGENCY)


# SC, Prior Authorization... and Reimbursement: a per diem needs one face-to-face contact of
# at least 8 minutes (the policy's "15-minute contact").
def test_sc_7_versus_8_minutes(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", minutes=7), contact("2026-03-03", minutes=8)])
    assert billed.billable_days() == ["2026-03-03"]
    short = billed.no_line("2026-03-02")
    assert short["reason_id"] == "under_min_minutes"
    assert short["carc"] == "272" and short["rarc"] == "N130"


def test_sc_two_short_contacts_are_not_added(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", minutes=5), contact("2026-03-02", minutes=5)])
    assert billed.billable_days() == []
    assert billed.no_line("2026-03-02")["reason_id"] == "under_min_minutes"


def test_sc_group_only_versus_group_plus_individual(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", group=True),
                            contact("2026-03-03", group=True), contact("2026-03-03")])
    assert billed.billable_days() == ["2026-03-03"]
    assert billed.no_line("2026-03-02")["reason_id"] == "group_only"


def test_phone_only_and_video_by_default_are_not_face_to_face(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", mode="phone"),
                            contact("2026-03-03", mode="video")])
    assert billed.billable_days() == []
    assert billed.no_line("2026-03-02")["reason_id"] == "not_face_to_face"
    assert billed.no_line("2026-03-03")["reason_id"] == "not_face_to_face"


def test_family_counts_in_sc_but_not_in_mn(tmp_path: Path) -> None:
    # SC Other General Guidelines: the member or a family member; MN Billing: the recipient.
    sc = run(tmp_path, [contact("2026-03-02", participant="family")], name="sc")
    assert sc.billable_days() == ["2026-03-02"]
    mn = run(tmp_path, [contact("2026-03-02", participant="family", provider_id=MN_NPI,
                                member_id="N1")],
             members=[MN_MEMBER], auths=[MN_AUTH], name="mn")
    assert mn.billable_days() == []
    assert mn.no_line("2026-03-02")["reason_id"] == "not_member_or_family"
    assert mn.no_line("2026-03-02")["section"] == "Billing"


def test_collateral_never_counts(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", participant="collateral", minutes=60)])
    assert billed.no_line("2026-03-02")["reason_id"] == "not_member_or_family"


def test_mn_sets_no_minute_floor(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", minutes=3, provider_id=MN_NPI,
                                    member_id="N1")], members=[MN_MEMBER], auths=[MN_AUTH])
    assert billed.billable_days() == ["2026-03-02"]


def test_second_provider_same_day_is_reported_and_one_line_bills(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02"), contact("2026-03-02", provider_id=OTHER_NPI),
                            contact("2026-03-03", provider_id=OTHER_NPI)])
    assert billed.billable_days() == ["2026-03-02"]
    assert len([r for r in billed.lines if str(r["service_date"]) == "2026-03-02"]) == 1
    assert billed.line("2026-03-02")["provider_id"] == "1234567893"
    assert {str(r["contact_date"]) for r in billed.other_provider} == {"2026-03-02",
                                                                        "2026-03-03"}
    assert billed.no_line("2026-03-03")["reason_id"] == "other_provider"


def test_other_provider_contact_is_reported_with_its_authorization(tmp_path: Path) -> None:
    # A contact by a provider that is neither the authorization's nor a contributing agency
    # is reported with the authorization it fell under; a rejected row is an error only.
    bad = contact("2026-03-04", provider_id=OTHER_NPI, mode="by_letter")
    billed = run(tmp_path, [contact("2026-03-02", provider_id=OTHER_NPI, minutes=12), bad])
    (other,) = billed.other_provider
    assert (other["provider_id"], other["authorized_provider"], other["authorization_id"],
            other["minutes"], other["mode"], other["participant"]) == (
        OTHER_NPI, "1234567893", "A1", 12, "in_person", "member")
    assert other["row"] == 2 and other["file"].endswith("contacts.csv")
    assert [(e["row"], e["field"]) for e in billed.errors] == [("3", "mode")]


def test_extra_contact_columns_are_ignored_even_with_internal_names(tmp_path: Path) -> None:
    # Input contract: extra columns are kept and ignored, whatever their names.
    rows = [{**contact("2026-03-02", provider_id=OTHER_NPI), "authorization_id": "X9",
             "auth_provider": OTHER_NPI, "known_member": "", "contributing": OTHER_NPI},
            contact("2026-03-03")]
    folder = tmp_path / "in"
    folder.mkdir()
    inputs = BillInputs(
        write_csv(folder / "contacts.csv", [*CONTACT_FIELDS, "authorization_id",
                                            "auth_provider", "known_member", "contributing"],
                  rows),
        write_csv(folder / "members.csv", MEMBER_FIELDS, [member()]),
        write_csv(folder / "authorizations.csv", AUTH_FIELDS, [auth()]))
    summary = run_billing(inputs, RunSettings(out=tmp_path / "out", formats=("parquet",)),
                          load_registry())
    assert summary.counts == {"lines_billable": 1, "pos_defaulted": 0}
    assert summary.rejected_rows == 0
    other = duckdb.execute(f"SELECT authorization_id, authorized_provider FROM "
                           f"'{tmp_path / 'out' / 'other_provider_contacts.parquet'}'"
                           ).fetchall()
    assert other == [("A1", "1234567893")]


def test_mn_contributing_agency_contacts_count_for_the_billing_agency(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", provider_id=AGENCY, member_id="N1")],
                 members=[MN_MEMBER], auths=[MN_AUTH])
    line = billed.line("2026-03-02")
    assert line["status"] == "billable" and line["provider_id"] == MN_NPI


# SC I.F: the first 15 otherwise billable days of a month bill; later days are held.
def test_15_versus_16_days(tmp_path: Path) -> None:
    fifteen = run(tmp_path, days("2026-03", 1, 15), name="fifteen")
    assert len(fifteen.billable_days()) == 15
    sixteen = run(tmp_path, days("2026-03", 1, 16), name="sixteen")
    assert len(sixteen.billable_days()) == 15
    held = sixteen.line("2026-03-16")
    assert (held["status"], held["reason_id"], held["carc"], held["rarc"], held["section"]) == (
        "held", "over_monthly_cap", "119", "N362", "I.F")
    month = sixteen.month("M1", "2026-03")
    assert month["days_provided"] == 16 and month["held_over_cap"] == 1


def test_day_held_for_another_reason_does_not_use_the_cap(tmp_path: Path) -> None:
    # Authorization from 5 March: 1-4 March are held outside it and do not count to 15.
    billed = run(tmp_path, days("2026-03", 1, 20),
                 auths=[auth(start="2026-03-05")])
    assert billed.billable_days()[0] == "2026-03-05"
    assert len(billed.billable_days()) == 15
    assert billed.line("2026-03-01")["reason_id"] == "outside_authorization"
    assert billed.line("2026-03-20")["reason_id"] == "over_monthly_cap"


def test_month_boundary_starts_a_new_count(tmp_path: Path) -> None:
    billed = run(tmp_path, days("2026-03", 1, 16) + days("2026-04", 1, 3))
    assert [d for d in billed.billable_days() if d.startswith("2026-04")] == [
        "2026-04-01", "2026-04-02", "2026-04-03"]


def test_outside_authorization_is_held_197_n54(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-05-04")])
    line = billed.line("2026-05-04")
    assert (line["status"], line["carc"], line["rarc"]) == ("held", "197", "N54")


def test_partial_month_is_not_under_minimum(tmp_path: Path) -> None:
    billed = run(tmp_path, days("2026-03", 20, 22) + days("2026-04", 1, 3),
                 auths=[auth(start="2026-03-16")])
    march, april = billed.month("M1", "2026-03"), billed.month("M1", "2026-04")
    assert march["partial"] and not march["under_minimum"]
    assert not april["partial"] and april["under_minimum"]  # 3 days < 9 (I.F)
    assert april["min_days"] == 9


def test_contiguous_renewal_is_one_coverage(tmp_path: Path) -> None:
    billed = run(tmp_path, days("2026-03", 1, 16), auths=[
        auth("A1", start="2026-03-01", end="2026-03-10"),
        auth("A2", start="2026-03-11", end="2026-04-30")])
    month = billed.month("M1", "2026-03")
    assert month["covered_days"] == 31 and not month["partial"]
    assert len(billed.billable_days()) == 15
    assert billed.line("2026-03-11")["authorization_id"] == "A2"


def test_overlap_with_another_provider_is_an_error(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02")], auths=[
        auth("A1"), auth("A2", provider_id=OTHER_NPI, start="2026-03-20")])
    fields = {(e["field"], e["reason"]) for e in billed.errors}
    assert ("start_date", "overlaps authorization A2 of another provider") in fields
    assert ("start_date", "overlaps authorization A1 of another provider") in fields


def test_overlap_with_the_same_provider_merges(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-25")], auths=[
        auth("A1", end="2026-03-31"), auth("A2", start="2026-03-20", end="2026-04-30")])
    assert billed.errors == []
    assert billed.billable_days() == ["2026-03-25"]
    assert len(billed.lines) == 1


# SC Coding Implications: U1 small team, U3 large team; Minnesota names no modifier.
def test_team_size_modifiers(tmp_path: Path) -> None:
    small = run(tmp_path, [contact("2026-03-02")], name="small")
    assert small.line("2026-03-02")["modifier"] == "U1"
    large = run(tmp_path, [contact("2026-03-02")], auths=[auth(team_size="large")],
                name="large")
    assert large.line("2026-03-02")["modifier"] == "U3"
    missing = run(tmp_path, [contact("2026-03-02")], auths=[auth(team_size="")], name="none")
    line = missing.line("2026-03-02")
    assert (line["status"], line["reason_id"], line["carc"]) == ("held", "team_size_unknown",
                                                                 "4")


# MN Billing: POS 21 when the recipient is an inpatient; else the longest contact's POS.
def test_mn_inpatient_pos_and_longest_contact_pos(tmp_path: Path) -> None:
    billed = run(tmp_path, [
        contact("2026-03-02", minutes=10, pos="21", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-02", minutes=60, pos="12", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-03", minutes=10, pos="11", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-03", minutes=40, pos="02", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-04", minutes=40, pos="", provider_id=MN_NPI, member_id="N1"),
    ], members=[MN_MEMBER], auths=[MN_AUTH])
    assert billed.line("2026-03-02")["pos"] == "21"
    assert billed.line("2026-03-03")["pos"] == "02"  # leading zero kept
    assert billed.line("2026-03-04")["pos"] == "99"  # the pack's default
    assert billed.line("2026-03-02")["modifier"] is None


# The longest qualifying contact decides the POS; two of the same length at different places
# give the higher code, whatever order the contacts come in (a run is reproducible).
def test_mn_pos_tie_between_longest_contacts_takes_the_higher_code(tmp_path: Path) -> None:
    for n, places in enumerate((("11", "12"), ("12", "11"))):
        billed = run(tmp_path, [
            contact("2026-03-05", minutes=30, pos=places[0], provider_id=MN_NPI,
                    member_id="N1"),
            contact("2026-03-05", minutes=30, pos=places[1], provider_id=MN_NPI,
                    member_id="N1"),
            contact("2026-03-05", minutes=10, pos="99", provider_id=MN_NPI, member_id="N1"),
        ], members=[MN_MEMBER], auths=[MN_AUTH], name=f"tie{n}")
        assert billed.line("2026-03-05")["pos"] == "12"


# SC H0039: units from the day's summed qualifying minutes (8-22 one unit, +15 each more).
def test_h0039_units(tmp_path: Path) -> None:
    billed = run(tmp_path, [
        contact("2026-03-02", minutes=7),
        contact("2026-03-03", minutes=8),
        contact("2026-03-04", minutes=22),
        contact("2026-03-05", minutes=23),
        contact("2026-03-06", minutes=5), contact("2026-03-06", minutes=5),
    ], auths=[auth(billing_code="H0039")])
    units = {str(r["service_date"]): (r["hcpcs"], r["units"]) for r in billed.lines}
    assert units == {"2026-03-03": ("H0039", 1), "2026-03-04": ("H0039", 1),
                     "2026-03-05": ("H0039", 2), "2026-03-06": ("H0039", 1)}
    assert billed.no_line("2026-03-02")["reason_id"] == "under_min_minutes"
    # U1/U3 belong to the per diem (Coding Implications), not to H0039
    assert {r["modifier"] for r in billed.lines} == {None}


# SC Coding Implications: the 03/25 log removed H0039, 02/26 listed it again, and the table
# "does not guarantee coverage". A day of the gap is a held line for the team's review (no
# CARC, units counted as the code defines them), never a rejected contact.
def test_h0039_not_listed_between_03_25_and_02_26_is_held_for_review(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2025-10-02", minutes=23), contact("2026-02-02")],
                 auths=[auth(billing_code="H0039", start="2025-10-01", end="2026-02-28")])
    assert billed.errors == []
    gap = billed.line("2025-10-02")
    assert (gap["status"], gap["reason_id"], gap["carc"], gap["carc_group"], gap["section"],
            gap["hcpcs"], gap["units"]) == ("held", "code_not_listed", None, None,
                                            "Coding Implications", "H0039", 2)
    assert billed.line("2026-02-02")["status"] == "billable"  # listed again from 02/26


def test_h0039_and_h0040_never_both_in_a_month(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02"), contact("2026-03-20")], auths=[
        auth("A1", end="2026-03-10", billing_code="H0039"),
        auth("A2", start="2026-03-11")])
    assert billed.line("2026-03-02")["hcpcs"] == "H0039"
    later = billed.line("2026-03-20")
    assert (later["status"], later["reason_id"]) == ("held", "mixed_codes_in_month")
    # no passage says so in words; read from the all-inclusive per diem (policy.yaml)
    assert later["section"] == "Prior Authorization, Continuity of Care, and Reimbursement"


def test_rerun_with_already_billed_lines(tmp_path: Path) -> None:
    first = run(tmp_path, days("2026-03", 1, 14), name="first")
    billed_lines = [{"line_id": r["line_id"], "member_id": r["member_id"],
                     "service_date": str(r["service_date"]), "hcpcs": r["hcpcs"],
                     "provider_id": r["provider_id"]} for r in first.lines]
    # Two late-entered days: one fits under the limit of 15, the other does not.
    second = run(tmp_path, days("2026-03", 1, 14) + days("2026-03", 20, 21),
                 already_billed=billed_lines, name="second")
    again = {r["line_id"] for r in second.lines if r["status"] == "already_billed"}
    assert again == {r["line_id"] for r in first.lines}  # stable ids, never re-ranked
    assert second.billable_days() == ["2026-03-20"]
    assert second.line("2026-03-21")["reason_id"] == "over_monthly_cap"
    third = run(tmp_path, days("2026-03", 1, 14), name="third")
    assert [r["line_id"] for r in third.lines] == [r["line_id"] for r in first.lines]


def test_line_id_is_a_hash_of_member_month_code_provider_plus_the_day(tmp_path: Path) -> None:
    """The id's form is fixed, so ids from runs of earlier versions still match."""
    line = run(tmp_path, [contact("2026-03-07")]).line("2026-03-07")
    key = f"{line['member_id']}|2026-03-01|{line['hcpcs']}|{line['provider_id']}"
    assert line["line_id"] == "L" + hashlib.md5(key.encode()).hexdigest()[:16] + "07"


def test_bad_rows_go_to_errors_and_good_rows_go_on(tmp_path: Path) -> None:
    rows = [contact("2026-03-02"), contact("2026-03-32"), contact("2026-03-03", minutes=-5),
            contact("2026-03-04", member_id="NOBODY"), contact("2026-03-05")]
    billed = run(tmp_path, rows, members=[member(), member("M2")])
    assert billed.billable_days() == ["2026-03-02", "2026-03-05"]
    found = {(e["row"], e["field"], e["reason"]) for e in billed.errors}
    assert ("3", "contact_date", "not a date (YYYY-MM-DD)") in found
    assert ("4", "minutes", "below 0") in found
    assert ("5", "member_id", "unknown member (not in the members file)") in found
    assert all(e["file"].endswith("contacts.csv") for e in billed.errors
               if e["field"] != "member_id" or e["row"] != "1")
    assert billed.rejected == 3


def test_pos_must_be_two_digits_and_group_true_or_false(tmp_path: Path) -> None:
    rows = [contact("2026-03-02", pos="07"), contact("2026-03-03", pos="7"),
            contact("2026-03-04", pos="1a"), contact("2026-03-05", pos="123"),
            contact("2026-03-06", pos="a1")]
    rows += [dict(contact("2026-03-09"), group="TRUE"), dict(contact("2026-03-10"), group="False"),
             dict(contact("2026-03-11"), group="yes")]
    billed = run(tmp_path, rows)
    bad = {(e["row"], e["field"], e["value"]) for e in billed.errors}
    assert bad == {("3", "pos", "7"), ("4", "pos", "1a"), ("5", "pos", "123"),
                   ("6", "pos", "a1"), ("9", "group", "yes")}
    # any letter case reads as a boolean: a group-only day earns nothing, the other bills
    assert billed.billable_days() == ["2026-03-02", "2026-03-10"]
    assert billed.no_line("2026-03-09")["reason_id"] == "group_only"


def test_member_without_authorization_is_an_error(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", member_id="M2"), contact("2026-03-02")],
                 members=[member(), member("M2")])
    assert ("member_id", "member has no authorization") in {
        (e["field"], e["reason"]) for e in billed.errors}
    assert billed.billable_days() == ["2026-03-02"]
    # issue 15: the error row names the contact's provider, so it reaches that team's
    # worklist; a row of an input without a provider column leaves it empty
    (row,) = [e for e in billed.errors if e["reason"] == "member has no authorization"]
    assert row["provider_id"] == SC_NPI


def test_error_rows_name_the_provider_where_the_input_has_one(tmp_path: Path) -> None:
    billed = run(tmp_path, [dict(contact("2026-03-02"), minutes="ten")],
                 members=[member(), member("M3", birth_date="soon")])
    by_field = {e["field"]: e for e in billed.errors}
    assert by_field["minutes"]["provider_id"] == SC_NPI
    assert by_field["birth_date"]["provider_id"] == ""  # members.csv has no provider


def test_lines_carry_claim_fields_and_citation(tmp_path: Path) -> None:
    """Lines carry ids and the citation; the subscriber fields are written once a member."""
    import duckdb

    billed = run(tmp_path, [contact("2026-03-02")])
    line = billed.line("2026-03-02")
    subscriber = duckdb.sql(f"SELECT * FROM '{billed.out / 'subscribers.parquet'}' "
                            f"WHERE member_id = '{line['member_id']}'").fetchall()
    assert subscriber and "0012345678" in subscriber[0] and "292010001" in subscriber[0]
    assert line["policy_id"] == "SC.CP.BH.500" and line["policy_revision"] == "02/26"
    assert line["rule_id"] == "per_diem_day"
    assert line["section"] == "Prior Authorization, Continuity of Care, and Reimbursement"


def test_typed_parquet_inputs_bill_like_csv(tmp_path: Path) -> None:
    """Parquet with native date/integer/boolean columns takes the typed path; the result
    equals the CSV run, and a bad typed row is still an error with its record number."""
    import duckdb

    rows = [*days("2026-03", 1, 16), contact("2026-03-20", minutes=-1)]
    csv_run = run(tmp_path, rows, name="csv")
    folder = tmp_path / "parquet"
    folder.mkdir()
    for name in ("contacts", "members", "authorizations"):
        source = csv_run.out.parent / f"{name}.csv"
        typed = {"contacts": "contact_date::DATE AS contact_date, minutes::INTEGER AS minutes, "
                             '"group"::BOOLEAN AS "group"',
                 "members": "birth_date::DATE AS birth_date",
                 "authorizations": "start_date::DATE AS start_date, end_date::DATE AS end_date"
                 }[name]
        duckdb.execute(f"COPY (SELECT * REPLACE ({typed}) FROM read_csv('{source}', "
                       f"all_varchar=true)) TO '{folder / name}.parquet'")
    from bhpolicy.billing.run import BillInputs, run_billing
    from bhpolicy.domain.runs import RunSettings
    from bhpolicy.policy import load_registry

    out = folder / "out"
    summary = run_billing(BillInputs(folder / "contacts.parquet", folder / "members.parquet",
                                     folder / "authorizations.parquet"),
                          RunSettings(out=out, formats=("parquet",)), load_registry())
    lines = duckdb.execute(f"SELECT line_id, status FROM '{out}/lines.parquet' "
                           "ORDER BY line_id").fetchall()
    assert lines == sorted((r["line_id"], r["status"]) for r in csv_run.lines)
    assert summary.rejected_rows == 1
    errors = (out / "errors.csv").read_text()
    assert "contacts.parquet,17,minutes,below 0,-1" in errors


# Issue 15. SC I.F and Other General Guidelines: the 15-day limit is older than 02/26 (the
# 02/26 log "clarified" I.F; Other General Guidelines names "the maximum monthly limit of
# fifteen visits/days"), so it holds from the first revision (02/24) and contacts of 2025 and
# January 2026 bill. The nine-day minimum is new in 02/26, so earlier months have none.
def test_sc_contacts_from_the_first_revision_bill(tmp_path: Path) -> None:
    contacts = [contact("2024-02-01"), contact("2025-06-10"),
                *days("2026-01", 1, 16)]
    billed = run(tmp_path, contacts, auths=[auth(start="2024-02-01", end="2026-02-28")])
    assert billed.errors == []
    assert billed.line("2024-02-01")["status"] == "billable"
    assert billed.line("2025-06-10")["status"] == "billable"
    january = [d for d in billed.billable_days() if d.startswith("2026-01")]
    assert january == [f"2026-01-{d:02d}" for d in range(1, 16)]
    over = billed.line("2026-01-16")
    # before 02/26 the limit cites the passage that stated it then
    assert (over["status"], over["reason_id"], over["carc"], over["section"]) == (
        "held", "over_monthly_cap", "119", "Other General Guidelines")
    month = billed.month("M1", "2025-06")
    assert month["cap"] == 15 and month["min_days"] is None and not month["under_minimum"]
    assert billed.month("M1", "2026-01")["held_over_cap"] == 1
    # each line and month carries the revision in force on its date (the revision log)
    assert [billed.line(d)["policy_revision"] for d in ("2024-02-01", "2025-06-10",
                                                        "2026-01-16")] == [
        "02/24", "03/25", "03/25"]
    assert billed.month("M1", "2025-06")["policy_revision"] == "03/25"


def test_sc_lines_carry_the_revision_of_their_date_across_a_month(tmp_path: Path) -> None:
    # 02/26 holds from 2026-02-01; 03/25 from 2025-03-01 (policy.yaml: revisions)
    billed = run(tmp_path, [contact("2025-02-28"), contact("2025-03-01"),
                            contact("2026-01-31"), contact("2026-02-01")],
                 auths=[auth(start="2025-02-01", end="2026-02-28")])
    assert {d: billed.line(d)["policy_revision"] for d in (
        "2025-02-28", "2025-03-01", "2026-01-31", "2026-02-01")} == {
        "2025-02-28": "02/24", "2025-03-01": "03/25", "2026-01-31": "03/25",
        "2026-02-01": "02/26"}


# The revision log's first entry (02/24, "New policy"): a day before it had no plan policy.
# It is held for review with its reason, no CARC; checked as the first revision reads.
def test_sc_day_before_the_first_revision_is_held_policy_not_yet_issued(tmp_path: Path
                                                                        ) -> None:
    billed = run(tmp_path, [contact("2024-01-31"), contact("2024-01-30", minutes=7),
                            contact("2024-02-01")],
                 auths=[auth(start="2024-01-01", end="2024-02-29")])
    assert billed.errors == []
    early = billed.line("2024-01-31")
    assert (early["status"], early["reason_id"], early["carc"], early["section"]) == (
        "held", "plan_policy_not_yet_issued", None, "Revision Log")
    assert billed.no_line("2024-01-30")["reason_id"] == "under_min_minutes"
    assert billed.billable_days() == ["2024-02-01"]
    assert billed.month("M1", "2024-01")["held_other"] == 1
    assert early["policy_revision"] == "02/24"  # checked as the first revision reads


def test_mn_day_before_the_page_revision_is_held_policy_not_yet_issued(tmp_path: Path
                                                                       ) -> None:
    billed = run(tmp_path, [contact("2013-10-21", provider_id=MN_NPI, member_id="N1"),
                            contact("2013-10-22", provider_id=MN_NPI, member_id="N1")],
                 members=[MN_MEMBER], auths=[auth("B1", "N1", "mn-act", MN_NPI, team_size="",
                                                  start="2013-10-01", end="2013-10-31")])
    assert billed.line("2013-10-21")["reason_id"] == "plan_policy_not_yet_issued"
    assert billed.billable_days() == ["2013-10-22"]


# MN Billing: POS 21 "if ACT services were provided to a recipient in an inpatient hospital":
# only contacts with the recipient decide it, not a team member's meeting with hospital staff
# or family.
def test_mn_inpatient_pos_comes_only_from_contacts_with_the_recipient(tmp_path: Path
                                                                      ) -> None:
    mn = {"provider_id": MN_NPI, "member_id": "N1"}
    billed = run(tmp_path, [
        contact("2026-03-02", pos="12", **mn),
        contact("2026-03-02", pos="21", participant="collateral", **mn),
        contact("2026-03-03", pos="12", **mn),
        contact("2026-03-03", pos="21", participant="family", **mn),
        contact("2026-03-04", pos="12", **mn),
        contact("2026-03-04", pos="21", mode="phone", **mn),  # the recipient, in hospital
    ], members=[MN_MEMBER], auths=[MN_AUTH])
    assert [billed.line(d)["pos"] for d in ("2026-03-02", "2026-03-03", "2026-03-04")] == [
        "12", "12", "21"]


# A held line outside every authorization names the provider of the day's contacts (the
# longest contact's, a tie going to the higher id), so it reaches that team's worklist.
def test_held_line_outside_authorization_names_the_contacts_provider(tmp_path: Path) -> None:
    billed = run(tmp_path, [
        contact("2026-05-04"),
        contact("2026-05-05", minutes=20), contact("2026-05-05", minutes=40,
                                                   provider_id=OTHER_NPI),
        contact("2026-03-02")])
    outside = billed.line("2026-05-04")
    assert (outside["status"], outside["reason_id"], outside["provider_id"]) == (
        "held", "outside_authorization", SC_NPI)
    assert billed.line("2026-05-05")["provider_id"] == OTHER_NPI
    assert billed.line("2026-03-02")["provider_id"] == SC_NPI


# The place of service is where the service happened: the qualifying contact's. When no
# qualifying contact that day carries one, the line takes the pack's default and says so.
def test_pos_defaulted_is_flagged_and_counted(tmp_path: Path) -> None:
    billed = run(tmp_path, [contact("2026-03-02", pos=""), contact("2026-03-03"),
                            contact("2026-03-04", pos=""), contact("2026-03-04", pos="11",
                                                                   mode="phone")])
    assert [(billed.line(d)["pos"], billed.line(d)["pos_defaulted"])
            for d in ("2026-03-02", "2026-03-03", "2026-03-04")] == [
        ("99", True), ("12", False), ("99", True)]  # a phone call's POS does not count
    assert all(r["status"] == "billable" for r in billed.lines)
    assert billed.summary.counts["pos_defaulted"] == 2


# --missing-pos hold: such a day is held ("place of service missing", no CARC) instead, and
# like any held day does not use the monthly limit (I.F).
def test_missing_pos_hold_holds_the_day_without_using_the_cap(tmp_path: Path) -> None:
    contacts = [*days("2026-03", 1, 2), contact("2026-03-03", pos=""), *days("2026-03", 4, 16)]
    billed = run(tmp_path, contacts, missing_pos="hold")
    held = billed.line("2026-03-03")
    assert (held["status"], held["reason_id"], held["carc"], held["section"],
            held["pos_defaulted"]) == ("held", "place_of_service_missing", None,
                                       "Other General Guidelines", True)
    assert len(billed.billable_days()) == 15 and "2026-03-16" in billed.billable_days()
    month = billed.month("M1", "2026-03")
    assert (month["billable"], month["held_over_cap"], month["held_other"]) == (15, 0, 1)
    assert billed.summary.counts["pos_defaulted"] == 1


def test_missing_pos_hold_keeps_the_inpatient_day(tmp_path: Path) -> None:
    # MN Billing: the recipient at POS 21 gives the day its place, even by phone
    mn = {"provider_id": MN_NPI, "member_id": "N1"}
    billed = run(tmp_path, [contact("2026-03-02", pos="", **mn),
                            contact("2026-03-02", pos="21", mode="phone", **mn),
                            contact("2026-03-03", pos="", **mn)],
                 members=[MN_MEMBER], auths=[MN_AUTH], missing_pos="hold")
    assert (billed.line("2026-03-02")["status"], billed.line("2026-03-02")["pos"]) == (
        "billable", "21")
    assert billed.line("2026-03-03")["reason_id"] == "place_of_service_missing"
