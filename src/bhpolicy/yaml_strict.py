"""A YAML loader that closes PyYAML's YAML 1.1 traps.

PyYAML resolves plain scalars by YAML 1.1 rules: ``0100`` becomes the octal 64, ``02``
becomes 2 while ``08`` stays a string, ``1:30`` becomes the base-60 number 90, ``yes`` and
``on`` become True, and a duplicate key silently keeps the last value. Codes (HCPCS, POS,
revenue, ICD-10, CARC) must survive as written, so this loader:

* resolves integers only in plain decimal without leading zeros (``0100``, ``02`` and
  ``1:30`` stay strings, to be rejected by a schema that wants a number, or kept as codes);
* resolves booleans only from ``true``/``false``;
* leaves dates as text, for the schema to parse (a bad date such as ``2026-02-30`` is then
  reported with its key instead of crashing the parser);
* refuses a mapping with a duplicate key, naming the key and its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node

from bhpolicy.errors import DataFileError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalar resolution and duplicate-key detection."""


# Start from a clean resolver table: drop the 1.1 int, float, bool and timestamp resolvers.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in {
        "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:timestamp"}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:0|-?[1-9][0-9]*)$"), list("-0123456789"))
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?$"),
    list("-0123456789"))


def _construct_mapping_no_duplicates(
    loader: StrictLoader, node: Node, deep: bool = False
) -> dict[Any, Any]:
    if not isinstance(node, MappingNode):
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a mapping, found {type(node).__name__}", node.start_mark)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_no_duplicates)


def load_yaml(path: Path) -> Any:
    """Read one YAML file with :class:`StrictLoader`; any problem names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(str(path), "file", f"cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise DataFileError(str(path), where, str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise DataFileError(str(path), "file", str(exc)) from None


M = TypeVar("M", bound=BaseModel)


def validate_file(model: type[M], path: Path) -> M:
    """Load a YAML file and validate it against ``model``; the error names file, key, problem."""
    raw = load_yaml(path)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DataFileError(str(path), f"key {where}", first["msg"] + extra) from None
