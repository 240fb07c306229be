"""What an X12 file is (issue 19): each kind named from ISA/GS/ST and validated with its own
pyx12 map; an 835 is no longer "valid (005010X222A1)" and pyx12's failure to write a 999
for it is not a finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.kind import detect
from bhpolicy.x12.validate import validate_837p, validate_file
from tests.conftest import REPO
from tests.support.x12_remit import (
    Cas,
    Claim,
    ClaimAck,
    Service,
    SetAck,
    Status,
    build_277ca,
    build_835,
    build_999,
)

GOLDEN_837P = REPO / "tests" / "golden" / "claims-sc.x12"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"837P": GOLDEN_837P}
    out["835"] = tmp_path / "remit.835"
    out["835"].write_text(build_835([Claim("PCN1", services=[
        Service(control="L1"), Service(control="L2", cas=[Cas("CO", "119", 15000)])])]))
    out["999"] = tmp_path / "ack.999"
    out["999"].write_text(build_999([SetAck("0001")]))
    out["277CA"] = tmp_path / "ack.277"
    out["277CA"].write_text(build_277ca([ClaimAck("PCN1"),
                                         ClaimAck("PCN2", [Status("A7", "21")])]))
    return out


@pytest.mark.parametrize(("name", "version"), [
    ("837P", "005010X222A1"), ("835", "005010X221A1"), ("999", "005010X231A1"),
    ("277CA", "005010X214")])
def test_each_kind_is_named_and_valid_with_its_own_map(files: dict[str, Path], name: str,
                                                       version: str) -> None:
    assert detect(files[name]).label == f"{name} {version}"
    checked = validate_file(files[name])
    assert (checked.kind, checked.version) == (name, version)
    assert checked.valid, checked.findings
    assert checked.findings == []
    assert checked.ack_999 == ""  # no 999 unless asked


def test_an_835_is_not_reported_as_an_837p(files: dict[str, Path]) -> None:
    checked = validate_file(files["835"], ack=True)
    assert checked.label == "835 005010X221A1"
    assert not any("999" in finding for finding in checked.findings)
    assert checked.ack_999 == "" and "cannot write a 999" in checked.ack_note
    with pytest.raises(BhpolicyError, match=r"is an 835 005010X221A1, not an 837P"):
        validate_837p(files["835"])


def test_an_837p_gets_its_999_only_when_asked(files: dict[str, Path]) -> None:
    assert validate_file(files["837P"]).ack_999 == ""
    asked = validate_file(files["837P"], ack=True)
    assert asked.ack_999.startswith("ISA") and "AK1*HC*" in asked.ack_999
    assert asked.ack_note == ""
    again = validate_837p(files["837P"]).ack_999

    def body(ack: str) -> str:  # the envelope's control numbers and times are pyx12's own
        return ack[ack.index("ST*999"):ack.index("GE*")]
    assert body(again) == body(asked.ack_999) and "AK9*A" in body(again)


def test_findings_use_the_kinds_own_loops(files: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.835"
    broken.write_text(files["835"].read_text().replace("CAS*CO*119*", "CAS*CO*119*X")
                      .replace("CLP*PCN1*1*", "CLP*PCN1*99*"))
    checked = validate_file(broken)
    assert not checked.valid
    assert any("segment CAS, loop 2110, element CAS03" in f for f in checked.findings), \
        checked.findings
    assert any("segment CLP, loop 2100, element CLP02" in f for f in checked.findings)


@pytest.mark.parametrize(("replace", "expected"), [
    ({"GS*HP*": "GS*HC*", "005010X221A1": "005010X223A2", "ST*835*": "ST*837*"},
     r"GS08 005010X223A2 \(GS01 HC, ST01 837\): not supported"),
    ({"005010X221A1": "005010X221A9"}, r"GS08 005010X221A9: pyx12 has no map"),
    ({"GS*HP*": "GS*HB*"}, r"GS08 005010X221A1: pyx12 has no map .*\(GS01 HB, ST01 835\)"),
    ({"ST*835*": "ST*820*"}, r"\(GS01 HP, ST01 820\): not supported"),
])
def test_an_unsupported_kind_is_one_line_naming_what_was_found(
        files: dict[str, Path], tmp_path: Path, replace: dict[str, str],
        expected: str) -> None:
    other = tmp_path / "other.x12"
    text = files["835"].read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    other.write_text(text)
    with pytest.raises(BhpolicyError, match=expected) as caught:
        validate_file(other)
    message = str(caught.value)
    assert "\n" not in message and "005010X214 (277CA)" in message


@pytest.mark.parametrize("content", [b"", b"hello", b"ISA*00*" * 3, b"\xff\xfeISA"])
def test_a_file_that_is_not_x12_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.x12"
    path.write_bytes(content)
    with pytest.raises(BhpolicyError, match="does not look like an X12 file"):
        validate_file(path)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BhpolicyError, match="cannot read"):
        validate_file(tmp_path / "nothing.x12")
