"""Reading stored submissions into the state's entries: cached, else parsed.

The merge reads the store's index in batches. Each submission's facts are
looked up in the facts cache (merge_cache); the rest are parsed, by one
spawned process per core when a window of batches holds many of them, and
their facts added to the cache. Workers read the XML files themselves, so
the parent only moves index rows and small packed facts.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from itertools import islice

from doorstep.forms.instance import InstanceError, parse_instance
from doorstep.forms.xml import XMLError
from doorstep.sync import merge_cache
from doorstep.sync.deployment import Deployment
from doorstep.sync.merge_extract import building_path, extract
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import IndexRow, Store

log = logging.getLogger(__name__)

BATCH = 2000
# Fewer submissions to parse than this in a window are parsed in-process:
# spawning workers costs about a second.
PARALLEL_FROM = 5000

Batch = tuple[int, list[merge_cache.Entry], list[str]]


class _Forms:
    """Each form version's spec and building field, looked up once."""

    def __init__(self, deployment: Deployment, building_field: dict) -> None:
        self.registry = FormRegistry(deployment.data_dir)
        self.building_field = building_field
        self.found: dict[tuple[str, str], tuple | None] = {}

    def get(self, form_id: str, version: str):
        """(spec, building path) of the form a submission was filled in, or None."""
        key = (form_id, version)
        if key not in self.found:
            form = self.registry.get(form_id, version) or self.registry.get(form_id)
            configured = self.building_field.get(form_id)
            self.found[key] = (
                None
                if form is None
                else (form.spec, building_path(form.spec, configured))
            )

        return self.found[key]


def read_batches(
    deployment: Deployment, settings: dict, db, cursor: int
) -> Iterator[Batch]:
    """(last seq, entries, unreadable ids) per batch stored after ``cursor``."""
    store = Store(deployment.data_dir)
    forms = _Forms(deployment, settings["building_field"])
    rows = store.iter_index(after=cursor)
    pool = None
    try:
        batches = iter(lambda: list(islice(rows, BATCH)), [])
        while window := list(islice(batches, 4)):
            split = [_split(batch, forms, db) for batch in window]
            misses = [m for _, _, m, _ in split]
            if pool is None and sum(map(len, misses)) >= PARALLEL_FROM:
                pool = _start_pool(deployment, settings)
            parsed = (
                pool.map(_worker_parse, misses)
                if pool
                else [_parse(forms, store, m) for m in misses]
            )
            for (batch, hits, miss, unreadable), packed in zip(
                split, parsed, strict=True
            ):
                yield _combine(db, batch, hits, miss, unreadable, packed)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _split(batch: list[IndexRow], forms: _Forms, db):
    """(batch, cached facts, rows to parse with their keys, unreadable ids)."""
    keyed, unreadable = [], []
    for row in batch:
        found = forms.get(row.form_id, row.version)
        if found is None:
            log.warning("submission %s: its form is not published", row.instance_id)
            unreadable.append(row.instance_id)
            continue
        spec, building = found
        keyed.append((merge_cache.cache_key(row.sha256, spec.md5, building), row))
    cached = merge_cache.lookup(db, [key for key, _ in keyed])
    hits = [
        merge_cache.unpack(cached[key], row.instance_id, row.device_id, row.received)
        for key, row in keyed
        if key in cached
    ]
    misses = [(key, row) for key, row in keyed if key not in cached]

    return batch, hits, misses, unreadable


def _combine(db, batch, hits, misses, unreadable, packed) -> Batch:
    facts = list(hits)
    fresh = []
    for (key, row), data in zip(misses, packed, strict=True):
        if data is None:
            unreadable.append(row.instance_id)
            continue
        fresh.append((key, data))
        facts.append(
            merge_cache.unpack(data, row.instance_id, row.device_id, row.received)
        )
    merge_cache.store(db, fresh)

    return batch[-1].seq, facts, unreadable


def _parse(forms: _Forms, store: Store, misses: list) -> list[bytes | None]:
    return [_packed_facts(forms, store, row) for _, row in misses]


def _packed_facts(forms: _Forms, store: Store, row: IndexRow) -> bytes | None:
    spec, building = forms.get(row.form_id, row.version)
    try:
        instance = parse_instance(store.xml_path(row.sha256).read_bytes())
    except (OSError, InstanceError, XMLError) as err:
        log.warning("submission %s cannot be read: %s", row.instance_id, err)
        return None
    facts = extract(
        spec,
        instance,
        device_id=row.device_id,
        received=row.received,
        building_field=building,
    )

    return merge_cache.pack(facts)


def _start_pool(deployment: Deployment, settings: dict):
    # Spawned, not forked: the server merges from a threaded process, and
    # a fork there can inherit a lock some other thread holds.
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2:
        return None
    context = multiprocessing.get_context("spawn")

    return context.Pool(workers, _start_worker, (deployment, settings))


_worker: tuple[_Forms, Store] | None = None


def _start_worker(deployment: Deployment, settings: dict) -> None:
    global _worker
    _worker = (
        _Forms(deployment, settings["building_field"]),
        Store(deployment.data_dir),
    )


def _worker_parse(misses: list) -> list[bytes | None]:
    forms, store = _worker

    return _parse(forms, store, misses)
