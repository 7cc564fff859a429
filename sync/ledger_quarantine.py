"""Home quarantine: who is in it, their day N of 14, who is due a follow-up.

Read from field-name conventions, so that any form following them counts:

- A person is in home quarantine from ``quarantine_start`` to
  ``quarantine_end``. On an entity (a resident) these are properties; on a
  log row (a returnee registration without entities) they are fields, and
  ``return_date`` stands in for a missing ``quarantine_start``.
- A person is known by their entity id, or on a log row by its ``resident``
  field (the resident's entity id, as a select from the residents list
  gives it), else by the row's submission id. Their name is the
  ``full_name`` or ``name`` value, else the entity's label.
- A follow-up is a submission of a form whose id contains ``follow``
  (``quarantine_followup``, ``follow_up``): it either updates the person's
  entity or names them in its ``resident`` field. It counts for the day it
  was collected on (the device's local date).

Counting days: the start (the date of return) is day 0, day 1 is the first
full day after it, and day 14 the last: quarantine ends after day 14, that
is after start + 14 days, the default end when a form gives none. On a day
D from start to end a person is on day D - start, shown "N/14" (N of
end - start days); they are due a follow-up unless one was collected that
day, missed yesterday's when D - 1 was in quarantine and had none, and end
quarantine when D is the end date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from doorstep.sync.merge_state import MergeState

DAYS = 14


@dataclass(frozen=True)
class Quarantined:
    """One person in home quarantine on a given day."""

    building: str
    person: str
    name: str
    start: date
    end: date
    day: int
    days: int
    followed_up: bool
    missed_yesterday: bool
    ends_today: bool

    @property
    def due(self) -> bool:
        return not self.followed_up


def follow_ups(state: MergeState, on: date) -> set[tuple[str, str]]:
    """(person, day) for every follow-up collected on ``on`` or the day before.

    Those two days are all that the day's report asks about.
    """
    days = [(on - timedelta(1)).isoformat(), on.isoformat()]
    found = {(entity, day) for _form, day, entity in state.follow_ups(days)}
    for day, values in state.follow_up_logs(days):
        person = _value(values, "resident")
        if person:
            found.add((person, day))

    return found


def quarantined(
    state: MergeState, building: str, on: date, done: set[tuple[str, str]]
) -> list[Quarantined]:
    """Everyone of ``building`` in quarantine on ``on``, sorted by start and name."""
    people = []
    # Only entities with a quarantine property can be in quarantine.
    maybe = "AND props LIKE '%quarantine_%'"
    for entity in state.entities(building=building, where=maybe):
        props = entity.properties
        name = _value(props, "full_name") or _value(props, "name") or entity.label
        people.append((entity.entity_id, name, props))
    for _form, _collected, _day, iid, values in state.quarantine_logs(building):
        if _value(values, "quarantine_end"):
            person = _value(values, "resident") or iid
            name = _value(values, "full_name") or _value(values, "name")
            people.append((person, name, values))

    found = [_on_day(building, p, n, v, on, done) for p, n, v in people]
    found = [q for q in found if q is not None]

    return sorted(found, key=lambda q: (q.start, q.name, q.person))


def _on_day(building, person, name, values, on: date, done) -> Quarantined | None:
    start = _date(_value(values, "quarantine_start") or _value(values, "return_date"))
    if start is None or not (
        _value(values, "quarantine_start") or _value(values, "quarantine_end")
    ):
        return None
    end = _date(_value(values, "quarantine_end")) or start + timedelta(DAYS)
    if not start <= on <= end:
        return None
    yesterday = on - timedelta(1)

    return Quarantined(
        building=building,
        person=person,
        name=name,
        start=start,
        end=end,
        day=(on - start).days,
        days=(end - start).days,
        followed_up=(person, on.isoformat()) in done,
        missed_yesterday=yesterday >= start
        and (person, yesterday.isoformat()) not in done,
        ends_today=on == end,
    )


def _value(values: dict, name: str) -> str:
    # Log rows are keyed by path ("grp/resident"); entity properties by name.
    for key, value in sorted(values.items()):
        if key.rsplit("/", 1)[-1] == name and value:
            return value

    return ""


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
