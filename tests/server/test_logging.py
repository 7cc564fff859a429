"""What `doorstep serve` logs: one line per submission, no personal value."""

from __future__ import annotations

import re

import requests

from doorstep.server.process import spawn_serve
from doorstep.sync.devices import DeviceRegistry
from tests.conftest import publish_md

REGISTRATION = """
| survey |          |            |          |
|        | type     | name       | label    |
|        | text     | head_name  | Name     |
|        | text     | phone      | Phone    |
|        | text     | building   | Building |
| settings |              |         |
|          | form_id      | version |
|          | registration | 1       |
"""

NAME, PHONE = "Ouyang Zhenhua", "13987654321"
LINE = re.compile(
    r" doorstep\.server\.openrosa submission device=(\S+) form=(\S+) "
    r"instance=(\S+) outcome=(\S+) ms=\d+\.\d$"
)


def _xml(instance_id: str, name: str = NAME) -> bytes:
    return (
        f'<data id="registration" version="1"><head_name>{name}</head_name>'
        f"<phone>{PHONE}</phone><building>4</building>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def _send(url: str, xml: bytes | None) -> int:
    files = (
        {"xml_submission_file": ("s.xml", xml, "text/xml")}
        if xml
        else {"photo": ("p.jpg", f"{NAME} {PHONE}".encode(), "image/jpeg")}
    )

    answer = requests.post(f"{url}/submission?deviceID=collect:x", files=files)

    return answer.status_code


def test_serve_logs_one_line_per_submission_and_no_personal_value(deployment, tmp_path):
    publish_md(deployment, "registration", REGISTRATION)
    device = DeviceRegistry(deployment.data_dir).add("tablet-7")
    log = tmp_path / "serve.log"
    server = spawn_serve(deployment.root, log=log)
    url = device.url(server.url)
    try:
        statuses = [
            _send(url, _xml("uuid:log-1")),
            _send(url, _xml("uuid:log-1")),
            _send(url, _xml("uuid:log-1", name=NAME + " Jr")),
            _send(url, _xml("uuid:log-2")[:-20]),
            _send(url, None),
        ]
    finally:
        server.stop()

    text = log.read_text(encoding="utf-8")
    lines = [m.groups() for m in map(LINE.search, text.splitlines()) if m]
    assert statuses == [201, 201, 409, 400, 400]
    assert [outcome for *_, outcome in lines] == [
        "created",
        "duplicate",
        "conflict",
        "malformed",
        "no_xml_part",
    ]
    assert lines[0][:3] == ("tablet-7", "registration", "uuid:log-1")
    assert NAME not in text and "Ouyang" not in text
    assert PHONE not in text
    assert device.token not in text
