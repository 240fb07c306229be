"""read_835 (issue 19) on 835 files built to the 005010X221A1 shape, each validated by pyx12
in the same read: paid, partly paid, denied (CARC 119, 18, B20, 197), a line denied inside a
paid claim, a reversal and its later correction, a payer-split claim, PLB takebacks, a file
that does not balance, lines an 837P never sent, bad values (one line, no value)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bhpolicy.errors import BhpolicyError
from bhpolicy.x12.remit import Remittance, read_835, read_835s
from tests.support.x12_remit import (
    Cas,
    Claim,
    Plb,
    Service,
    _envelope,
    body_835,
    build_835,
    money,
    write_835,
)


def read(tmp_path: Path, claims: list[Claim], plb: list[Plb] | None = None,
         **options: Any) -> Remittance:
    path = write_835(tmp_path / "remit.835", claims, plb or [], **options)
    remit = read_835(path)
    assert remit.valid and remit.findings == (), remit.findings
    return remit


def two_days(pcn: str = "C0001", **first: Any) -> Claim:
    return Claim(pcn, services=[Service(control=f"{pcn}-1", date="20260302", **first),
                                Service(control=f"{pcn}-2", date="20260303")])


def test_money_is_written_the_way_payers_write_it() -> None:
    assert [money(c) for c in (15000, 15050, 15055, -7500, 5)] == [
        "150", "150.5", "150.55", "-75", "0.05"]


def test_paid_claim(tmp_path: Path) -> None:
    remit = read(tmp_path, [two_days()], trace="EFT12345", payment_date="20260410")
    assert remit.postable and remit.balanced
    assert (remit.trace_number, remit.payment_cents, remit.payment_method) == (
        "EFT12345", 30000, "ACH")
    assert remit.payment_date is not None and remit.payment_date.isoformat() == "2026-04-10"
    assert remit.payer_name == "SC MEDICAID" and remit.payee_id == "1234567893"
    assert remit.sha256 == hashlib.sha256(remit.path.read_bytes()).hexdigest()
    assert remit.key == ("EFT12345", remit.sha256)
    (claim,) = remit.claims
    assert (claim.patient_control_number, claim.status, claim.charge_cents,
            claim.paid_cents, claim.payer_claim_number) == ("C0001", "1", 30000, 30000,
                                                             "PCC00000001")
    assert claim.status_text == "processed as primary" and not claim.denied
    first, second = claim.services
    assert (first.procedure, first.modifiers, first.charge_cents, first.paid_cents,
            first.units, first.line_control_number) == ("H0040", ("U1",), 15000, 15000,
                                                        Decimal(1), "C0001-1")
    assert first.service_date is not None and first.service_date.isoformat() == "2026-03-02"
    assert second.line_control_number == "C0001-2" and second.adjustments == ()


def test_partly_paid_claim_keeps_adjustments_by_group(tmp_path: Path) -> None:
    remit = read(tmp_path, [two_days(cas=[Cas("CO", "45", 4000), Cas("PR", "3", 1000)],
                                     allowed=11000, remarks=["N381"])])
    (claim,) = remit.claims
    line = claim.services[0]
    assert line.paid_cents == 10000 and line.allowed_cents == 11000
    assert line.reasons() == ("CO-45", "PR-3") and line.remarks == ("N381",)
    assert [a.amount_cents for a in line.adjustments] == [4000, 1000]
    assert claim.paid_cents == 25000 and claim.adjusted_cents == 5000
    assert remit.balanced


@pytest.mark.parametrize(("carc", "rarc"), [("119", "N362"), ("18", "M86"), ("B20", ""),
                                            ("197", "N54")])
def test_denied_claim(tmp_path: Path, carc: str, rarc: str) -> None:
    remarks = [rarc] if rarc else []
    remit = read(tmp_path, [Claim("D1", status="4", remarks=remarks, services=[
        Service(control="D1-1", cas=[Cas("CO", carc, 15000)], remarks=remarks)])])
    (claim,) = remit.claims
    assert claim.denied and claim.paid_cents == 0 and claim.remarks == tuple(remarks)
    (line,) = claim.services
    assert line.denied and line.reasons() == (f"CO-{carc}",) and line.remarks == tuple(remarks)
    assert remit.payment_cents == 0 and remit.transaction_handling == "H" and remit.postable


def test_a_line_denied_inside_a_paid_claim(tmp_path: Path) -> None:
    remit = read(tmp_path, [Claim("P1", services=[
        Service(control="P1-1"), Service(control="P1-2", date="20260303",
                                         cas=[Cas("CO", "119", 15000, "1")],
                                         remarks=["N362"])])])
    (claim,) = remit.claims
    assert not claim.denied and claim.paid_cents == 15000
    paid, denied = claim.services
    assert not paid.denied and denied.denied
    assert denied.adjustments[0].quantity == Decimal(1) and denied.remarks == ("N362",)
    assert remit.balanced


def test_reversal_and_a_later_correction(tmp_path: Path) -> None:
    original = read(tmp_path, [Claim("R1", payer_claim="PAY1", services=[
        Service(control="R1-1"), Service(control="R1-2", date="20260303")])])
    assert original.payment_cents == 30000
    later = write_835(tmp_path / "later.835", [
        Claim("R1", status="22", payer_claim="PAY1", services=[
            Service(-15000, control="R1-1"),
            Service(-15000, control="R1-2", date="20260303")]),
        Claim("R1", payer_claim="PAY2", services=[
            Service(control="R1-1"),
            Service(control="R1-2", date="20260303", cas=[Cas("CO", "119", 15000)])]),
    ], [Plb("FB", -15000, "PAY1")], trace="TRACE0002")  # the net -150 is carried forward
    remit = read_835(later)
    assert remit.valid and remit.postable and remit.payment_cents == 0
    reversal, correction = remit.claims_for("R1")
    assert reversal.reversal and reversal.status_text == "reversal of a previous payment"
    assert (reversal.charge_cents, reversal.paid_cents, reversal.payer_claim_number) == (
        -30000, -30000, "PAY1")
    assert [s.paid_cents for s in reversal.services] == [-15000, -15000]
    assert not correction.reversal and correction.paid_cents == 15000
    assert correction.payer_claim_number == "PAY2"
    assert [s.denied for s in correction.services] == [False, True]


def test_reversal_with_negated_adjustments_balances(tmp_path: Path) -> None:
    remit = read(tmp_path, [Claim("R2", status="22", services=[
        Service(-15000, control="R2-1", cas=[Cas("CO", "45", -5000)])])], [Plb("L6", -200)])
    (claim,) = remit.claims
    assert claim.paid_cents == -10000 and claim.services[0].adjusted_cents == -5000
    assert remit.balanced


def test_payer_split_claim(tmp_path: Path) -> None:
    remit = read(tmp_path, [
        Claim("S1", payer_claim="SPLIT-A", services=[Service(control="S1-1")]),
        Claim("S1", payer_claim="SPLIT-B", services=[
            Service(control="S1-2", date="20260303")]),
    ])
    parts = remit.claims_for("S1")
    assert [p.payer_claim_number for p in parts] == ["SPLIT-A", "SPLIT-B"]
    assert [s.line_control_number for p in parts for s in p.services] == ["S1-1", "S1-2"]
    assert remit.payment_cents == 30000 and remit.balanced


def test_plb_takeback_lowers_the_payment(tmp_path: Path) -> None:
    remit = read(tmp_path, [two_days()], [Plb("WO", 10000, "PAY1"), Plb("72", 2500, "REF9"),
                                          Plb("L6", -125)])
    assert remit.payment_cents == 30000 - 10000 - 2500 + 125
    assert [(p.reason, p.reference, p.amount_cents) for p in remit.provider_adjustments] == [
        ("WO", "PAY1", 10000), ("72", "REF9", 2500), ("L6", None, -125)]
    assert remit.provider_adjustments[0].fiscal_period is not None
    assert remit.balanced


def test_a_takeback_larger_than_the_payment_carries_a_forward_balance(tmp_path: Path
                                                                      ) -> None:
    remit = read(tmp_path, [Claim("T1", services=[Service(control="T1-1")])],
                 [Plb("WO", 20000, "PAY1"), Plb("FB", -5000, "PAY1")])
    assert remit.payment_cents == 0 and remit.transaction_handling == "H"
    assert remit.payment_method == "NON" and remit.balanced


def test_a_file_that_does_not_balance_lists_its_problems(tmp_path: Path) -> None:
    path = write_835(tmp_path / "off.835", [
        Claim("B1", services=[Service(control="B1-1", paid=14000)]),  # the claim balances
        Claim("B2", services=[Service(control="B2-1")], paid=14500),
    ], total=99999)
    remit = read_835(path)
    assert remit.valid  # pyx12 does not add amounts up
    assert not remit.balanced and not remit.postable
    problems = remit.problems
    assert len(problems) == 3, problems
    assert problems[0] == (f"{path}: line 15, segment SVC, element SVC03: SVC02 less the "
                           "line's adjustments is not SVC03 (off by 10.00)")
    assert problems[1].startswith(f"{path}: line 18, segment CLP, element CLP04: CLP03 less")
    assert "off by 5.00" in problems[1]
    assert problems[2] == (f"{path}: line 4, segment BPR, element BPR02: BPR02 is not the "
                           "CLP04 total less the PLB total (off by -704.99)")
    assert all("\n" not in p and "B1" not in p and "999.99" not in p for p in problems)


def test_lines_never_sent_are_kept(tmp_path: Path) -> None:
    """A line without REF*6R or with a number we never used is read like any other: the
    caller reports it as unmatched, nothing is dropped."""
    remit = read(tmp_path, [Claim("U1", services=[
        Service(control=None, code="H0039", modifiers=("U1", "HN"), units="4",
                original="HC:H0040:U1", date="20260305"),
        Service(control="NOT-OURS", date="20260306")])])
    recoded, unknown = remit.services()
    assert recoded.line_control_number is None and recoded.recoded
    assert (recoded.procedure, recoded.modifiers, recoded.units) == ("H0039", ("U1", "HN"),
                                                                     Decimal(4))
    assert (recoded.original_procedure, recoded.original_modifiers) == ("H0040", ("U1",))
    assert unknown.line_control_number == "NOT-OURS"


def test_claim_remarks_dates_and_responsibility(tmp_path: Path) -> None:
    remit = read(tmp_path, [Claim("M1", remarks=["N362", "N640"], patient_responsibility=0,
                                  statement=("20260301", "20260331"),
                                  services=[Service(control="M1-1")])])
    (claim,) = remit.claims
    assert claim.remarks == ("N362", "N640") and claim.patient_responsibility_cents == 0
    assert claim.statement_from is not None and claim.statement_to is not None
    assert (claim.statement_from.day, claim.statement_to.day) == (1, 31)
    assert claim.header_number == "1" and claim.filing_indicator == "MC"


def test_one_pyx12_read_validates_and_reads(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import pyx12.x12n_document

    calls: list[bool] = []
    real = pyx12.x12n_document.x12n_document

    def counted(*args: Any, **kwargs: Any) -> bool:
        calls.append(kwargs.get("callback") is not None)
        return bool(real(*args, **kwargs))

    monkeypatch.setattr(pyx12.x12n_document, "x12n_document", counted)
    remit = read(tmp_path, [two_days()])
    assert calls == [True] and len(remit.services()) == 2


def test_pyx12_findings_come_with_the_remittance(tmp_path: Path) -> None:
    path = write_835(tmp_path / "bad.835", [two_days()])
    path.write_text(path.read_text().replace("CLP*C0001*1*", "CLP*C0001*99*"))
    remit = read_835(path)
    assert not remit.valid and not remit.postable
    assert any("segment CLP, loop 2100, element CLP02" in f for f in remit.findings)


@pytest.mark.parametrize(("old", "new", "where"), [
    ("CLP*C0001*1*300*260*", "CLP*C0001*1*300*2G0*", "line 13, segment CLP, element CLP04: "
                                                     "not an amount"),
    ("SVC*HC:H0040:U1*150*110*", "SVC*HC:H0040:U1*150*110.005*",
     "line 15, segment SVC, element SVC03: an amount below a cent"),
    ("DTM*472*20260302", "DTM*472*20261302", "line 16, segment DTM, element DTM02: not a "
                                             "CCYYMMDD date"),
    ("CAS*CO*45*40", "CAS*CO*45*", "segment CAS, element CAS03: missing"),
])
def test_a_value_that_cannot_be_read_is_one_line_without_it(tmp_path: Path, old: str,
                                                            new: str, where: str) -> None:
    path = write_835(tmp_path / "bad.835", [two_days(cas=[Cas("CO", "45", 4000)])])
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(BhpolicyError) as caught:
        read_835(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and where in message and "\n" not in message
    for value in ("2G0", "110.005", "20261302"):
        assert value not in message


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.835"
    path.write_text(build_835([two_days()]).replace("GS*HP*", "GS*HC*")
                    .replace("005010X221A1", "005010X222A1").replace("ST*835*", "ST*837*"))
    with pytest.raises(BhpolicyError, match="is an 837P 005010X222A1, not an 835"):
        read_835(path)


def test_several_transaction_sets(tmp_path: Path) -> None:
    path = tmp_path / "two.835"
    path.write_text(_envelope("HP", "005010X221A1", [
        body_835([two_days("A1")], trace="T1", st=1),
        body_835([Claim("A2", status="4", services=[
            Service(control="A2-1", cas=[Cas("CO", "18", 15000)])])], trace="T2", st=2),
    ], 101, "20260405"))
    first, second = read_835s(path)
    assert (first.trace_number, second.trace_number) == ("T1", "T2")
    assert (first.control_number, second.control_number) == ("0001", "0002")
    assert first.valid and second.valid and first.sha256 == second.sha256
    assert [c.patient_control_number for c in second.claims] == ["A2"]
    with pytest.raises(BhpolicyError, match="holds 2 835 transaction sets"):
        read_835(path)


def test_a_second_group_of_another_kind_is_refused(tmp_path: Path) -> None:
    from tests.support.x12_remit import SetAck, build_999

    remit = build_835([two_days()]).splitlines()
    ack = build_999([SetAck("0001")]).splitlines()
    mixed = [*remit[:-1], *ack[1:-1], remit[-1].replace("IEA*1*", "IEA*2*")]
    path = tmp_path / "mixed.835"
    path.write_text("\n".join(mixed) + "\n")
    with pytest.raises(BhpolicyError, match=r"segment GS, element GS08: a functional group "
                                            r"that is not an 835"):
        read_835(path)
