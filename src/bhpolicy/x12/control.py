"""Interchange, group and transaction control numbers that never repeat across runs: the last
numbers used are kept in a JSON file and reserved (written) before the output is."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bhpolicy.errors import DataFileError

LIMIT = 999_999_999


@dataclass
class ControlNumbers:
    path: Path
    isa: int = 0
    gs: int = 0
    st: int = 0

    @classmethod
    def load(cls, path: Path) -> ControlNumbers:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, int(data["isa"]), int(data["gs"]), int(data["st"]))
        except (ValueError, KeyError, TypeError):
            raise DataFileError(str(path), "content", "not a control-number file "
                                "(isa, gs, st)") from None

    def reserve(self, transactions: int) -> tuple[int, int, list[int]]:
        """The next ISA13, GS06 and ST02 numbers, saved before they are used."""
        if self.isa >= LIMIT or self.st + transactions > LIMIT:
            raise DataFileError(str(self.path), "content", "control numbers exhausted")
        self.isa += 1
        self.gs += 1
        first = self.st + 1
        self.st += transactions
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"isa": self.isa, "gs": self.gs, "st": self.st}),
                       encoding="utf-8")
        os.replace(tmp, self.path)
        return self.isa, self.gs, list(range(first, first + transactions))
