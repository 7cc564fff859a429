"""The merge's working state: an SQLite file derived from the store.

Every merged submission leaves a row (when collected, its building, which
submission it edits), its property assignments and its log row. Whether a
submission counts depends only on whether some stored submission names it
as ``deprecatedID``, so the state is the same whatever order submissions
arrived in. Entities are folded from their active entity operations; only the
entities a merge touched are folded again.

Beside these sits the facts cache (merge_cache), which a rebuild keeps.
The file can always be rebuilt from the store, so it is written with
``synchronous=NORMAL``: a crash may lose the last merge, which the next merge
redoes from the saved cursor.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from doorstep.sync import merge_cache
from doorstep.sync.entities import NO_BUILDING, EntityState, Operation, fold
from doorstep.sync.merge_cache import Entry
from doorstep.sync.merge_extract import BUILDING
from doorstep.sync.merge_queries import StateQueries

STATE_FILE = "merge.sqlite"
EVERY_BUILDING = "\x00every building"
FORMAT = "3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subs (
    iid TEXT PRIMARY KEY, form_id TEXT NOT NULL, device TEXT NOT NULL,
    collected TEXT NOT NULL, day TEXT NOT NULL, building TEXT NOT NULL,
    deprecated TEXT, active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS subs_deprecated ON subs (deprecated);
CREATE TABLE IF NOT EXISTS ops (
    list TEXT NOT NULL, entity TEXT NOT NULL, collected TEXT NOT NULL,
    iid TEXT NOT NULL, base TEXT NOT NULL, source TEXT NOT NULL,
    creates INTEGER NOT NULL, props TEXT NOT NULL, active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ops_entity ON ops (list, entity);
CREATE INDEX IF NOT EXISTS ops_iid ON ops (iid);
CREATE TABLE IF NOT EXISTS ent (
    list TEXT NOT NULL, entity TEXT NOT NULL, building TEXT NOT NULL,
    label TEXT NOT NULL, version INTEGER NOT NULL, props TEXT NOT NULL,
    conflicts TEXT NOT NULL, dupkey TEXT, PRIMARY KEY (list, entity)
);
CREATE INDEX IF NOT EXISTS ent_building ON ent (building, list);
CREATE INDEX IF NOT EXISTS ent_dupkey ON ent (list, dupkey);
CREATE TABLE IF NOT EXISTS logs (
    iid TEXT PRIMARY KEY, form_id TEXT NOT NULL, building TEXT NOT NULL,
    collected TEXT NOT NULL, day TEXT NOT NULL, data TEXT NOT NULL,
    active INTEGER NOT NULL, elist TEXT, eid TEXT
);
CREATE INDEX IF NOT EXISTS logs_building ON logs (building, day);
CREATE INDEX IF NOT EXISTS logs_day ON logs (day);
CREATE INDEX IF NOT EXISTS logs_quarantine ON logs (day) WHERE data LIKE '%quarantine%';
CREATE INDEX IF NOT EXISTS subs_day ON subs (day);
CREATE TABLE IF NOT EXISTS dirty (
    building TEXT NOT NULL, month TEXT NOT NULL, PRIMARY KEY (building, month)
);
CREATE TABLE IF NOT EXISTS written (part TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_entity ON logs (elist, eid, day);
"""

Key = tuple[str, str]
_DERIVED = ("meta", "subs", "ops", "ent", "logs", "dirty")
_INDEXES = (
    "subs_deprecated",
    "subs_day",
    "ops_entity",
    "ops_iid",
    "logs_building",
    "logs_entity",
    "logs_day",
    "logs_quarantine",
)


class MergeState(StateQueries):
    """Read and update the merge's SQLite state."""

    def __init__(self, ledgers_dir: Path, *, fresh: bool = False) -> None:
        ledgers_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A second merge (the CLI while the server merges) waits its turn.
        self.db = sqlite3.connect(
            ledgers_dir / STATE_FILE, isolation_level=None, timeout=120
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.bulk = False
        if fresh:
            # Everything but the facts cache and the digests of the files
            # written is derived again; those two are keyed by their inputs.
            for table in _DERIVED:
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.executescript(_SCHEMA + merge_cache.SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def begin_bulk(self) -> None:
        """Load an empty state faster: indexes and edits wait for end_bulk.

        Maintaining five indexes row by row costs more than building them
        once, and in an empty state every submission is new.
        """
        self.bulk = True
        for index in _INDEXES:
            self.db.execute(f"DROP INDEX IF EXISTS {index}")

    def end_bulk(self) -> None:
        """Build the indexes and apply every edit, as add would have."""
        self.bulk = False
        # executescript would commit the open transaction; one by one won't.
        for statement in _SCHEMA.split(";"):
            if "CREATE INDEX" in statement:
                self.db.execute(statement)
        self.db.execute(
            "UPDATE subs SET active = 0 WHERE iid IN"
            " (SELECT deprecated FROM subs WHERE deprecated IS NOT NULL)"
        )
        for table in ("ops", "logs"):
            self.db.execute(
                f"UPDATE {table} SET active = 0 WHERE iid IN"
                " (SELECT iid FROM subs WHERE active = 0)"
            )

    def add(self, batch: list[Entry]) -> tuple[set[Key], set[str], int]:
        """Add a batch of submissions; returns touched entities and buildings.

        The third value counts the submissions that were new to the state.
        In bulk, what was touched is left out: everything is folded again.
        """
        known = set() if self.bulk else self._known([f.instance_id for f in batch])
        fresh = [f for f in batch if f.instance_id not in known]
        self.db.executemany(
            "INSERT OR IGNORE INTO subs VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [f[:7] for f in fresh],
        )
        self.db.executemany(
            "INSERT INTO ops VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                (dataset, eid, f.collected, f.instance_id, base, f.device_id, c, text)
                for f in fresh
                for dataset, eid, base, c, text in f.ops
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO logs VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [
                (f.instance_id, f.form_id, f.building, f.collected, f.day, f.log)
                + tuple(f.subject)
                for f in fresh
                if f.log is not None
            ],
        )

        if self.bulk:
            return set(), set(), len(fresh)
        touched = {key for f in fresh for key in f.keys}
        buildings = {f.building or NO_BUILDING for f in fresh if f.log is not None}
        if any(_loose_follow_up(f) for f in fresh):
            buildings.add(EVERY_BUILDING)
        # A row without a building of its own may sit in any building's log.
        self._mark({(f.building or EVERY_BUILDING, f.day[:7]) for f in fresh if f.log})
        self._apply_edits(fresh, touched, buildings)

        return touched, buildings, len(fresh)

    def _known(self, ids: list[str]) -> set[str]:
        return self._among("SELECT iid FROM subs WHERE iid IN", ids)

    def _named_as_original(self, ids: list[str]) -> set[str]:
        return self._among("SELECT deprecated FROM subs WHERE deprecated IN", ids)

    def _among(self, query: str, ids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"{query} ({marks})", chunk))

        return found

    def _apply_edits(self, fresh: list[Entry], touched: set, buildings: set) -> None:
        # A submission stops counting as soon as any stored one names it as
        # its deprecatedID, whichever of the two arrived first.
        replaced = [f.deprecated_id for f in fresh if f.deprecated_id]
        replaced += self._named_as_original([f.instance_id for f in fresh])
        for iid in replaced:
            self.db.execute("UPDATE subs SET active = 0 WHERE iid = ?", (iid,))
            self.db.execute("UPDATE ops SET active = 0 WHERE iid = ?", (iid,))
            self.db.execute("UPDATE logs SET active = 0 WHERE iid = ?", (iid,))
            touched.update(
                self.db.execute(
                    "SELECT DISTINCT list, entity FROM ops WHERE iid = ?", (iid,)
                )
            )
            rows = self.db.execute(
                "SELECT building, day FROM logs WHERE iid = ?", (iid,)
            ).fetchall()
            buildings.update(building or NO_BUILDING for building, _ in rows)
            self._mark({(b or EVERY_BUILDING, day[:7]) for b, day in rows})

    def _followed(self, dataset: str, entity_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM logs WHERE elist = ? AND eid = ? LIMIT 1",
            (dataset, entity_id),
        ).fetchone()

        return row is not None

    def _mark(self, months: set[tuple[str, str]]) -> None:
        """Note (building, month) pairs whose log rows changed; "*": every month."""
        self.db.executemany("INSERT OR IGNORE INTO dirty VALUES (?, ?)", months)

    def clean(self) -> None:
        """Forget the changes noted: the ledgers now show them."""
        self.db.execute("DELETE FROM dirty")

    def refold(
        self, keys: set[Key] | None, duplicate_keys: dict[str, list[str]]
    ) -> set[str]:
        """Fold the given entities again (all when None); returns their buildings."""
        buildings: set[str] = set()
        for dataset, entity_id, rows in self._assignments(keys):
            old = self.db.execute(
                "SELECT building FROM ent WHERE list = ? AND entity = ?",
                (dataset, entity_id),
            ).fetchone()
            state = fold(dataset, entity_id, rows)
            self._save_entity(state, duplicate_keys.get(dataset))
            if old:
                buildings.add(old[0])
            if state.exists:
                buildings.add(state.building)
            if bool(old) != state.exists:
                # Rows that follow this entity move to or from the
                # no-building ledger.
                buildings.add(NO_BUILDING)
            before = old[0] if old else NO_BUILDING
            after = state.building if state.exists else NO_BUILDING
            if before != after and self._followed(dataset, entity_id):
                # ... and from one building's logs, of any month, to another's.
                self._mark({(before, "*"), (after, "*")})

        return buildings

    def _assignments(self, keys: set[Key] | None) -> Iterator[tuple]:
        columns = "list, entity, collected, iid, base, source, creates, props"
        if keys is None:
            self.db.execute("DELETE FROM ent")
            cursor = self.db.execute(
                f"SELECT {columns} FROM ops WHERE active = 1 ORDER BY list, entity"
            )
            for (dataset, entity_id), rows in groupby(cursor, key=lambda r: r[:2]):
                yield dataset, entity_id, _unpack(rows)
            return

        for dataset, entity_id in sorted(keys):
            rows = self.db.execute(
                f"SELECT {columns} FROM ops WHERE list = ? AND entity = ?"
                " AND active = 1",
                (dataset, entity_id),
            )
            yield dataset, entity_id, _unpack(rows)

    def _save_entity(self, state: EntityState, dup_props: list[str] | None) -> None:
        key = (state.dataset, state.entity_id)
        if not state.exists:
            self.db.execute("DELETE FROM ent WHERE list = ? AND entity = ?", key)
            return
        values = [state.properties.get(p, "").strip().lower() for p in dup_props or []]
        dupkey = "\x1f".join(values) if values and all(values) else None
        self.db.execute(
            "INSERT OR REPLACE INTO ent VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *key,
                state.building,
                state.label,
                state.version,
                json.dumps(state.properties, ensure_ascii=False, sort_keys=True),
                json.dumps(state.conflicts, ensure_ascii=False),
                dupkey,
            ),
        )


def _loose_follow_up(entry: Entry) -> bool:
    # A follow-up that names its resident only in a field may change the
    # quarantine sheet of any building, so every ledger is written again.
    return entry.log is not None and "follow" in entry.form_id and not entry.keys


def _unpack(rows: Iterable[tuple]) -> list[Operation]:
    return [
        Operation(collected, iid, props, base, source, creates, _loads(props))
        for _list, _entity, collected, iid, base, source, creates, props in rows
    ]


_parsed: dict[str, dict] = {}


def _loads(text: str) -> dict:
    # The same values come again and again (a flat registered by several
    # volunteers, a temperature of 36.5): parse each text once. fold only
    # reads the dicts, so sharing them is safe.
    found = _parsed.get(text)
    if found is None:
        if len(_parsed) > 200_000:
            _parsed.clear()
        found = _parsed[text] = json.loads(text)

    return found


__all__ = ["BUILDING", "MergeState"]
