"""review.yaml and the notice wording: strict loading, dated values with citations, and every
number of the clock and the notices taken from the data (a pack with other numbers gives
other deadlines, with no code change)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bhpolicy.db import Database
from bhpolicy.errors import DataFileError
from bhpolicy.policy import load_registry
from bhpolicy.policy.registry import builtin_policy_root, load_pack
from bhpolicy.services import determining, notice_wording
from bhpolicy.services import requests as rq
from bhpolicy.services.errors import Invalid
from bhpolicy.services.review_rules import REVIEW_FILE, review_rules
from bhpolicy.services.schemas import DecisionCreate, ExtensionCreate, RequestCreate
from tests.support.db import NOW, Actors, example_case, request_body

SC_CASE_DATE = dt.date(2026, 12, 1)


def test_sc_clock_is_dated_data_with_citations() -> None:
    rules = review_rules(load_registry().get("sc-act"))
    assert rules.program == "managed_care" and rules.plan_appeal
    before = rules.value("standard_decision_days", dt.date(2025, 12, 31))
    after = rules.value("standard_decision_days", dt.date(2026, 1, 1))
    assert (before.value, after.value) == (14, 7)  # CMS-0057-F, rating periods from 2026
    assert "CMS-0057-F" in after.citation and "438.210(d)(1)" in before.citation
    assert rules.value("expedited_decision_hours", SC_CASE_DATE).value == 72
    assert rules.value("extension_max_days", SC_CASE_DATE).value == 14
    assert rules.value("appeal_filing_days", SC_CASE_DATE).citation == "42 CFR 438.402(c)(2)(ii)"
    assert rules.value("termination_advance_notice_days", SC_CASE_DATE).citation.startswith(
        "42 CFR 431.211")
    assert rules.value("epsdt_age_under_years", SC_CASE_DATE).value == 21
    with pytest.raises(Invalid, match="no value in force on 2023-12-31"):
        rules.value("standard_decision_days", dt.date(2023, 12, 31))


def test_mn_is_fee_for_service_without_plan_appeal() -> None:
    rules = review_rules(load_registry().get("mn-act"))
    assert rules.program == "fee_for_service" and not rules.plan_appeal
    assert rules.notice.plan_appeal is None
    assert "440.230(e)" in rules.value("standard_decision_days", SC_CASE_DATE).citation
    with pytest.raises(Invalid, match="2026-01-01"):
        rules.value("standard_decision_days", dt.date(2025, 6, 1))


def _copy_pack(tmp_path: Path, standard_days: int) -> Path:
    """sc-act under another id and alias, its standard decision time changed."""
    folder = tmp_path / "packs" / "sc-test"
    shutil.copytree(builtin_policy_root() / "sc-act", folder)
    header = (folder / "policy.yaml").read_text(encoding="utf-8")
    header = header.replace("id: SC.CP.BH.500", "id: SC.TEST").replace("alias: sc-act",
                                                                        "alias: sc-test")
    (folder / "policy.yaml").write_text(header, encoding="utf-8")
    review = (folder / REVIEW_FILE).read_text(encoding="utf-8")
    assert review.count("        value: 7\n") == 1
    review = review.replace("        value: 7\n", f"        value: {standard_days}\n")
    (folder / REVIEW_FILE).write_text(review, encoding="utf-8")
    return folder.parent


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    determining.registry.cache_clear()
    yield None
    determining.registry.cache_clear()


def test_numbers_come_from_the_data(database: Database, actors: Actors, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    fresh_registry: None) -> None:
    root = _copy_pack(tmp_path, 5)
    monkeypatch.setenv("BHPOLICY_POLICY_PATH", str(root))
    determining.registry.cache_clear()
    case = example_case("sc-initial-refer")
    case["policy"] = "sc-test"
    view = rq.create_request(database, actors.intake,
                             RequestCreate.model_validate(request_body(case)), None, NOW)
    assert view.policy == "SC.TEST" and view.due_by == NOW + dt.timedelta(days=5)


def test_strict_loader_names_file_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "sc-act"
    shutil.copytree(builtin_policy_root() / "sc-act", folder)
    review = folder / REVIEW_FILE
    original = review.read_text(encoding="utf-8")
    for broken, key in [
            (original.replace("  extension_max_days:\n", "  extension_maximum_days:\n"),
             "parameters.extension_max_days"),
            (original.replace("    unit: hours\n    citation: 42 CFR 438.210(d)(2)(i)",
                              "    unit: days\n    citation: 42 CFR 438.210(d)(2)(i)"),
             "parameters.expedited_decision_hours.unit"),
            (original.replace("program: managed_care", "program: managed_care\nextra: 1"),
             "extra"),
            (original.replace("[member_request, provider_request, plan_need_documented]",
                              "[member_request, whenever]"), "extension_reasons"),
            (original.replace("  plan_appeal: 42 CFR", "  plan_appeal: null\n  x_: 42 CFR"),
             "notice")]:
        review.write_text(broken, encoding="utf-8")
        review_rules.cache_clear()
        with pytest.raises(DataFileError) as caught:
            review_rules(load_pack(folder))
        assert str(review) in str(caught.value) and key in str(caught.value)
    review.unlink()
    with pytest.raises(Invalid, match=r"no review\.yaml"):
        review_rules(load_pack(folder))


def test_wording_override_and_its_checks(database: Database, actors: Actors, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = Path(notice_wording.builtin_wording_path()).read_text(encoding="utf-8")
    state = tmp_path / "state.toml"
    state.write_text(text.replace("placeholder = true", "placeholder = false").replace(
        "is not approved.", "is DENIED under the State's model wording."), encoding="utf-8")
    monkeypatch.setenv(notice_wording.WORDING_ENV, str(state))
    view = rq.create_request(database, actors.intake,
                             RequestCreate.model_validate(request_body()), None, NOW)
    done = rq.decide(database, actors.reviewer, view.id, DecisionCreate(
        kind="deny", criteria=["I.D"], reason="r"), None, NOW)
    notice = rq.get_notice(database, actors.reviewer, done.notices[0].id)
    assert not notice.placeholder_wording and "State's model wording" in notice.decision.text
    for broken, key in [(text.replace('grievance = "', 'grievanc = "'), "extension"),
                        (text.replace("$deadline, the time", "$when, the time"),
                         "missed_deadline.text")]:
        bad = tmp_path / f"bad-{key}.toml"
        bad.write_text(broken, encoding="utf-8")
        with pytest.raises(DataFileError) as caught:
            notice_wording._load(str(bad))
        assert key in str(caught.value)


def test_extension_reasons_come_from_the_data(database: Database, actors: Actors) -> None:
    view = rq.create_request(database, actors.intake,
                             RequestCreate.model_validate(request_body()), None, NOW)
    done = rq.extend(database, actors.reviewer, view.id,
                     ExtensionCreate(reason="member_request", days=1), NOW)
    assert done.clock[1].name == "extension_max_days" and done.clock[1].value == 14
