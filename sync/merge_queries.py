"""Reading the merge state: entities, log rows, counts, follow-ups.

What ledgers, reports and the merge summary ask of the state; the writing
side is merge_state.MergeState, which inherits these.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from itertools import groupby

from doorstep.sync.entities import NO_BUILDING, EntityState

Key = tuple[str, str]

_NO_ENTITY = (
    "NOT EXISTS (SELECT 1 FROM ent e WHERE e.list = l.elist AND e.entity = l.eid)"
)


class StateQueries:
    """Read-only queries over the merge state's tables."""

    db: sqlite3.Connection

    def entities(
        self, *, building: str | None = None, dataset: str | None = None
    ) -> Iterator[EntityState]:
        """Merged entities, sorted by list and id."""
        query, args = "SELECT * FROM ent WHERE 1 = 1", []
        if building is not None:
            query, args = query + " AND building = ?", [*args, building]
        if dataset is not None:
            query, args = query + " AND list = ?", [*args, dataset]
        for row in self.db.execute(query + " ORDER BY list, entity", args):
            yield EntityState(
                dataset=row[0],
                entity_id=row[1],
                exists=True,
                building=row[2],
                label=row[3],
                version=row[4],
                properties=json.loads(row[5]),
                conflicts=json.loads(row[6]),
            )

    def logs(self, building: str) -> Iterator[tuple[str, str, str, str, dict]]:
        """Active log rows of a building: (form, collected, day, iid, values).

        A row without a building of its own (a follow-up naming a resident)
        belongs to its entity's building, else to the no-building ledger.
        """
        where = "building = ?"
        if building == NO_BUILDING:
            where = f"({where} OR (building = '' AND {_NO_ENTITY}))"
        cursor = self.db.execute(
            "SELECT form_id, collected, day, iid, data FROM logs l WHERE active = 1"
            f" AND ({where} OR (building = '' AND (elist, eid) IN (SELECT list, entity"
            " FROM ent WHERE building = ?))) ORDER BY form_id, collected, iid",
            (building, building),
        )
        for form_id, collected, day, iid, data in cursor:
            yield form_id, collected, day, iid, json.loads(data)

    def buildings(self) -> list[str]:
        rows = self.db.execute(
            "SELECT building FROM ent UNION SELECT building FROM logs"
            " WHERE active = 1 AND building != ''"
        )
        found = {r[0] for r in rows}
        orphan = self.db.execute(
            f"SELECT 1 FROM logs l WHERE active = 1 AND building = '' AND {_NO_ENTITY}"
            " LIMIT 1"
        ).fetchone()

        return sorted(found | ({NO_BUILDING} if orphan else set()))

    def building_counts(self) -> dict[str, int]:
        """Active submissions per building (see ledgers.building_counts)."""
        rows = self.db.execute(
            "SELECT COALESCE(NULLIF(s.building, ''), (SELECT e.building FROM ops o"
            " JOIN ent e ON e.list = o.list AND e.entity = o.entity"
            " WHERE o.iid = s.iid LIMIT 1), ?), COUNT(*) FROM subs s"
            " WHERE s.active = 1 GROUP BY 1 ORDER BY 1",
            (NO_BUILDING,),
        )
        return dict(rows.fetchall())

    def lists(self) -> list[str]:
        return [
            r[0] for r in self.db.execute("SELECT DISTINCT list FROM ent ORDER BY 1")
        ]

    def counts(self) -> dict:
        """The numbers a merge summary reports."""
        one = self.db.execute
        return {
            "submissions": one("SELECT COUNT(*) FROM subs WHERE active = 1").fetchone()[
                0
            ],
            "replaced": one("SELECT COUNT(*) FROM subs WHERE active = 0").fetchone()[0],
            "unknown_original": one(
                "SELECT COUNT(*) FROM subs s WHERE s.deprecated IS NOT NULL AND NOT"
                " EXISTS (SELECT 1 FROM subs o WHERE o.iid = s.deprecated)"
            ).fetchone()[0],
            "entities": dict(one("SELECT list, COUNT(*) FROM ent GROUP BY list")),
            "logs": dict(
                one(
                    "SELECT form_id, COUNT(*) FROM logs WHERE active = 1"
                    " GROUP BY form_id"
                )
            ),
            "duplicates": one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ent WHERE dupkey IS NOT NULL"
                " GROUP BY list, dupkey HAVING COUNT(*) > 1)"
            ).fetchone()[0],
        }

    def duplicates(self) -> list[list[Key]]:
        """Groups of entities with different ids and the same duplicate key."""
        rows = self.db.execute(
            "SELECT list, dupkey, entity FROM ent WHERE dupkey IS NOT NULL"
            " ORDER BY list, dupkey, entity"
        )
        groups = [
            [(r[0], r[2]) for r in group]
            for _, group in groupby(rows, key=lambda r: r[:2])
        ]

        return [g for g in groups if len(g) > 1]

    def follow_ups(self) -> Iterable[tuple[str, str, str]]:
        """(form, day, entity) of every active resident touched by a follow-up."""
        return self.db.execute(
            "SELECT DISTINCT s.form_id, s.day, a.entity FROM ops a JOIN subs s"
            " ON s.iid = a.iid WHERE a.active = 1 AND s.form_id LIKE '%follow%'"
        )

    def follow_up_logs(self) -> Iterator[tuple[str, dict]]:
        """(day, values) of every active log row of a follow-up form."""
        cursor = self.db.execute(
            "SELECT day, data FROM logs WHERE active = 1 AND form_id LIKE '%follow%'"
        )
        for day, data in cursor:
            yield day, json.loads(data)

    def size(self) -> int:
        """How many submissions the state holds."""
        return self.db.execute("SELECT COUNT(*) FROM subs").fetchone()[0]

    def last_day(self) -> str:
        row = self.db.execute("SELECT MAX(day) FROM subs WHERE active = 1").fetchone()
        return row[0] or ""
