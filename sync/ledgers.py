"""Ledgers: the merge state shown per building, as workbooks, CSV and JSON.

Merge writes, under ``data/ledgers/``, a workbook per building and the
entity lists tablets download; exports write the same ledgers elsewhere, in
xlsx, CSV or JSON, masked unless asked otherwise. The sheets themselves are
built in ledger_sheets.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
from datetime import date
from pathlib import Path

from doorstep.sync.deployment import Deployment
from doorstep.sync.entities import (
    NO_BUILDING,
    EntityState,
    apply_resolutions,
    list_csv,
    load_resolutions,
    save_resolution,
)
from doorstep.sync.files import write_atomic
from doorstep.sync.ledger_quarantine import follow_ups, quarantined
from doorstep.sync.ledger_sheets import (
    Sheet,
    View,
    building_sheets,
    dict_rows,
    make_view,
    plain,
    signature,
)
from doorstep.sync.merge_state import STATE_FILE, MergeState
from doorstep.sync.workbook import write_workbook

LISTS_DIR = "lists"
FORMATS = ("xlsx", "csv", "json")
_PARALLEL_FROM = 20_000
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


class LedgerError(Exception):
    """A ledger request that cannot be met, in the admin's words."""


def write_ledgers(
    deployment: Deployment, state: MergeState, buildings: set[str] | None
) -> list[Path]:
    """Write the workbooks of ``buildings`` (all when None) and the lists."""
    view = make_view(deployment, state, unmasked=not _masks(deployment))
    rendered = signature(view)
    if state.get("rendered") != rendered:
        buildings = None
    present = state.buildings()
    targets = present if buildings is None else sorted(buildings)
    written = [workbook_path(deployment, b) for b in targets if b in present]
    for building in set(targets) - set(present):
        workbook_path(deployment, building).unlink(missing_ok=True)
    _write_workbooks(deployment, state, view, [b for b in targets if b in present])
    if buildings is None:
        _remove_stale(deployment, {workbook_path(deployment, b) for b in present})
    _write_lists(deployment, state, view)
    state.put("rendered", rendered)

    return written


def _write_workbooks(deployment, state: MergeState, view, buildings: list[str]):
    # Writing a workbook is CPU-bound in openpyxl, so big ledgers are
    # written by one process per core, each with its own reading connection.
    workers = min(os.cpu_count() or 1, len(buildings), 4)
    if workers < 2 or state.size() < _PARALLEL_FROM:
        _write_some(deployment, buildings, view, state)
        return

    chunks = [buildings[i::workers] for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(_write_some, [(deployment, chunk, view) for chunk in chunks])


def _write_some(deployment, buildings: list[str], view, state=None) -> None:
    own = state is None
    state = state or MergeState(deployment.ledgers_dir)
    try:
        for building in buildings:
            sheets = building_sheets(state, building, view)
            write_workbook(workbook_path(deployment, building), sheets)
    finally:
        if own:
            state.close()


def workbook_path(deployment: Deployment, building: str) -> Path:
    return deployment.ledgers_dir / f"{_safe(building)}.xlsx"


def ledger_rows(deployment: Deployment, building: str) -> dict[str, list[dict]]:
    """A building's ledger as rows keyed by English header."""
    sheets = ledger_sheets(deployment, building)

    return {sheet.title: dict_rows(sheet) for sheet in sheets}


def ledger_sheets(deployment: Deployment, building: str) -> list[Sheet]:
    """A building's ledger as its workbook shows it, masked as settings say."""
    state = _open(deployment)
    try:
        if building not in state.buildings():
            raise LedgerError(_unknown_building(building, state.buildings()))
        view = make_view(deployment, state, unmasked=not _masks(deployment))
        return building_sheets(state, building, view)
    finally:
        state.close()


def quarantine_report(deployment: Deployment, on: date) -> dict[str, list]:
    """Per building, everyone in home quarantine on ``on`` (see ledger_quarantine)."""
    state = _open(deployment)
    try:
        done = follow_ups(state)
        found = {b: quarantined(state, b, on, done) for b in state.buildings()}
    finally:
        state.close()

    return {building: people for building, people in found.items() if people}


def export_ledgers(
    deployment: Deployment, fmt: str, out_dir: Path, *, unmasked: bool = False
) -> list[Path]:
    """Write every building's ledger in ``fmt`` (xlsx, csv or json) to ``out_dir``."""
    if fmt not in FORMATS:
        raise LedgerError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    state = _open(deployment)
    try:
        view = make_view(deployment, state, unmasked=unmasked)
        written = []
        for building in state.buildings():
            sheets = building_sheets(state, building, view)
            base = out_dir / _safe(building)
            if fmt == "xlsx":
                write_workbook(base.with_name(base.name + ".xlsx"), sheets)
                written.append(base.with_name(base.name + ".xlsx"))
            elif fmt == "csv":
                written += _write_csv(base, sheets)
            else:
                written.append(_write_json(base, building, sheets))
        written += _write_lists(deployment, state, view, out_dir / LISTS_DIR)
    finally:
        state.close()

    return written


def building_counts(deployment: Deployment) -> dict[str, int]:
    """Submissions counted in each building's ledger at the last merge.

    Empty before the first merge. A submission without a building of its
    own (a follow-up) counts for its entity's building.
    """
    if not (deployment.ledgers_dir / STATE_FILE).exists():
        return {}
    state = MergeState(deployment.ledgers_dir)
    try:
        return state.building_counts()
    finally:
        state.close()


def entity_list_csv(deployment: Deployment, list_name: str) -> bytes | None:
    """The entity list as tablets receive it, or None if there is no such list."""
    if _safe(list_name) != list_name:
        return None
    path = deployment.ledgers_dir / LISTS_DIR / f"{list_name}.csv"

    return path.read_bytes() if path.is_file() else None


def open_conflicts(
    deployment: Deployment, state: MergeState
) -> list[tuple[EntityState, dict]]:
    """Every conflict no admin resolution settles."""
    resolutions = load_resolutions(deployment.root)
    found = []
    for entity in state.entities():
        for conflict in apply_resolutions(entity, resolutions)[1]:
            found.append((entity, conflict))

    return found


def resolve_conflict(deployment: Deployment, entity_ref: str, prop: str, value: str):
    """Settle an open conflict on ``prop`` of an entity with ``value``.

    ``entity_ref`` is an entity id, or ``list:id`` where ids repeat across
    lists. Returns the entity; rewrites its building's ledger and its list.
    """
    state = _open(deployment)
    try:
        matches = [
            (entity, conflict)
            for entity, conflict in open_conflicts(deployment, state)
            if entity_ref in (entity.entity_id, f"{entity.dataset}:{entity.entity_id}")
            and conflict["property"] == prop
        ]
        if not matches:
            raise LedgerError(
                f"no open conflict on property {prop!r} of entity {entity_ref!r}; "
                "`doorstep merge` lists the conflicts (see merge.json)"
            )
        if len({m[0].dataset for m in matches}) > 1:
            raise LedgerError(
                f"entity id {entity_ref!r} is in several lists; write it as "
                "LIST:ID, for example residents:" + entity_ref
            )
        entity, conflict = matches[0]
        key = (entity.dataset, entity.entity_id, prop, conflict["base"])
        save_resolution(deployment.root, key, value)
        write_ledgers(deployment, state, {entity.building})
    finally:
        state.close()

    return entity


def _write_csv(base: Path, sheets: list[Sheet]) -> list[Path]:
    written = []
    for sheet in sheets:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.zh for c in sheet.columns])
        writer.writerow([c.en for c in sheet.columns])
        writer.writerows([[plain(v) for v in row] for row in sheet.rows])
        path = base / f"{_safe(sheet.title)}.csv"
        write_atomic(path, out.getvalue().encode("utf-8-sig"))
        written.append(path)

    return written


def _write_json(base: Path, building: str, sheets: list[Sheet]) -> Path:
    document = {
        "building": building,
        "sheets": {s.title: dict_rows(s) for s in sheets},
    }
    path = base.with_name(base.name + ".json")
    text = json.dumps(document, ensure_ascii=False, indent=1, default=str)
    write_atomic(path, text.encode("utf-8") + b"\n")

    return path


def _write_lists(deployment, state, view: View, folder: Path | None = None):
    folder = folder or deployment.ledgers_dir / LISTS_DIR
    written = []
    for dataset in state.lists():
        columns = [c.key for c in view.catalog.lists.get(dataset, [])]
        entities = []
        for entity in state.entities(dataset=dataset):
            shown = apply_resolutions(entity, view.resolutions)[0]
            columns += [k for k in sorted(shown) if k not in columns]
            entities.append((entity.entity_id, entity.label, entity.version, shown))
        path = folder / f"{_safe(dataset)}.csv"
        write_atomic(path, list_csv(columns, entities), mode=0o600)
        written.append(path)

    return written


def _remove_stale(deployment: Deployment, keep: set[Path]) -> None:
    for path in deployment.ledgers_dir.glob("*.xlsx"):
        if path not in keep:
            path.unlink()


def _open(deployment: Deployment) -> MergeState:
    if not (deployment.ledgers_dir / STATE_FILE).exists():
        raise LedgerError(
            f"{deployment.root} has no ledgers yet; run `doorstep merge` first"
        )

    return MergeState(deployment.ledgers_dir)


def _masks(deployment: Deployment) -> bool:
    return bool(deployment.setting("ledgers", "mask_personal", True))


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip(". ") or NO_BUILDING


def _unknown_building(building: str, known: list[str]) -> str:
    listed = ", ".join(known[:20]) or "none yet"
    return f"no ledger for building {building!r}; buildings with ledgers: {listed}"
