"""Denial reasons are pack data; a user's CARC/RARC lists can check them (issue 5)."""

from __future__ import annotations

from pathlib import Path

from bhpolicy.domain.reasons import REASON_IDS, load_reasons
from bhpolicy.policy import load_registry
from tests.test_cli import run


def test_each_pack_maps_every_reason_to_codes() -> None:
    for pack in load_registry().packs:
        reasons = load_reasons(pack)
        assert set(REASON_IDS) <= set(reasons)
        assert reasons["over_monthly_cap"].carc == "119"
        assert reasons["outside_authorization"].rarc == ["N54"]


def test_reasons_check_against_user_lists(tmp_path: Path) -> None:
    carc = tmp_path / "carc.csv"
    carc.write_text("code,description,stop_date\n119,our text,\n197,x,\n4,x,\n181,x,\n"
                    "97,x,\n272,x,\n96,x,\n18,x,\nB20,x,\n5,x,\n15,x,2020-01-01\n")
    rarc = tmp_path / "rarc.csv"
    rarc.write_text("code,description\nN362,x\nN54,x\nM15,x\nN130,x\nN20,x\nM62,x\nM86,x\n"
                    "M77,x\n")
    result = run("reasons", "check", "--policy", "sc-act", "--carc", str(carc), "--rarc",
                 str(rarc), "--on", "2026-03-01")
    assert result.returncode == 1  # CARC 15 stopped in this list
    assert "stopped  CARC 15" in result.stdout
    assert "ok       CARC 119    over_monthly_cap  (our text)" in result.stdout
    carc.write_text(carc.read_text().replace("15,x,2020-01-01", "15,x,"))
    assert run("reasons", "check", "--policy", "sc-act", "--carc", str(carc), "--rarc",
               str(rarc)).returncode == 0


def test_bad_code_list_is_one_line(tmp_path: Path) -> None:
    carc = tmp_path / "carc.csv"
    carc.write_text("code,description,stop_date\n119,x,2026-13-01\n")
    result = run("reasons", "check", "--policy", "mn-act", "--carc", str(carc))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {carc}: row 2: field stop_date: '2026-13-01' "
                                     "is not a date")
