from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from doorstep.sync.store import Store, StoreConflict


def _put(store: Store, xml: bytes, instance_id: str = "uuid:1", **extra):
    args = dict(
        instance_id=instance_id,
        form_id="gate_log",
        version="1",
        device_id="collect:a",
        expected=[],
        attachments={},
    )
    args.update(extra)

    return store.put(xml, **args)


def test_put_then_get_returns_the_stored_submission(tmp_path: Path):
    store = Store(tmp_path)

    stored, created = _put(store, b"<data/>")

    assert created
    assert store.get("uuid:1") == stored
    assert store.read_xml(stored) == b"<data/>"
    assert store.count() == 1


def test_same_xml_again_is_not_stored_twice(tmp_path: Path):
    store = Store(tmp_path)
    _put(store, b"<data/>")

    _, created = _put(store, b"<data/>")

    assert not created
    assert store.count() == 1


def test_different_xml_under_a_stored_id_is_a_conflict_and_both_bytes_kept(
    tmp_path: Path,
):
    store = Store(tmp_path)
    first, _ = _put(store, b"<data>a</data>")

    with pytest.raises(StoreConflict):
        _put(store, b"<data>b</data>")

    assert store.read_xml(store.get("uuid:1")) == b"<data>a</data>"
    kept = {p.read_bytes() for p in (tmp_path / "submissions").rglob("*.xml")}
    assert kept == {b"<data>a</data>", b"<data>b</data>"}


def test_attachments_from_a_later_part_are_added(tmp_path: Path):
    store = Store(tmp_path)
    _put(store, b"<d/>", expected=["a.jpg", "b.jpg"], attachments={"a.jpg": b"A"})
    assert not store.get("uuid:1").complete

    stored, _ = _put(
        store, b"<d/>", expected=["a.jpg", "b.jpg"], attachments={"b.jpg": b"B"}
    )

    assert stored.complete
    assert set(stored.attachments) == {"a.jpg", "b.jpg"}
    assert store.blob_path(stored.attachments["b.jpg"]).read_bytes() == b"B"


def test_identical_attachments_are_stored_once(tmp_path: Path):
    store = Store(tmp_path)

    _put(store, b"<a/>", "uuid:1", attachments={"x.jpg": b"same"})
    _put(store, b"<b/>", "uuid:2", attachments={"y.jpg": b"same"})

    assert len(list((tmp_path / "blobs").rglob("*"))) == 2  # one folder, one file


def test_edit_marks_its_original_replaced(tmp_path: Path):
    store = Store(tmp_path)
    _put(store, b"<a/>", "uuid:1")

    _put(store, b"<b/>", "uuid:2", deprecated_id="uuid:1")

    assert store.get("uuid:1").replaced_by == "uuid:2"
    assert store.get("uuid:2").replaced_by is None


def test_iter_resumes_after_a_sequence_number(tmp_path: Path):
    store = Store(tmp_path)
    for n in range(5):
        _put(store, f"<a n='{n}'/>".encode(), f"uuid:{n}")

    later = [s.instance_id for s in store.iter(after=store.get("uuid:2").seq)]

    assert later == ["uuid:3", "uuid:4"]


def test_sixteen_threads_posting_one_id_leave_exactly_one(tmp_path: Path):
    store = Store(tmp_path)
    barrier = threading.Barrier(16)
    outcomes = []

    def post() -> None:
        barrier.wait()
        outcomes.append(_put(store, b"<same/>")[1])

    threads = [threading.Thread(target=post) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(True) == 1
    assert store.count() == 1


def _process_put(root: str, n: int) -> None:
    store = Store(Path(root))
    for i in range(20):
        _put(store, f"<a p='{n}' i='{i}'/>".encode(), f"uuid:{n}-{i}")
        _put(store, b"<shared/>", "uuid:shared")


def test_several_processes_share_one_data_directory(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_process_put, args=(str(tmp_path), n)) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert Store(tmp_path).count() == 61


def test_data_files_are_readable_by_their_owner_only(tmp_path: Path):
    store = Store(tmp_path / "data")
    stored, _ = _put(store, b"<a/>")

    mode = store.xml_path(stored.sha256).stat().st_mode & 0o777

    assert mode == 0o600
