"""OpenRosa as ODK Collect uses it, against a real server on loopback."""

from __future__ import annotations

import re
from types import SimpleNamespace

import requests

from doorstep.server.app import create_app
from doorstep.server.serve import start_in_thread
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.store import Store
from tests.server.conftest import GATE, gate_xml


def _post(server, xml: bytes | None, files=None, **kwargs):
    parts = []
    if xml is not None:
        parts.append(("xml_submission_file", ("submission.xml", xml, "text/xml")))
    parts += files or []

    return requests.post(
        f"{server.url}/submission?deviceID=collect:abc", files=parts, **kwargs
    )


def _message(response) -> str:
    return re.search(r"<message[^>]*>(.*?)</message>", response.text, re.S).group(1)


def test_form_list_is_text_xml_with_openrosa_headers(server):
    response = requests.get(f"{server.url}/formList?deviceID=collect:abc")

    assert response.status_code == 200
    assert "text/xml" in response.headers["Content-Type"]
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers["X-OpenRosa-Accept-Content-Length"] == "200000"
    for tag in ("formID", "name", "version", "hash", "downloadUrl"):
        assert f"<{tag}>" in response.text
    assert "<formID>gate</formID>" in response.text
    assert "<name>Gate log</name>" in response.text


def test_form_list_filters_by_form_id(server):
    assert "<xform>" not in requests.get(f"{server.url}/formList?formID=x").text
    assert "<xform>" in requests.get(f"{server.url}/formList?formID=gate").text


def test_form_download_has_an_etag_and_answers_304_when_unchanged(server):
    listing = requests.get(f"{server.url}/formList").text
    url = re.search(r"<downloadUrl>(.*?)</downloadUrl>", listing).group(1)
    digest = re.search(r"<hash>md5:(.*?)</hash>", listing).group(1)

    first = requests.get(url)
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200
    assert first.headers["ETag"].strip('"') == digest
    assert again.status_code == 304


def test_head_submission_answers_204(server):
    response = requests.head(f"{server.url}/submission?deviceID=collect:abc")

    assert response.status_code == 204
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_new_submission_gets_201_with_a_message(server, deployment):
    response = _post(
        server, gate_xml(), [("p.jpg", ("p.jpg", b"\xff\xd8", "image/jpeg"))]
    )

    assert response.status_code == 201
    assert "stored" in _message(response)
    stored = Store(deployment.data_dir).get("uuid:1")
    assert stored.complete
    assert stored.device_id == "collect:abc"


def test_identical_resend_gets_201_and_no_duplicate(server, deployment):
    _post(server, gate_xml())

    response = _post(server, gate_xml())

    assert response.status_code == 201
    assert Store(deployment.data_dir).count() == 1


def test_different_xml_under_a_stored_id_gets_409(server):
    _post(server, gate_xml())

    response = _post(server, gate_xml(visitor="李"))

    assert response.status_code == 409
    assert "same ID" in _message(response)


def test_unknown_form_gets_404(server):
    response = _post(server, gate_xml().replace(b'id="gate"', b'id="nope"'))

    assert response.status_code == 404
    assert "'nope'" in _message(response)


def test_missing_xml_part_gets_400(server):
    response = _post(server, None, [("p.jpg", ("p.jpg", b"x", "image/jpeg"))])

    assert response.status_code == 400
    assert "xml_submission_file" in _message(response)


def test_malformed_xml_gets_400_naming_the_problem(server):
    response = _post(server, b"<data id='gate'><visitor>")

    assert response.status_code == 400
    assert "malformed" in _message(response)


def test_body_over_the_limit_gets_413_as_openrosa(server):
    big = [("p.jpg", ("p.jpg", b"x" * 300_000, "image/jpeg"))]

    response = _post(server, gate_xml(), big)

    assert response.status_code == 413
    assert response.text.startswith("<?xml")
    assert "OpenRosaResponse" in response.text


def test_misnamed_attachment_part_is_matched_by_its_file_name(server, deployment):
    files = [("file-1", ("p.jpg", b"\xff\xd8", "image/jpeg"))]

    _post(server, gate_xml(), files)

    assert Store(deployment.data_dir).get("uuid:1").complete


def test_chunked_request_body_is_accepted(server, deployment):
    boundary = "b0undary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            'name="xml_submission_file"; filename="s.xml"\r\n'
            "Content-Type: text/xml\r\n\r\n"
        ).encode()
        + gate_xml(photo="")
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks():
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    response = requests.post(
        f"{server.url}/submission",
        data=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 201
    assert Store(deployment.data_dir).count() == 1


def test_real_device_submissions_from_the_corpus_are_accepted(corpus, deployment):
    from pyxform.xls2xform import convert

    from doorstep.sync.registry import FormRegistry

    tutorial = corpus / "onadata-tutorial"
    FormRegistry(deployment.data_dir).publish(
        convert(str(tutorial / "tutorial.xlsx")).xform
    )
    running = start_in_thread(create_app(deployment))
    device = DeviceRegistry(deployment.data_dir).add("tablet-1")
    try:
        answers = [
            _post(
                SimpleNamespace(url=device.url(running.url)),
                (tutorial / name).read_bytes(),
            ).status_code
            for name in ("1.xml", "2.xml", "3.xml", "no_age.xml", "nan_net_worth.xml")
        ]
    finally:
        running.stop()

    assert answers == [201] * 5


def test_without_a_token_only_the_health_check_answers(server):
    assert requests.get(f"{server.base}/health").status_code == 200
    assert requests.get(f"{server.base}/formList").status_code == 404
    assert requests.head(f"{server.base}/submission").status_code == 404


def test_unknown_token_gets_401_with_a_message(server):
    response = requests.get(f"{server.base}/key/not-a-token/formList")

    assert response.status_code == 401
    assert "QR code" in _message(response)


def test_revoked_device_gets_401(server, deployment):
    DeviceRegistry(deployment.data_dir).revoke("tablet-1")

    response = _post(server, gate_xml())

    assert response.status_code == 401
    assert "revoked" in _message(response)
    assert Store(deployment.data_dir).count() == 0


def test_device_sees_and_submits_its_own_forms_only(server, deployment):
    other = DeviceRegistry(deployment.data_dir).add("gate-only", ["other_form"])
    scoped = SimpleNamespace(url=other.url(server.base))

    listing = requests.get(f"{scoped.url}/formList").text
    response = _post(scoped, gate_xml())

    assert "<xform>" not in listing
    assert response.status_code == 403


def test_form_whose_id_is_not_a_plain_name_is_served_and_accepted(deployment):
    from pyxform.xls2xform import convert

    from doorstep.sync.registry import FormRegistry
    from tests.conftest import write_md_form

    path = write_md_form(deployment.root, "住户 登记", GATE.split("| settings |")[0])
    FormRegistry(deployment.data_dir).publish(convert(str(path)).xform)
    running = start_in_thread(create_app(deployment))
    url = DeviceRegistry(deployment.data_dir).add("t").url(running.url)
    try:
        listing = requests.get(f"{url}/formList").text
        download = re.search(r"<downloadUrl>(.*?)</downloadUrl>", listing).group(1)
        form = requests.get(download)
        xml = gate_xml().replace(b'id="gate" version="2"', 'id="住户 登记"'.encode())
        posted = _post(SimpleNamespace(url=url), xml)
    finally:
        running.stop()

    assert "<formID>住户 登记</formID>" in listing
    assert form.status_code == 200
    assert posted.status_code == 201
    assert not any(
        p.name.startswith("住户") for p in (deployment.data_dir / "forms").iterdir()
    )
