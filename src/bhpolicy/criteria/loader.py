"""Load a pack's criteria files and check every name they use against the pack."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from bhpolicy.criteria import icd10
from bhpolicy.criteria.model import CriteriaFile, CrosswalkFile, FactsFile, Node, RequestType
from bhpolicy.errors import DataFileError, NotFoundError
from bhpolicy.policy.model import PolicyPack
from bhpolicy.yaml_strict import validate_file

_DATED = ("date", "date_list", "month_counts")


@dataclass(frozen=True, eq=False)
class CriteriaPack:
    pack: PolicyPack
    facts: FactsFile
    criteria: CriteriaFile
    crosswalk: CrosswalkFile | None
    _groups: dict[str, str | None] = field(default_factory=dict, repr=False)

    def diagnosis_group(self, code: str) -> str | None:
        """The crosswalk group of an ICD-10-CM code (dotted), cached per code."""
        if code not in self._groups:
            self._groups[code] = self.crosswalk.group_of(code) if self.crosswalk else None
        return self._groups[code]

    def tree(self, request_type: RequestType) -> Node:
        tree = self.criteria.requests.get(request_type)
        if tree is None:
            known = ", ".join(self.criteria.requests)
            raise NotFoundError(f"{self.pack.id} has no {request_type} criteria (it has: {known})")
        return tree


def _check(pack: PolicyPack, facts: FactsFile, criteria: CriteriaFile,
           crosswalk: CrosswalkFile | None, folder: Path) -> None:
    facts_path, criteria_path = str(folder / "facts.yaml"), str(folder / "criteria.yaml")
    for name, spec in facts.facts.items():
        if spec.document not in facts.documents:
            raise DataFileError(facts_path, f"key facts.{name}.document",
                                f"unknown document {spec.document!r}")
        if spec.allowed_param and spec.allowed_param not in pack.parameters:
            raise DataFileError(facts_path, f"key facts.{name}.allowed_param",
                                f"no parameter {spec.allowed_param!r} in the pack")
        for other in spec.not_before:
            if other not in facts.facts or facts.facts[other].type != "date":
                raise DataFileError(facts_path, f"key facts.{name}.not_before",
                                    f"{other!r} is not a date fact")
        if (spec.not_before or spec.may_follow_request) and spec.type not in _DATED:
            raise DataFileError(facts_path, f"key facts.{name}",
                                "not_before and may_follow_request apply to dates only")
    for index, group in enumerate(facts.exclusive):
        for name in group.facts:
            if name not in facts.facts or facts.facts[name].type != "boolean":
                raise DataFileError(facts_path, f"key exclusive[{index}].facts",
                                    f"{name!r} is not a yes/no fact")
    for index, rule in enumerate(facts.diagnosis_supports):
        where = f"key diagnosis_supports[{index}]"
        if rule.flag not in facts.facts or facts.facts[rule.flag].type != "boolean":
            raise DataFileError(facts_path, f"{where}.flag", f"{rule.flag!r} is not a yes/no fact")
        if rule.diagnosis not in facts.facts or facts.facts[rule.diagnosis].type != "icd10":
            raise DataFileError(facts_path, f"{where}.diagnosis",
                                f"{rule.diagnosis!r} is not a diagnosis fact")
        unknown = [g for g in rule.groups if crosswalk is None or g not in crosswalk.groups]
        if unknown:
            raise DataFileError(facts_path, f"{where}.groups",
                                f"diagnosis group {unknown[0]!r} not in the crosswalk")
    for request, tree in criteria.requests.items():
        seen: set[str] = set()
        for node in tree.walk():
            where = f"key requests.{request} node {node.id}"
            if node.id in seen:
                raise DataFileError(criteria_path, where, "node id used twice")
            seen.add(node.id)
            if node.at_least and node.at_least not in pack.parameters:
                raise DataFileError(criteria_path, where, f"no parameter {node.at_least!r}")
            test = node.test
            if test is None:
                continue
            for fact in (test.fact, test.present_fact, test.start_fact, test.end_fact):
                if fact is not None and fact not in facts.facts:
                    raise DataFileError(criteria_path, where, f"unknown fact {fact!r}")
            for param in test.parameters():
                if param not in pack.parameters:
                    raise DataFileError(criteria_path, where, f"no parameter {param!r}")
            if test.kind == "diagnosis_group" and (
                    crosswalk is None or test.group not in crosswalk.groups):
                raise DataFileError(criteria_path, where,
                                    f"diagnosis group {test.group!r} not in the crosswalk")
            if test.kind == "diagnosis_group" and crosswalk is not None:
                _check_groups(pack, crosswalk, test.param, test.judgment_param)


def _check_groups(pack: PolicyPack, crosswalk: CrosswalkFile, groups: str | None,
                  judged: str | None) -> None:
    """Every group the pack's group parameters name, on any date, is a crosswalk group, and
    one left to a reviewer's judgment has the question the reviewer answers."""
    params_path = str(Path(pack.folder) / "parameters.yaml")
    for name in (groups, judged):
        if name is None:
            continue
        for dated in pack.parameters[name].values:
            for group in dated.value if isinstance(dated.value, list) else []:
                if group not in crosswalk.groups:
                    raise DataFileError(params_path, f"key parameters.{name}",
                                        f"diagnosis group {group!r} not in the crosswalk")
                if name == judged and not crosswalk.groups[group].question:
                    raise DataFileError(
                        str(Path(pack.folder) / "diagnosis_crosswalk.yaml"),
                        f"key groups.{group}.question",
                        f"missing: {name} leaves the group to a reviewer's judgment")


@functools.cache
def criteria_for(pack: PolicyPack) -> CriteriaPack:
    """The criteria of ``pack``; a pack without ``criteria.yaml`` has none."""
    folder = Path(pack.folder)
    if not (folder / "criteria.yaml").is_file():
        raise NotFoundError(f"{pack.id} has no medical-necessity criteria (no criteria.yaml)")
    facts = validate_file(FactsFile, folder / "facts.yaml")
    criteria = validate_file(CriteriaFile, folder / "criteria.yaml")
    crosswalk_path = folder / "diagnosis_crosswalk.yaml"
    crosswalk = (validate_file(CrosswalkFile, crosswalk_path) if crosswalk_path.is_file()
                 else None)
    _check(pack, facts, criteria, crosswalk, folder)
    if crosswalk is not None and crosswalk.code_set_release != icd10.release():
        raise DataFileError(
            str(crosswalk_path), "key code_set_release",
            f"the crosswalk expects ICD-10-CM {crosswalk.code_set_release}, but the installed "
            f"code set is {icd10.release()}; review the crosswalk and update the key")
    return CriteriaPack(pack, facts, criteria, crosswalk)
