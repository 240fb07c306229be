"""837P claims from billing runs: pyx12-valid output, our own checks, goldens (issue 6)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bhpolicy.errors import DataFileError
from bhpolicy.x12.checks import npi_valid
from bhpolicy.x12.config import known_payer_ids, load_config
from bhpolicy.x12.validate import validate_837p
from bhpolicy.x12.writer import write_837p
from tests.billing_helpers import AGENCY, MN_NPI, SC_NPI, auth, contact, days, member, run
from tests.conftest import REPO
from tests.test_cli import GOLDEN, check_golden
from tests.test_cli import run as cli
from tests.test_security_x12 import example, set_key, write_config

CONFIG = REPO / "examples" / "submitter.toml"
EPOCH = {"SOURCE_DATE_EPOCH": "1775000000"}  # fixed timestamps for golden files


def sc_run(tmp_path: Path, **member_fields: str) -> Path:
    billed = run(tmp_path, days("2026-03", 2, 4) + days("2026-04", 1, 2),
                 members=[member(**member_fields)], name="sc")
    return billed.out


def mn_run(tmp_path: Path) -> Path:
    billed = run(tmp_path, [
        contact("2026-03-02", pos="21", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-03", pos="12", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-04", pos="12", provider_id=AGENCY, member_id="N1"),
    ], members=[member("N1", state="MN", city="Saint Paul", zip="551010001",
                       primary_dx="F31.2")],
        auths=[auth("B1", "N1", "mn-act", MN_NPI, team_size="", contributing=AGENCY)],
        name="mn")
    return billed.out


def write_claims(run_dir: Path, tmp_path: Path, *extra: str, config: Path = CONFIG,
                 name: str = "claims.x12") -> tuple[Path, object]:
    out = tmp_path / name
    result = cli("claims", "837p", "--run", str(run_dir), "--config", str(config), "--out",
                 str(out), "--control-file", str(tmp_path / "control.json"), *extra,
                 env=EPOCH)
    return out, result


def segments(path: Path) -> list[str]:
    return [s for s in path.read_text().replace("\n", "").split("~") if s]


def test_sc_claim_golden_and_valid(tmp_path: Path) -> None:
    out, result = write_claims(sc_run(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert validate_837p(out).valid
    segs = segments(out)
    assert sum(s.startswith("CLM*") for s in segs) == 2  # one claim a member-month
    assert "SV1*HC:H0040:U1*250.00*UN*1***1" in segs
    assert "REF*G1*A1" in segs and "HI*ABK:F200" in segs
    assert "SBR*P*18*******MC" in segs
    assert any(s.startswith("CLM*") and s.split("*")[2] == "750.00" for s in segs)
    check_golden("claims-sc.x12", out.read_text())


def test_mn_claim_golden_and_valid(tmp_path: Path) -> None:
    out, result = write_claims(mn_run(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert validate_837p(out).valid
    segs = segments(out)
    clm = next(s for s in segs if s.startswith("CLM*"))
    assert clm.split("*")[5] == "12:B:1"  # claim POS: the most common line POS
    assert "SV1*HC:H0040*275.00*UN*1*21**1" in segs  # inpatient day: line-level POS 21
    assert not any(s.startswith(("NM1*82", "NM1*DN")) for s in segs)  # no treating provider
    assert sum(s.startswith("DTP*472*D8*") for s in segs) == 3  # one date per line
    check_golden("claims-mn.x12", out.read_text())


def test_a_name_with_a_delimiter_cannot_inject_a_segment(tmp_path: Path) -> None:
    out, result = write_claims(sc_run(tmp_path, last_name="Doe~NM1*82*1*EVIL"), tmp_path)
    assert result.returncode == 0
    assert "warning:" in result.stderr  # type: ignore[attr-defined]
    segs = segments(out)
    assert not any(s.startswith("NM1*82") for s in segs)
    assert any(s.startswith("NM1*IL*1*DOE NM1 82 1 EVIL*JANE") for s in segs)
    assert validate_837p(out).valid


def test_an_id_with_a_delimiter_is_rejected(tmp_path: Path) -> None:
    _, result = write_claims(sc_run(tmp_path, medicaid_id="0012*45678"), tmp_path)
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert "subscriber medicaid_id: contains the X12 delimiter '*'" in result.stderr  # type: ignore[attr-defined]
    assert "0012" not in result.stderr  # type: ignore[attr-defined]  # no PHI value


def test_control_numbers_never_repeat_across_runs(tmp_path: Path) -> None:
    run_dir = sc_run(tmp_path)
    first, _ = write_claims(run_dir, tmp_path, name="one.x12")
    second, _ = write_claims(run_dir, tmp_path, name="two.x12")

    def numbers(path: Path) -> tuple[str, str, str]:
        segs = segments(path)
        isa = segs[0].split("*")[13]
        gs = next(s for s in segs if s.startswith("GS*")).split("*")[6]
        st = next(s for s in segs if s.startswith("ST*")).split("*")[2]
        return isa, gs, st

    a, b = numbers(first), numbers(second)
    assert all(x != y for x, y in zip(a, b, strict=True))
    assert validate_837p(second).valid


def test_splits_claims_and_transactions_at_configured_limits(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text(CONFIG.read_text() + "\n[limits]\nmax_lines_per_claim = 2\n"
                      "max_claims_per_transaction = 1\n")
    out, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    segs = segments(out)
    claims = [s for s in segs if s.startswith("CLM*")]
    assert len(claims) == 3  # March (3 days) splits into 2 + 1; April has 2
    assert sum(s.startswith("ST*") for s in segs) == 3
    assert max(_lines_per_claim(segs)) <= 2
    assert validate_837p(out).valid


def _lines_per_claim(segs: list[str]) -> list[int]:
    counts: list[int] = []
    for seg in segs:
        if seg.startswith("CLM*"):
            counts.append(0)
        elif seg.startswith("LX*"):
            counts[-1] += 1
    return counts


def test_replacement_and_void(tmp_path: Path) -> None:
    run_dir = sc_run(tmp_path)
    first, _ = write_claims(run_dir, tmp_path, name="first.x12")
    with first.with_suffix(".claims.csv").open() as handle:
        claim_ids = [row["claim_id"] for row in csv.DictReader(handle)]
    adjustments = tmp_path / "adjustments.csv"
    adjustments.write_text("claim_id,frequency,payer_claim_number\n"
                           f"{claim_ids[0]},7,PAYER0001\n{claim_ids[1]},8,PAYER0002\n")
    out, result = write_claims(run_dir, tmp_path, "--adjustments", str(adjustments),
                               name="fix.x12")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    segs = segments(out)
    frequencies = [s.split("*")[5].split(":")[2] for s in segs if s.startswith("CLM*")]
    assert frequencies == ["7", "8"]
    assert "REF*F8*PAYER0001" in segs and "REF*F8*PAYER0002" in segs
    assert validate_837p(out).valid


def _lines_csv(tmp_path: Path, **changes: str) -> Path:
    """A run folder holding hand-edited lines.csv and subscribers.csv."""
    source = sc_run(tmp_path)
    folder = tmp_path / "edited"
    folder.mkdir()
    import duckdb

    for name in ("lines", "subscribers"):
        duckdb.execute(f"COPY (SELECT * FROM '{source / (name + '.parquet')}') TO "
                       f"'{folder / (name + '.csv')}' (HEADER)")
        with (folder / f"{name}.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row.update({k: v for k, v in changes.items() if k in row})
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (folder / "manifest.json").write_text((source / "manifest.json").read_text())
    return folder


@pytest.mark.parametrize(("changes", "message"), [
    ({"hcpcs": "H9999"}, "H9999 is not a code in the catalog"),
    ({"zip": ""}, "subscriber zip is missing"),
    ({"zip": "2920"}, "subscriber zip is not 5 or 9 digits"),
    ({"primary_dx": "F20"}, "subscriber primary_dx is not a billable ICD-10-CM code"),
    ({"provider_id": "1234567890"}, "billing provider '1234567890' is not in the config"),
    ({"modifier": "U9", "hcpcs": "H0039"}, None),  # bare H0039 fee applies: no problem
])
def test_our_checks_before_writing(tmp_path: Path, changes: dict[str, str],
                                   message: str | None) -> None:
    _, result = write_claims(_lines_csv(tmp_path, **changes), tmp_path)
    if message is None:
        assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    else:
        assert result.returncode == 2  # type: ignore[attr-defined]
        assert message in result.stderr  # type: ignore[attr-defined]


def test_bad_npi_check_digit_in_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(CONFIG.read_text().replace('npi = "1234567893"', 'npi = "1234567890"'))
    folder = _lines_csv(tmp_path, provider_id="1234567890")
    _, result = write_claims(folder, tmp_path, config=config)
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert "NPI 1234567890 fails its check digit" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize(("npi", "valid"), [("1234567893", True), ("1245319599", True),
                                            ("1234567890", False), ("123456789", False)])
def test_npi_luhn(npi: str, valid: bool) -> None:
    assert npi_valid(npi) is valid


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.read_text().replace('phone = "8035550100"', 'phone = "803"'))
    _, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert f"{config}: key submitter.phone:" in result.stderr  # type: ignore[attr-defined]


def test_validate_command_reports_segment_loop_element(tmp_path: Path) -> None:
    out, _ = write_claims(sc_run(tmp_path), tmp_path)
    broken = tmp_path / "broken.x12"
    broken.write_text(out.read_text().replace("DMG*D8*19800102*F", "DMG*D8*19800102*Q"))
    result = cli("claims", "validate", str(broken), "--ack", str(tmp_path / "ack.999"))
    assert result.returncode == 1
    assert "segment DMG, loop 2010BA, element DMG03" in result.stdout
    assert "IK3*DMG" in (tmp_path / "ack.999").read_text()
    assert cli("claims", "validate", str(out)).returncode == 0



# ---------------------------------------------------------------- payers (issue 15, item 4)

def sc_and_mn_run(tmp_path: Path) -> Path:
    """One run with an SC member (sc-act, provider SC_NPI) and an MN member (mn-act)."""
    return run(tmp_path, [
        *days("2026-03", 2, 3), contact("2026-03-02", provider_id=MN_NPI, member_id="N1"),
        contact("2026-03-03", provider_id=MN_NPI, member_id="N1")],
        members=[member(), member("N1", state="MN", city="Saint Paul", zip="551010001",
                                  primary_dx="F31.2")],
        auths=[auth(), auth("B1", "N1", "mn-act", MN_NPI, team_size="")], name="both").out


def two_receivers(tmp_path: Path) -> Path:
    data = example()
    data["receivers"].append({"name": "Minnesota DHS", "id": "MNDHS", "interchange_id":
                              "MNDHS", "application_receiver": "MNDHS"})
    set_key(data, "payers.1.receiver", "MNDHS")
    return write_config(tmp_path, data, "two.toml")


def test_one_interchange_per_receiver_each_with_its_payers_claims(tmp_path: Path) -> None:
    """Each receiver gets its own file and ISA13; a payer's claims go to its receiver only,
    the line's payer chosen by the packs it pays under (no payer_id on the lines)."""
    config = load_config(two_receivers(tmp_path))
    out = tmp_path / "claims.x12"
    result = write_837p(sc_and_mn_run(tmp_path), config, out, tmp_path / "control.json",
                        known_codes={"H0040", "H0039"})
    files = {f.receiver.id: f for f in result.files}
    assert set(files) == {"MEDICAIDRCV", "MNDHS"}
    assert files["MEDICAIDRCV"].path == tmp_path / "claims.MEDICAIDRCV.x12"
    assert {f.control[0] for f in result.files} == {1, 2}  # one ISA13 each
    for receiver, payer, npi in (("MEDICAIDRCV", "SCPLAN01", SC_NPI),
                                 ("MNDHS", "MNMHCP01", MN_NPI)):
        segs = segments(files[receiver].path)
        assert segs[0].split("*")[8].strip() == receiver
        assert {s for s in segs if s.startswith("NM1*PR*")} == {
            next(s for s in segs if s.startswith("NM1*PR*"))}
        assert next(s for s in segs if s.startswith("NM1*PR*")).endswith(f"*PI*{payer}")
        assert any(s.endswith(f"*XX*{npi}") for s in segs)
        assert validate_837p(files[receiver].path).valid


def test_one_claim_set_per_payer_chosen_by_the_authorizations_payer_id(
        tmp_path: Path) -> None:
    """Two payers under one pack, same provider and receiver: the lines' payer_id picks the
    payer, and each payer's claims form their own transaction set (ST-SE)."""
    data = example()
    data["payers"].append({"name": "Second SC Plan", "id": "SCPLAN02", "receiver":
                           "MEDICAIDRCV", "packs": ["sc-act"], "fees": [
                               {"since": dt.date(2023, 7, 1), "rates": {"H0040:U1": "240.00"}}]})
    config = write_config(tmp_path, data, "plans.toml")
    billed = run(tmp_path, days("2026-03", 2, 3) + days("2026-03", 2, 3, member_id="M2"),
                 members=[member(), member("M2", medicaid_id="0099999999")],
                 auths=[auth(), auth("A2", "M2")], name="plans").out
    folder = _with_payer_ids(billed, tmp_path, {"A1": "SCPLAN01", "A2": "SCPLAN02"})
    out, result = write_claims(folder, tmp_path, config=config)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    segs = segments(out)
    assert sum(s.startswith("ST*") for s in segs) == 2
    sets = "\n".join(segs).split("ST*837*")[1:]
    assert "PI*SCPLAN01" in sets[0] and "PI*SCPLAN02" not in sets[0]
    assert "PI*SCPLAN02" in sets[1] and "SV1*HC:H0040:U1*240.00" in sets[1]
    assert validate_837p(out).valid


def _with_payer_ids(source: Path, tmp_path: Path, payers: dict[str, str]) -> Path:
    """The run as CSV with a payer_id column on the lines (from their authorization)."""
    folder = tmp_path / "with-payer"
    folder.mkdir()
    import duckdb

    cases = " ".join(f"WHEN '{a}' THEN '{p}'" for a, p in payers.items())
    duckdb.execute(f"COPY (SELECT *, CASE authorization_id {cases} END AS payer_id FROM "
                   f"'{source / 'lines.parquet'}') TO '{folder / 'lines.csv'}' (HEADER)")
    duckdb.execute(f"COPY (SELECT * FROM '{source / 'subscribers.parquet'}') TO "
                   f"'{folder / 'subscribers.csv'}' (HEADER)")
    (folder / "manifest.json").write_text((source / "manifest.json").read_text())
    return folder


def test_two_payers_for_one_pack_without_payer_id_reject_the_claim(tmp_path: Path) -> None:
    data = example()
    set_key(data, "payers.1.packs", ["sc-act"])
    config = write_config(tmp_path, data, "ambiguous.toml")
    _, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert "payers SCPLAN01, MNMHCP01 all pay under policy 'SC.CP.BH.500': give the " \
        "authorization a payer_id" in result.stderr  # type: ignore[attr-defined]


def test_a_payer_id_the_config_does_not_know_rejects_the_claim(tmp_path: Path) -> None:
    folder = _with_payer_ids(sc_run(tmp_path), tmp_path, {"A1": "NOSUCHPLAN"})
    _, result = write_claims(folder, tmp_path)
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert "the authorization's payer_id 'NOSUCHPLAN' is not a payer in the config" in \
        result.stderr  # type: ignore[attr-defined]


def test_a_payer_pack_that_does_not_exist_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, set_key(example(), "payers.1.packs", ["xx-act"]), "x.toml")
    _, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 2  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: key payers.1.packs: "
                                                   "no policy pack 'xx-act'")


def test_lines_past_the_filing_limit_are_sent_with_a_warning_naming_claim_and_payer(
        tmp_path: Path) -> None:
    """The 837P is dated 2026-03-31 (SOURCE_DATE_EPOCH): the March lines are 27 to 29 days
    old, past a 20-day limit; the April claim is not."""
    config = write_config(tmp_path, set_key(example(), "payers.0.filing_limit_days", 20),
                          "late.toml")
    out, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    warnings = [w for w in result.stderr.splitlines()  # type: ignore[attr-defined]
                if "filing limit" in w]
    assert warnings == ["warning: claim CDCC761D14A5059D: 3 line(s) older than payer "
                        "SCPLAN01's filing limit of 20 days (as of 2026-03-31); sent anyway"]
    assert sum(s.startswith("CLM*") for s in segments(out)) == 2


def test_fees_come_from_the_schedule_in_force_on_the_date_of_service(tmp_path: Path) -> None:
    """A schedule from 2026-04-01 raises U1 for the April lines; it names no U3 or H0039,
    whose earlier rates still hold."""
    data = example()
    data["payers"][0]["fees"].append({"since": dt.date(2026, 4, 1),
                                      "rates": {"H0040:U1": "260.00"}})
    config = write_config(tmp_path, data, "dated.toml")
    out, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    segs = segments(out)
    totals = [s.split("*")[2] for s in segs if s.startswith("CLM*")]
    assert totals == ["750.00", "520.00"]  # 3 x 250.00 in March, 2 x 260.00 in April
    payer = load_config(config).all_payers()[0]
    assert payer.fee("H0040", "U3", dt.date(2026, 4, 2)) == Decimal("300.00")
    assert payer.fee("H0039", None, dt.date(2026, 4, 2)) == Decimal("30.00")
    assert payer.fee("H0040", "U1", dt.date(2023, 6, 30)) is None
    assert validate_837p(out).valid


def test_a_date_before_every_fee_schedule_rejects_its_claim(tmp_path: Path) -> None:
    data = set_key(example(), "payers.0.fees.0.since", dt.date(2026, 4, 1))
    config = write_config(tmp_path, data, "april.toml")
    out, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 1  # type: ignore[attr-defined]
    assert "rejected: claim CDCC761D14A5059D: line 1: no fee for H0040:U1 in payer " \
        "SCPLAN01's schedule on its date of service" in result.stderr  # type: ignore[attr-defined]
    assert "2026-03" not in result.stderr  # type: ignore[attr-defined]  # no date of service
    assert sum(s.startswith("CLM*") for s in segments(out)) == 1


LEGACY = """
control_numbers_file = "control-numbers.json"
[interchange]
sender_id = "ACTTEAM01"
receiver_id = "MEDICAIDRCV"
application_sender = "ACTTEAM01"
application_receiver = "MEDICAIDRCV"
[submitter]
name = "Example ACT Billing Office"
id = "ACTTEAM01"
contact_name = "Billing Desk"
phone = "8035550100"
[receiver]
name = "Example Medicaid"
id = "MEDICAIDRCV"
[payer]
name = "Example Medicaid"
id = "MEDICAID01"
[[billing_providers]]
npi = "1234567893"
name = "Example ACT Team"
tax_id = "123456789"
taxonomy = "251S00000X"
address = "100 Main St"
city = "Columbia"
state = "SC"
zip = "292010001"
[fees]
"H0040:U1" = "250.00"
"""


def test_the_single_payer_config_form_still_writes_the_same_claims(tmp_path: Path) -> None:
    config = tmp_path / "legacy.toml"
    config.write_text(LEGACY)
    out, result = write_claims(sc_run(tmp_path), tmp_path, config=config)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    golden = (GOLDEN / "claims-sc.x12").read_text().replace(
        "NM1*PR*2*EXAMPLE SC MEDICAID PLAN*****PI*SCPLAN01",
        "NM1*PR*2*EXAMPLE MEDICAID*****PI*MEDICAID01")
    assert out.read_text() == golden
    assert known_payer_ids(config) == frozenset({"MEDICAID01"})


def test_known_payer_ids_for_the_billing_run(tmp_path: Path) -> None:
    assert known_payer_ids(CONFIG) == frozenset({"SCPLAN01", "MNMHCP01"})
    broken = tmp_path / "broken.toml"
    broken.write_text("[payers\n")
    with pytest.raises(DataFileError, match="not TOML"):
        known_payer_ids(broken)


def test_validate_command_names_an_835(tmp_path: Path) -> None:
    """claims validate says what the file is and checks it with that kind's map (issue 19):
    an 835 is not "valid (005010X222A1)", and pyx12's 999 is made only when asked."""
    from tests.support.x12_remit import Claim, Service, write_835

    remit = write_835(tmp_path / "remit.835", [Claim("C-ABCDEFGHIJKL", services=[
        Service(control="L-ABCDEFGHIJKL")])])
    result = cli("claims", "validate", str(remit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{remit}: 835 005010X221A1: valid")
    assert "999" not in result.stdout and not result.stderr
