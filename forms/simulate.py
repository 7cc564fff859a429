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

import math
import operator
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from xml.etree.ElementTree import Element, SubElement, tostring

from doorstep.forms import fakes
from doorstep.forms.instance import parse_instance
from doorstep.forms.spec import JR, FormSpec
from doorstep.forms.xml import local_name, parse_xml


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
                value = element.get("id") or _uuid(self.rng)
            if is_entity and name == "baseVersion" and not value:
                # An update of an entity the tablet's list does not hold:
                # the version it was created with.
                value = "1" if element.get("update") in ("1", "true") else ""
            element.set(name, value)

    def _calculate(self, bind: Element, path: str, ctx) -> str:
        try:
            return to_text(evaluate(bind.get("calculate"), ctx.at(path)))
        except _FAILURES:
            return ""

    def _relevant(self, path: str, ctx) -> bool:
        bind = self.binds.get(path)
        expression = bind.get("relevant") if bind is not None else None
        if not expression:
            return True
        try:
            return _truth(evaluate(expression, ctx.at(path)))
        except _FAILURES:
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
            self.instance_id = f"uuid:{_uuid(self.rng)}"
            return self.instance_id
        if kind == "timestamp":
            return fakes.iso(self.when)
        if kind == "date":
            return self.when.date().isoformat()
        if params == "deviceid":
            return self.device_id

        return ""


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# -- A small evaluator for the XPath the templates compute with -------------

_EPOCH = datetime(1970, 1, 1).date()
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<=|>=|[=<>+*()\[\],-])"
    r"|(?P<path>/?(?:\.\.|\.|@?[A-Za-z_][\w.:-]*)(?:/(?:\.\.|\.|@?[A-Za-z_][\w.:-]*))*))"
)
_BINARY = (
    ("or",),
    ("and",),
    ("=", "!="),
    ("<", ">", "<=", ">="),
    ("+", "-"),
    ("*", "div", "mod"),
)


class Unknown(Exception):
    """An expression outside what the simulator evaluates."""


# A function given the wrong arguments, a path above the root, a bad date:
# the calculation is beyond this evaluator, so the answer stays empty.
_FAILURES = (Unknown, ArithmeticError, LookupError, TypeError, ValueError)


class Context:
    """Values by path for one repeat item (or the root), and where we are."""

    def __init__(self, lists, when, rng, parent: Context | None = None) -> None:
        self.lists, self.when, self.rng, self.parent = lists, when, rng, parent
        self.values: dict[str, str] = {}
        self.here = ""

    def child(self) -> Context:
        return Context(self.lists, self.when, self.rng, parent=self)

    def at(self, path: str) -> Context:
        self.here = path

        return self

    def lookup(self, path: str) -> str:
        scope: Context | None = self
        while scope is not None:
            if path in scope.values:
                return scope.values[path]
            scope = scope.parent

        return ""


@dataclass
class _Rows:
    rows: list[dict[str, str]]
    column: str = ""


def evaluate(expression: str, ctx: Context):
    """Evaluate ``expression``; raise Unknown for anything unsupported."""
    tokens, position = [], 0
    for match in _TOKEN.finditer(expression):
        if match.start() != position or not match.lastgroup:
            break
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    if expression[position:].strip():
        raise Unknown(expression)
    parser = _Parser(tokens, ctx)
    value = parser.binary(0)
    if parser.tokens:
        raise Unknown(expression)

    return value


def to_text(value) -> str:
    """A value as the instance writes it."""
    if isinstance(value, _Rows):
        return value.rows[0].get(value.column, "") if value.rows else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else f"{value:.10g}"

    return str(value)


def _number(value) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(to_text(value))
    except ValueError:
        return float("nan")


def _truth(value) -> bool:
    if isinstance(value, _Rows):
        return bool(value.rows)
    if isinstance(value, float):
        return value == value and value != 0

    return bool(value)


def _days(value) -> float:
    # XForms counts dates as days since 1970-01-01, times as a fraction.
    if isinstance(value, float):
        return value
    try:
        moment = datetime.fromisoformat(to_text(value))
    except ValueError:
        return float("nan")
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second

    return (moment.date() - _EPOCH).days + seconds / 86400


def _date(value) -> str:
    days = _days(value)

    return (_EPOCH + timedelta(days=math.floor(days))).isoformat()


_OPERATORS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "div": operator.truediv,
    "mod": math.fmod,
}


def _compare(op: str, left, right) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = _truth(left), _truth(right)
    elif op not in ("=", "!=") or isinstance(left, float) or isinstance(right, float):
        left, right = _number(left), _number(right)
    else:
        left, right = to_text(left), to_text(right)

    return _OPERATORS[op](left, right)


def _arithmetic(op: str, left, right) -> float:
    left, right = _number(left), _number(right)
    if op in ("div", "mod") and right == 0:
        return float("nan")

    return _OPERATORS[op](left, right)


_FUNCTIONS = {
    "concat": lambda ctx, *a: "".join(to_text(v) for v in a),
    "today": lambda ctx: ctx.when.date().isoformat(),
    "now": lambda ctx: fakes.iso(ctx.when),
    "date": lambda ctx, v: _date(v),
    "decimal-date-time": lambda ctx, v: _days(v),
    "count": lambda ctx, v: float(len(v.rows)) if isinstance(v, _Rows) else 1.0,
    "true": lambda ctx: True,
    "false": lambda ctx: False,
    "not": lambda ctx, v: not _truth(v),
    "boolean": lambda ctx, v: _truth(v),
    "number": lambda ctx, v: _number(v),
    "int": lambda ctx, v: float(math.trunc(n)) if math.isfinite(n := _number(v)) else n,
    "string": lambda ctx, v: to_text(v),
    "string-length": lambda ctx, v: float(len(to_text(v))),
    "if": lambda ctx, c, a, b: a if _truth(c) else b,
    "coalesce": lambda ctx, a, b: a if to_text(a) else b,
    "once": lambda ctx, v: v,
    "selected": lambda ctx, a, b: to_text(b) in to_text(a).split(),
    "uuid": lambda ctx: _uuid(ctx.rng),
}


class _Parser:
    """Evaluates while it parses: precedence climbing over the tokens."""

    def __init__(self, tokens: list[tuple[str, str]], ctx: Context) -> None:
        self.tokens = tokens
        self.ctx = ctx

    def peek(self) -> str | None:
        return self.tokens[0][1] if self.tokens else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if not self.tokens or expected not in (None, self.tokens[0][1]):
            raise Unknown(f"expected {expected}")

        return self.tokens.pop(0)

    def binary(self, level: int):
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            if op == "or":
                left = _truth(left) or _truth(right)
            elif op == "and":
                left = _truth(left) and _truth(right)
            else:
                combine = _compare if level < 4 else _arithmetic
                left = combine(op, left, right)

        return left

    def unary(self):
        if self.peek() == "-":
            self.take()
            return -_number(self.unary())

        return self.primary()

    def primary(self):
        kind, text = self.take()
        if kind == "str":
            return text[1:-1]
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.binary(0)
            self.take(")")
            return value
        if kind == "path" and self.peek() == "(":
            return self.call(text)
        if kind == "path":
            return self.ctx.lookup(self.resolve(text, self.ctx.here, absolute=True))

        raise Unknown(text)

    def call(self, name: str):
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.binary(0))
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name == "instance":
            return self.instance(to_text(args[0]))
        if name == "current" and self.tokens and self.tokens[0][1].startswith("/"):
            return self.ctx.lookup(self.resolve(self.take()[1], self.ctx.here))
        if name not in _FUNCTIONS:
            raise Unknown(name)

        return _FUNCTIONS[name](self.ctx, *args)

    def instance(self, list_name: str) -> _Rows:
        # Only the entity-list shape: instance('x')/root/item[col=expr]/col.
        self.take("/root/item")
        rows = list(self.ctx.lists.get(list_name, []))
        if self.peek() == "[":
            self.take()
            column = self.take()[1]
            self.take("=")
            wanted = to_text(self.binary(1))
            self.take("]")
            rows = [row for row in rows if row.get(column, "") == wanted]
        column = ""
        if (self.peek() or "").startswith("/"):
            column = self.take()[1].lstrip("/")

        return _Rows(rows, column)

    def resolve(self, path: str, here: str, absolute: bool = False) -> str:
        if absolute and path.startswith("/") and not path.startswith("/.."):
            return path.strip("/").split("/", 1)[-1]
        segments = here.split("/")
        for step in path.strip("/").split("/"):
            if step == "..":
                segments.pop()
            elif step != ".":
                segments.append(step)

        return "/".join(segments)
