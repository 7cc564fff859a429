"""Merge: stored submissions into entities and per-building ledgers.

The ledgers are a pure function of the set of accepted submissions and the
ledger settings (see DESIGN.md, "Merge: the rules"). A merge reads only what
arrived since the last one (the store's seq, saved as a cursor in the merge
state), folds again only the entities those submissions touched, and writes
again only the workbooks of the buildings they touched. Changing the ledger
settings, or ``rebuild=True``, starts over from the first submission.

Written under ``data/ledgers/``: one workbook per building, ``lists/<list>.csv``
per entity list (the ODK entity-list format served to tablets), and
``merge.json``, the summary of the state.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

from doorstep.forms.instance import InstanceError, parse_instance
from doorstep.forms.spec import FormSpec
from doorstep.forms.xml import XMLError
from doorstep.sync.deployment import Deployment
from doorstep.sync.files import write_atomic
from doorstep.sync.ledgers import write_ledgers
from doorstep.sync.merge_extract import Facts, building_path, extract
from doorstep.sync.merge_state import EVERY_BUILDING, FORMAT, MergeState
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import IndexRow, Store

log = logging.getLogger(__name__)

SUMMARY_FILE = "merge.json"
_BATCH = 2000
_PARALLEL_FROM = 20_000


@dataclass
class MergeSummary:
    """What the ledgers hold after a merge, and what this merge did."""

    submissions: int = 0
    edits_replaced: int = 0
    buildings: list[str] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)
    log_rows: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    duplicates: int = 0
    unknown_originals: int = 0
    workbooks: list[Path] = field(default_factory=list)
    new: int = 0
    unreadable: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def ledger_settings(deployment: Deployment) -> dict:
    """The settings the ledgers depend on, in a stable shape."""
    return {
        "building_field": dict(deployment.setting("ledgers", "building_field", {})),
        "duplicate_keys": {
            k: list(v)
            for k, v in deployment.setting("ledgers", "duplicate_keys", {}).items()
        },
    }


def merge(deployment: Deployment, *, rebuild: bool = False) -> MergeSummary:
    """Merge what arrived since the last merge (everything when ``rebuild``)."""
    settings = ledger_settings(deployment)
    signature = json.dumps(settings, sort_keys=True)
    state = _open_state(deployment, signature, rebuild)
    full = state.get("cursor", "0") == "0"
    summary = MergeSummary()

    clock = _Clock(summary.seconds)
    try:
        state.db.execute("BEGIN IMMEDIATE")
        touched, buildings = _add_new(deployment, state, settings, summary)
        clock.lap("read")
        buildings |= state.refold(None if full else touched, settings["duplicate_keys"])
        state.put("settings", signature)
        state.put("format", FORMAT)
        state.db.execute("COMMIT")
        clock.lap("fold")
        everything = full or rebuild or EVERY_BUILDING in buildings
        summary.workbooks = write_ledgers(
            deployment, state, None if everything else buildings
        )
        clock.lap("write")
        _summarise(deployment, state, summary)
        clock.lap("summary")
    finally:
        state.close()
    log.info(
        "merged %d new submission(s) into %d building(s)",
        summary.new,
        len(summary.buildings),
    )

    return summary


class _Clock:
    """Seconds spent per step of a merge, for operators and benchmarks."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps = laps
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self.last, 3)
        self.last = now


def _open_state(deployment: Deployment, signature: str, rebuild: bool) -> MergeState:
    state = MergeState(deployment.ledgers_dir)
    stale = state.get("format") != FORMAT or state.get("settings") != signature
    if rebuild or (stale and state.get("cursor")):
        state.close()
        state = MergeState(deployment.ledgers_dir, fresh=True)

    return state


def _add_new(deployment, state: MergeState, settings: dict, summary: MergeSummary):
    store = Store(deployment.data_dir)
    cursor = int(state.get("cursor", "0"))
    touched: set = set()
    buildings: set[str] = set()
    for last_seq, facts, unreadable in _read(deployment, settings, store, cursor):
        keys, where, new = state.add(facts)
        touched |= keys
        buildings |= where
        summary.new += new
        summary.unreadable += unreadable
        state.put("cursor", str(last_seq))

    return touched, buildings


def _read(deployment, settings: dict, store: Store, cursor: int):
    """(last seq, facts, unreadable ids) per batch of stored submissions.

    A long backlog (a rebuild) is read by one process per core: parsing
    XML is the merge's main cost, and SQLite writes stay in this process.
    Workers are spawned, not forked: the server merges from a threaded
    process, and a fork there can inherit a lock some other thread holds.
    """
    batches = _batches(store.iter_index(after=cursor))
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or store.last_seq() - cursor < _PARALLEL_FROM:
        reader = _Reader(deployment, settings, store)
        for batch in batches:
            yield reader.batch(batch)
        return

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _start_worker, (deployment, settings)) as pool:
        # A bounded window keeps the queued batches, not the store, in memory.
        while window := list(islice(batches, workers * 2)):
            yield from pool.map(_worker_batch, window)


_worker_reader: _Reader | None = None


def _start_worker(deployment: Deployment, settings: dict) -> None:
    global _worker_reader
    _worker_reader = _Reader(deployment, settings, Store(deployment.data_dir))


def _worker_batch(batch: list[IndexRow]):
    return _worker_reader.batch(batch)


def _batches(rows: Iterable[IndexRow]) -> Iterator[list[IndexRow]]:
    rows = iter(rows)
    while batch := list(islice(rows, _BATCH)):
        yield batch


class _Reader:
    """Reads stored submissions into Facts, one form spec per version."""

    def __init__(self, deployment: Deployment, settings: dict, store: Store) -> None:
        self.registry = FormRegistry(deployment.data_dir)
        self.store = store
        self.building_field = settings["building_field"]
        self.specs: dict[tuple[str, str], tuple[FormSpec, str | None] | None] = {}

    def batch(self, rows: list[IndexRow]) -> tuple[int, list[Facts], list[str]]:
        """The batch's last seq, its facts, and the ids that could not be read."""
        facts = [self.facts(row) for row in rows]
        unreadable = [r.instance_id for r, f in zip(rows, facts, strict=True) if not f]

        return rows[-1].seq, [f for f in facts if f is not None], unreadable

    def facts(self, row: IndexRow) -> Facts | None:
        found = self._spec(row.form_id, row.version)
        if found is None:
            return None
        spec, building = found
        try:
            instance = parse_instance(self.store.xml_path(row.sha256).read_bytes())
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
        # The store's key wins: a submission without an instanceID is held
        # under its content hash, and parse_instance derives the same one.
        facts.instance_id = row.instance_id

        return facts

    def _spec(self, form_id: str, version: str):
        key = (form_id, version)
        if key not in self.specs:
            form = self.registry.get(form_id, version) or self.registry.get(form_id)
            self.specs[key] = (
                None
                if form is None
                else (
                    form.spec,
                    building_path(form.spec, self.building_field.get(form_id)),
                )
            )

        return self.specs[key]


def _summarise(deployment, state: MergeState, summary: MergeSummary) -> None:
    from doorstep.sync.ledgers import open_conflicts

    counts = state.counts()
    summary.submissions = counts["submissions"]
    summary.edits_replaced = counts["replaced"]
    summary.unknown_originals = counts["unknown_original"]
    summary.entities = counts["entities"]
    summary.log_rows = counts["logs"]
    summary.duplicates = counts["duplicates"]
    summary.conflicts = len(open_conflicts(deployment, state))
    summary.buildings = state.buildings()
    # Only what the state holds goes to the file, so that it too is the same
    # after an incremental merge and a rebuild.
    skip = ("workbooks", "new", "unreadable", "seconds")
    document = {k: v for k, v in asdict(summary).items() if k not in skip}
    document["duplicate_groups"] = state.duplicates()
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True)

    write_atomic(deployment.ledgers_dir / SUMMARY_FILE, text.encode("utf-8") + b"\n")
