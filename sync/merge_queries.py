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
# The rows a quarantine can come from; a partial index holds just these.
QUARANTINE_ROWS = "l.data LIKE '%quarantine%'"

_NO_ENTITY = (
    "NOT EXISTS (SELECT 1 FROM ent e WHERE e.list = l.elist AND e.entity = l.eid)"
)


class StateQueries:
    """Read-only queries over the merge state's tables."""

    db: sqlite3.Connection

    def entities(
        self,
        *,
        building: str | None = None,
        dataset: str | None = None,
        where: str = "",
    ) -> Iterator[EntityState]:
        """Merged entities, sorted by list and id (``where``: more SQL terms)."""
        query, args = f"SELECT * FROM ent WHERE 1 = 1 {where}", []
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

    def logs(
        self, building: str, start: str = "", end: str = "\uffff", *, where: str = ""
    ) -> Iterator[tuple[str, str, str, str, dict]]:
        """Active log rows of a building: (form, collected, day, iid, values).

        Only rows collected on days from ``start`` up to, not including,
        ``end`` (ISO dates or months). A row without a building of its own
        (a follow-up naming a resident) belongs to its entity's building,
        else to the no-building ledger.
        """
        columns = "l.form_id, l.collected, l.day, l.iid, l.data"
        query, args = building_logs(columns, building, start, end, where)
        cursor = self.db.execute(query + " ORDER BY 1, 2, 4", args)
        for form_id, collected, day, iid, data in cursor:
            yield form_id, collected, day, iid, json.loads(data)

    def quarantine_logs(self, building: str) -> list[tuple]:
        """The building's log rows that can put someone in quarantine.

        Found through a partial index over the few rows naming a quarantine,
        not by reading every follow-up of every resident.
        """
        found = []
        for owner, elist, eid, *row, data in self.db.execute(
            "SELECT l.building, l.elist, l.eid, l.form_id, l.collected, l.day, l.iid,"
            " l.data FROM logs l INDEXED BY logs_quarantine"
            f" WHERE {QUARANTINE_ROWS} AND l.active = 1"
            " AND l.form_id NOT LIKE '%follow%' ORDER BY 4, 5, 7"
        ):
            if (owner or self._building_of(elist, eid)) == building:
                found.append((*row, json.loads(data)))

        return found

    def _building_of(self, dataset: str | None, entity_id: str | None) -> str:
        row = self.db.execute(
            "SELECT building FROM ent WHERE list = ? AND entity = ?",
            (dataset, entity_id),
        ).fetchone()

        return row[0] if row else NO_BUILDING

    def log_months(self, building: str) -> list[str]:
        """The months (YYYY-MM) the building's active log rows fall in."""
        months: list[str] = []
        # One indexed probe per month: the first day after the last month.
        for _ in range(10_000):
            start = months[-1] + "\uffff" if months else ""
            query, args = building_logs("l.day", building, start, "\uffff", "")
            first = self.db.execute(f"SELECT MIN(day) FROM ({query})", args)
            day = first.fetchone()[0]
            if day is None:
                break
            months.append(day[:7])

        return months

    def dirty_months(self) -> dict[str, set[str]]:
        """Months whose log rows changed since the ledgers were written."""
        found: dict[str, set[str]] = {}
        for building, month in self.db.execute("SELECT building, month FROM dirty"):
            found.setdefault(building, set()).add(month)

        return found

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

    def follow_ups(self, days: list[str]) -> Iterable[tuple[str, str, str]]:
        """(form, day, entity) of every resident a follow-up touched on ``days``."""
        marks = ",".join("?" * len(days))
        return self.db.execute(
            "SELECT DISTINCT s.form_id, s.day, a.entity FROM subs s JOIN ops a"
            f" ON s.iid = a.iid WHERE s.day IN ({marks}) AND a.active = 1"
            " AND s.form_id LIKE '%follow%'",
            days,
        )

    def follow_up_logs(self, days: list[str]) -> Iterator[tuple[str, dict]]:
        """(day, values) of every active follow-up log row of ``days``."""
        marks = ",".join("?" * len(days))
        cursor = self.db.execute(
            f"SELECT day, data FROM logs WHERE day IN ({marks}) AND active = 1"
            " AND form_id LIKE '%follow%'",
            days,
        )
        for day, data in cursor:
            yield day, json.loads(data)

    def size(self) -> int:
        """How many submissions the state holds."""
        return self.db.execute("SELECT COUNT(*) FROM subs").fetchone()[0]

    def last_day(self) -> str:
        row = self.db.execute("SELECT MAX(day) FROM subs WHERE active = 1").fetchone()
        return row[0] or ""


def building_logs(
    columns: str, building: str, start: str, end: str, where: str = ""
) -> tuple[str, list[str]]:
    """The query of a building's active log rows of days in [start, end)."""
    # Two indexed queries, one per way a row belongs to a building, rather
    # than one OR that would scan every row. CROSS JOIN makes SQLite go from
    # the building's entities to their rows, and the unary + keeps it off
    # the building index there, which would walk every follow-up.
    span = f"l.active = 1 AND l.day >= ? AND l.day < ? {where}"
    query = (
        f"SELECT {columns} FROM logs l WHERE l.building = ? AND {span}"
        f" UNION ALL SELECT {columns} FROM ent e CROSS JOIN logs l"
        " ON l.elist = e.list"
        f" AND l.eid = e.entity WHERE e.building = ? AND +l.building = ''"
        f" AND {span}"
    )
    args = [building, start, end, building, start, end]
    if building == NO_BUILDING:
        query += (
            f" UNION ALL SELECT {columns} FROM logs l WHERE l.building = ''"
            f" AND {span} AND {_NO_ENTITY}"
        )
        args += [start, end]

    return query, args
