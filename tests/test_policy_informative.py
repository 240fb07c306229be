"""The two informative parameters (MN Billing: "Enter one date of service per line", "Do not
enter a treating provider") are read by no rule because the 837P writer enforces them by
construction; this proves the writer does, on both packs' claims."""

from __future__ import annotations

from pathlib import Path

from bhpolicy.policy import load_registry
from tests.test_claims_837p import mn_run, sc_run, segments, write_claims


def test_only_the_two_mn_837p_parameters_are_informative() -> None:
    informative = {(pack.alias, name) for pack in load_registry().packs
                   for name, parameter in pack.parameters.items() if parameter.informative}
    assert informative == {("mn-act", "dates_of_service_per_line"),
                           ("mn-act", "treating_provider_on_claim")}
    mn = load_registry().get("mn-act")
    assert mn.parameters["dates_of_service_per_line"].values[-1].value == 1
    assert mn.parameters["treating_provider_on_claim"].values[-1].value is False


def _service_lines(path: Path) -> list[list[str]]:
    """The segments of each service line (LX up to the next LX or the claim's end)."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for seg in segments(path):
        if seg.startswith("LX*"):
            current = [seg]
            found.append(current)
        elif seg.startswith(("CLM*", "HL*", "SE*")):
            current = None
        elif current is not None:
            current.append(seg)
    return found


def test_the_837p_writer_gives_each_line_one_date_and_names_no_treating_provider(
        tmp_path: Path) -> None:
    for name, run_dir in (("mn", mn_run(tmp_path / "mn")), ("sc", sc_run(tmp_path / "sc"))):
        out, result = write_claims(run_dir, tmp_path, name=f"{name}.x12")
        assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
        lines = _service_lines(out)
        assert lines, name
        for line in lines:
            dates = [s for s in line if s.startswith("DTP*472*")]
            # MN Billing "Enter one date of service per line": one D8 date, never a range
            assert len(dates) == 1 and dates[0].startswith("DTP*472*D8*"), (name, line)
        # MN Billing "Do not enter a treating provider": no rendering provider anywhere
        assert not any(s.startswith("NM1*82") for s in segments(out)), name
