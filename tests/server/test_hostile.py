"""Hostile and broken uploads against a real server on loopback.

Each is refused with an OpenRosa message a volunteer can read, nothing lands
outside the data directory, and the server answers the next good request.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import pytest
import requests

from tests.server.conftest import gate_xml


def _post(server, xml: bytes | None, files=None, kind: str = "text/xml", **kwargs):
    parts = []
    if xml is not None:
        parts.append(("xml_submission_file", ("submission.xml", xml, kind)))
    parts += files or []

    return requests.post(f"{server.url}/submission", files=parts, **kwargs)


def _message(response) -> str:
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers["Content-Language"]
    assert "<OpenRosaResponse" in response.text

    return re.search(r"<message[^>]*>(.*?)</message>", response.text, re.S).group(1)


def _still_serving(server, instance_id: str = "uuid:good") -> None:
    response = _post(server, gate_xml(instance_id, photo=""))

    assert response.status_code == 201, response.text
    assert server.store.get(instance_id) is not None


def _files_outside_data(root: Path) -> set[Path]:
    data = root / "data"
    return {p for p in root.rglob("*") if p.is_file() and data not in p.parents}


# Error bodies: every status a volunteer can meet is an OpenRosaResponse.


def test_unknown_token_gets_401_telling_the_volunteer_to_rescan(server):
    response = requests.get(f"{server.base}/key/nope/formList")

    assert response.status_code == 401
    assert "QR code" in _message(response)


def test_unknown_address_under_a_key_gets_404_in_plain_words(server):
    response = requests.get(f"{server.url}/no-such-page")

    assert response.status_code == 404
    assert "server URL" in _message(response)


def test_wrong_method_gets_405_in_plain_words(server):
    response = requests.put(f"{server.url}/submission", data=b"x")

    assert response.status_code == 405
    assert "PUT" in _message(response)


def test_conflicting_resend_gets_409_naming_the_problem(server):
    _post(server, gate_xml(photo=""))

    response = _post(server, gate_xml(photo="").replace("王".encode(), b"Li"))

    assert response.status_code == 409
    assert "different submission" in _message(response)


def test_unexpected_failure_gets_500_logged_once_and_not_leaked(server, caplog):
    # A file where the submissions folder belongs: the store cannot write.
    (server.root / "data" / "submissions").write_bytes(b"")

    with caplog.at_level(logging.ERROR):
        response = _post(server, gate_xml(photo=""))

    assert response.status_code == 500
    message = _message(response)
    assert "nothing was stored" in message
    assert "Traceback" not in response.text and "Error" not in response.text
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1
    assert server.token not in caplog.text


# Hostile XML.


def test_external_entity_is_refused_and_not_resolved(server):
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE data [<!ENTITY x SYSTEM '
        b'"file:///etc/passwd">]><data id="gate" version="2"><visitor>&x;'
        b"</visitor><meta><instanceID>uuid:x</instanceID></meta></data>"
    )

    response = _post(server, xxe)

    assert response.status_code == 400
    assert "DTD" in _message(response)
    assert "root:" not in response.text
    assert server.store.count() == 0
    _still_serving(server)


def test_billion_laughs_is_refused_without_expanding(server):
    levels = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE data [<!ENTITY l0 "lol">{levels}]>'
        '<data id="gate" version="2"><visitor>&l9;</visitor></data>'
    ).encode()

    response = _post(server, bomb)

    assert response.status_code == 400
    assert "entities" in _message(response)
    _still_serving(server)


def test_xml_past_the_size_limit_gets_413(server):
    huge = gate_xml(photo="").replace(b"<building>", b"<building>" + b"9" * 300_000)

    response = _post(server, huge)

    assert response.status_code == 413
    assert "larger than this server accepts" in _message(response)
    assert server.store.count() == 0
    _still_serving(server)


@pytest.mark.parametrize("kind", ["iso-8859-1-undeclared", "gbk-declared"])
def test_xml_that_is_not_utf8_is_refused_as_such(server, kind):
    if kind == "gbk-declared":
        xml = b'<?xml version="1.0" encoding="GBK"?>' + gate_xml().decode().replace(
            "王", "张"
        ).encode("gbk")
    else:
        xml = gate_xml().decode().replace("王", "José").encode("latin-1")

    response = _post(server, xml)

    assert response.status_code == 400
    assert "UTF-8" in _message(response)
    assert server.store.count() == 0
    _still_serving(server)


# Attachment names: none chooses a path, all keep only a base name.


@pytest.mark.parametrize(
    "name",
    ["../../../escape.jpg", "/tmp/escape.jpg", "..\\..\\escape.jpg", "C:\\escape.jpg"],
)
def test_attachment_name_with_a_path_is_kept_by_its_base_name_only(server, name):
    before = _files_outside_data(server.root)
    parts = [("xml_submission_file", "s.xml", gate_xml(photo="escape.jpg"))]

    response = _raw_post(server, parts + [("escape.jpg", name, b"\xff\xd8photo")])

    assert response.status_code == 201, response.text
    assert set(server.store.get("uuid:1").attachments) == {"escape.jpg"}
    assert server.store.get("uuid:1").complete
    assert _files_outside_data(server.root) == before
    assert not Path("/tmp/escape.jpg").exists()


@pytest.mark.parametrize(
    "name", ["..", ".", "a/..", "esc\x00ape.jpg", "tab\tname.jpg", "x" * 300 + ".jpg"]
)
def test_attachment_without_a_usable_name_is_refused_with_400(server, name):
    parts = [("xml_submission_file", "s.xml", gate_xml())]

    response = _raw_post(server, parts + [("photo", name, b"\xff\xd8photo")])

    assert response.status_code == 400
    assert "file name" in _message(response)
    assert server.store.count() == 0
    _still_serving(server)


def _raw_post(server, parts: list[tuple[str, str, bytes]]):
    # Built by hand so that names reach the server byte for byte, as a
    # hostile client would send them, not as requests would escape them.
    boundary = "hostile-boundary"
    body = b""
    for field, filename, data in parts:
        body += (
            (
                f"--{boundary}\r\nContent-Disposition: form-data; "
                f'name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()

    return requests.post(
        f"{server.url}/submission",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_empty_attachment_part_is_not_taken_as_the_file(server):
    files = [("p.jpg", ("p.jpg", b"", "image/jpeg"))]

    response = _post(server, gate_xml(), files)

    assert response.status_code == 201
    assert "p.jpg" in _message(response)
    assert not server.store.get("uuid:1").complete


def test_empty_xml_part_gets_400(server):
    response = _post(server, b"")

    assert response.status_code == 400
    assert "empty" in _message(response)


def test_too_many_parts_are_refused_with_413(server):
    files = [(f"f{n}.jpg", (f"f{n}.jpg", b"x", "image/jpeg")) for n in range(1500)]

    response = _post(server, gate_xml(), files)

    assert response.status_code == 413
    assert "OpenRosaResponse" in response.text
    assert server.store.count() == 0
    _still_serving(server)


# Content types.


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"xml_submission_file": "<data/>"}'),
        ("text/plain", b"hello"),
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),
    ],
)
def test_body_that_is_not_a_multipart_submission_gets_400(server, content_type, body):
    response = requests.post(
        f"{server.url}/submission", data=body, headers={"Content-Type": content_type}
    )

    assert response.status_code == 400
    assert "multipart" in _message(response)
    _still_serving(server)


@pytest.mark.parametrize(
    "kind", ["text/xml", "application/xml", "application/octet-stream", "text/plain"]
)
def test_xml_part_is_read_whatever_its_declared_type(server, kind):
    response = _post(server, gate_xml(photo=""), kind=kind)

    assert response.status_code == 201


def test_xml_part_sent_as_a_plain_field_is_accepted(server):
    response = requests.post(
        f"{server.url}/submission",
        files={"xml_submission_file": (None, gate_xml(photo=""))},
    )

    assert response.status_code == 201
    assert server.store.count() == 1


# Broken connections.


def test_body_cut_off_halfway_stores_nothing_and_the_server_goes_on(server):
    body = _multipart(gate_xml("uuid:cut", photo=""), "b0undary")
    head = (
        f"POST /key/{server.token}/submission HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n"
        f"Content-Length: {len(body) + 5000}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(head + body[: len(body) // 2])

    _still_serving(server)
    assert server.store.get("uuid:cut") is None
    assert server.store.count() == 1


def _multipart(xml: bytes, boundary: str) -> bytes:
    return (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            'name="xml_submission_file"; filename="s.xml"\r\n'
            "Content-Type: text/xml\r\n\r\n"
        ).encode()
        + xml
        + f"\r\n--{boundary}--\r\n".encode()
    )
