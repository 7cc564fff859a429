"""Merge: stored submissions into entities and per-building ledgers.

The ledgers are a pure function of the set of accepted submissions and the
ledger settings (see DESIGN.md, "Merge: the rules"). A merge reads only what
arrived since the last one (the store's seq, saved as a cursor in the merge
state), folds again only the entities those submissions touched, and renders
again only the ledgers of the buildings they touched, writing a file only
when its content changed. Changing the ledger settings, or ``rebuild=True``,
starts over from the first submission.

Each submission is parsed once: its facts are cached in the merge state
(merge_cache), keyed by the XML's and the form's hashes, so a rebuild folds
from the cache; ``cold=True`` discards the cache and parses everything again
(merge_read parses in one spawned process per core).

Written under ``data/ledgers/``: ``<building>.xlsx`` per building (summary,
entity lists, quarantine, this month's logs), ``archive/<building>/
<YYYY-MM>.xlsx`` per earlier month of logs (see ledger_write),
``lists/<list>.csv`` per entity list (the ODK entity-list format served to
tablets), and ``merge.json``, the summary of the state.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from doorstep.sync import merge_cache
from doorstep.sync.deployment import Deployment
from doorstep.sync.files import write_atomic
from doorstep.sync.ledgers import write_ledgers
from doorstep.sync.merge_read import read_batches
from doorstep.sync.merge_state import EVERY_BUILDING, FORMAT, MergeState

log = logging.getLogger(__name__)

SUMMARY_FILE = "merge.json"


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


def merge(
    deployment: Deployment, *, rebuild: bool = False, cold: bool = False
) -> MergeSummary:
    """Merge what arrived since the last merge (everything when ``rebuild``).

    ``cold`` rebuilds and also discards the cache of extracted facts, so
    that every submission is read and parsed again.
    """
    rebuild = rebuild or cold
    settings = ledger_settings(deployment)
    signature = json.dumps(settings, sort_keys=True)
    state = _open_state(deployment, signature, rebuild)
    if cold:
        merge_cache.discard(state.db)
    full = state.get("cursor", "0") == "0"
    summary = MergeSummary()

    clock = _Clock(summary.seconds)
    try:
        state.db.execute("BEGIN IMMEDIATE")
        if full:
            state.begin_bulk()
        touched, buildings = _add_new(deployment, state, settings, summary)
        if full:
            state.end_bulk()
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
    cursor = int(state.get("cursor", "0"))
    touched: set = set()
    buildings: set[str] = set()
    batches = read_batches(deployment, settings, state.db, cursor)
    for last_seq, facts, unreadable in batches:
        keys, where, new = state.add(facts)
        touched |= keys
        buildings |= where
        summary.new += new
        summary.unreadable += unreadable
        state.put("cursor", str(last_seq))

    return touched, buildings


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
