"""837P claims from billing runs: pyx12-valid output, our own checks, goldens (issue 6)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bhpolicy.x12.checks import npi_valid
from bhpolicy.x12.validate import validate_837p
from tests.billing_helpers import AGENCY, MN_NPI, auth, contact, days, member, run
from tests.conftest import REPO
from tests.test_cli import check_golden
from tests.test_cli import run as cli

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
    ({"provider_id": "1234567890"}, "billing provider 1234567890 is not in the config"),
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

