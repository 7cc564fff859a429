"""Conflicts as an admin sees them: listed, and settled by one of their values.

A conflict (see entities) is two or more values of one property of an
entity, set from the same version by different devices. The admin settles
it with one of those values, named in full or as ``#N``, the N-th value the
listing shows (handy where the values are masked); a conflict already
settled may be settled again, with another of its values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from doorstep.sync.ledger_columns import LedgerError, cell, local_time, named
from doorstep.sync.ledger_sheets import View, plain
from doorstep.sync.merge_state import MergeState

_NUMBERED = re.compile(r"#([1-9][0-9]?)")


@dataclass(frozen=True)
class Conflict:
    """One conflict on one property of one entity, and the value chosen if any."""

    dataset: str
    entity_id: str
    building: str
    property: str
    base: str
    values: tuple[dict, ...]
    chosen: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.entity_id}"

    @property
    def options(self) -> list[str]:
        """The distinct values in conflict, in the order listed (#1, #2...)."""
        return list(dict.fromkeys(v["value"] for v in self.values))


def all_conflicts(state: MergeState, resolutions: dict) -> list[Conflict]:
    """Every conflict of every entity, settled or not."""
    found = []
    for entity in state.entities(where="AND conflicts != '[]'"):
        for c in entity.conflicts:
            key = (entity.dataset, entity.entity_id, c["property"], c["base"])
            found.append(
                Conflict(
                    entity.dataset,
                    entity.entity_id,
                    entity.building,
                    c["property"],
                    c["base"],
                    tuple(c["values"]),
                    resolutions.get(key),
                )
            )

    return found


def pick(
    conflicts: list[Conflict], entity_ref: str, prop: str, value: str, view: View
) -> tuple[Conflict, str]:
    """The conflict ``value`` settles on ``prop`` of an entity, and the value.

    ``entity_ref`` is an entity id, or ``list:id`` where ids repeat across
    lists; ``value`` one of the values in conflict, or ``#N``.
    """
    mine = [c for c in conflicts if entity_ref in (c.entity_id, c.ref)]
    if len({c.dataset for c in mine}) > 1:
        raise LedgerError(
            f"entity id {entity_ref!r} is in several lists; write it as "
            "LIST:ID, for example residents:" + entity_ref
        )
    on_prop = sorted(
        (c for c in mine if c.property == prop), key=lambda c: c.chosen is not None
    )
    if not on_prop:
        raise LedgerError(_no_conflict(entity_ref, prop, mine, view))
    for conflict in on_prop:
        chosen = _choice(conflict, value)
        if chosen is not None:
            return conflict, chosen

    raise LedgerError(
        f"{value!r} is not a value in conflict on property {prop!r} of entity "
        f"{on_prop[0].ref}; the values are {_listed(on_prop[0], view)}: give one "
        "of them, or #N for the N-th"
    )


def describe(conflict: Conflict, view: View) -> dict:
    """The conflict as listings show it: values masked as the ledgers are."""
    numbers = {v: n for n, v in enumerate(conflict.options, 1)}
    chosen = conflict.chosen

    return {
        "list": conflict.dataset,
        "entity": conflict.entity_id,
        "building": view.catalog.building(conflict.building),
        "property": conflict.property,
        "chosen": None if chosen is None else _show(conflict, chosen, view),
        "values": [
            {
                "choice": f"#{numbers[v['value']]}",
                "value": _show(conflict, v["value"], view),
                "device": v["device"] or "unknown device",
                "collected": f"{local_time(v['collected'], view.zone):%Y-%m-%d %H:%M}",
                "submission": v["instance_id"],
            }
            for v in conflict.values
        ],
    }


def _choice(conflict: Conflict, value: str) -> str | None:
    if value in conflict.options:
        return value
    numbered = _NUMBERED.fullmatch(value.strip())
    if numbered and int(numbered.group(1)) <= len(conflict.options):
        return conflict.options[int(numbered.group(1)) - 1]

    return None


def _no_conflict(entity_ref: str, prop: str, mine: list[Conflict], view) -> str:
    found = "; ".join(f"{c.property}: {_listed(c, view)}" for c in mine)
    where = (
        f"its conflicts are on {found}"
        if found
        else "`doorstep ledger conflicts` lists the open conflicts"
    )

    return f"no conflict on property {prop!r} of entity {entity_ref!r}; {where}"


def _listed(conflict: Conflict, view: View) -> str:
    return " | ".join(
        f"#{n} {_show(conflict, v, view)}" for n, v in enumerate(conflict.options, 1)
    )


def _show(conflict: Conflict, value: str, view: View) -> str:
    known = view.catalog.lists.get(conflict.dataset, [])
    column = next((c for c in known if c.key == conflict.property), None)
    shown = cell(column or named(conflict.property), value, unmasked=view.unmasked)

    return "" if shown is None else str(plain(shown))
