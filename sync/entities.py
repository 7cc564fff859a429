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


class Operation(NamedTuple):
    """One submission's entity element: the property values it sets.

    The first six fields order operations: by time collected, then
    instanceID, then the rest, so that the order never depends on arrival.
    """

    collected: str
    instance_id: str
    text: str
    base: str
    source: str
    create: int
    properties: dict[str, str]


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


def fold(dataset: str, entity_id: str, operations: list[Operation]) -> EntityState:
    """Merge an entity's active operations, in any order, into its state."""
    state = EntityState(dataset, entity_id)
    ops = sorted((op for op in operations if op.properties), key=lambda op: op[:6])
    winners: dict[str, Operation] = {}
    for op in ops:
        winners.update(dict.fromkeys(op.properties, op))
    state.exists = any(op.create for op in ops)
    state.version = len({op.instance_id for op in ops})
    state.label = winners[LABEL].properties[LABEL] if LABEL in winners else ""
    if BUILDING in winners and winners[BUILDING].properties[BUILDING]:
        state.building = winners[BUILDING].properties[BUILDING]
    state.properties = {
        prop: op.properties[prop]
        for prop, op in winners.items()
        if not prop.startswith("__")
    }
    state.conflicts = _conflicts(ops, winners)

    return state


def _conflicts(ops: list[Operation], winners: dict) -> list[dict]:
    # Two values of one property conflict when they were set from the same
    # base by different devices: a group disagrees exactly when it holds at
    # least two values and at least two devices.
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        if op.create or op.base:
            groups.setdefault("create" if op.create else op.base, []).append(op)

    found = []
    for base, group in groups.items():
        if len({op.source for op in group}) < 2:
            continue
        props = {p for op in group for p in op.properties if not p.startswith("__")}
        for prop in props:
            members = [op for op in group if prop in op.properties]
            if not any(op is winners[prop] for op in members):
                continue
            values = {op.properties[prop] for op in members}
            if len(values) > 1 and len({op.source for op in members}) > 1:
                found.append(_conflict(prop, base, winners[prop], members))

    return sorted(found, key=lambda c: (c["property"], c["base"]))


def _conflict(prop: str, base: str, winner: Operation, members: list) -> dict:
    return {
        "property": prop,
        "base": base,
        "winner": winner.instance_id,
        "values": [
            {
                "value": op.properties[prop],
                "instance_id": op.instance_id,
                "device": op.source,
                "collected": op.collected,
            }
            for op in members
        ],
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
