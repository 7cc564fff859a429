"""Invented but plausible values for simulated submissions.

Names are drawn from common surnames and given-name syllables, so they read
like a neighbourhood register while naming no one in particular. ID card
numbers carry a valid checksum over an invented birth date; phone numbers use
real mobile prefixes. Images are generated here, byte by byte, so a
simulation needs no file from anywhere.
"""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from datetime import date, datetime, timedelta, timezone

from doorstep.forms.spec import Field

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁"
GIVEN = (
    "建国 建华 国强 志明 秀英 桂兰 玉兰 淑珍 红梅 海燕 丽华 晓东 晓燕 文静 "
    "子轩 浩然 欣怡 梓涵 雨桐 宇航 俊杰 佳怡 思远 明辉 春生 秋菊 冬梅 立新"
).split()
MOBILE_PREFIXES = ("130", "135", "136", "138", "139", "150", "158", "186", "189")

# Beijing districts' area codes: 东城 西城 朝阳 丰台 石景山 海淀.
_AREA_CODES = ("110101", "110102", "110105", "110106", "110107", "110108")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

BEIJING = timezone(timedelta(hours=8))
CITIES = ("武汉", "孝感", "黄冈", "荆州", "郑州", "长沙", "杭州", "广州", "石家庄")
# A compound in Chaoyang; points scatter over a few hundred metres of it.
_COMPOUND = (39.9219, 116.4435)
_RANGE = re.compile(r"\.\s*(>=?)\s*(-?[\d.]+)\s+and\s+\.\s*(<=?)\s*(-?[\d.]+)")
_REGEX = re.compile(r"regex\(\s*\.\s*,\s*'([^']*)'\s*\)")

PHRASES = (
    "无",
    "已电话联系",
    "家中有老人，需要关照",
    "已告知居家隔离要求",
    "门口张贴通知",
    "情况正常",
)


def person_name(rng: random.Random) -> str:
    """An invented Chinese name such as 王建国."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number."""
    return rng.choice(MOBILE_PREFIXES) + "".join(
        str(rng.randrange(10)) for _ in range(8)
    )


def id_card(rng: random.Random, birth_year: int | None = None) -> str:
    """An 18-character resident ID number with a valid check character."""
    year = birth_year or rng.randint(1940, 2015)
    born = date(year, 1, 1) + timedelta(days=rng.randrange(365))
    body = rng.choice(_AREA_CODES) + born.strftime("%Y%m%d")
    body += f"{rng.randrange(1000):03d}"

    return body + id_check(body)


def id_check(first17: str) -> str:
    """The check character of an ID number's first 17 digits (GB 11643)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))

    return _ID_CHECK[total % 11]


def room(rng: random.Random) -> str:
    """A flat number on floors 1-6, two doors per landing: 101 .. 602.

    Twelve rooms per unit keep the set of flats small, so simulated
    volunteers often register the same flat, as real ones do.
    """
    return f"{rng.randint(1, 6)}0{rng.randint(1, 2)}"


def png(rng: random.Random, size: int = 8) -> bytes:
    """A small, valid PNG image of random colours."""
    rows = b"".join(
        b"\x00" + bytes(rng.randrange(256) for _ in range(size * 3))
        for _ in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)

    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def answer(
    spec_field: Field,
    rng: random.Random,
    *,
    when: datetime,
    lists: dict[str, list[dict[str, str]]],
    files: dict[str, bytes] | None,
) -> str:
    """A plausible answer to ``spec_field`` as the instance writes it.

    An attachment's bytes go into ``files`` under the name the answer gives;
    with ``files`` None, attachment fields stay unanswered.
    """
    return _Answer(spec_field, rng, when, lists, files).draw()


class _Answer:
    """Draws one field's value from its type, constraint and name."""

    def __init__(self, spec_field, rng, when, lists, files) -> None:
        self.field = spec_field
        self.rng = rng
        self.when = when
        self.lists = lists
        self.files = files
        labels = " ".join(spec_field.labels.values())
        self.words = f"{spec_field.name} {labels}".lower()

    def draw(self) -> str:
        kind = self.field.type
        method = getattr(self, f"_{kind}", None)
        if method is None:
            return self._string()

        return method()

    def _bounds(self, low: float, high: float, step: float) -> tuple[float, float]:
        match = _RANGE.search(self.field.constraint or "")
        if not match:
            return low, high
        lo = float(match.group(2)) + (0 if match.group(1) == ">=" else step)
        hi = float(match.group(4)) - (0 if match.group(3) == "<=" else step)
        if low > hi or high < lo:
            # The name suggests values the constraint forbids: it wins.
            return lo, hi

        return max(lo, low), min(hi, high)

    def _int(self) -> str:
        named = (
            ("year", 1940, 2015),
            ("age", 1, 90),
            ("unit", 1, 3),
            ("单元", 1, 3),
            ("size", 1, 6),
            ("opening", 50, 500),
            ("received", 0, 200),
            ("issued", 0, 50),
        )
        low, high = self._bounds(*self._named_range(named, (0, 10)), 1)

        return str(self.rng.randint(math.ceil(low), math.floor(high)))

    def _decimal(self) -> str:
        named = (("temp", 36.0, 37.6), ("体温", 36.0, 37.6))
        low, high = self._bounds(*self._named_range(named, (0.0, 100.0)), 0.1)

        return f"{self.rng.uniform(low, high):.1f}"

    def _named_range(self, named, default) -> tuple[float, float]:
        for word, low, high in named:
            if word in self.words:
                return low, high

        return default

    def _date(self) -> str:
        days = 365 * self.rng.randint(20, 80) if "birth" in self.words else 0
        days += self.rng.randint(0, 20)

        return (self.when.date() - timedelta(days=days)).isoformat()

    def _dateTime(self) -> str:  # noqa: N802 - named after the XForm type
        return iso(self.when - timedelta(minutes=self.rng.randint(0, 600)))

    def _time(self) -> str:
        moment = self.when - timedelta(minutes=self.rng.randint(0, 600))

        return moment.strftime("%H:%M:%S.000+08:00")

    def _geopoint(self) -> str:
        lat = _COMPOUND[0] + self.rng.uniform(-0.002, 0.002)
        lon = _COMPOUND[1] + self.rng.uniform(-0.002, 0.002)

        return f"{lat:.6f} {lon:.6f} 45.0 {self.rng.randint(3, 15)}.0"

    def _geotrace(self) -> str:
        return ";".join(self._geopoint() for _ in range(3))

    def _geoshape(self) -> str:
        points = [self._geopoint() for _ in range(3)]

        return ";".join([*points, points[0]])

    def _select_one(self) -> str:
        names = self._choice_names()

        return self.rng.choice(names) if names else ""

    def _select_multiple(self) -> str:
        names = self._choice_names()
        if not names:
            return ""
        if "none" in names:
            # "None" is an answer on its own, never beside a symptom or need.
            if self.rng.random() < 0.5:
                return "none"
            names = [n for n in names if n != "none"] or ["none"]
        picked = self.rng.sample(names, self.rng.randint(1, min(3, len(names))))

        return " ".join(n for n in names if n in picked)

    def _choice_names(self) -> list[str]:
        if self.field.choices:
            return [c.name for c in self.field.choices if c.name]
        if not self.field.choice_file:
            return []
        stem = self.field.choice_file.rsplit(".", 1)[0]
        rows = self.lists.get(stem)
        if rows:
            return [row["name"] for row in rows if row.get("name")]

        return [self._invented_key(stem)]

    def _invented_key(self, stem: str) -> str:
        flat = f"{self.rng.randint(1, 6)}-{self.rng.randint(1, 3)}-"
        flat += room(self.rng)
        if "resident" in stem:
            return f"{flat}-{person_name(self.rng)}"
        if "household" in stem:
            return flat

        return f"{stem}-{self.rng.randint(1, 50)}"

    def _binary(self) -> str:
        if self.files is None:
            return ""
        name = f"{self.field.name}-{self.rng.randrange(10**8):08d}.png"
        self.files[name] = png(self.rng)

        return name

    def _barcode(self) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(12))

    def _string(self) -> str:
        candidates = self._string_candidates()
        pattern = _REGEX.search(self.field.constraint or "")
        for value in candidates:
            if pattern is None or re.search(pattern.group(1), value):
                return value

        return ""

    def _string_candidates(self) -> list[str]:
        words, rng = self.words, self.rng
        if "phone" in words or "电话" in words or "手机" in words:
            return [mobile(rng)]
        if "id_number" in words or "身份证" in words or "id card" in words:
            return [id_card(rng)]
        if "name" in words or "姓名" in words:
            return [person_name(rng)]
        if "building" in words or "楼栋" in words:
            number = rng.randint(1, 6)
            return [f"{number}号楼", str(number)]
        if "city" in words or "市" in words:
            return [rng.choice(CITIES)]
        if "room" in words or "房间" in words:
            return [room(rng)]
        if "unit" in words or "单元" in words:
            return [str(rng.randint(1, 3))]

        return [rng.choice(PHRASES), str(rng.randint(1, 99))]


def iso(moment: datetime) -> str:
    """``moment`` as an XForms dateTime in Beijing time."""
    return moment.astimezone(BEIJING).isoformat(timespec="milliseconds")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
