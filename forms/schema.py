"""Marshmallow schemas generated from a FormSpec, one per form version.

A generated schema loads a submission's answers, given as the text each
element carried, into typed values. Its shape is the Record's: paths relative
to the root, groups flattened, each repeat a list of item dicts whose keys
are relative to the repeat.

The typing rules live in the converters below; each generated field wraps
one. ``doorstep.forms.record`` calls the same converters directly while it
walks the XML, because going through ``Schema.load`` for every submission
costs more than reading it (a merge reads a million of them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

from marshmallow import Schema, ValidationError, fields

from doorstep.forms.spec import Field, FormSpec

Convert = Callable[[str], Any]

_INT = re.compile(r"[+-]?[0-9]+")
# xs:decimal has no NaN or infinity; the exponent is allowed because some
# tools write large calculated numbers that way.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T.+")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}.*")


class GeoPoint(NamedTuple):
    """A geopoint answer: degrees, then metres (altitude, accuracy) if sent."""

    lat: float
    lon: float
    alt: float | None = None
    acc: float | None = None


def to_string(text: str) -> str:
    return text


def to_int(text: str) -> int:
    text = text.strip()
    if not _INT.fullmatch(text):
        raise ValueError("this should be a whole number")

    return int(text)


def to_decimal(text: str) -> Decimal:
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError("this should be a number")

    return Decimal(text)


def to_date(text: str) -> date:
    text = text.strip()
    if not _DATE.fullmatch(text):
        raise ValueError("this should be a date such as 2024-03-01")

    return date.fromisoformat(text)


def to_datetime(text: str) -> datetime:
    text = text.strip()
    if not _DATETIME.fullmatch(text):
        raise ValueError("this should be a date and time such as 2024-03-01T09:30")

    return datetime.fromisoformat(text)


def to_time(text: str) -> time:
    text = text.strip()
    if not _TIME.fullmatch(text):
        raise ValueError("this should be a time such as 09:30")

    return time.fromisoformat(text)


def to_geopoint(text: str) -> GeoPoint:
    parts = text.split()
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if not 2 <= len(numbers) <= 4 or any(n != n for n in numbers):
        raise ValueError("this should be a location: latitude longitude [alt acc]")
    if not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
        raise ValueError("this location is off the map (latitude or longitude)")

    return GeoPoint(*numbers)


def one_of(names: frozenset[str]) -> Convert:
    """A converter for a select_one whose answer must be one of ``names``."""
    known = _listing(names)

    def to_choice(text: str) -> str:
        if text not in names:
            raise ValueError(f"this is not one of the choices ({known})")
        return text

    return to_choice


def many_of(names: frozenset[str] | None) -> Convert:
    """A converter for a select_multiple; None accepts any choice names."""
    known = _listing(names or frozenset())

    def to_choices(text: str) -> list[str]:
        chosen = text.split()
        if names is not None and not names.issuperset(chosen):
            wrong = " ".join(c for c in chosen if c not in names)
            raise ValueError(f"{wrong!r} is not among the choices ({known})")
        return chosen

    return to_choices


def _listing(names: frozenset[str]) -> str:
    shown = sorted(names)[:8]

    return ", ".join(shown) + (", ..." if len(names) > 8 else "")


_BY_TYPE: dict[str, Convert] = {
    "int": to_int,
    "integer": to_int,
    "decimal": to_decimal,
    "date": to_date,
    "dateTime": to_datetime,
    "time": to_time,
    "geopoint": to_geopoint,
}


def converter(field: Field) -> Convert:
    """The text-to-value rule for one field of a form."""
    if field.type in ("select_one", "select_multiple"):
        # Choices from a CSV file, or computed lists, are only known on the
        # device: any name is accepted.
        names = None
        if field.choices and not field.choice_file:
            names = frozenset(c.name for c in field.choices)
        if field.type == "select_multiple":
            return many_of(names)
        return one_of(names) if names is not None else to_string

    return _BY_TYPE.get(field.type, to_string)


class AnswerField(fields.Field):
    """A marshmallow field that reads one answer's text with a converter.

    Empty text is no answer and loads as None.
    """

    def __init__(self, convert: Convert, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)
        self.convert = convert

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            return self.convert(value)
        except ValueError as err:
            raise ValidationError(str(err)) from err


def record_schema(spec: FormSpec) -> Schema:
    """A schema loading a Record-shaped dict of answer texts into typed values."""
    return _level_schema(spec, "", f"{spec.form_id}")


def _level_schema(spec: FormSpec, level: str, name: str) -> Schema:
    base = f"{level}/" if level else ""
    inside = [
        r for r in spec.repeats if r.startswith(base) and _parent(spec, r) == level
    ]
    declared: dict[str, fields.Field] = {
        f.path[len(base) :]: AnswerField(converter(f))
        for f in spec.fields
        if (f.repeat or "") == level
    }
    for repeat in inside:
        child = _level_schema(spec, repeat, f"{name}/{repeat}")
        declared[repeat[len(base) :]] = fields.List(fields.Nested(child))

    return Schema.from_dict(declared, name=name)()


def _parent(spec: FormSpec, repeat: str) -> str:
    outer = [r for r in spec.repeats if repeat.startswith(r + "/")]

    return max(outer, key=len) if outer else ""
