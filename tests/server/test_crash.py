"""Crash safety: a server killed mid-burst loses nothing it acknowledged.

The server runs as `doorstep serve` in its own process and is killed with
SIGKILL while several tablets are sending; after a restart every submission
that got a 201 is there with exactly its bytes, no file is half-written, and
the resends of everything are taken without a duplicate.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from doorstep.server.app import create_app
from doorstep.server.process import free_port, spawn_serve
from doorstep.server.serve import start_in_thread
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.store import Store
from tests.conftest import publish_md

GATE = """
| survey |          |          |          |
|        | type     | name     | label    |
|        | text     | visitor  | Visitor  |
|        | image    | photo    | Photo    |
| settings |           |         |            |
|          | form_id   | version | form_title |
|          | gate      | 2       | Gate log   |
"""

SENDERS = 4
# Enough acknowledged submissions that the kill lands mid-burst, few enough
# to keep the test to a few seconds on a small machine.
ACKS_BEFORE_KILL = 40
PER_SENDER = 60


def _submission(sender: int, n: int) -> tuple[str, bytes, bytes]:
    instance_id = f"uuid:crash-{sender}-{n}"
    xml = (
        f'<data id="gate" version="2"><visitor>v{sender}-{n}</visitor>'
        f"<photo>p.jpg</photo><meta><instanceID>{instance_id}</instanceID>"
        "</meta></data>"
    ).encode()
    photo = hashlib.sha256(instance_id.encode()).digest() * 1000

    return instance_id, xml, photo


def _post(url: str, xml: bytes, photo: bytes) -> int:
    files = [
        ("xml_submission_file", ("submission.xml", xml, "text/xml")),
        ("p.jpg", ("p.jpg", photo, "image/jpeg")),
    ]

    return requests.post(f"{url}/submission", files=files, timeout=10).status_code


@pytest.fixture
def gate(deployment):
    publish_md(deployment, "gate", GATE)
    device = DeviceRegistry(deployment.data_dir).add("tablet-1")

    return SimpleNamespace(deployment=deployment, device=device)


def _burst(
    url: str, acked: dict, sent: dict, stop: threading.Event
) -> list[threading.Thread]:
    lock = threading.Lock()

    def sender(number: int) -> None:
        for n in range(PER_SENDER):
            if stop.is_set():
                return
            instance_id, xml, photo = _submission(number, n)
            with lock:
                sent[instance_id] = (xml, photo)
            try:
                status = _post(url, xml, photo)
            except requests.RequestException:
                return
            if status == 201:
                with lock:
                    acked[instance_id] = (xml, photo)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()

    return threads


def test_kill_mid_burst_loses_nothing_acknowledged_and_resends_are_taken(
    gate, tmp_path
):
    root, log = gate.deployment.root, tmp_path / "serve.log"
    port = free_port()
    url = gate.device.url(f"http://127.0.0.1:{port}")
    server = spawn_serve(root, port=port, log=log)
    acked, sent, stop = {}, {}, threading.Event()

    threads = _burst(url, acked, sent, stop)
    deadline = time.monotonic() + 20
    while len(acked) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(15)

    assert acked, "no submission was acknowledged before the kill"
    data = gate.deployment.data_dir
    _assert_acknowledged_are_whole(Store(data), acked)
    _assert_no_half_written_file(data)

    server = spawn_serve(root, port=port, log=log)
    try:
        resent = {i: _post(url, xml, photo) for i, (xml, photo) in sent.items()}
    finally:
        server.stop()

    assert set(resent.values()) == {201}
    store = Store(data)
    assert store.count() == len(sent)
    assert all(store.get(i).complete for i in sent)


def _assert_acknowledged_are_whole(store: Store, acked: dict) -> None:
    for instance_id, (xml, photo) in acked.items():
        stored = store.get(instance_id)
        assert stored is not None, f"{instance_id} got a 201 but was lost"
        assert store.read_xml(stored) == xml
        assert store.blob_path(stored.attachments["p.jpg"]).read_bytes() == photo


def _assert_no_half_written_file(data: Path) -> None:
    checked = 0
    for path in [*(data / "submissions").rglob("*"), *(data / "blobs").rglob("*")]:
        if path.is_dir() or path.name.startswith(".tmp-"):
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.name.removesuffix(".xml") == digest, f"{path} is not whole"
        checked += 1
    assert checked > 0

    with sqlite3.connect(data / "index.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sixteen_clients_posting_one_id_at_once_leave_exactly_one(deployment):
    publish_md(deployment, "gate", GATE)
    device = DeviceRegistry(deployment.data_dir).add("tablet-1")
    running = start_in_thread(create_app(deployment))
    url = device.url(running.url)
    _, xml, photo = _submission(0, 0)
    barrier = threading.Barrier(16)
    statuses = []

    def post() -> None:
        barrier.wait(10)
        statuses.append(_post(url, xml, photo))

    try:
        _all_at_once([threading.Thread(target=post) for _ in range(16)])
    finally:
        running.stop()

    assert statuses == [201] * 16
    store = Store(deployment.data_dir)
    assert store.count() == 1
    assert len(store.get("uuid:crash-0-0").attachments) == 1
    assert os.listdir(deployment.data_dir / "blobs")


def test_conflicts_in_a_crowd_undo_only_themselves(deployment):
    publish_md(deployment, "gate", GATE)
    device = DeviceRegistry(deployment.data_dir).add("tablet-1")
    running = start_in_thread(create_app(deployment))
    url = device.url(running.url)
    contested = [
        _submission(0, 0)[1].replace(b"v0-0", f"rival-{n}".encode()) for n in range(8)
    ]
    distinct = [_submission(1, n) for n in range(8)]
    barrier = threading.Barrier(16)
    statuses: dict[str, int] = {}

    def post(key: str, xml: bytes, photo: bytes) -> None:
        barrier.wait(10)
        statuses[key] = _post(url, xml, photo)

    jobs = [(f"rival-{n}", xml, b"photo") for n, xml in enumerate(contested)]
    jobs += [(instance_id, xml, photo) for instance_id, xml, photo in distinct]
    try:
        _all_at_once([threading.Thread(target=post, args=job) for job in jobs])
    finally:
        running.stop()

    rivals = [statuses[f"rival-{n}"] for n in range(8)]
    assert sorted(rivals) == [201] + [409] * 7
    assert all(statuses[instance_id] == 201 for instance_id, _, _ in distinct)
    assert Store(deployment.data_dir).count() == 9


def _all_at_once(threads: list[threading.Thread]) -> None:
    """Start the posting threads (they meet at a barrier) and wait for all."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
