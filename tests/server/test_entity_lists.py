"""Entity lists from the last merge, served to tablets as CSV media."""

from __future__ import annotations

import hashlib
import random
import re

import pytest
import requests

from doorstep.forms.simulate import fill
from doorstep.forms.templates import copy_templates
from doorstep.server.app import create_app
from doorstep.server.serve import start_in_thread
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.ingest import Ingest
from doorstep.sync.merge import merge
from doorstep.sync.publish import publish_form
from doorstep.sync.registry import FormRegistry


@pytest.fixture
def tablet(deployment):
    for path in copy_templates(deployment.forms_dir):
        publish_form(deployment, path)
    running = start_in_thread(create_app(deployment))
    yield DeviceRegistry(deployment.data_dir).add("t1").url(running.url)
    running.stop()


def _manifest(url: str, form_id: str) -> dict[str, tuple[str, str, str]]:
    listing = requests.get(f"{url}/formList?formID={form_id}").text
    manifest = re.search(r"<manifestUrl>(.*?)</manifestUrl>", listing).group(1)
    files = re.findall(
        r"<mediaFile( type=\"entityList\")?><filename>(.*?)</filename>"
        r"<hash>md5:(.*?)</hash><downloadUrl>(.*?)</downloadUrl>",
        requests.get(manifest).text,
    )

    return {name: (kind, digest, download) for kind, name, digest, download in files}


def test_follow_up_form_gets_the_residents_list_as_an_entity_list(tablet):
    files = _manifest(tablet, "quarantine_followup")

    kind, digest, download = files["residents.csv"]
    served = requests.get(download).content
    assert kind == ' type="entityList"'
    assert served.startswith(b"name,label,__version")
    assert hashlib.md5(served).hexdigest() == digest


def test_list_follows_the_last_merge_with_the_md5_of_its_content(tablet, deployment):
    before = _manifest(tablet, "quarantine_followup")["residents.csv"][1]
    spec = FormRegistry(deployment.data_dir).get("household_registration").spec
    rng = random.Random(3)
    ingest = Ingest(deployment)
    for _ in range(5):
        filled = fill(spec, rng)
        ingest.submit(filled.xml, filled.attachments, device_id="collect:t1")

    merge(deployment)
    _, after, download = _manifest(tablet, "quarantine_followup")["residents.csv"]

    served = requests.get(download).content
    assert after != before
    assert hashlib.md5(served).hexdigest() == after
    assert len(served.decode("utf-8").splitlines()) > 1
