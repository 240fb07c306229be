"""The text a line or an unbilled day repeats comes from a small table keyed by a number (its
kind). These tests pin that the keys are unique, that every combination has a row, that a
kind decodes back to its fields (the one-member plan builds the text of its lines' kinds
only, decoded) with the same text, and that a run over two packs at once keeps each pack's
text on its own lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import ibis
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from bhpolicy.billing import kinds as encoding
from bhpolicy.domain.coverage import TEAM_SIZES
from bhpolicy.domain.parameters import parameter_table, segments
from bhpolicy.domain.reasons import reason_table
from bhpolicy.domain.runs import RunSettings, connect, store_dictionary
from bhpolicy.policy import load_registry
from tests.billing_helpers import MN_NPI, auth, contact, member, run


def _coverage() -> ibis.Table:
    return ibis.memtable({"code_key": [0, 1, 2], "billing_code": [None, "H0039", "H0040"]},
                         schema=ibis.schema({"code_key": "int64", "billing_code": "string"}))


def test_line_kinds_are_unique_and_every_combination_has_one() -> None:
    packs = list(load_registry().packs)
    # SC's H0039 listing changes in 02/26, so the range holds more than one segment a pack
    params = parameter_table(packs, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    kinds = encoding.line_kinds(segments(params), _coverage(), reason_table(packs))
    count = params.select("policy_id", "segment").distinct().count().to_pyarrow().as_py()
    assert count > len(packs)  # segment numbers are unique across packs
    combinations = (count * 3 * len(encoding.HOLDS) * 2 * len(TEAM_SIZES) *
                    (encoding.POS_DEFAULT + 1))
    table = kinds.to_pyarrow()
    assert table.num_rows == combinations
    assert len(set(table.column("kind").to_pylist())) == combinations
    # days with every value in force (the others' contacts are rejected, never billed)
    in_force = params.filter(params.not_in_force.isnull()).select(k_segment="segment")
    billed = kinds.filter((kinds.kind >> encoding.SEGMENT_SHIFT).isin(in_force.k_segment))
    billed_table = billed.to_pyarrow()
    assert billed_table.num_rows > 0
    for column in ("hcpcs", "status", "rule_id", "section", "policy_id"):
        assert billed_table.column(column).null_count == 0, column
    # a POS is missing only for the inpatient key of a pack without an inpatient POS (SC),
    # which no day of that pack reaches
    no_pos = billed.filter(billed.pos.isnull())
    pos_key = (no_pos.kind & (2**encoding.CODE_SHIFT - 1)) % (encoding.POS_DEFAULT + 1)
    assert set(pos_key.to_pyarrow().to_pylist()) == {encoding.POS_INPATIENT}
    assert set(no_pos.policy_id.to_pyarrow().to_pylist()) == {"SC.CP.BH.500"}
    # issue 15: a line says when its POS is the pack's default, and only then
    pos_keys = (kinds.kind & (2**encoding.CODE_SHIFT - 1)) % (encoding.POS_DEFAULT + 1)
    flags = kinds.select(defaulted=kinds.pos_defaulted, is_default=pos_keys ==
                         encoding.POS_DEFAULT).distinct().to_pyarrow().to_pylist()
    assert sorted((f["defaulted"], f["is_default"]) for f in flags) == [(False, False),
                                                                         (True, True)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**20 - 1), st.integers(0, 2**20 - 1),
       st.integers(0, len(encoding.HOLDS) - 1), st.integers(0, 1),
       st.integers(0, len(TEAM_SIZES) - 1), st.integers(0, encoding.POS_DEFAULT))
def test_a_kind_gives_back_the_fields_it_was_made_of(segment: int, code: int, hold: int,
                                                     billed: int, team: int, pos: int) -> None:
    names = ("segment", "k_code", "k_hold", "k_billed", "k_team", "k_pos")
    values = (segment, code, hold, billed, team, pos)
    t = ibis.memtable({n: [v] for n, v in zip(names, values, strict=True)},
                      schema=ibis.schema(dict.fromkeys(names, "int64")))
    kind = encoding.kind_of(*[t[n] for n in names])
    row = t.select(**encoding.kind_fields(kind)).to_pyarrow().to_pylist()[0]
    assert tuple(row[n] for n in names) == values


def test_the_kinds_a_few_lines_use_have_the_same_text_as_in_the_whole_table() -> None:
    """The one-member plan builds the text of the kinds its lines have (decoded), the folder
    run every kind's: the same rows, kind for kind, and a kind nobody has is left out."""
    packs = list(load_registry().packs)
    params = parameter_table(packs, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    segs, reasons = segments(params), reason_table(packs)
    every = encoding.line_kinds(segs, _coverage(), reasons).to_pyarrow().to_pylist()
    # every kind of the table, plus each kind twice (lines repeat them) and kinds the table
    # has no row for (a code no authorization has, a segment of no pack, a hold past the
    # last): no row either
    segment = every[0]["kind"] >> encoding.SEGMENT_SHIFT
    past_holds = len(encoding.HOLDS) * 2 * len(TEAM_SIZES) * (encoding.POS_DEFAULT + 1)
    strays = [(segment << encoding.SEGMENT_SHIFT) | (7 << encoding.CODE_SHIFT),  # no code
              (999 << encoding.SEGMENT_SHIFT) | (1 << encoding.CODE_SHIFT),  # no segment
              (segment << encoding.SEGMENT_SHIFT) | (1 << encoding.CODE_SHIFT) | past_holds]
    wanted = [k["kind"] for k in every] * 2
    used = ibis.memtable({"line_kind": wanted}, schema=ibis.schema({"line_kind": "int64"}))
    used = ibis.union(used, ibis.memtable({"line_kind": strays},
                                          schema=ibis.schema({"line_kind": "int64"})))
    found = encoding.line_kinds(segs, _coverage(), reasons, used).to_pyarrow().to_pylist()
    assert sorted(found, key=lambda k: k["kind"]) == sorted(every, key=lambda k: k["kind"])
    some = every[::997]  # a few kinds: only those, not every kind of their segment
    used = ibis.memtable({"line_kind": [k["kind"] for k in some]},
                         schema=ibis.schema({"line_kind": "int64"}))
    found = encoding.line_kinds(segs, _coverage(), reasons, used).to_pyarrow().to_pylist()
    assert sorted(found, key=lambda k: k["kind"]) == sorted(some, key=lambda k: k["kind"])


def test_unbilled_kinds_name_every_reason_for_no_line() -> None:
    packs = list(load_registry().packs)
    params = parameter_table(packs, dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    kinds = encoding.unbilled_kinds(segments(params), reason_table(packs)).to_pyarrow().to_pylist()
    assert len({k["kind"] for k in kinds}) == len(kinds)
    assert {k["reason_id"] for k in kinds} == set(encoding.NO_LINE.values())
    assert all(k["carc"] and k["section"] for k in kinds)


def test_stored_dictionary_keeps_quotes_and_nulls_and_writes_plain_text(tmp_path: Path
                                                                         ) -> None:
    con = connect(RunSettings(out=tmp_path, temp_directory=tmp_path / "tmp"))
    table = ibis.memtable({"k": [1, 2, 3], "text": ["it's", None, "a;b"],
                           "empty": [None, None, None]},
                          schema=ibis.schema({"k": "int64", "text": "string",
                                              "empty": "string"}))
    stored = store_dictionary(con, "kinds", table)
    types = dict(con.raw_sql("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'kinds'").fetchall())
    assert types["text"].startswith("ENUM")
    assert types["empty"] == "VARCHAR"  # no value to make a dictionary of
    path = tmp_path / "kinds.parquet"
    con.to_parquet(stored, path)
    written = pq.read_table(path)
    assert str(written.schema.field("text").type) == "string"
    assert sorted(written.to_pylist(), key=lambda r: r["k"]) == [
        {"k": 1, "text": "it's", "empty": None}, {"k": 2, "text": None, "empty": None},
        {"k": 3, "text": "a;b", "empty": None}]


def test_two_packs_in_one_run_keep_their_own_text(tmp_path: Path) -> None:
    # each line's citation, modifier and POS come from its own pack (SC Coding
    # Implications: U1 for a small team; MN Billing: no team-size modifier)
    billed = run(tmp_path, [contact("2026-03-02"),
                            contact("2026-03-03", provider_id=MN_NPI, member_id="N1",
                                    pos="")],
                 members=[member(), member("N1", state="MN")],
                 auths=[auth(), auth("B1", "N1", "mn-act", MN_NPI, team_size="")])
    sc, mn = billed.lines
    assert (sc["member_id"], sc["policy_id"], sc["modifier"], sc["pos"]) == (
        "M1", "SC.CP.BH.500", "U1", "12")
    assert (mn["member_id"], mn["modifier"], mn["status"]) == ("N1", None, "billable")
    assert mn["policy_id"] != sc["policy_id"] and mn["pos"] is not None
    assert mn["section"] != sc["section"]
    written = duckdb.execute(
        f"SELECT count(*) FROM '{billed.out / 'lines.parquet'}' WHERE status IS NULL"
    ).fetchone()
    assert written == (0,)
