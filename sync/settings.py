"""Every deployment setting in one table: name, default, type and meaning.

``doorstep.toml`` is checked against this table when a deployment opens, so
a wrong type is reported as the setting's name and what it should be, never
as a crash later in a server thread. A test keeps the README's settings
table and the default settings file in step with this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    default: Any
    kind: type | tuple[type, ...]
    help: str
    low: int | None = None
    high: int | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "deployment",
        "name",
        "",
        str,
        "shown on tablets' project screens and in ledgers",
    ),
    Setting(
        "deployment",
        "timezone",
        "Asia/Shanghai",
        str,
        "the office's time zone, for times shown in ledgers",
    ),
    Setting(
        "server",
        "url",
        "http://127.0.0.1:8000",
        str,
        "the address tablets use to reach the laptop; "
        "goes into device URLs and QR codes",
    ),
    Setting(
        "server",
        "max_body_bytes",
        10_000_000,
        int,
        "largest request accepted; larger uploads get 413 with a message Collect shows",
        low=100_000,
        high=2_000_000_000,
    ),
    Setting(
        "ledgers",
        "building_field",
        {},
        dict,
        "per form id, the field that names the building "
        "(default: the field named `building`)",
    ),
    Setting(
        "ledgers",
        "duplicate_keys",
        {},
        dict,
        "per entity list, the properties that mark probable duplicates",
    ),
    Setting(
        "ledgers",
        "mask_personal",
        True,
        bool,
        "mask ID-card and phone numbers in exports",
    ),
)

_BY_NAME = {(s.section, s.key): s for s in SETTINGS}


def default(section: str, key: str) -> Any:
    """The default of a known setting."""
    return _BY_NAME[(section, key)].default


def check_settings(settings: dict[str, Any]) -> list[str]:
    """Problems with a parsed doorstep.toml, one sentence each."""
    problems = []
    for section, values in settings.items():
        if not isinstance(values, dict):
            problems.append(f"[{section}] should be a table of settings")
            continue
        for key, value in values.items():
            problems += _check_one(section, key, value)

    return problems


def _check_one(section: str, key: str, value: Any) -> list[str]:
    setting = _BY_NAME.get((section, key))
    if setting is None:
        known = ", ".join(s.name for s in SETTINGS)
        return [f"{section}.{key} is not a doorstep setting (known: {known})"]
    # bool is an int in Python; a number of bytes given as `true` is a mistake.
    wrong_bool = setting.kind is int and isinstance(value, bool)
    if wrong_bool or not isinstance(value, setting.kind):
        kind = {
            str: "text in quotes",
            int: "a whole number",
            bool: "true or false",
            dict: 'a table like { a = "b" }',
        }[setting.kind]
        return [f"{setting.name} should be {kind}, not {value!r}"]
    if setting.low is not None and not setting.low <= value <= setting.high:
        return [
            f"{setting.name} should be between {setting.low} and {setting.high}, "
            f"not {value!r}"
        ]
    special = _SPECIAL.get(setting.key)

    return special(setting.name, value) if special is not None else []


def _url(name: str, value: str) -> list[str]:
    if value.startswith(("http://", "https://")):
        return []

    return [f"{name} should start with http:// or https://, not {value!r}"]


def _timezone(name: str, value: str) -> list[str]:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"{name} should be a time zone name like Asia/Shanghai, not {value!r}"]

    return []


def _field_per_form(name: str, value: dict) -> list[str]:
    if all(isinstance(v, str) for v in value.values()):
        return []

    return [f'{name} should map form ids to field names, like {{ gate_log = "gate" }}']


def _fields_per_list(name: str, value: dict) -> list[str]:
    if all(
        isinstance(v, list) and all(isinstance(x, str) for x in v)
        for v in value.values()
    ):
        return []

    return [
        f"{name} should map entity lists to lists of properties, "
        'like { residents = ["name", "id_number"] }'
    ]


_SPECIAL = {
    "url": _url,
    "timezone": _timezone,
    "building_field": _field_per_form,
    "duplicate_keys": _fields_per_list,
}
