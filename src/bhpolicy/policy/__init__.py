"""Policy packs: cited, dated parameters loaded from data folders."""

from bhpolicy.policy.model import Citation, ParameterValue, PolicyPack
from bhpolicy.policy.registry import PolicyRegistry, load_registry

__all__ = ["Citation", "ParameterValue", "PolicyPack", "PolicyRegistry", "load_registry"]
