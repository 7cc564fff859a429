"""The merge's working state: an SQLite file derived from the store.

Every merged submission leaves a row (when collected, its building, which
submission it edits), its property assignments and its log row. Whether a
submission counts depends only on whether some stored submission names it
as ``deprecatedID``, so the state is the same whatever order submissions
arrived in. Entities are folded from their active entity operations; only the
entities a merge touched are folded again.

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

from doorstep.sync.entities import NO_BUILDING, Assignment, EntityState, fold
from doorstep.sync.merge_extract import BUILDING, LABEL, Facts
from doorstep.sync.merge_queries import StateQueries

STATE_FILE = "merge.sqlite"
EVERY_BUILDING = "\x00every building"
FORMAT = "1"

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
CREATE INDEX IF NOT EXISTS logs_building ON logs (building, form_id);
CREATE INDEX IF NOT EXISTS logs_entity ON logs (elist, eid);
"""

Key = tuple[str, str]


class MergeState(StateQueries):
    """Read and update the merge's SQLite state."""

    def __init__(self, ledgers_dir: Path, *, fresh: bool = False) -> None:
        ledgers_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = ledgers_dir / STATE_FILE
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        # A second merge (the CLI while the server merges) waits its turn.
        self.db = sqlite3.connect(path, isolation_level=None, timeout=120)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add(self, batch: list[Facts]) -> tuple[set[Key], set[str], int]:
        """Add a batch of submissions; returns touched entities and buildings.

        The third value counts the submissions that were new to the state.
        """
        known = self._known([f.instance_id for f in batch])
        fresh = [f for f in batch if f.instance_id not in known]
        self.db.executemany(
            "INSERT OR IGNORE INTO subs VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [_sub_row(f) for f in fresh],
        )
        self.db.executemany(
            "INSERT INTO ops VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)", _ops(fresh)
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO logs VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [_log_row(f) for f in fresh if f.log is not None],
        )

        touched = {
            (op.dataset, op.entity_id)
            for f in fresh
            for op in f.entities
            if op.entity_id
        }
        buildings = {f.building or NO_BUILDING for f in fresh if f.log is not None}
        if any(_loose_follow_up(f) for f in fresh):
            buildings.add(EVERY_BUILDING)
        self._apply_edits(fresh, touched, buildings)

        return touched, buildings, len(fresh)

    def _known(self, ids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in self.db.execute(
                    f"SELECT iid FROM subs WHERE iid IN ({marks})", chunk
                )
            )

        return found

    def _apply_edits(self, fresh: list[Facts], touched: set, buildings: set) -> None:
        # A submission stops counting as soon as any stored one names it as
        # its deprecatedID, whichever of the two arrived first.
        replaced = [f.deprecated_id for f in fresh if f.deprecated_id]
        replaced += [
            f.instance_id
            for f in fresh
            if self.db.execute(
                "SELECT 1 FROM subs WHERE deprecated = ? LIMIT 1", (f.instance_id,)
            ).fetchone()
        ]
        for iid in replaced:
            self.db.execute("UPDATE subs SET active = 0 WHERE iid = ?", (iid,))
            self.db.execute("UPDATE ops SET active = 0 WHERE iid = ?", (iid,))
            self.db.execute("UPDATE logs SET active = 0 WHERE iid = ?", (iid,))
            touched.update(
                self.db.execute(
                    "SELECT DISTINCT list, entity FROM ops WHERE iid = ?", (iid,)
                )
            )
            buildings.update(
                r[0] or NO_BUILDING
                for r in self.db.execute(
                    "SELECT building FROM logs WHERE iid = ?", (iid,)
                )
            )

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


def _loose_follow_up(facts: Facts) -> bool:
    # A follow-up that names its resident only in a field may change the
    # quarantine sheet of any building, so every ledger is written again.
    return facts.log is not None and "follow" in facts.form_id and not facts.entities


def _subject(facts: Facts) -> tuple[str | None, str | None]:
    op = next((op for op in facts.entities if op.entity_id), None)
    return (op.dataset, op.entity_id) if op else (None, None)


def _sub_row(f: Facts) -> tuple:
    return (
        f.instance_id,
        f.form_id,
        f.device_id,
        f.collected,
        f.day,
        f.building,
        f.deprecated_id,
    )


def _log_row(f: Facts) -> tuple:
    data = json.dumps(f.log, ensure_ascii=False, sort_keys=True)
    return (
        f.instance_id,
        f.form_id,
        f.building,
        f.collected,
        f.day,
        data,
        *_subject(f),
    )


def _ops(batch: list[Facts]) -> Iterator[tuple]:
    # One row per entity element, its properties as one JSON object: a
    # tenth of the rows one per property would take, for the same fold.
    for f in batch:
        for op in f.entities:
            # An entity element that neither creates nor updates does nothing.
            if not op.entity_id or not (op.create or op.update):
                continue
            values = dict(op.properties)
            if op.label:
                values[LABEL] = op.label
            yield (
                op.dataset,
                op.entity_id,
                f.collected,
                f.instance_id,
                "" if op.create else op.base,
                f.device_id,
                1 if op.create else 0,
                json.dumps(values, ensure_ascii=False),
            )


def _unpack(rows: Iterable[tuple]) -> list[Assignment]:
    found = []
    for _list, _entity, collected, iid, base, source, creates, props in rows:
        for prop, value in json.loads(props).items():
            found.append(Assignment(prop, collected, iid, value, base, source, creates))

    return found


__all__ = ["BUILDING", "MergeState"]
