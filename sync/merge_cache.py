"""The facts cache: each submission parsed once, whatever the merges to come.

Parsing a submission's XML and reading it against its form is most of what
a cold merge costs. The facts it yields (merge_extract.Facts) are kept in
the merge state's ``facts`` table, keyed by a hash of what they depend on:
the XML's sha256, the form's md5, the field that names the building, and
EXTRACTOR_VERSION. A rebuild folds again from these instead of parsing
again; ``merge(cold=True)`` discards them.

Bump EXTRACTOR_VERSION whenever extraction (merge_extract) changes what it
returns for the same XML and form: every cached fact then misses.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3
from typing import NamedTuple

from doorstep.sync.merge_extract import LABEL, Facts, received_time

EXTRACTOR_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (key BLOB PRIMARY KEY, data BLOB NOT NULL)
WITHOUT ROWID;
"""

_CHUNK = 500


def cache_key(sha256: str, form_md5: str, building_path: str | None) -> bytes:
    """The key of a submission's facts: everything extraction depends on."""
    parts = f"{sha256}:{form_md5}:{building_path or ''}:{EXTRACTOR_VERSION}"

    return hashlib.blake2b(parts.encode(), digest_size=16).digest()


class Entry(NamedTuple):
    """A submission's facts as the rows the merge state stores.

    Property values and log rows are JSON text already, so that a warm
    rebuild moves bytes into the state rather than building objects.
    """

    instance_id: str
    form_id: str
    device_id: str
    collected: str
    day: str
    building: str
    deprecated_id: str | None
    # (list, entity id, base, creates, properties as JSON) of each entity
    # element that creates or updates; an element that does neither does
    # nothing.
    ops: list[tuple[str, str, str, int, str]]
    # Every (list, entity id) the submission names.
    keys: list[tuple[str, str]]
    log: str | None
    # The entity a log row follows, when the submission names one.
    subject: tuple[str | None, str | None]
    timed: bool


def entry(facts: Facts) -> Entry:
    """The state's rows of ``facts``."""
    ops = []
    for op in facts.entities:
        if not op.entity_id or not (op.create or op.update):
            continue
        values = dict(op.properties)
        if op.label:
            values[LABEL] = op.label
        base = "" if op.create else op.base
        text = json.dumps(values, ensure_ascii=False)
        ops.append((op.dataset, op.entity_id, base, 1 if op.create else 0, text))
    keys = [(op.dataset, op.entity_id) for op in facts.entities if op.entity_id]
    log = None
    if facts.log is not None:
        log = json.dumps(facts.log, ensure_ascii=False, sort_keys=True)

    return Entry(
        facts.instance_id,
        facts.form_id,
        facts.device_id,
        facts.collected,
        facts.day,
        facts.building,
        facts.deprecated_id,
        ops,
        keys,
        log,
        keys[0] if keys else (None, None),
        facts.timed,
    )


def pack(facts: Facts) -> bytes:
    """Facts as cache bytes, without what the store's row says of them."""
    found = entry(facts)._replace(instance_id="", device_id="")

    return pickle.dumps(tuple(found), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes, instance_id: str, device_id: str, received: float) -> Entry:
    """Cached bytes as the Entry of the stored submission they were read from."""
    found = Entry(*pickle.loads(data))
    if not found.timed:
        collected, day = received_time(received)
        found = found._replace(collected=collected, day=day)

    return found._replace(instance_id=instance_id, device_id=device_id)


def lookup(db: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, bytes]:
    """The cached bytes of those ``keys`` the cache holds."""
    found: dict[bytes, bytes] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(
            db.execute(f"SELECT key, data FROM facts WHERE key IN ({marks})", chunk)
        )

    return found


def store(db: sqlite3.Connection, items: list[tuple[bytes, bytes]]) -> None:
    db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", items)


def discard(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM facts")
