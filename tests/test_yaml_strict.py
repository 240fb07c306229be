"""The YAML 1.1 traps the loader closes (issue: policy packs, 'YAML traps')."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bhpolicy.errors import DataFileError
from bhpolicy.yaml_strict import StrictLoader, load_yaml


def load(text: str) -> object:
    return yaml.load(text, Loader=StrictLoader)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0100", "0100"),  # revenue code: YAML 1.1 would read octal 64
        ("02", "02"),  # POS telehealth: YAML 1.1 would read 2
        ("08", "08"),
        ("1:30", "1:30"),  # YAML 1.1 would read base-60 90
        ("yes", "yes"),  # YAML 1.1 would read True
        ("on", "on"),
        ("18", 18),
        ("0", 0),
        ("-3", -3),
        ("1.5", 1.5),
        ("true", True),
        ("false", False),
        ('"21"', "21"),
    ],
)
def test_scalars_resolve_as_written(text: str, expected: object) -> None:
    assert load(f"k: {text}") == {"k": expected}


def test_duplicate_key_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(DataFileError) as err:
        load_yaml(path)
    message = str(err.value)
    assert str(path) in message
    assert "line 3" in message
    assert "duplicate key 'a'" in message


def test_duplicate_key_in_nested_mapping(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("outer:\n  x: 1\n  x: 2\n")
    with pytest.raises(DataFileError, match="duplicate key 'x'"):
        load_yaml(path)


@given(st.from_regex(r"0[0-9]{1,4}", fullmatch=True))
def test_codes_with_leading_zero_stay_strings(code: str) -> None:
    assert load(f"code: {code}") == {"code": code}
