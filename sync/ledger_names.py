"""File names for ledgers: one per building, safe on every system, bounded.

A building value comes from a volunteer's tablet and may be anything: a
trailing space, "..", a slash, 300 characters. Its file keeps the friendly
name when that name is the value itself (or its label), is safe as a file
name and is no other building's name, ignoring case; otherwise it is the
sanitised, shortened name followed by ``~`` and a short hash of the raw
value, so that two buildings never share a file. A friendly name never holds
``~``, so it cannot be mistaken for a hashed one.
"""

from __future__ import annotations

import hashlib
from collections import Counter

MAX_CHARS = 80
MAX_BYTES = 200
HASH_CHARS = 8

_FORBIDDEN = set('\\/:*?"<>|~')
# Names Windows reserves for devices, whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{kind}{n}" for kind in ("COM", "LPT") for n in range(1, 10)
}


def file_name(shown: str, raw: str | None = None) -> str:
    """The file name (without extension) for ``shown``, the name of ``raw``."""
    raw = shown if raw is None else raw
    if _friendly(shown):
        return shown

    return hashed(shown, raw)


def hashed(shown: str, raw: str) -> str:
    """``shown`` sanitised and bounded, then ``~`` and a hash of ``raw``."""
    prefix = _bounded(_clean(shown)).strip(". ") or "_"
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    return f"{prefix}~{digest[:HASH_CHARS]}"


def file_names(shown: dict[str, str]) -> dict[str, str]:
    """A distinct file name per building, from each building's shown name.

    Buildings whose friendly names clash (a label equal to another
    building's value, or names differing only in case) all take the hash.
    """
    first = {raw: file_name(name, raw) for raw, name in shown.items()}
    counts = Counter(name.casefold() for name in first.values())

    return {
        raw: name if counts[name.casefold()] == 1 else hashed(shown[raw], raw)
        for raw, name in first.items()
    }


def clashes(names: dict[str, str], shown: dict[str, str]) -> dict[str, str]:
    """The names that differ from a building's own name: normally none."""
    return {raw: n for raw, n in names.items() if n != file_name(shown[raw], raw)}


def _friendly(name: str) -> bool:
    return (
        bool(name)
        and name == name.strip(". ")
        and _clean(name) == name
        and _bounded(name) == name
        and name.split(".")[0].strip().upper() not in _RESERVED
    )


def _clean(name: str) -> str:
    return "".join(
        "_" if ch in _FORBIDDEN or _unprintable(ord(ch)) else ch for ch in name
    )


def _bounded(name: str) -> str:
    # File systems count bytes (255 on most); the extension, the hash and a
    # temporary file's prefix need room too.
    name = name[:MAX_CHARS]
    while len(name.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        name = name[:-1]

    return name


def _unprintable(code: int) -> bool:
    # Control characters, and lone surrogates no file system can encode.
    return code < 32 or code == 127 or 0xD800 <= code <= 0xDFFF
