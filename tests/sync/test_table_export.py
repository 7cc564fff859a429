from __future__ import annotations

import csv

import pytest

from doorstep.sync.ingest import Ingest
from doorstep.sync.table_export import ExportError, export_table
from tests.conftest import publish_md

FAMILY = """
| survey |              |          |          |
|        | type         | name     | label    |
|        | text         | building | Building |
|        | begin group  | head     | Head     |
|        | text         | name     | Name     |
|        | end group    |          |          |
|        | begin repeat | member   | Member   |
|        | text         | name     | Name     |
|        | begin repeat | phone    | Phone    |
|        | text         | number   | Number   |
|        | end repeat   |          |          |
|        | end repeat   |          |          |
| settings |          |         |
|          | form_id  | version |
|          | family   | 1       |
"""


def _member(name: str, *numbers: str) -> str:
    phones = "".join(f"<phone><number>{n}</number></phone>" for n in numbers)
    return f"<member><name>{name}</name>{phones}</member>"


def _xml(instance_id: str, *members: str, extra: str = "") -> bytes:
    return (
        f'<data id="family" version="1"><building>3</building>'
        f"<head><name>张伟</name></head>{''.join(members)}"
        f"<meta><instanceID>{instance_id}</instanceID>{extra}</meta></data>"
    ).encode()


def _read(path):
    with path.open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_export_writes_one_table_per_repeat_joined_by_keys(deployment, tmp_path):
    publish_md(deployment, "family", FAMILY)
    Ingest(deployment).submit(
        _xml("uuid:1", _member("李娜", "13800000001", "13800000002"), _member("王芳")),
        {},
        device_id="collect:t1",
    )

    paths = export_table(deployment, "family", tmp_path / "out")

    main, members, phones = (_read(p) for p in paths)
    assert [p.name for p in paths] == [
        "family.csv",
        "family-member.csv",
        "family-phone.csv",
    ]
    assert main[0]["head-name"] == "张伟"
    assert main[0]["KEY"] == "uuid:1"
    assert main[0]["DeviceID"] == "collect:t1"
    assert main[0]["FormVersion"] == "1"
    assert [m["KEY"] for m in members] == ["uuid:1/member[1]", "uuid:1/member[2]"]
    assert {m["PARENT_KEY"] for m in members} == {"uuid:1"}
    assert [p["PARENT_KEY"] for p in phones] == ["uuid:1/member[1]"] * 2
    assert phones[1]["KEY"] == "uuid:1/member[1]/phone[2]"
    assert phones[1]["number"] == "13800000002"


def test_export_keeps_only_the_latest_edit(deployment, tmp_path):
    publish_md(deployment, "family", FAMILY)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:1", _member("a")), {})
    ingest.submit(
        _xml("uuid:2", _member("b"), extra="<deprecatedID>uuid:1</deprecatedID>"), {}
    )

    main = _read(export_table(deployment, "family", tmp_path)[0])

    assert [row["KEY"] for row in main] == ["uuid:2"]


def test_export_of_an_unknown_form_says_where_to_look(deployment, tmp_path):
    with pytest.raises(ExportError, match="forms list"):
        export_table(deployment, "nope", tmp_path)


def test_export_masks_phone_numbers_unless_asked(deployment, tmp_path):
    publish_md(deployment, "contact", CONTACT)
    xml = (
        '<data id="contact" version="1"><name>李娜</name><phone>13812345678</phone>'
        "<meta><instanceID>uuid:c</instanceID></meta></data>"
    ).encode()
    Ingest(deployment).submit(xml, {})

    masked = _read(export_table(deployment, "contact", tmp_path / "m")[0])
    full = _read(export_table(deployment, "contact", tmp_path / "f", unmasked=True)[0])

    assert masked[0]["phone"] == "138****5678"
    assert full[0]["phone"] == "13812345678"
    assert masked[0]["name"] == "李娜"


CONTACT = """
| survey |       |       |       |
|        | type  | name  | label |
|        | text  | name  | Name  |
|        | text  | phone | Phone |
| settings |         |         |
|          | form_id | version |
|          | contact | 1       |
"""
