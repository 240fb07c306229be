"""``bhpolicy check`` and ``bhpolicy schema case`` end to end, with golden files; hostile and
broken case files give one-line errors, never a traceback (issue 14 items 4, 6 and 8)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhpolicy.criteria.run import check_stream
from tests.conftest import REPO
from tests.criteria_helpers import REGISTRY
from tests.test_cli import check_golden, run

CASES = REPO / "examples" / "cases"
EXAMPLES = sorted(p.name for p in CASES.glob("*.json"))
AS_OF = ("--as-of", "2026-12-01")  # pinned: the determination date is the run's date
GOOD = (CASES / "sc-initial-meets.json").read_text().replace("\n", " ")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_case_golden_json(name: str) -> None:
    result = run("check", str(CASES / name), "--format", "json", *AS_OF)
    assert result.returncode == 0, result.stderr
    check_golden(f"check-{Path(name).stem}.json", result.stdout)


def test_batch_golden_text_and_html() -> None:
    text = run("check", str(CASES / "batch.jsonl"), "--format", "text", *AS_OF)
    assert text.returncode == 0, text.stderr
    check_golden("check-batch.txt", text.stdout)
    html = run("check", str(CASES / "batch.jsonl"), "--format", "html", *AS_OF)
    assert html.returncode == 0
    check_golden("check-batch.html", html.stdout)


def test_outcomes_of_examples() -> None:
    lines = run("check", str(CASES / "batch.jsonl"), "--format", "json",
                *AS_OF).stdout.splitlines()
    outcomes = {d["case_id"]: d["outcome"] for d in map(json.loads, lines)}
    assert outcomes == {"MN-INIT-001": "meets_criteria", "SC-CS-001": "meets_criteria",
                        "SC-CS-002": "pend", "SC-DC-001": "meets_criteria",
                        "SC-INIT-001": "meets_criteria", "SC-INIT-002": "pend",
                        "SC-INIT-003": "refer"}


def test_batch_with_bad_cases_goes_on(tmp_path: Path) -> None:
    bad_date = GOOD.replace('"1990-04-02"', '"1990-13-02"').replace("SC-INIT-001", "BAD-1")
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join([GOOD, "{not json", bad_date, GOOD]) + "\n")
    errors = tmp_path / "errors.txt"
    result = run("check", str(path), "--format", "json", "--errors", str(errors), *AS_OF)
    assert result.returncode == 1  # processed, some cases rejected
    assert len(result.stdout.splitlines()) == 2
    lines = errors.read_text().splitlines()
    assert lines[0].startswith(f"{path}: line 2: not JSON")
    assert lines[1] == (f"{path}: line 3: case 'BAD-1': field facts.birth_date: not a date "
                        "(YYYY-MM-DD)")
    assert "1990-13-02" not in result.stderr  # never the value (issue 14 item 8)
    assert "Traceback" not in result.stderr


def test_single_bad_case_is_one_line_and_nothing_processed(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"case_id": "X", "policy": "sc-act", "request_type": "renewal",
                                "request_date": "2026-03-01", "facts": {}}))
    result = run("check", str(path), *AS_OF)
    assert result.returncode == 2  # nothing processed (issue 14's exit-code table)
    assert ("case 'X': field request_type: not one of initial, continued_stay, discharge"
            in result.stderr)
    assert "renewal" not in result.stderr


def _check(tmp_path: Path, name: str, data: bytes) -> tuple[int, list[str], list[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    result = run("check", str(path), "--format", "json", *AS_OF)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.returncode, result.stdout.splitlines(), result.stderr.splitlines()


GOOD_BYTES = GOOD.encode()
BAD_WHOLE_FILES = {
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "nested past the limit": b'{"case_id": "X", "facts": ' + b"[" * 40 + b"]" * 40 + b"}",
    "huge integer": GOOD_BYTES.replace(b'"planned_service_days_per_month": 12',
                                       b'"planned_service_days_per_month": ' + b"9" * 5000),
    "not UTF-8": GOOD_BYTES.replace(b"SC-INIT-001", b"SC-INIT-\xff"),
    "NaN": GOOD_BYTES.replace(b"12}", b"NaN}"),
    "key twice": GOOD_BYTES.replace(b'"policy": "sc-act"',
                                    b'"policy": "sc-act", "policy": "mn-act"'),
    "empty": b"",
    "empty list": b"[]",
}


@pytest.mark.parametrize("kind", sorted(BAD_WHOLE_FILES))
def test_a_broken_json_file_is_one_line_error(tmp_path: Path, kind: str) -> None:
    code, out, err = _check(tmp_path, "case.json", BAD_WHOLE_FILES[kind])
    assert code == 2
    assert out == []
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'case.json'}")
    assert "9999" not in err[0] and "mn-act" not in err[0]


@pytest.mark.parametrize("kind", sorted(set(BAD_WHOLE_FILES) - {"empty", "empty list"}))
def test_a_broken_json_line_is_rejected_and_the_rest_go_on(tmp_path: Path, kind: str) -> None:
    bad = BAD_WHOLE_FILES[kind]
    code, out, err = _check(tmp_path, "cases.jsonl", GOOD_BYTES + b"\n" + bad + b"\n" +
                            GOOD_BYTES + b"\n")
    assert code == 1
    assert len(out) == 2
    assert err[0].startswith(f"error: {tmp_path / 'cases.jsonl'}: line 2: ")
    assert err[-1] == "2 determined, 1 rejected"


def test_bom_crlf_and_line_separators_inside_strings_are_read(tmp_path: Path) -> None:
    # U+2028 is allowed raw in a JSON string: it must not split a JSON Lines record (the
    # case on line 3 is rejected whole, for its id, which may not break an error line)
    odd = GOOD.replace("SC-INIT-001", "SC\u2028INIT").encode()
    data = b"\xef\xbb\xbf" + GOOD_BYTES + b"\r\n\r\n" + odd + b"\r\n" + GOOD_BYTES
    code, out, err = _check(tmp_path, "cases.jsonl", data)
    assert code == 1
    assert len(out) == 2
    assert err == [f"error: {tmp_path / 'cases.jsonl'}: line 3: field case_id: expected at "
                   "most 100 characters, none a control character", "2 determined, 1 rejected"]


def test_a_list_file_names_the_bad_item(tmp_path: Path) -> None:
    good = json.loads(GOOD)
    bad = {**good, "case_id": "B", "facts": {**good["facts"], "birth_date": "2027-01-01"}}
    code, out, err = _check(tmp_path, "cases.json", json.dumps([good, bad]).encode())
    assert code == 1 and json.loads("\n".join(out))["case_id"] == "SC-INIT-001"
    assert err[0] == (f"error: {tmp_path / 'cases.json'}: item 1: case 'B': field "
                      "facts.birth_date: after the request date")


def test_request_after_the_as_of_date_is_rejected(tmp_path: Path) -> None:
    # issue 14 item 4: a request dated after the run's date cannot be reviewed yet
    code, _, err = _check(tmp_path, "case.json", GOOD_BYTES.replace(b"2026-03-10",
                                                                    b"2026-12-02"))
    assert code == 2
    assert err[0].endswith("field request_date: after the run's as-of date 2026-12-01")


def test_check_stream_takes_the_as_of_date(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(GOOD)
    (early,) = check_stream(path, REGISTRY, as_of=dt.date(2026, 3, 9))
    assert isinstance(early, str) and early.endswith("after the run's as-of date 2026-03-09")
    (made,) = check_stream(path, REGISTRY, as_of=dt.date(2026, 3, 10))
    assert isinstance(made, dict) and made["determination_date"] == "2026-03-10"


def test_schema_accepts_examples_and_rejects_wrong_fields() -> None:
    result = run("schema", "case")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in EXAMPLES:
        validator.validate(json.loads((CASES / name).read_text()))
    bad = json.loads((CASES / "mn-initial.json").read_text())
    bad["facts"]["impaired_domains"] = ["cooking"]
    assert not validator.is_valid(bad)
    bad = json.loads((CASES / "sc-initial-meets.json").read_text())
    bad["facts"]["locus_level"] = 4  # a Minnesota fact in a South Carolina case
    assert not validator.is_valid(bad)


JSON_VALUES = st.recursive(
    # (Infinity is not JSON: the strict reader rejects such a file whole, tested apart)
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False) |
    st.sampled_from(["", "2026-02-30", "0001-01-01", "9999-12-31", "1900-01-01", "F20",
                     "Z00.00", "F43.12", "2026-13", "<b>", "\u2028"]) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["2026-01", "2026-13", "1899-12", "x"]), inner, max_size=3),
    max_leaves=6)
EXAMPLE_CASES = [json.loads((CASES / name).read_text()) for name in EXAMPLES]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(EXAMPLE_CASES), st.lists(st.tuples(st.booleans(), st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=40), JSON_VALUES),
    max_size=4))
def test_mutated_cases_give_a_determination_or_one_line(
        case: dict[str, object], changes: list[tuple[bool, str, object]]) -> None:
    """issue 14 item 6: whatever a case holds, check answers it or rejects it in one line
    naming no value; it never raises."""
    mutated = json.loads(json.dumps(case))
    facts = mutated["facts"]
    for in_facts, name, value in changes:
        target = facts if in_facts else mutated
        known = sorted(target)
        target[known[len(name) % len(known)] if name[0] < "n" else name] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.json"
        path.write_text(json.dumps(mutated))
        (answer,) = check_stream(path, REGISTRY, as_of=dt.date(2026, 12, 1))
    if isinstance(answer, str):
        assert "\n" not in answer and answer.startswith(str(path))
    else:
        assert answer["outcome"] in ("meets_criteria", "refer", "pend")
        json.dumps(answer)


def test_worksheet_speaks_in_labels_and_carries_the_record() -> None:
    # issue 15 item 9: labels from facts.yaml, member and request, determination date,
    # documents reviewed, and a signature block on refer and pend only
    for form in ("text", "html"):
        out = run("check", str(CASES / "batch.jsonl"), "--format", form, *AS_OF).stdout
        assert "impairment_safe_living" not in out and "planned_service_days_per_month" \
            not in out
        assert "Significant difficulty keeping a safe living situation" in out
        assert "SYN-M-0204" in out  # the member of SC-INIT-002
        assert out.count("2026-12-01") >= 7  # each case's determination date
        assert out.count("Documents reviewed") == 7
        # refer (SC-INIT-003) and pend (SC-INIT-002, SC-CS-002), none on the four others
        assert out.count("Reviewer sign-off") == 3
        assert "Facts in conflict" in out
        assert "long-term disability from this psychiatric illness" in out  # I.B.4's question


@pytest.mark.parametrize("case_id", ["A\n", "A\rB", "A\u0085", "x" * 101])
def test_a_case_id_that_would_break_an_error_line_is_refused(tmp_path: Path,
                                                             case_id: str) -> None:
    raw = json.loads(GOOD)
    path = tmp_path / "case.json"
    path.write_text(json.dumps({**raw, "case_id": case_id}))
    (answer,) = check_stream(path, REGISTRY, as_of=dt.date(2026, 12, 1))
    assert answer == (f"{path}: field case_id: expected at most 100 characters, none a "
                      "control character")
