"""Entities the ODK way, ordered by time collected rather than time received.

Every property of an entity is a last-writer-wins register: of all the
active submissions that set it, the one collected last wins, ties broken by
instanceID. The entity exists once any active submission creates it (an
update of an id nobody created is kept, but not shown). Its ``__version`` is
the number of active submissions that created or updated it, which is what
a tablet reads as the base version of its next update.

A conflict is two values of one property set from the same base version by
different devices (offline updates of the same version, or two creates of
one natural key) whose winner is still one of them. A later update settles
it; so does an admin's resolution, kept in ``ledger_resolutions.json`` in the
deployment beside its settings and applied when ledgers are written.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from doorstep.sync.files import write_atomic
from doorstep.sync.merge_extract import BUILDING, LABEL

RESOLUTIONS_FILE = "ledger_resolutions.json"
NO_BUILDING = "未指定楼栋 (no building)"


class Assignment(NamedTuple):
    """One property value set by one submission."""

    prop: str
    collected: str
    instance_id: str
    value: str
    base: str
    source: str
    create: int


@dataclass
class EntityState:
    """The merged state of one entity."""

    dataset: str
    entity_id: str
    exists: bool = False
    version: int = 0
    label: str = ""
    building: str = NO_BUILDING
    properties: dict[str, str] = field(default_factory=dict)
    conflicts: list[dict] = field(default_factory=list)


def fold(dataset: str, entity_id: str, rows: list[Assignment]) -> EntityState:
    """Merge an entity's active assignments, in any order, into its state."""
    state = EntityState(dataset, entity_id)
    rows = sorted(rows)
    winners: dict[str, Assignment] = {}
    for row in rows:
        winners[row.prop] = row
    state.exists = any(row.create for row in rows)
    state.version = len({row.instance_id for row in rows})
    state.label = winners[LABEL].value if LABEL in winners else ""
    if winners.get(BUILDING) and winners[BUILDING].value:
        state.building = winners[BUILDING].value
    state.properties = {
        prop: row.value for prop, row in winners.items() if not prop.startswith("__")
    }
    state.conflicts = _conflicts(rows, winners)

    return state


def _conflicts(rows: list[Assignment], winners: dict) -> list[dict]:
    groups: dict[tuple[str, str], list[Assignment]] = {}
    for row in rows:
        if row.prop.startswith("__") or not (row.create or row.base):
            continue
        base = "create" if row.create else row.base
        groups.setdefault((row.prop, base), []).append(row)

    found = []
    for (prop, base), group in sorted(groups.items()):
        if winners[prop] not in group or not _disagree(group):
            continue
        found.append(
            {
                "property": prop,
                "base": base,
                "winner": winners[prop].instance_id,
                "values": [_candidate(row) for row in group],
            }
        )

    return found


def _disagree(group: list[Assignment]) -> bool:
    return any(
        a.source != b.source and a.value != b.value for a in group for b in group
    )


def _candidate(row: Assignment) -> dict:
    return {
        "value": row.value,
        "instance_id": row.instance_id,
        "device": row.source,
        "collected": row.collected,
    }


def resolutions_path(root: Path) -> Path:
    return root / RESOLUTIONS_FILE


def load_resolutions(root: Path) -> dict[tuple[str, str, str, str], str]:
    """Resolved conflicts: (list, entity, property, base) -> chosen value."""
    path = resolutions_path(root)
    if not path.exists():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))

    return {
        (e["list"], e["entity"], e["property"], e["base"]): e["value"] for e in entries
    }


def save_resolution(root: Path, key: tuple[str, str, str, str], value: str) -> None:
    """Record the admin's choice for one conflict, replacing an earlier one."""
    chosen = load_resolutions(root)
    chosen[key] = value
    entries = [
        {"list": k[0], "entity": k[1], "property": k[2], "base": k[3], "value": v}
        for k, v in sorted(chosen.items())
    ]
    text = json.dumps(entries, ensure_ascii=False, indent=1) + "\n"

    write_atomic(resolutions_path(root), text.encode("utf-8"), mode=0o600)


def apply_resolutions(
    state: EntityState, resolutions: dict
) -> tuple[dict[str, str], list[dict]]:
    """The properties to show and the conflicts still open."""
    shown = dict(state.properties)
    still_open = []
    for conflict in state.conflicts:
        key = (state.dataset, state.entity_id, conflict["property"], conflict["base"])
        if key in resolutions:
            shown[conflict["property"]] = resolutions[key]
        else:
            still_open.append(conflict)

    return shown, still_open


def list_csv(columns: list[str], entities: list[tuple[str, str, int, dict]]) -> bytes:
    """An entity list in the ODK format: name, label, __version, properties.

    ``entities`` holds (id, label, version, properties) sorted by id.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "label", "__version", *columns])
    for entity_id, label, version, props in entities:
        writer.writerow(
            [entity_id, label, version, *(props.get(c, "") for c in columns)]
        )

    return out.getvalue().encode("utf-8")
