"""A small evaluator for the XPath the shipped templates compute with.

The simulator fills calculated fields the way a device would: concat,
today(), date arithmetic, comparisons, look-ups in an entity list. Anything
beyond that raises Unknown (or one of FAILURES), and the simulator leaves
the value empty, as a device that cannot evaluate it would.
"""

from __future__ import annotations

import math
import operator
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from doorstep.forms import fakes

_EPOCH = datetime(1970, 1, 1).date()
# One step of a path: "..", "." or a (possibly attribute) name.
_STEP = r"(?:\.\.|\.|@?[A-Za-z_][\w.:-]*)"
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<=|>=|[=<>+*()\[\],-])"
    rf"|(?P<path>/?{_STEP}(?:/{_STEP})*))"
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
FAILURES = (Unknown, ArithmeticError, LookupError, TypeError, ValueError)


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


def truth(value) -> bool:
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
        left, right = truth(left), truth(right)
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
    "not": lambda ctx, v: not truth(v),
    "boolean": lambda ctx, v: truth(v),
    "number": lambda ctx, v: _number(v),
    "int": lambda ctx, v: float(math.trunc(n)) if math.isfinite(n := _number(v)) else n,
    "string": lambda ctx, v: to_text(v),
    "string-length": lambda ctx, v: float(len(to_text(v))),
    "if": lambda ctx, c, a, b: a if truth(c) else b,
    "coalesce": lambda ctx, a, b: a if to_text(a) else b,
    "once": lambda ctx, v: v,
    "selected": lambda ctx, a, b: to_text(b) in to_text(a).split(),
    "uuid": lambda ctx: random_uuid(ctx.rng),
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
                left = truth(left) or truth(right)
            elif op == "and":
                left = truth(left) and truth(right)
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


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so a simulation can be replayed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
