"""A compiled XForm read into a plain description of the form.

Everything downstream (typed reading, simulation, merge, the server's form
list) works from a FormSpec, never from the XForm XML itself. Field paths are
relative to the instance root ("household/building"), because the root's
element name differs between pyxform (``data``) and older tools.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from doorstep.forms.xml import local_name, parse_xml

JR = "{http://openrosa.org/javarosa}"
ENTITIES = "{http://www.opendatakit.org/xforms/entities}"
_ITEXT_REF = re.compile(r"jr:itext\('([^']+)'\)")
_CSV_INSTANCE = re.compile(r"jr://file(?:-csv)?/(.+)$")


class SpecError(ValueError):
    """An XForm that doorstep cannot read."""


@dataclass(frozen=True)
class Choice:
    """One answer of a select: its stable name and its label per language."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """One question or calculated value, as the XForm binds it."""

    path: str
    type: str
    labels: dict[str, str] = field(default_factory=dict)
    required: bool = False
    relevant: str | None = None
    constraint: str | None = None
    calculate: str | None = None
    readonly: bool = False
    preload: str | None = None
    save_to: str | None = None
    repeat: str | None = None
    choices: tuple[Choice, ...] | None = None
    choice_file: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class EntityDecl:
    """An entity declaration from ``meta/entity``.

    ``properties`` maps an entity property to the field path that saves to
    it. ``repeat`` is the repeat the declaration sits in, or None.
    """

    dataset: str
    path: str
    create: str | None
    update: str | None
    id_calculate: str | None
    label_calculate: str | None
    properties: dict[str, str]
    repeat: str | None = None


@dataclass(frozen=True)
class FormSpec:
    """What doorstep knows of one published version of a form."""

    form_id: str
    version: str
    title: str
    root_name: str
    languages: tuple[str, ...]
    fields: tuple[Field, ...]
    groups: tuple[str, ...]
    repeats: tuple[str, ...]
    entities: tuple[EntityDecl, ...]
    media: tuple[str, ...]
    md5: str
    xml: bytes = field(repr=False)

    def field(self, path: str) -> Field | None:
        return next((f for f in self.fields if f.path == path), None)

    @property
    def attachment_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type == "binary")


def read_spec(xform: bytes | str) -> FormSpec:
    """Read a compiled XForm into a FormSpec."""
    xml = xform.encode("utf-8") if isinstance(xform, str) else xform
    html = parse_xml(xml)
    head = _child(html, "head")
    model = _child(head, "model") if head is not None else None
    if model is None:
        raise SpecError("this is not an XForm: it has no h:head/model")

    instances = [c for c in model if local_name(c.tag) == "instance"]
    main = next((i for i in instances if not i.get("id")), None)
    root = next(iter(main), None) if main is not None else None
    if root is None or not root.get("id"):
        raise SpecError("the XForm's main instance has no root with an id")

    structure = _Structure(root)
    itext = _read_itext(model)
    body = _body_controls(_child(html, "body"))
    _resolve_itemsets(body, instances, itext)
    binds = [
        b
        for b in model
        if local_name(b.tag) == "bind" and "/@" not in b.get("nodeset", "")
    ]
    fields = [_read_field(bind, structure, itext, body) for bind in binds]
    fields += _unbound_fields(binds, structure, itext, body)
    title = _child(head, "title")

    return FormSpec(
        form_id=root.get("id"),
        version=root.get("version") or "",
        title=(title.text or "").strip() if title is not None else "",
        root_name=local_name(root.tag),
        languages=tuple(itext) if itext else ("default",),
        fields=tuple(f for f in fields if f is not None),
        groups=tuple(structure.groups),
        repeats=tuple(structure.repeats),
        entities=_read_entities(model, structure, fields),
        media=_read_media(instances, html),
        md5=hashlib.md5(xml).hexdigest(),
        xml=xml,
    )


class _Structure:
    """The main instance's shape: which paths are groups and repeats."""

    def __init__(self, root: Element) -> None:
        self.root_name = local_name(root.tag)
        self.groups: list[str] = []
        self.repeats: list[str] = []
        self.leaves: set[str] = set()
        self._walk(root, "")

    def _walk(self, node: Element, prefix: str) -> None:
        for child in node:
            path = f"{prefix}{local_name(child.tag)}"
            if path in self.repeats or path in self.groups:
                continue
            if child.get(f"{JR}template") is not None:
                self.repeats.append(path)
            elif len(child):
                self.groups.append(path)
            else:
                self.leaves.add(path)
            if len(child):
                self._walk(child, path + "/")

    def relative(self, nodeset: str) -> str:
        parts = nodeset.strip("/").split("/")
        return "/".join(parts[1:]) if parts[0] == self.root_name else nodeset

    def repeat_of(self, path: str) -> str | None:
        inside = [r for r in self.repeats if path.startswith(r + "/")]
        return max(inside, key=len) if inside else None


def _read_field(bind, structure, itext, body) -> Field | None:
    path = structure.relative(bind.get("nodeset", ""))
    if path in structure.groups or path in structure.repeats:
        return None

    control = body.get(path, {})
    return Field(
        path=path,
        type=_field_type(bind.get("type", "string"), control),
        labels=_labels(control.get("label"), itext),
        required=(bind.get("required") or "").startswith("true"),
        relevant=bind.get("relevant"),
        constraint=bind.get("constraint"),
        calculate=bind.get("calculate"),
        readonly=(bind.get("readonly") or "").startswith("true"),
        preload=bind.get(f"{JR}preload"),
        save_to=bind.get(f"{ENTITIES}saveto"),
        repeat=structure.repeat_of(path),
        choices=control.get("choices"),
        choice_file=control.get("choice_file"),
    )


def _unbound_fields(binds, structure, itext, body) -> list[Field]:
    # A question with no bind at all (an acknowledge/trigger written by
    # older tools) is still a field: its answer must not read as unknown.
    bound = {structure.relative(b.get("nodeset", "")) for b in binds}
    unbound = sorted(structure.leaves - bound)

    return [
        Field(
            path=path,
            type="string",
            labels=_labels(body[path].get("label"), itext),
            repeat=structure.repeat_of(path),
        )
        for path in unbound
        if path in body
    ]


def _field_type(bind_type: str, control: dict) -> str:
    kind = bind_type.split(":")[-1]
    if control.get("tag") == "select1":
        return "select_one"
    if control.get("tag") == "select":
        return "select_multiple"
    if kind in ("select1", "select"):
        return "select_one" if kind == "select1" else "select_multiple"

    return kind


def _body_controls(body: Element | None) -> dict[str, dict]:
    controls: dict[str, dict] = {}
    if body is None:
        return controls

    secondary = {}
    for node in body.iter():
        tag = local_name(node.tag)
        ref = node.get("ref") or node.get("nodeset")
        if tag in ("repeat", "group") or not ref:
            continue
        path = "/".join(ref.strip("/").split("/")[1:])
        label = _child(node, "label")
        entry = {"tag": tag, "label": label}
        if tag in ("select1", "select"):
            entry.update(_control_choices(node, secondary))
        controls[path] = entry

    return controls


def _control_choices(node: Element, secondary: dict) -> dict:
    items = [c for c in node if local_name(c.tag) == "item"]
    if items:
        return {"choices": tuple(_inline_choice(i) for i in items)}

    itemset = _child(node, "itemset")
    if itemset is None:
        return {}
    source = itemset.get("nodeset", "")
    match = re.match(r"instance\('([^']+)'\)", source)

    return {"itemset": match.group(1) if match else None}


def _resolve_itemsets(body: dict, instances: list[Element], itext: dict) -> None:
    # pyxform 4 writes choices as secondary instances; a select names one by
    # id. An instance with a src is a CSV list the device holds, not inline.
    by_id = {i.get("id"): i for i in instances if i.get("id")}
    for control in body.values():
        source = by_id.get(control.pop("itemset", None))
        if source is None:
            continue
        match = _CSV_INSTANCE.match(source.get("src") or "")
        if match:
            control["choice_file"] = match.group(1)
            continue
        items = next(iter(source), None)
        control["choices"] = tuple(
            _instance_choice(item, itext)
            for item in (items if items is not None else ())
        )


def _instance_choice(item: Element, itext: dict) -> Choice:
    name = _child(item, "name")
    label = _child(item, "label")
    text_id = _child(item, "itextId")
    if text_id is not None:
        key = (text_id.text or "").strip()
        labels = {lang: texts.get(key, "") for lang, texts in itext.items()}
    else:
        labels = {"default": (label.text or "").strip()} if label is not None else {}

    return Choice(
        name=(name.text or "").strip() if name is not None else "", labels=labels
    )


def _inline_choice(item: Element) -> Choice:
    value = _child(item, "value")
    label = _child(item, "label")
    labels = {"default": (label.text or "").strip()} if label is not None else {}

    return Choice(
        name=(value.text or "").strip() if value is not None else "", labels=labels
    )


def _read_itext(model: Element) -> dict[str, dict[str, str]]:
    itext = _child(model, "itext")
    translations: dict[str, dict[str, str]] = {}
    if itext is None:
        return translations

    for translation in itext:
        lang = translation.get("lang", "default")
        texts = translations.setdefault(lang, {})
        for text in translation:
            value = next(
                (v for v in text if local_name(v.tag) == "value" and not v.get("form")),
                None,
            )
            texts[text.get("id", "")] = (
                "".join(value.itertext()).strip() if (value is not None) else ""
            )

    return translations


def _labels(label: Element | None, itext: dict) -> dict[str, str]:
    if label is None:
        return {}
    match = _ITEXT_REF.match(label.get("ref") or "")
    if match:
        return {lang: texts.get(match.group(1), "") for lang, texts in itext.items()}

    return {"default": "".join(label.itertext()).strip()}


def _read_entities(model, structure, fields) -> tuple[EntityDecl, ...]:
    binds = {
        structure.relative(b.get("nodeset", "")): b
        for b in model
        if local_name(b.tag) == "bind"
    }
    declarations = []
    main = next(i for i in model if local_name(i.tag) == "instance" and not i.get("id"))
    seen = set()
    for node, path in _walk_paths(next(iter(main)), ""):
        # pyxform writes a repeat twice (its template and a first item), so
        # a declaration inside a repeat is met twice under one path.
        if local_name(node.tag) != "entity" or not path.endswith("meta/entity"):
            continue
        if path in seen:
            continue
        seen.add(path)
        properties = {
            f.save_to: f.path
            for f in fields
            if f is not None
            and f.save_to
            and structure.repeat_of(f.path) == structure.repeat_of(path)
        }
        id_bind = binds.get(f"{path}/@id")
        label_bind = binds.get(f"{path}/label")
        declarations.append(
            EntityDecl(
                dataset=node.get("dataset", ""),
                path=path,
                create=node.get("create"),
                update=node.get("update"),
                id_calculate=id_bind.get("calculate") if id_bind is not None else None,
                label_calculate=(
                    label_bind.get("calculate") if label_bind is not None else None
                ),
                properties=properties,
                repeat=structure.repeat_of(path),
            )
        )

    return tuple(declarations)


def _walk_paths(node: Element, prefix: str):
    for child in node:
        path = f"{prefix}{local_name(child.tag)}"
        yield child, path
        yield from _walk_paths(child, path + "/")


def _read_media(instances: list[Element], html: Element) -> tuple[str, ...]:
    files = []
    for instance in instances:
        match = _CSV_INSTANCE.match(instance.get("src") or "")
        if match:
            files.append(match.group(1))
    for node in html.iter():
        if local_name(node.tag) == "value" and node.get("form") in (
            "image",
            "audio",
            "video",
            "big-image",
        ):
            files.append((node.text or "").rsplit("/", 1)[-1])

    return tuple(dict.fromkeys(f for f in files if f))


def _child(node: Element | None, name: str) -> Element | None:
    if node is None:
        return None

    return next((c for c in node if local_name(c.tag) == name), None)
