"""Posting into the claim ledger (issue 19): 999 and 277CA verdicts, 835 remittances matched
to ledger claims and lines (REF*6R, date and code, SVC06), reversals, splits, PLB, refused
files, unmatched lines, idempotent imports; through real ledger runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bhpolicy.db import Database
from bhpolicy.db.ledger_models import ClaimFile, LedgerClaim, LedgerLine
from bhpolicy.db.posting_models import (
    AckFile,
    ClaimTransaction,
    ProviderAdjustment,
    RemitAdjustment,
    RemitClaim,
    RemitLine,
    Remittance,
)
from bhpolicy.policy import load_registry
from bhpolicy.services.ledger import write_837p_with_ledger
from bhpolicy.services.posting import import_acks, import_remittance, line_states
from bhpolicy.x12.config import load_config
from tests.billing_helpers import days, run
from tests.support.dates import AS_OF
from tests.support.x12_remit import (
    Cas,
    Claim,
    ClaimAck,
    Plb,
    SegmentError,
    Service,
    SetAck,
    Status,
    build_277ca,
    build_999,
    write_835,
)
from tests.test_claims_837p import CONFIG, sc_and_mn_run

NOW = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)


def send(database: Database, tmp_path: Path, name: str, last_day: int = 4, *,
         run_dir: Path | None = None, **options: Any) -> list[LedgerClaim]:
    """A billing run of March 2 .. last_day written through the ledger; the claims sent."""
    if run_dir is None:
        run_dir = run(tmp_path / name, days("2026-03", 2, last_day), name=name).out
    result, _ = write_837p_with_ledger(
        database, run_dir, load_config(CONFIG), tmp_path / f"{name}.x12",
        tmp_path / "control.json", {"H0040", "H0039"}, now=NOW, as_of=AS_OF,
        registry=load_registry(), **options)
    ids = [c.claim_id for c in result.claims]
    with database.read() as session:
        claims = [session.get(LedgerClaim, i) for i in ids]
        for claim in claims:
            assert claim is not None
            list(claim.lines)  # loaded while the session is open
    return [c for c in claims if c is not None]


def services(claim: LedgerClaim, **by_day: dict[str, Any]) -> list[Service]:
    """One SVC a ledger line, REF*6R as sent; keyword day=options (e.g. d04={...})."""
    out = []
    for line in claim.lines:
        day = line.service_date.strftime("%Y%m%d")
        options = {"control": line.line_control, "charge": line.charge_cents,
                   "date": day, "code": line.hcpcs,
                   "modifiers": (line.modifier,) if line.modifier else ()}
        options.update(by_day.get(f"d{line.service_date.day:02d}", {}))
        out.append(Service(**options))
    return out


def remit(tmp_path: Path, name: str, claims: list[Claim], plb: list[Plb] | None = None,
          **options: Any) -> Path:
    return write_835(tmp_path / name, claims, plb or [], **options)


def status(database: Database, claim_id: str) -> str:
    with database.read() as session:
        claim = session.get(LedgerClaim, claim_id)
        assert claim is not None
        return claim.status


def count(database: Database, model: Any) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- front end


def test_a_999_rejecting_one_set_frees_its_claims(tmp_path: Path, database: Database
                                                  ) -> None:
    claims = send(database, tmp_path, "both", run_dir=sc_and_mn_run(tmp_path))
    assert len(claims) == 2
    with database.read() as session:
        sets = {t.claim_id: t.st02 for t in session.scalars(select(ClaimTransaction))}
        file = session.get(ClaimFile, claims[0].file_id)
        assert file is not None
    assert sorted(sets.values()) == sorted(file.st02) and len(set(sets.values())) == 2
    bad, good = claims
    ack = tmp_path / "ack.999"
    ack.write_text(build_999([
        SetAck(str(sets[good.id]).zfill(4)),
        SetAck(str(sets[bad.id]).zfill(4), status="R", codes=["5"], errors=[
            SegmentError("NM1", 7, "2010", "8", claim=bad.id)])],
        group_control=str(file.gs06)))
    done = import_acks(database, ack, now=NOW)
    assert done.valid and (done.sets_accepted, done.sets_rejected) == (1, 1)
    assert done.claims_rejected == [bad.id] and done.unknown == []
    assert [(e.segment, e.position, e.loop, e.claim) for e in done.errors] == [
        ("NM1", 7, "2010", bad.id)]
    assert status(database, bad.id) == "rejected" and status(database, good.id) == "sent"
    again = import_acks(database, ack, now=NOW)
    assert again.already_imported and count(database, AckFile) == 1
    # the rejected set's lines go out again as a new original; the accepted ones do not
    resent = send(database, tmp_path, "both2", run_dir=sc_and_mn_run(tmp_path / "x"))
    assert len(resent) == 1 and resent[0].frequency == "1" and resent[0].id != bad.id
    assert resent[0].member_id == bad.member_id
    assert [ln.line_control for ln in resent[0].lines] == [ln.line_control for ln in bad.lines]


def test_a_277ca_rejecting_one_claim_resends_it(tmp_path: Path, database: Database) -> None:
    first = send(database, tmp_path, "a", 3)
    second = send(database, tmp_path, "b", 5)  # days 4-5: a second original
    one, two = first[0], second[0]
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([
        ClaimAck(one.id, payer_claim="PAYER-ONE"),
        ClaimAck(two.id, statuses=[Status("A7", "21", "PR")])]))
    done = import_acks(database, ack, now=NOW)
    assert done.kind == "277CA" and done.claims_accepted == [one.id]
    assert done.claims_rejected == [two.id]
    assert status(database, one.id) == "accepted" and status(database, two.id) == "rejected"
    with database.read() as session:
        accepted = session.get(LedgerClaim, one.id)
        assert accepted is not None and accepted.payer_claim_number == "PAYER-ONE"
    [resent] = send(database, tmp_path, "c", 5)
    assert resent.frequency == "1" and resent.id not in (one.id, two.id)
    assert [ln.line_control for ln in resent.lines] == [ln.line_control for ln in two.lines]


def test_unknown_claims_in_a_277ca_are_listed(tmp_path: Path, database: Database) -> None:
    ack = tmp_path / "ack.277"
    ack.write_text(build_277ca([ClaimAck("C-NOTOURS")]))
    assert import_acks(database, ack).unknown == ["C-NOTOURS"]


# ---------------------------------------------------------------- 835


def test_partial_payment_then_a_replacement_carries_every_line(tmp_path: Path,
                                                               database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 4)
    assert [ln.charge_cents for ln in claim.lines] == [25000] * 3
    path = remit(tmp_path, "partial.835", [Claim(claim.id, payer_claim="PAY-A", services=services(
        claim, d04={"cas": [Cas("CO", "45", 5000)], "allowed": 20000}))])
    done = import_remittance(database, path, now=NOW)
    assert done.posted and (done.claims, done.lines) == (1, 3) and done.paid_cents == 70000
    assert done.unmatched_lines == [] and done.unmatched_claims == []
    with database.read() as session:
        ledger = session.get(LedgerClaim, claim.id)
        assert ledger is not None and ledger.payer_claim_number == "PAY-A"
        assert ledger.status == "accepted"
        states = line_states(session)
        by = {s.line_control: s for s in states.values()}
        assert sorted(s.paid_cents for s in by.values()) == [20000, 25000, 25000]
        assert {m for (m,) in session.execute(select(RemitLine.matched_by))} == {"6R"}
    # days added to the month: a replacement with every line, REF*F8 the 835's CLP07
    [replacement] = send(database, tmp_path, "b", 6, added_days="replace")
    assert replacement.frequency == "7" and replacement.replaces_id == claim.id
    assert replacement.payer_claim_number == "PAY-A"
    assert len(replacement.lines) == 5
    kept = {ln.service_date: ln.line_control for ln in claim.lines}
    assert all(kept[ln.service_date] == ln.line_control
               for ln in replacement.lines if ln.service_date in kept)
    assert "REF*F8*PAY-A~" in (tmp_path / "b.x12").read_text()


def test_the_same_835_twice_changes_nothing(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    path = remit(tmp_path, "paid.835", [Claim(claim.id, services=services(claim))])
    first = import_remittance(database, path, now=NOW)
    assert first.posted and not first.already_imported
    tables = [Remittance, RemitClaim, RemitLine, RemitAdjustment]
    before = [count(database, t) for t in tables]
    again = import_remittance(database, path, now=NOW)
    assert again.already_imported and not again.posted and again.claims == 0
    assert [count(database, t) for t in tables] == before


def test_an_unbalanced_file_is_refused_and_nothing_is_posted(tmp_path: Path,
                                                             database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    path = remit(tmp_path, "off.835", [Claim(claim.id, services=services(claim))],
                 total=12345)
    done = import_remittance(database, path, now=NOW)
    assert not done.posted and len(done.problems) == 1 and "BPR02" in done.problems[0]
    assert count(database, Remittance) == 0 and count(database, RemitClaim) == 0
    assert status(database, claim.id) == "sent"


def test_unmatched_lines_and_claims_are_stored_and_listed(tmp_path: Path,
                                                          database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    lines = services(claim)
    path = remit(tmp_path, "u.835", [
        Claim(claim.id, services=[*lines, Service(control="NOT-OURS", date="20260320")]),
        Claim("C-UNKNOWN", services=[Service(control="X-1")])])
    done = import_remittance(database, path, now=NOW)
    assert done.posted and done.unmatched_claims == ["C-UNKNOWN"]
    assert [(u.patient_control_number, u.line_control, u.service_date)
            for u in done.unmatched_lines] == [
        (claim.id, "NOT-OURS", "2026-03-20"), ("C-UNKNOWN", "X-1", "2026-03-02")]
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(RemitLine).where(
            RemitLine.ledger_line_id.is_(None))) == 2
        assert session.scalar(select(func.count()).select_from(RemitClaim).where(
            RemitClaim.ledger_claim_id.is_(None))) == 1


def test_lines_matched_by_date_and_code_and_by_svc06(tmp_path: Path, database: Database
                                                     ) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    first, second = services(claim)
    first.control = None  # no REF*6R sent back: date and code
    second.control, second.code, second.original = None, "H0039", "HC:H0040:U1"  # recoded
    path = remit(tmp_path, "m.835", [Claim(claim.id, services=[first, second])])
    assert import_remittance(database, path, now=NOW).unmatched_lines == []
    with database.read() as session:
        matched = [(r.matched_by, r.ledger_line_id) for r in session.scalars(
            select(RemitLine).order_by(RemitLine.id))]
    assert matched == [("date_code", claim.lines[0].id), ("recoded", claim.lines[1].id)]


def test_reversal_and_a_later_correction(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    paid = remit(tmp_path, "paid.835", [Claim(claim.id, payer_claim="PAY1",
                                              services=services(claim))])
    import_remittance(database, paid, now=NOW)
    negated = [Service(**{**s.__dict__, "charge": -s.charge}) for s in services(claim)]
    later = remit(tmp_path, "later.835", [
        Claim(claim.id, status="22", payer_claim="PAY1", services=negated),
        Claim(claim.id, payer_claim="PAY2", services=services(
            claim, d03={"cas": [Cas("CO", "119", 25000)]}))],
        [Plb("FB", -25000, "PAY1")], trace="TRACE0002")
    done = import_remittance(database, later, now=NOW)
    assert done.posted and done.reversals == 1 and done.provider_adjustments == 1
    with database.read() as session:
        rows = list(session.scalars(select(RemitClaim).order_by(RemitClaim.id)))
        assert [(r.reversal, r.reverses_id) for r in rows] == [
            (False, None), (True, rows[0].id), (False, None)]
        ledger = session.get(LedgerClaim, claim.id)
        assert ledger is not None and ledger.payer_claim_number == "PAY2"
        states = line_states(session)
        assert sorted(s.paid_cents for s in states.values()) == [0, 25000]
        assert {s.payer_claim_number for s in states.values()} == {"PAY2"}
        plb = session.scalars(select(ProviderAdjustment)).one()
        assert (plb.reason, plb.reference, plb.amount_cents) == ("FB", "PAY1", -25000)


def test_a_reversal_in_a_later_file_then_the_correction(tmp_path: Path, database: Database
                                                        ) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    import_remittance(database, remit(tmp_path, "1.835", [
        Claim(claim.id, payer_claim="P1", services=services(claim))]), now=NOW)
    negated = [Service(**{**s.__dict__, "charge": -s.charge}) for s in services(claim)]
    import_remittance(database, remit(tmp_path, "2.835", [
        Claim(claim.id, status="22", payer_claim="P1", services=negated)],
        [Plb("FB", -50000, "P1")], trace="T2"), now=NOW)
    with database.read() as session:
        assert line_states(session) == {}  # reversed: nothing in force
    import_remittance(database, remit(tmp_path, "3.835", [
        Claim(claim.id, payer_claim="P2", services=services(
            claim, d02={"cas": [Cas("CO", "45", 1000)]}))], trace="T3"), now=NOW)
    with database.read() as session:
        assert sorted(s.paid_cents for s in line_states(session).values()) == [24000, 25000]


def test_a_payer_split_claim_posts_each_part(tmp_path: Path, database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 3)
    first, second = services(claim)
    done = import_remittance(database, remit(tmp_path, "s.835", [
        Claim(claim.id, payer_claim="SPLIT-A", services=[first]),
        Claim(claim.id, payer_claim="SPLIT-B", services=[second])]), now=NOW)
    assert done.claims == 2 and done.unmatched_lines == []
    with database.read() as session:
        states = line_states(session)
        assert {s.payer_claim_number for s in states.values()} == {"SPLIT-A", "SPLIT-B"}
        assert all(s.paid_cents == 25000 for s in states.values())


def test_line_denied_inside_a_paid_claim_and_denied_claims(tmp_path: Path,
                                                           database: Database) -> None:
    [claim] = send(database, tmp_path, "a", 4)
    path = remit(tmp_path, "d.835", [Claim(claim.id, services=services(
        claim, d03={"cas": [Cas("CO", "119", 25000, "1")], "remarks": ["N362"]},
        d04={"cas": [Cas("CO", "18", 25000)], "remarks": ["M86"]}))])
    assert import_remittance(database, path, now=NOW).posted
    with database.read() as session:
        states = sorted(line_states(session).values(), key=lambda s: s.ledger_line_id)
        assert [(s.paid_cents, s.adjustments, s.remarks) for s in states] == [
            (25000, (), ()), (0, (("CO", "119", 25000),), ("N362",)),
            (0, (("CO", "18", 25000),), ("M86",))]
        assert [s.denied for s in states] == [False, True, True]
        assert session.scalars(select(LedgerLine)).first() is not None


def test_a_claim_denied_as_a_whole_is_spread_onto_its_lines(tmp_path: Path,
                                                            database: Database) -> None:
    """A CLP with no SVC (denied at claim level, CO-27 for the whole charge, and an odd cent
    of CO-45 to share) puts its payment and each CAS on every line the claim carried, in
    proportion to the lines' charges, summing to the claim's amounts."""
    [claim] = send(database, tmp_path, "a", 4)
    charges = [line.charge_cents for line in claim.lines]
    path = remit(tmp_path, "whole.835", [Claim(
        claim.id, status="4", services=[], charge=sum(charges),
        cas=[Cas("CO", "27", sum(charges) - 1), Cas("CO", "45", 1)])])
    result = import_remittance(database, path, now=NOW)
    assert result.posted and result.lines == len(charges) and not result.unmatched_lines
    with database.read() as session:
        states = sorted(line_states(session).values(), key=lambda s: s.ledger_line_id)
    assert [s.paid_cents for s in states] == [0] * len(charges)
    assert all(s.denied for s in states)
    co27 = [sum(a[2] for a in s.adjustments if a[1] == "27") for s in states]
    co45 = [sum(a[2] for a in s.adjustments if a[1] == "45") for s in states]
    assert sum(co27) == sum(charges) - 1 and sum(co45) == 1
    assert [a + b for a, b in zip(co27, co45, strict=True)] == charges


def test_shares_sum_to_the_total_and_follow_the_weights() -> None:
    from bhpolicy.services.posting import shares

    assert shares(100, [1, 1, 1]) == [34, 33, 33]
    assert shares(-100, [1, 1, 1]) == [-34, -33, -33]
    assert shares(0, [5, 5]) == [0, 0]
    assert shares(7, [0, 0]) == [7, 0]
    assert sum(shares(12345, [25000, 25000, 30000])) == 12345
