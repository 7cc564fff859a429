"""Split uploads, form states and media, as Collect meets them on loopback."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests
from click.testing import CliRunner

from doorstep.cli.main import main
from tests.conftest import compile_md
from tests.server.conftest import serving

VISIT = """
| survey |          |          |          |
|        | type     | name     | label    |
|        | text     | building | Building |
|        | image    | door     | Door     |
|        | image    | stairs   | Stairs   |
|        | image    | yard     | Yard     |
| settings |           |         |             |
|          | form_id   | version | form_title  |
|          | visit     | 1       | Stair visit |
"""

PHOTOS = {
    "door.jpg": b"\xff\xd8door",
    "stairs.jpg": b"\xff\xd8stairs",
    "yard.jpg": b"\xff\xd8yard" * 100,
}
MEDIA = {"buildings.csv": b"name,label\n1,Building 1\n", "logo.png": b"\x89PNG-x"}


@pytest.fixture
def server(deployment):
    with serving(deployment, "visit", VISIT, MEDIA) as served:
        yield served


def _xml(instance_id: str = "uuid:v1") -> bytes:
    return (
        '<data id="visit" version="1"><building>2</building>'
        "<door>door.jpg</door><stairs>stairs.jpg</stairs><yard>yard.jpg</yard>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def _part(server, names: list[str], incomplete: bool, xml: bytes | None = None):
    files = [("xml_submission_file", ("submission.xml", xml or _xml(), "text/xml"))]
    files += [(name, (name, PHOTOS[name], "image/jpeg")) for name in names]
    data = {"*isIncomplete*": "yes"} if incomplete else {}

    return requests.post(
        f"{server.url}/submission?deviceID=collect:abc", files=files, data=data
    )


def _message(response) -> str:
    return re.search(r"<message[^>]*>(.*?)</message>", response.text, re.S).group(1)


def _listed(server) -> list[dict]:
    result = CliRunner().invoke(
        main,
        ["--dir", str(server.deployment.root), "submissions", "list", "--json"],
    )
    assert result.exit_code == 0, result.output

    return json.loads(result.output)


def test_split_upload_is_complete_once_every_named_file_arrived(server):
    first = _part(server, ["door.jpg"], incomplete=True)
    assert first.status_code == 201
    assert "Still waiting for 2 file(s)" in _message(first)
    assert [row["complete"] for row in _listed(server)] == [False]

    second = _part(server, ["stairs.jpg"], incomplete=True)
    last = _part(server, ["yard.jpg"], incomplete=False)

    assert (second.status_code, last.status_code) == (201, 201)
    assert "waiting" not in _message(last)
    stored = server.store.get("uuid:v1")
    assert stored.complete and server.store.count() == 1
    for name, data in PHOTOS.items():
        assert server.store.blob_path(stored.attachments[name]).read_bytes() == data
    assert [row["complete"] for row in _listed(server)] == [True]


def test_last_part_arriving_first_still_waits_for_the_others(server):
    _part(server, ["yard.jpg"], incomplete=False)
    assert not server.store.get("uuid:v1").complete

    _part(server, ["door.jpg", "stairs.jpg"], incomplete=True)

    assert server.store.get("uuid:v1").complete


def test_part_of_a_split_upload_with_changed_xml_gets_409(server):
    _part(server, ["door.jpg"], incomplete=True)

    changed = _xml().replace(b"<building>2", b"<building>5")
    response = _part(server, ["stairs.jpg"], incomplete=False, xml=changed)

    assert response.status_code == 409
    assert set(server.store.get("uuid:v1").attachments) == {"door.jpg"}


def test_every_answer_says_its_language(server):
    answers = [
        requests.get(f"{server.url}/formList"),
        requests.head(f"{server.url}/submission"),
        _part(server, [], incomplete=False),
        requests.post(f"{server.url}/submission", data=b"x"),
    ]

    assert [a.headers.get("Content-Language") for a in answers] == ["en"] * 4


def test_closing_form_is_hidden_but_accepts_and_closed_form_refuses(server):
    server.registry.set_state("visit", "closing")
    listing = requests.get(f"{server.url}/formList").text
    accepted = _part(server, [], incomplete=False, xml=_xml("uuid:a"))

    server.registry.set_state("visit", "closed")
    refused = _part(server, [], incomplete=False, xml=_xml("uuid:b"))

    assert "<xform>" not in listing
    assert accepted.status_code == 201
    assert refused.status_code == 409
    assert "closed" in _message(refused)
    assert server.store.get("uuid:b") is None


def test_reopened_form_is_listed_again(server):
    server.registry.set_state("visit", "closed")
    server.registry.set_state("visit", "open")

    assert "<formID>visit</formID>" in requests.get(f"{server.url}/formList").text


def test_manifest_hashes_are_md5_of_the_media_served(server):
    listing = requests.get(f"{server.url}/formList").text
    manifest_url = re.search(r"<manifestUrl>(.*?)</manifestUrl>", listing).group(1)

    manifest = requests.get(manifest_url)
    files = re.findall(
        r"<filename>(.*?)</filename><hash>md5:(.*?)</hash>"
        r"<downloadUrl>(.*?)</downloadUrl>",
        manifest.text,
    )

    assert manifest.status_code == 200
    assert {name for name, _, _ in files} == set(MEDIA)
    for name, digest, url in files:
        served = requests.get(url).content
        assert served == MEDIA[name]
        assert digest == hashlib.md5(served).hexdigest()


def test_version_published_while_serving_is_taken_without_a_flag(server):
    _part(server, [], incomplete=False, xml=_xml("uuid:old"))
    newer = VISIT.replace("| visit     | 1 ", "| visit     | 2 ")
    server.registry.publish(compile_md(server.deployment.root, "visit2", newer))

    xml = _xml("uuid:new").replace(b'version="1"', b'version="2"')
    response = _part(server, [], incomplete=False, xml=xml)

    assert response.status_code == 201
    assert server.store.get("uuid:new").flags == ()
    assert server.store.get("uuid:new").version == "2"
