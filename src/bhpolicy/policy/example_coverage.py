"""Which rules of a pack need a policy example, and which of them no passing example shows:
every billing rule the pack can reach, every criterion id and every audit rule."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bhpolicy.policy.example_schema import ExampleResult
from bhpolicy.policy.model import PolicyPack
from bhpolicy.policy.reads import BILLING_RULES
from bhpolicy.policy.registry import PolicyRegistry

REACHABLE_WITH = {"mixed_codes_in_month": ("billing_codes",)}


def applies(pack: PolicyPack, rule: str) -> bool:
    """A billing rule applies to a pack that has one of the parameters it reads (or reads
    none)."""
    names = REACHABLE_WITH.get(rule, BILLING_RULES[rule])
    return not names or any(name in pack.parameters for name in names)


def catalogue(pack: PolicyPack) -> dict[str, set[str]]:
    """The rules of a pack that need an example: billing rules, criteria ids, audit rules."""
    from bhpolicy.audit.tables import rule_rows
    from bhpolicy.criteria.loader import criteria_for

    criteria: set[str] = set()
    if (Path(pack.folder) / "criteria.yaml").is_file():
        for tree in criteria_for(pack).criteria.requests.values():
            criteria |= {node.id for node in tree.walk()}
    audit = {str(row["rule_id"]) for row in rule_rows(pack)} if (
        Path(pack.folder) / "concurrent_services.yaml").is_file() else set()
    return {"billing": {r for r in BILLING_RULES if applies(pack, r)},
            "criteria": criteria, "audit": audit}


def uncovered(registry: PolicyRegistry, results: list[ExampleResult]) -> list[str]:
    """``pack kind rule`` for every rule of the catalogue no passing example shows."""
    shown: Counter[tuple[str, str, str]] = Counter(
        (r.pack, r.kind, rule) for r in results if not r.problems for rule in r.covers)
    return [f"{pack.alias} {kind} {rule}" for pack in registry.packs
            for kind, rules in catalogue(pack).items() for rule in sorted(rules)
            if not shown[(pack.alias, kind, rule)]]
