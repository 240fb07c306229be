"""Build CMS HCPCS contractor records at the exact positions of the published layout.

Positions (1-based, inclusive) from HCPC<year>_recordlayout.txt: code 1-5, sequence 6-10,
record id 11, long description 12-91, short description 92-119, added date 269-276, action
effective date 277-284, termination date 285-292, action code 293; the record is 320 long.
"""

from __future__ import annotations

import textwrap


def _put(buf: list[str], first: int, last: int, text: str) -> None:
    width = last - first + 1
    assert len(text) <= width, (text, width)
    buf[first - 1:last] = list(text.ljust(width))


def record(code: str, seq: int, recid: str, long: str, short: str = "", added: str = "",
           effective: str = "", terminated: str = "", action: str = "",
           length: int = 320) -> str:
    buf = [" "] * 320
    _put(buf, 1, 5, code)
    _put(buf, 6, 10, f"{seq:05d}")
    _put(buf, 11, 11, recid)
    _put(buf, 12, 91, long)
    if recid in "37":
        _put(buf, 92, 119, short)
        _put(buf, 269, 276, added)
        _put(buf, 277, 284, effective)
        _put(buf, 285, 292, terminated)
        _put(buf, 293, 293, action)
    return "".join(buf)[:length]


def procedure(code: str, seq: int, long: str, **fields: str) -> list[str]:
    """A first-line record plus continuation records when ``long`` exceeds 80 characters."""
    parts = textwrap.wrap(long, 80)
    lines = [record(code, seq, "3", parts[0], **fields)]
    lines += [record(code, seq + i, "4", part) for i, part in enumerate(parts[1:], start=1)]
    return lines


def modifier(mod: str, seq: int, long: str) -> list[str]:
    return [record(f"   {mod}", seq, "7", long)]
