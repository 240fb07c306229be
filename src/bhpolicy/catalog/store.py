"""Load the catalog: curated entries shipped as YAML, overlaid by an imported CMS file.

The imported file's descriptors replace ours (CMS is the authority on descriptors and units);
our plain language, context, modifiers and notes stay on top. Where the imported descriptor
differs from the one we ship, the entry records the difference as a conflict.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bhpolicy.catalog.model import (
    CatalogSource,
    CodeEntry,
    Conflict,
    SourcedText,
    SourcedUnit,
    SourcesFile,
    Unit,
)
from bhpolicy.errors import DataFileError, NotFoundError
from bhpolicy.yaml_strict import validate_file

HOME_ENV = "BHPOLICY_HOME"
IMPORT_FILE = "hcpcs-import.json"


def default_home() -> Path:
    """Where imported data lives: ``$BHPOLICY_HOME``, else the XDG data folder."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bhpolicy"


def builtin_codes_root() -> Path:
    return Path(str(resources.files("bhpolicy") / "codes"))


class ImportedRecord(BaseModel):
    """One HCPCS code as read from a CMS file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    long_descriptor: str
    short_descriptor: str | None
    unit: Unit | None
    added_date: dt.date | None
    action_effective_date: dt.date | None
    termination_date: dt.date | None
    action_code: str | None


class ImportedCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_file: str
    source_title: str
    imported_at: str
    records: list[ImportedRecord]


@dataclass(frozen=True)
class Catalog:
    entries: dict[str, CodeEntry]
    sources: dict[str, CatalogSource]
    curated_codes: frozenset[str] = field(default_factory=frozenset)

    def get(self, code: str) -> CodeEntry:
        key = code.strip().upper()
        entry = self.entries.get(key)
        if entry is None:
            hint = "" if self.curated_codes != frozenset(self.entries) else (
                "; import the CMS HCPCS file (bhpolicy codes import FILE) to cover every code")
            raise NotFoundError(f"unknown code {code.strip()!r}{hint}")
        return entry


def load_curated(root: Path | None = None) -> tuple[dict[str, CodeEntry], dict[str, CatalogSource]]:
    """Load the shipped entries, checking that each file name matches its code and that
    every cited source is declared in ``sources.yaml``."""
    root = root or builtin_codes_root()
    sources = validate_file(SourcesFile, root / "sources.yaml").sources
    entries: dict[str, CodeEntry] = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name == "sources.yaml":
            continue
        entry = validate_file(CodeEntry, path)
        if entry.code != path.stem:
            raise DataFileError(str(path), "key code", f"{entry.code} does not match file name")
        unknown = entry.cited_sources() - set(sources)
        if unknown:
            raise DataFileError(str(path), "source", f"undeclared source(s): {sorted(unknown)}")
        entries[entry.code] = entry
    return entries, sources


def read_import(home: Path) -> ImportedCatalog | None:
    path = home / IMPORT_FILE
    if not path.is_file():
        return None
    try:
        return ImportedCatalog.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise DataFileError(str(path), "content",
                            f"not a bhpolicy import ({exc.error_count()} problems); "
                            "run 'bhpolicy codes import' again") from None


def write_import(home: Path, imported: ImportedCatalog) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / IMPORT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(imported.model_dump(mode="json"), indent=0), encoding="utf-8")
    tmp.replace(path)
    return path


def _overlay(entry: CodeEntry | None, record: ImportedRecord, source_key: str) -> CodeEntry:
    official = SourcedText(value=record.long_descriptor, source=source_key)
    update: dict[str, object] = {
        "official_descriptor": official,
        "added_date": record.added_date,
        "termination_date": record.termination_date,
    }
    if record.short_descriptor:
        update["short_descriptor"] = SourcedText(value=record.short_descriptor, source=source_key)
    if record.unit:
        update["unit"] = SourcedUnit(value=record.unit, source=source_key)
    if entry is None:
        return CodeEntry.model_validate({"code": record.code, **update})
    shipped = entry.official_descriptor
    if _normal(shipped.value) != _normal(record.long_descriptor):
        update["conflicts"] = [*entry.conflicts, Conflict(
            field="official descriptor",
            official=record.long_descriptor,
            other=shipped.value,
            sources=[source_key, shipped.source],
            resolution="The imported CMS file replaces the descriptor bhpolicy ships.")]
    return entry.model_copy(update=update)


def _normal(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


def merge(entries: dict[str, CodeEntry], sources: dict[str, CatalogSource],
          imported: ImportedCatalog | None) -> Catalog:
    curated = frozenset(entries)
    if imported is None:
        return Catalog(dict(entries), dict(sources), curated)
    key = "cms-import"
    merged_sources = {**sources, key: CatalogSource(
        title=imported.source_title, kind="import", document=imported.source_file,
        note=f"imported {imported.imported_at}")}
    merged = dict(entries)
    for record in imported.records:
        merged[record.code] = _overlay(entries.get(record.code), record, key)
    return Catalog(merged, merged_sources, curated)


def load_catalog(home: Path | None = None, curated_root: Path | None = None) -> Catalog:
    entries, sources = load_curated(curated_root)
    return merge(entries, sources, read_import(home or default_home()))
