"""What one submission contributes to the ledgers, read once and kept small.

The merge never keeps records in memory: each submission is read against its
form, reduced to these facts (when it was collected, its building, its
entity operations, or its log row) and the XML is let go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from doorstep.forms.instance import Instance
from doorstep.forms.record import read_record
from doorstep.forms.spec import EntityDecl, FormSpec
from doorstep.forms.xml import local_name

TRUE = ("1", "true")
LABEL = "__label"
BUILDING = "__building"


@dataclass
class EntityOp:
    """One entity element of a submission, with its evaluated attributes."""

    dataset: str
    entity_id: str
    create: bool
    update: bool
    base: str
    label: str
    properties: dict[str, str]


@dataclass
class Facts:
    """A submission reduced to what the merge needs."""

    instance_id: str
    form_id: str
    device_id: str
    collected: str
    day: str
    building: str
    deprecated_id: str | None
    entities: list[EntityOp] = field(default_factory=list)
    log: dict[str, str] | None = None
    # False when the submission names no time and ``collected`` is the time
    # received, which belongs to the store's row rather than to the XML.
    timed: bool = True


def extract(
    spec: FormSpec,
    instance: Instance,
    *,
    device_id: str,
    received: float,
    building_field: str | None = None,
) -> Facts:
    """Reduce ``instance`` (read with ``spec``) to its Facts."""
    values = read_record(spec, instance).values
    collected, day, timed = collected_time(spec, instance, values, received)
    building = text(values.get(building_field or "")) if building_field else ""
    ops = [op for decl in declarations(spec) for op in _entity_ops(decl, instance)]
    ops = [op for op in ops if op is not None]
    for op in ops:
        where = op.properties.get("building") or building
        if where:
            op.properties[BUILDING] = where

    facts = Facts(
        instance_id=instance.instance_id,
        form_id=instance.form_id,
        device_id=device_id,
        collected=collected,
        day=day,
        building=building,
        deprecated_id=instance.deprecated_id,
        entities=ops,
        timed=timed,
    )
    if is_log_form(spec):
        facts.log = log_values(spec, values)

    return facts


def declarations(spec: FormSpec) -> list[EntityDecl]:
    """The form's entity declarations, one per path.

    A repeat's template and its first item both hold an entity element, so
    the spec may list one declaration twice.
    """
    return list({decl.path: decl for decl in spec.entities}.values())


def is_log_form(spec: FormSpec) -> bool:
    """Whether the form adds dated rows: no entities, or entity updates only.

    A follow-up that updates a resident is also the day's record of the
    visit, so it is kept as a row besides updating the resident.
    """
    return all(decl.create is None for decl in declarations(spec))


def building_path(spec: FormSpec, configured: str | None) -> str | None:
    """The field naming the building: the configured one, else ``building``."""
    fields = [f for f in spec.fields if f.repeat is None]
    if configured:
        named = [f.path for f in fields if configured in (f.path, f.name)]
        return named[0] if named else None
    paths = sorted((f.path for f in fields if f.name == "building"), key=len)

    return paths[0] if paths else None


def collected_time(spec, instance, values, received: float) -> tuple[str, str, bool]:
    """(UTC sort key, local day, whether the submission named it) of its filling.

    meta/timeEnd, else the form's ``end`` field, else the time received.
    """
    end = next((f.path for f in spec.fields if f.name == "end" and not f.repeat), None)
    for raw in (instance.time_end, text(values.get(end)) if end else None):
        moment = _parse_time(raw)
        if moment is not None:
            utc = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            return utc, raw[:10], True

    return (*received_time(received), False)


def received_time(received: float) -> tuple[str, str]:
    """(UTC sort key, day) of the time a submission was received."""
    moment = datetime.fromtimestamp(received, UTC)

    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f"), moment.date().isoformat()


def log_values(spec: FormSpec, values: dict[str, Any]) -> dict[str, str]:
    """A log row: every answered top-level field, repeats as one cell each."""
    row = {}
    for f in spec.fields:
        if f.repeat or f.path.startswith("meta/") or f.preload or _is_note(f):
            continue
        if f.path in values:
            row[f.path] = text(values[f.path])
    # Only top-level repeats are keys of ``values``; nested ones sit in items.
    for repeat in spec.repeats:
        if repeat in values:
            row[repeat] = _repeat_cell(values[repeat])

    return row


def text(value: Any) -> str:
    """A typed record value as the text a ledger cell or list CSV holds."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(text(v) for v in value)
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value if v is not None)

    return str(value)


def _entity_ops(decl: EntityDecl, instance: Instance) -> list[EntityOp]:
    if decl.repeat is None:
        return [_entity_op(decl, instance.root, "")]

    return [
        _entity_op(decl, item, decl.repeat + "/")
        for item in _find_all(instance.root, decl.repeat.split("/"))
    ]


def _entity_op(decl: EntityDecl, scope: Element, prefix: str) -> EntityOp | None:
    # Property values are the text the device sent, as ODK Central keeps
    # them: a typed reading would rewrite "0 5" in a geopoint as "0.0 5.0".
    found = _find_all(scope, decl.path[len(prefix) :].split("/"))
    if not found:
        return None
    node = found[0]
    label = next((c for c in node if local_name(c.tag) == "label"), None)
    properties = {}
    for name, path in decl.properties.items():
        leaf = _find_all(scope, path[len(prefix) :].split("/"))
        if leaf:
            properties[name] = (leaf[0].text or "").strip()

    return EntityOp(
        dataset=node.get("dataset") or decl.dataset,
        entity_id=(node.get("id") or "").strip(),
        create=(node.get("create") or "").strip() in TRUE,
        update=(node.get("update") or "").strip() in TRUE,
        base=(node.get("trunkVersion") or node.get("baseVersion") or "").strip(),
        label=(label.text or "").strip() if label is not None else "",
        properties=properties,
    )


def _find_all(root: Element, steps: list[str]) -> list[Element]:
    nodes = [root]
    for step in steps:
        nodes = [c for n in nodes for c in n if local_name(c.tag) == step]

    return nodes


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_note(f) -> bool:
    # pyxform writes a note as a read-only string with nothing to compute.
    return f.readonly and not f.calculate and f.type == "string"


def _repeat_cell(items: list) -> str:
    rendered = []
    for item in items:
        parts = [f"{k}={text(v)}" for k, v in item.items() if not isinstance(v, list)]
        rendered.append(", ".join(p for p in parts if not p.startswith("meta/")))

    return " | ".join(rendered)
