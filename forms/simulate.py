"""Fill any form with plausible values, for demos, load tests and benchmarks.

The instance is built from the form's own main instance, so fields keep
document order and groups nest as the device would nest them. Values follow
the field's type, choices and simple range or regex constraints; strings
follow the field's name (a name, a phone number, an ID card number, a
building). Calculations the templates use (concat, today, date arithmetic,
look-ups in an entity list) are worked out by a small evaluator; any other
calculation is left empty, as a device that cannot evaluate it would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from doorstep.forms import fakes
from doorstep.forms.instance import parse_instance
from doorstep.forms.spec import JR, FormSpec
from doorstep.forms.xml import local_name, parse_xml
from doorstep.forms.xpath import (
    FAILURES,
    Context,
    evaluate,
    random_uuid,
    to_text,
    truth,
)


@dataclass
class Filled:
    """A simulated submission: its XML, its instanceID and its files."""

    xml: bytes
    instance_id: str
    attachments: dict[str, bytes] = field(default_factory=dict)


def fill(
    spec: FormSpec,
    rng: random.Random,
    *,
    lists: dict[str, list[dict[str, str]]] | None = None,
    device_id: str = "",
    when: datetime | None = None,
    attachments: bool = True,
) -> Filled:
    """Fill ``spec`` with values drawn from ``rng``; the same rng, the same XML."""
    when = (when or datetime.now(fakes.BEIJING)).astimezone(fakes.BEIJING)
    filler = _Filler(spec, rng, lists or {}, device_id, when, attachments)
    template = _main_root(spec)

    out = Element(spec.root_name, {"id": spec.form_id})
    if spec.version:
        out.set("version", spec.version)
    context = Context(filler.lists, when, rng)
    filler.fill_children(template, out, "", context)
    filler.settle()
    xml = tostring(out, encoding="utf-8", xml_declaration=False)
    # A form without meta/instanceID is identified by its content hash.
    instance_id = filler.instance_id or parse_instance(xml).instance_id

    return Filled(xml=xml, instance_id=instance_id, attachments=filler.files)


def _main_root(spec: FormSpec) -> Element:
    html = parse_xml(spec.xml)
    model = next(n for n in html.iter() if local_name(n.tag) == "model")
    main = next(c for c in model if local_name(c.tag) == "instance" and not c.get("id"))

    return next(iter(main))


def _binds(spec: FormSpec) -> dict[str, Element]:
    html = parse_xml(spec.xml)
    binds = {}
    for node in html.iter():
        if local_name(node.tag) == "bind":
            parts = node.get("nodeset", "").strip("/").split("/")
            binds["/".join(parts[1:])] = node

    return binds


class _Filler:
    """One simulated submission being filled, with its random source."""

    def __init__(self, spec, rng, lists, device_id, when, attachments) -> None:
        self.spec = spec
        self.rng = rng
        self.lists = lists
        self.device_id = device_id
        self.when = when
        self.attachments = attachments
        self.binds = _binds(spec)
        self.fields = {f.path: f for f in spec.fields}
        self.files: dict[str, bytes] = {}
        self.instance_id = ""
        self.filled: list[tuple[Element, Element, str, Context]] = []

    def fill_children(
        self, node: Element, out: Element, prefix: str, ctx, live: bool = True
    ) -> None:
        """Copy ``node``'s children into ``out``, answering every leaf."""
        repeats_done = set()
        for child in node:
            path = prefix + local_name(child.tag)
            if path in self.spec.repeats:
                if path not in repeats_done and live:
                    self._fill_repeat(child, out, path, ctx)
                repeats_done.add(path)
                continue
            element = SubElement(out, local_name(child.tag))
            self.filled.append((child, element, path, ctx))
            if len(child):
                inner = live and self._relevant(path, ctx)
                self.fill_children(child, element, path + "/", ctx, inner)
            else:
                element.text = self._value(path, ctx) if live else ""
                ctx.values[path] = element.text

    def settle(self) -> None:
        """Work out calculations and entity attributes, in document order.

        Values come first and calculations after, so a calculation may use a
        value later in the form; the second pass settles chains of them.
        """
        for _ in range(2):
            for template, element, path, ctx in self.filled:
                self._attributes(template, element, path, ctx)
                bind = self.binds.get(path)
                if bind is not None and bind.get("calculate") and not len(template):
                    element.text = self._calculate(bind, path, ctx)
                    ctx.values[path] = element.text

    def _fill_repeat(self, template: Element, out: Element, path: str, ctx) -> None:
        if not self._relevant(path, ctx):
            return
        for _ in range(self.rng.randint(1, 4)):
            item = SubElement(out, local_name(template.tag))
            self.fill_children(template, item, path + "/", ctx.child())

    def _attributes(self, template: Element, element: Element, path, ctx) -> None:
        is_entity = local_name(template.tag) == "entity"
        for name, value in template.attrib.items():
            if name.startswith("{"):
                continue
            bind = self.binds.get(f"{path}/@{name}")
            if bind is not None and bind.get("calculate"):
                value = self._calculate(bind, f"{path}/@{name}", ctx)
            if is_entity and name == "id" and not value:
                value = element.get("id") or random_uuid(self.rng)
            if is_entity and name == "baseVersion" and not value:
                # An update of an entity the tablet's list does not hold:
                # the version it was created with.
                value = "1" if element.get("update") in ("1", "true") else ""
            element.set(name, value)

    def _calculate(self, bind: Element, path: str, ctx) -> str:
        try:
            return to_text(evaluate(bind.get("calculate"), ctx.at(path)))
        except FAILURES:
            return ""

    def _relevant(self, path: str, ctx) -> bool:
        bind = self.binds.get(path)
        expression = bind.get("relevant") if bind is not None else None
        if not expression:
            return True
        try:
            return truth(evaluate(expression, ctx.at(path)))
        except FAILURES:
            return True

    def _value(self, path: str, ctx) -> str:
        bind = self.binds.get(path)
        spec_field = self.fields.get(path)
        if bind is None or spec_field is None or not self._relevant(path, ctx):
            return ""
        if bind.get(f"{JR}preload"):
            return self._preload(bind)
        if bind.get("calculate") or spec_field.readonly:
            return ""

        return fakes.answer(
            spec_field,
            self.rng,
            when=self.when,
            lists=self.lists,
            files=self.files if self.attachments else None,
        )

    def _preload(self, bind: Element) -> str:
        kind = bind.get(f"{JR}preload")
        params = bind.get(f"{JR}preloadParams", "")
        if kind == "uid":
            self.instance_id = f"uuid:{random_uuid(self.rng)}"
            return self.instance_id
        if kind == "timestamp":
            return fakes.iso(self.when)
        if kind == "date":
            return self.when.date().isoformat()
        if params == "deviceid":
            return self.device_id

        return ""
