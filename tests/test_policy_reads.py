"""The loader refuses a pack parameter no rule reads (an edit to it would change nothing),
unless it is marked informative with a why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bhpolicy.errors import DataFileError
from bhpolicy.policy.reads import BILLING_RULES, declares, readers
from bhpolicy.policy.registry import builtin_policy_root, load_pack

UNREAD = '''
  ambulance_minutes:
    description: A number no rule reads.
    unit: minutes
    section: Billing
    values:
      - since: 2013-10-22
        value: 30
'''


def _copy(tmp_path: Path, extra: str, alias: str = "mn-act") -> Path:
    folder = tmp_path / alias
    shutil.copytree(builtin_policy_root() / alias, folder)
    path = folder / "parameters.yaml"
    path.write_text(path.read_text() + extra)
    return folder


def test_a_parameter_no_rule_reads_is_refused_naming_file_and_parameter(tmp_path: Path
                                                                        ) -> None:
    folder = _copy(tmp_path, UNREAD)
    with pytest.raises(DataFileError) as caught:
        load_pack(folder)
    message = str(caught.value)
    assert str(folder / "parameters.yaml") in message
    assert "parameters.ambulance_minutes" in message and "no rule reads" in message


def test_informative_needs_a_why_and_then_loads(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="needs a 'why'"):
        load_pack(_copy(tmp_path / "a", UNREAD + "    informative: true\n"))
    pack = load_pack(_copy(tmp_path / "b", UNREAD + "    informative: true\n"
                                                    "    why: the writer fixes it\n"))
    assert pack.parameters["ambulance_minutes"].informative


def test_a_parameter_a_rule_reads_cannot_be_informative(tmp_path: Path) -> None:
    folder = tmp_path / "mn-act"
    shutil.copytree(builtin_policy_root() / "mn-act", folder)
    path = folder / "parameters.yaml"
    text = path.read_text()
    marker = "  inpatient_pos:\n"
    path.write_text(text.replace(marker, marker + "    informative: true\n"
                                 "    why: not really\n", 1))
    with pytest.raises(DataFileError, match=r"parameters\.inpatient_pos\.informative"):
        load_pack(folder)


def test_a_pack_file_naming_a_missing_parameter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mn-act"
    shutil.copytree(builtin_policy_root() / "mn-act", folder)
    path = folder / "criteria.yaml"
    path.write_text(path.read_text().replace("param: min_impaired_domains",
                                             "param: min_impaired_domainz"))
    with pytest.raises(DataFileError) as caught:
        load_pack(folder)
    assert "criteria.yaml" in str(caught.value) and "MN.FUNCTIONAL" in str(caught.value)


def test_every_builtin_parameter_has_a_reader_or_is_informative() -> None:
    for alias in ("sc-act", "mn-act"):
        pack = load_pack(builtin_policy_root() / alias)
        read = readers(Path(pack.folder), pack.parameters)
        for name, parameter in pack.parameters.items():
            assert (name in read) != parameter.informative, (alias, name)


def test_a_rule_reading_an_undeclared_parameter_is_a_programming_error() -> None:
    declares("over_monthly_cap", "monthly_max_billed_days")
    assert "pos_restrictions" not in BILLING_RULES["over_monthly_cap"]
    with pytest.raises(AssertionError, match="without declaring"):
        declares("over_monthly_cap", "pos_restrictions")
