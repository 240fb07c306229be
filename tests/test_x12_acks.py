"""read_999 and read_277ca (issue 19) on files built to the 005010X231A1 and 005010X214
shapes and validated by pyx12 in the same read: a 999 rejecting one transaction set (its
errors tied to segment and position, never a copy of the bad value), pyx12's own 999 read
back, and a 277CA rejecting one claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.acks import read_277ca, read_999
from bhpolicy.x12.validate import validate_file
from tests.conftest import REPO
from tests.support.x12_remit import (
    ClaimAck,
    ElementError,
    LineAck,
    SegmentError,
    SetAck,
    Status,
    build_277ca,
    build_835,
    build_999,
)


def test_999_rejecting_one_transaction_set(tmp_path: Path) -> None:
    path = tmp_path / "ack.999"
    path.write_text(build_999([
        SetAck("0001"),
        SetAck("0002", "R", [SegmentError("CLM", 20, "2300", "8", "C0002", [
            ElementError(2, "6", reference="782", copy="SECRET-VALUE"),
            ElementError(5, "7", component=3, reference="1325")])], ["5"]),
    ], group_control="1234"))
    ack = read_999(path)
    assert ack.valid and ack.findings == ()
    (group,) = ack.groups
    assert (group.functional_id, group.group_control_number, group.version) == (
        "HC", "1234", "005010X222A1")
    assert group.code == "P" and not group.accepted
    assert (group.included, group.received, group.accepted_count) == (2, 2, 1)
    good, bad = ack.sets()
    assert good.accepted and good.control_number == "0001" and good.errors == ()
    assert not bad.accepted and (bad.code, bad.codes) == ("R", ("5",))
    assert ack.rejected() == (bad,)
    (error,) = bad.errors
    assert (error.segment_id, error.position, error.loop, error.code,
            error.patient_control_number) == ("CLM", 20, "2300", "8", "C0002")
    first, second = error.elements
    assert (first.position, first.component, first.reference, first.code) == (2, None, "782",
                                                                              "6")
    assert (second.position, second.component, second.code) == (5, 3, "7")
    assert "SECRET-VALUE" not in repr(ack)


def test_999_accepting_everything(tmp_path: Path) -> None:
    path = tmp_path / "ok.999"
    path.write_text(build_999([SetAck("0001"), SetAck("0002", "E")]))
    ack = read_999(path)
    (group,) = ack.groups
    assert group.accepted and group.code == "A" and ack.rejected() == ()
    assert [s.accepted for s in ack.sets()] == [True, True]


def test_pyx12s_own_999_reads_back(tmp_path: Path) -> None:
    """The 999 `claims validate --ack` writes (pyx12 writes 005010X231, no A1)."""
    golden = (REPO / "tests" / "golden" / "claims-sc.x12").read_text()
    broken = tmp_path / "broken.x12"
    broken.write_text(golden.replace("DMG*D8*19800102*F", "DMG*D8*19800102*Q"))
    assert "DMG*D8*19800102*Q" in broken.read_text()
    checked = validate_file(broken, ack=True)
    assert not checked.valid
    path = tmp_path / "pyx12.999"
    path.write_text(checked.ack_999)
    ack = read_999(path)
    (bad,) = ack.rejected()
    assert bad.control_number == "0001" and bad.code == "R"
    assert [(e.segment_id, e.code) for e in bad.errors] == [("DMG", "8"), ("DMG", "8")]
    assert all(e.position and e.elements[0].position == 3 for e in bad.errors)
    assert ack.groups[0].version == "005010X222A1"


def test_277ca_rejecting_one_claim(tmp_path: Path) -> None:
    path = tmp_path / "ack.277"
    path.write_text(build_277ca([
        ClaimAck("C0001", payer_claim="PAYER-1", clearinghouse="CH-1", charge=30000,
                 dates=("20260302", "20260303")),
        ClaimAck("C0002", [Status("A7", "21", "IL"), Status("A7", "164")], charge=15000,
                 lines=[LineAck("C0002-1", Status("A7", "454"))]),
    ]))
    ack = read_277ca(path)
    assert ack.valid and ack.findings == ()
    assert (ack.payer_name, ack.payer_id, ack.receipt_trace) == ("SC MEDICAID", "1512345678",
                                                                 "RECEIPT0001")
    assert ack.receipt_date is not None and ack.process_date is not None
    assert [s.category for s in ack.receiver_statuses + ack.provider_statuses] == ["A1", "A1"]
    accepted, rejected = ack.claims
    assert ack.accepted() == (accepted,) and ack.rejected() == (rejected,)
    assert accepted.patient_control_number == "C0001" and accepted.accepted
    assert (accepted.payer_claim_number, accepted.clearinghouse_number,
            accepted.billed_cents, accepted.action) == ("PAYER-1", "CH-1", 30000, "WQ")
    assert accepted.statuses[0].text == "accepted into adjudication"
    assert accepted.service_from is not None and accepted.service_to is not None
    assert (accepted.service_to - accepted.service_from).days == 1
    assert rejected.rejected and not rejected.accepted and rejected.action == "U"
    assert [(s.category, s.code, s.entity) for s in rejected.statuses] == [
        ("A7", "21", "IL"), ("A7", "164", None)]
    assert rejected.payer_claim_number is None and rejected.billed_cents == 15000
    (line,) = rejected.lines
    assert line.rejected and line.line_control_number == "C0002-1"
    assert (line.procedure, line.modifiers, line.charge_cents) == ("H0040", ("U1",), 15000)
    assert "DOE" not in repr(ack) and "MEM" not in repr(ack)  # names and member ids not kept


@pytest.mark.parametrize("category", ["A3", "A4", "A6", "A8"])
def test_each_rejecting_category(tmp_path: Path, category: str) -> None:
    path = tmp_path / "ack.277"
    path.write_text(build_277ca([ClaimAck("C1", [Status(category, "21")])]))
    (claim,) = read_277ca(path).claims
    assert claim.rejected


def test_a_value_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ack.277"
    path.write_text(build_277ca([ClaimAck("C1", charge=12345)]).replace("*123.45~", "*12X~"))
    with pytest.raises(BhpolicyError) as caught:
        read_277ca(path)
    message = str(caught.value)
    assert "segment STC, element STC04: not an amount" in message and "12X" not in message


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "remit.835"
    path.write_text(build_835([]))
    with pytest.raises(BhpolicyError, match="is an 835 005010X221A1, not a 999"):
        read_999(path)
    with pytest.raises(BhpolicyError, match="not a 277CA"):
        read_277ca(path)
