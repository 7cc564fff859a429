"""Personal numbers: which fields hold them, and how they are masked.

Residents' ID-card and phone numbers are personal data. A field holds one
when its name says so (``id_card``, ``id_number``, ``phone``, ``mobile``,
``tel``) or its Chinese label does (身份证, 电话, 手机). Exports and ledgers
mask such values unless the admin asks otherwise; the form checks warn when
such a question has no constraint.
"""

from __future__ import annotations

import re

from doorstep.forms.spec import Field

_NAME = re.compile(
    r"id_?card|id_?number|phone|mobile|(?:^|_)tel(?:_|$|[0-9])", re.IGNORECASE
)
_LABEL_WORDS = ("身份证", "电话", "手机")


def is_personal_name(name: str) -> bool:
    """Whether a field or property name says it holds an ID or phone number."""
    return bool(_NAME.search(name.rsplit("/", 1)[-1]))


def is_personal(field: Field) -> bool:
    """Whether a field holds an ID-card or phone number, by name or label."""
    labels = " ".join(field.labels.values())

    return is_personal_name(field.name) or any(w in labels for w in _LABEL_WORDS)


def mask(value: str) -> str:
    """Hide the middle of an ID-card or phone number, keeping its ends."""
    value = value.strip()
    keep = 3 if len(value) <= 11 else 4
    if len(value) <= keep + 4:
        return "*" * max(len(value) - 2, 1) + value[-2:]

    return value[:keep] + "*" * (len(value) - keep - 4) + value[-4:]
