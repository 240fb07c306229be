"""Find, load and validate policy packs; look one up by id or alias.

A pack is a folder holding ``policy.yaml`` and ``parameters.yaml``. The packs shipped with
bhpolicy live in ``bhpolicy/policies/``; more folders come from ``--policy-dir`` or the
``BHPOLICY_POLICY_PATH`` environment variable (``os.pathsep``-separated). A new payer is a new
folder: nothing in the engine names a pack.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bhpolicy.errors import DataFileError, NotFoundError
from bhpolicy.policy.model import PackHeader, ParametersFile, PolicyPack
from bhpolicy.policy.reads import check_parameters_read
from bhpolicy.yaml_strict import validate_file

POLICY_PATH_ENV = "BHPOLICY_POLICY_PATH"


def builtin_policy_root() -> Path:
    return Path(str(resources.files("bhpolicy") / "policies"))


def load_pack(folder: Path) -> PolicyPack:
    """Load and validate one pack folder; any problem names the file, key and problem."""
    header = validate_file(PackHeader, folder / "policy.yaml")
    params_path = folder / "parameters.yaml"
    parameters = validate_file(ParametersFile, params_path).parameters
    for name, parameter in parameters.items():
        if parameter.source != "policy" and parameter.source not in header.sources:
            raise DataFileError(
                str(params_path), f"key parameters.{name}.source",
                f"unknown source {parameter.source!r}; declare it under 'sources' in policy.yaml")
    check_parameters_read(folder, parameters)
    return PolicyPack(header=header, parameters=parameters, folder=str(folder))


@dataclass(frozen=True)
class PolicyRegistry:
    packs: tuple[PolicyPack, ...]

    def get(self, key: str) -> PolicyPack:
        """Find a pack by its id (``SC.CP.BH.500``) or alias (``sc-act``), case-insensitive."""
        wanted = key.strip().lower()
        for pack in self.packs:
            if wanted in (pack.id.lower(), pack.alias.lower()):
                return pack
        known = ", ".join(f"{p.id} ({p.alias})" for p in self.packs)
        raise NotFoundError(f"no policy pack {key!r}; known packs: {known}")


def _pack_folders(root: Path) -> Iterable[Path]:
    if (root / "policy.yaml").is_file():
        yield root
        return
    if not root.is_dir():
        raise DataFileError(str(root), "folder", "policy directory does not exist")
    for child in sorted(root.iterdir()):
        if (child / "policy.yaml").is_file():
            yield child


def load_registry(extra_dirs: Sequence[Path] = ()) -> PolicyRegistry:
    """Load the built-in packs plus those in ``extra_dirs`` and ``$BHPOLICY_POLICY_PATH``."""
    roots = [builtin_policy_root(), *extra_dirs]
    env = os.environ.get(POLICY_PATH_ENV, "")
    roots += [Path(p) for p in env.split(os.pathsep) if p]
    packs: list[PolicyPack] = []
    for root in roots:
        for folder in _pack_folders(root):
            pack = load_pack(folder)
            for other in packs:
                if {pack.id.lower(), pack.alias} & {other.id.lower(), other.alias}:
                    raise DataFileError(
                        str(folder / "policy.yaml"), "key id/alias",
                        f"{pack.id} ({pack.alias}) clashes with the pack in {other.folder}")
            packs.append(pack)
    return PolicyRegistry(tuple(packs))
