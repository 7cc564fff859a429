"""Ledger columns: headers in 中文 over English, types and masking.

Columns come from the latest published version of each form: an entity
list's columns are the fields that save to it, a log's the form's own
fields, in the order the forms list them (forms by id). Values a newer form
no longer has keep a column of their own after the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from doorstep.forms.personal import is_personal, is_personal_name, mask
from doorstep.forms.spec import Field, FormSpec
from doorstep.sync.merge_extract import declarations, is_log_form
from doorstep.sync.registry import FormRegistry

# Headers for fields and properties that carry no label of their own (a
# calculate, an entity property): the names forms commonly give them.
COMMON_NAMES = {
    "building": ("楼栋", "Building"),
    "unit": ("单元", "Unit"),
    "floor": ("楼层", "Floor"),
    "room": ("房间号", "Room"),
    "address": ("地址", "Address"),
    "household": ("户", "Household"),
    "head_name": ("户主", "Head of household"),
    "resident": ("居民", "Resident"),
    "full_name": ("姓名", "Name"),
    "name": ("姓名", "Name"),
    "gender": ("性别", "Gender"),
    "age": ("年龄", "Age"),
    "phone": ("电话", "Phone"),
    "id_card": ("身份证号", "ID card"),
    "temperature": ("体温", "Temperature"),
    "return_date": ("返回日期", "Date of return"),
    "quarantine_start": ("隔离开始", "Quarantine start"),
    "quarantine_end": ("隔离结束", "Quarantine end"),
    "visitor": ("访客", "Visitor"),
    "place": ("地点", "Place"),
    "operator": ("操作人", "Operator"),
    "item": ("物品", "Item"),
    "quantity": ("数量", "Quantity"),
    "received": ("入库", "Received"),
    "issued": ("发放", "Issued"),
    "left": ("结存", "Left"),
    "stock": ("库存", "Stock"),
    "needs": ("需求", "Needs"),
    "served": ("已服务", "Served"),
    "status": ("状态", "Status"),
    "notes": ("备注", "Notes"),
}


class LedgerError(Exception):
    """A ledger request that cannot be met, in the admin's words."""


def deployment_zone(deployment) -> ZoneInfo:
    """The deployment's time zone (``[deployment] timezone``), for ledger times."""
    name = deployment.setting("deployment", "timezone", "Asia/Shanghai")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise LedgerError(
            f"settings: [deployment] timezone = {name!r} is not a time zone; "
            'write an IANA name such as "Asia/Shanghai"'
        ) from err


def local_time(utc: str, zone: ZoneInfo) -> datetime:
    """A stored UTC time (naive ISO text) as wall-clock time in ``zone``."""
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)

    return moment.astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True)
class Column:
    """One ledger column."""

    key: str
    zh: str
    en: str
    kind: str = "text"
    choices: dict[str, str] = field(default_factory=dict, compare=False)
    # Set when the field's label says it is personal (forms.personal).
    labelled_personal: bool = False

    @property
    def personal(self) -> bool:
        """Whether the column holds ID-card or phone numbers, to be masked."""
        return self.labelled_personal or is_personal_name(self.key)


@dataclass
class Catalog:
    """Columns per entity list and per log form, and each log form's title."""

    lists: dict[str, list[Column]] = field(default_factory=dict)
    logs: dict[str, list[Column]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    # A building's label where its field is a select ("1" -> "1号楼").
    buildings: dict[str, str] = field(default_factory=dict)

    def building(self, name: str) -> str:
        """How a building is shown: its label, else its stable name."""
        return self.buildings.get(name, name)


def catalog(registry: FormRegistry) -> Catalog:
    """Columns of every list and log form from the latest published forms."""
    found = Catalog()
    for form in registry.forms():
        spec = form.spec
        found.titles[spec.form_id] = spec.title or spec.form_id
        for decl in declarations(spec):
            columns = found.lists.setdefault(decl.dataset, [])
            for prop, path in decl.properties.items():
                if all(c.key != prop for c in columns):
                    columns.append(column(prop, spec.field(path)))
        if is_log_form(spec):
            found.logs[spec.form_id] = _log_columns(spec)
    found.buildings = _building_labels(registry)

    return found


def column(key: str, source: Field | None) -> Column:
    """A column named ``key`` described by the field ``source``."""
    if source is None:
        return named(key)
    zh, en = bilingual(source.labels)
    choices = {c.name: bilingual(c.labels)[0] for c in source.choices or ()}
    if not (zh or en):
        zh, en = COMMON_NAMES.get(key.rsplit("/", 1)[-1], (key, key))

    return Column(key, zh or key, en or key, source.type, choices, is_personal(source))


def named(key: str) -> Column:
    """A column known by its name alone: a common name's header, else the name."""
    zh, en = COMMON_NAMES.get(key.rsplit("/", 1)[-1], (key, key))

    return Column(key, zh, en)


def bilingual(labels: dict[str, str]) -> tuple[str, str]:
    """(中文, English) from a field's labels, either possibly empty."""
    zh = next((v for k, v in labels.items() if _is_zh(k) and v), "")
    en = next((v for k, v in labels.items() if _is_en(k) and v), "")
    default = labels.get("default", "")

    return zh or default or en, en or default


def with_extras(columns: list[Column], rows: list[dict]) -> list[Column]:
    """``columns`` plus one for any key the rows hold that they lack."""
    known = {c.key for c in columns}
    extra = sorted({k for row in rows for k in row} - known)

    return columns + [named(k) for k in extra]


def cell(col: Column, value: str, *, unmasked: bool):
    """A stored text value as the typed value a ledger cell shows."""
    if value in ("", None):
        return None
    if col.personal and not unmasked:
        return mask(value)
    if col.choices:
        return " ".join(col.choices.get(v, v) for v in value.split())

    return _typed(col.kind, value)


def _typed(kind: str, value: str):
    try:
        if kind == "date":
            return date.fromisoformat(value[:10])
        if kind == "dateTime":
            return datetime.fromisoformat(value).replace(tzinfo=None)
        if kind == "int":
            return int(value)
        if kind == "decimal":
            return float(value)
    except ValueError:
        pass

    return value


def _log_columns(spec: FormSpec) -> list[Column]:
    columns = []
    for f in spec.fields:
        if f.repeat or f.path.startswith("meta/") or f.preload:
            continue
        if f.readonly and not f.calculate and f.type == "string":
            continue
        columns.append(column(f.path, f))
    for repeat in spec.repeats:
        if not any(repeat.startswith(r + "/") for r in spec.repeats):
            name = repeat.rsplit("/", 1)[-1]
            columns.append(Column(repeat, name, name))

    return columns


def _building_labels(registry: FormRegistry) -> dict[str, str]:
    # A label two buildings share would name two workbooks alike, so such
    # buildings keep their stable names.
    labels: dict[str, str] = {}
    for form in registry.forms():
        for f in form.spec.fields:
            if f.name == "building" and f.choices:
                for choice in f.choices:
                    label = bilingual(choice.labels)[0]
                    labels.setdefault(choice.name, label or choice.name)
    shared = {v for v in labels.values() if list(labels.values()).count(v) > 1}

    return {k: v for k, v in labels.items() if v not in shared}


def _is_zh(lang: str) -> bool:
    return "中文" in lang or "zh" in lang.lower() or "chinese" in lang.lower()


def _is_en(lang: str) -> bool:
    lower = lang.lower()
    return "english" in lower or lower == "en" or lower.endswith("(en)")
