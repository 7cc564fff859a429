"""Writing the ledgers under ``data/ledgers/``, only where they changed.

``<building>.xlsx`` holds a building's summary, entity lists, quarantine
sheet and the current month's log rows; ``archive/<building>/<YYYY-MM>.xlsx``
holds each earlier month's log rows. A building is named by its label where
its field is a select ("1号楼.xlsx"); the state keeps the stable name.
ledger_names keeps every building's file name distinct, safe and bounded.

A merge renders again the buildings its submissions touched, and of their
archives only the months whose rows changed (the state's ``dirty`` table).
A file is written only when its bytes differ from the last ones written
(their digest is kept in the state's ``written`` table) or it is missing.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
from pathlib import Path

from doorstep.sync.deployment import Deployment
from doorstep.sync.files import write_atomic
from doorstep.sync.ledger_sheets import (
    View,
    archive_sheets,
    building_sheets,
    file_name,
    signature,
)
from doorstep.sync.merge_queries import building_logs
from doorstep.sync.merge_state import EVERY_BUILDING, MergeState
from doorstep.sync.workbook import workbook_bytes

ARCHIVE_DIR = "archive"
_PARALLEL_FROM = 20_000

Job = tuple[str, list[str]]


def plan(
    state: MergeState, view: View, buildings: set[str] | None, archives_too: bool
) -> list[Job]:
    """(building, archive months to render) for each building to render."""
    present = state.buildings()
    targets = present if buildings is None else sorted(buildings & set(present))
    dirty = state.dirty_months()
    everywhere = dirty.get(EVERY_BUILDING, set())
    jobs = []
    for building in targets:
        marked = dirty.get(building, set()) | everywhere
        if archives_too or buildings is None or "*" in marked:
            months = state.log_months(building)
        else:
            # A marked month may have lost its last row: its archive goes.
            months = sorted(marked)
        jobs.append((building, [m for m in months if m < view.month]))

    return jobs


def write_jobs(
    deployment: Deployment, state: MergeState, view: View, jobs: list[Job]
) -> list[Path]:
    """Render each job's workbooks; write those whose bytes changed."""
    known = dict(state.db.execute("SELECT part, digest FROM written"))
    workers = min(os.cpu_count() or 1, len(jobs), 4)
    if workers < 2 or state.size() < _PARALLEL_FROM:
        results = [_render_some(deployment, jobs, view, known, state)]
    else:
        chunks = [jobs[i::workers] for i in range(workers)]
        args = [(deployment, chunk, view, known) for chunk in chunks]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.starmap(_render_some, args)
    digests = {part: digest for found, _ in results for part, digest in found.items()}
    state.db.executemany(
        "INSERT OR REPLACE INTO written VALUES (?, ?)", digests.items()
    )

    return [path for _, written in results for path in written]


def remove_stale(deployment: Deployment, state: MergeState, view: View) -> None:
    """Remove workbooks and archives of buildings and months no longer there."""
    keep = {
        path
        for building in state.buildings()
        for path in _paths(
            deployment,
            view,
            (building, [m for m in state.log_months(building) if m < view.month]),
        )
    }
    folder = deployment.ledgers_dir
    for path in [*folder.glob("*.xlsx"), *folder.glob(f"{ARCHIVE_DIR}/*/*.xlsx")]:
        if path not in keep:
            path.unlink()
    for empty in folder.glob(f"{ARCHIVE_DIR}/*"):
        if empty.is_dir() and not any(empty.iterdir()):
            shutil.rmtree(empty)


def workbook_path(deployment: Deployment, view: View, building: str) -> Path:
    return deployment.ledgers_dir / f"{file_name(view, building)}.xlsx"


def archive_path(deployment: Deployment, view: View, building: str, month: str):
    shown = file_name(view, building)

    return deployment.ledgers_dir / ARCHIVE_DIR / shown / f"{month}.xlsx"


def _paths(deployment, view: View, job: Job) -> list[Path]:
    building, months = job
    found = [workbook_path(deployment, view, building)]
    found += [archive_path(deployment, view, building, m) for m in months]

    return found


def _render_some(deployment, jobs: list[Job], view, known: dict, state=None):
    own = state is None
    state = state or MergeState(deployment.ledgers_dir)
    digests: dict[str, str] = {}
    written: list[Path] = []
    try:
        for building, months in jobs:
            path = workbook_path(deployment, view, building)
            sheets = building_sheets(state, building, view)
            written += _write_if_changed(path, sheets, known, digests)
            for month in months:
                path = archive_path(deployment, view, building, month)
                inputs = _inputs(state, building, month, view)
                digests[f"in:{path}"] = inputs
                if known.get(f"in:{path}") == inputs and path.exists():
                    continue
                sheets = archive_sheets(state, building, month, view)
                if len(sheets) > 1:
                    written += _write_if_changed(path, sheets, known, digests)
                else:
                    path.unlink(missing_ok=True)
    finally:
        if own:
            state.close()

    return digests, written


def _inputs(state: MergeState, building: str, month: str, view: View) -> str:
    # What an archive is made of, hashed: far cheaper than rendering it, so
    # a rebuild renders again only the months whose rows changed.
    digest = hashlib.sha256(signature(view, archive=True).encode())
    query, args = building_logs("l.iid, l.data", building, month, month + "\uffff")
    for iid, data in state.db.execute(query + " ORDER BY 1", args):
        digest.update(f"{iid}\x1f{data}\x1e".encode())

    return digest.hexdigest()


def _write_if_changed(path: Path, sheets: list, known: dict, digests: dict):
    data = workbook_bytes(sheets)
    digest = hashlib.sha256(data).hexdigest()
    part = str(path)
    digests[part] = digest
    if known.get(part) == digest and path.exists():
        return []
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, data, mode=0o600)

    return [path]
