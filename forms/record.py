"""A submission read against its form: typed values and the problems found.

Nothing is dropped. A value that does not fit its field's type stays as the
text the device sent and is listed as a problem; so is an element the form
does not know, and a second copy of an element that may appear only once
(the first copy's value is kept, the second is in the problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from marshmallow import Schema
from marshmallow import fields as mm

from doorstep.forms.instance import Instance
from doorstep.forms.schema import AnswerField, Convert, record_schema, to_string
from doorstep.forms.spec import FormSpec


@dataclass(frozen=True)
class Problem:
    """Something wrong with one value of a submission, for the review queue."""

    path: str
    message: str
    value: str | None = None


@dataclass
class Record:
    """Values by field path; a repeat's path holds a list of item dicts.

    Paths are relative to the root ("household/building"). Inside a repeat
    item, keys are relative to the repeat ("name" in "members"), and a nested
    repeat is again a list under its relative path. A field whose element the
    submission leaves out is absent; an empty element is None.
    """

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_record(spec: FormSpec, instance: Instance) -> Record:
    """Read ``instance`` against ``spec`` into a Record."""
    tree = _reader(spec)
    record = Record()
    _read(tree, instance.root, "", 0, record.values, record.problems)

    return record


# Elements servers and devices add that no form declares.
_TOLERATED = frozenset(
    {
        "formhub/uuid",
        "meta/deprecatedID",
        "meta/timeEnd",
        "meta/audit",
        "meta/instanceName",
    }
)

_LEAF, _GROUP, _REPEAT = 0, 1, 2


class _Node:
    """One element name the form knows, at one place in the instance."""

    __slots__ = ("kind", "key", "convert", "children")

    def __init__(self, kind: int, key: str, convert: Convert | None = None) -> None:
        self.kind = kind
        self.key = key
        self.convert = convert
        self.children: dict[str, _Node] = {}


_READERS: dict[tuple[str, str, str], dict[str, _Node]] = {}


def _reader(spec: FormSpec) -> dict[str, _Node]:
    # Specs are rebuilt from XML by callers, so the cache is keyed by what
    # identifies a form version, not by the spec object.
    key = (spec.form_id, spec.version, spec.md5)
    tree = _READERS.get(key)
    if tree is None:
        tree = _READERS[key] = _tree(record_schema(spec))
        # An update-only entity has no label, so its <entity/> element is
        # empty and the spec sees no group; it is still the form's own.
        for group in (*spec.groups, *(e.path for e in spec.entities)):
            _place(tree, group.split("/"))

    return tree


def _tree(schema: Schema) -> dict[str, _Node]:
    tree: dict[str, _Node] = {}
    for key, value in schema.fields.items():
        *steps, name = key.split("/")
        parents = _place(tree, steps)
        if isinstance(value, AnswerField):
            # Text fields need no conversion; None spares the call.
            convert = None if value.convert is to_string else value.convert
            parents[name] = _Node(_LEAF, key, convert)
        elif isinstance(value, mm.List) and isinstance(value.inner, mm.Nested):
            node = parents[name] = _Node(_REPEAT, key)
            node.children = _tree(value.inner.schema)

    return tree


def _place(tree: dict[str, _Node], steps: list[str]) -> dict[str, _Node]:
    # Groups leave no key of their own: their fields are flattened to paths.
    for step in steps:
        node = tree.get(step)
        if node is None:
            node = tree[step] = _Node(_GROUP, "")
        tree = node.children

    return tree


def _read(tree, element: Element, path: str, base: int, values, problems) -> None:
    # The hot loop of every merge: paths are only spelled out when a problem
    # needs one. ``base`` is where the current level's keys start in ``path``:
    # 0 at the root, past "members[2]/" inside a repeat item.
    for child in element:
        node = tree.get(child.tag) or tree.get(_local(child.tag))
        if node is None:
            _read_unknown(child, path + _local(child.tag), base, values, problems)
        elif node.kind == _LEAF:
            key, text = node.key, child.text
            if key in values or len(child):
                _odd_leaf(node, child, path, values, problems)
            elif not text:
                values[key] = None
            elif node.convert is None:
                values[key] = text
            else:
                try:
                    values[key] = node.convert(text)
                except ValueError as err:
                    values[key] = text
                    problems.append(Problem(_at(path, child), str(err), text))
        elif node.kind == _GROUP:
            _read(node.children, child, _at(path, child) + "/", base, values, problems)
        else:
            items = values.setdefault(node.key, [])
            item: dict[str, Any] = {}
            items.append(item)
            here = f"{_at(path, child)}[{len(items)}]/"
            _read(node.children, child, here, len(here), item, problems)


def _odd_leaf(node: _Node, element: Element, path: str, values, problems) -> None:
    text = element.text
    if node.key in values:
        message = "this answer appears more than once; the first is kept"
        problems.append(Problem(_at(path, element), message, text))
        return

    problems.append(
        Problem(_at(path, element), "this answer holds elements, not a value", text)
    )
    values[node.key] = text or None


def _at(path: str, element: Element) -> str:
    return path + _local(element.tag)


def _local(tag: str) -> str:
    return tag[tag.rfind("}") + 1 :]


def _read_unknown(element: Element, path: str, base: int, values, problems) -> None:
    # Kept under its path in the current level, so nothing the device sent
    # is lost; only the elements servers add by routine are not problems.
    if len(element):
        for child in element:
            _read_unknown(child, f"{path}/{_local(child.tag)}", base, values, problems)
        return

    values[path[base:]] = element.text or None
    if _plain(path) not in _TOLERATED:
        problems.append(Problem(path, "the form has no such field", element.text))


def _plain(path: str) -> str:
    # Drop repeat positions ("kids[2]/age" -> "kids/age").
    if "[" not in path:
        return path

    return "/".join(step.split("[", 1)[0] for step in path.split("/"))
