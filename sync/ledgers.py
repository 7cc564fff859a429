"""Ledgers: the merge state shown per building, as workbooks, CSV and JSON.

Merge writes, under ``data/ledgers/``, a workbook per building holding its
summary, entity lists, quarantine sheet and the current month's log rows
(gate log, disinfection, needs, follow-ups, supplies: every form without
entity creates), a workbook per earlier month under
``archive/<building>/<YYYY-MM>.xlsx``, and the entity lists tablets
download; ledger_write decides what to write. Exports write the same
ledgers, archives included, elsewhere, in xlsx, CSV or JSON, masked unless
asked otherwise. The sheets themselves are built in ledger_sheets.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

from doorstep.forms.personal import is_personal_name, mask
from doorstep.sync import ledger_names, ledger_write
from doorstep.sync.deployment import Deployment
from doorstep.sync.entities import (
    EntityState,
    apply_resolutions,
    list_csv,
    load_resolutions,
    save_resolution,
)
from doorstep.sync.files import write_atomic
from doorstep.sync.ledger_columns import Column, LedgerError
from doorstep.sync.ledger_conflicts import Conflict, all_conflicts, describe, pick
from doorstep.sync.ledger_quarantine import follow_ups, quarantined
from doorstep.sync.ledger_sheets import (
    Sheet,
    View,
    archive_sheets,
    building_sheets,
    dict_rows,
    file_name,
    make_view,
    plain,
    signature,
)
from doorstep.sync.merge_state import STATE_FILE, MergeState
from doorstep.sync.workbook import write_workbook

LISTS_DIR = "lists"
FORMATS = ("xlsx", "csv", "json")


def write_ledgers(
    deployment: Deployment, state: MergeState, buildings: set[str] | None
) -> list[Path]:
    """Write the ledgers of ``buildings`` (all when None) and the lists.

    Returns the workbooks written: those whose content changed.
    """
    view = make_view(deployment, state, unmasked=not _masks(deployment))
    if state.get("rendered") != signature(view):
        buildings = None
    archives_too = state.get("archived") != f"{signature(view, archive=True)}"
    archives_too |= state.get("month") != view.month
    jobs = ledger_write.plan(state, view, buildings, archives_too)
    written = ledger_write.write_jobs(deployment, state, view, jobs)
    if buildings is None or archives_too or set(buildings) - set(state.buildings()):
        ledger_write.remove_stale(deployment, state, view)
    _write_lists(deployment, state, view)
    state.clean()
    state.put("rendered", signature(view))
    state.put("archived", signature(view, archive=True))
    state.put("month", view.month)

    return written


def ledger_rows(deployment: Deployment, building: str) -> dict[str, list[dict]]:
    """A building's ledger as rows keyed by English header."""
    sheets = ledger_sheets(deployment, building)

    return {sheet.title: dict_rows(sheet) for sheet in sheets}


def ledger_sheets(deployment: Deployment, building: str) -> list[Sheet]:
    """A building's ledger as its workbook shows it, masked as settings say."""
    state = _open(deployment)
    try:
        view = make_view(deployment, state, unmasked=not _masks(deployment))
        found = _find_building(view, state.buildings(), building)
        return building_sheets(state, found, view)
    finally:
        state.close()


def quarantine_report(deployment: Deployment, on: date) -> dict[str, list]:
    """Per building, everyone in home quarantine on ``on`` (see ledger_quarantine)."""
    state = _open(deployment)
    try:
        done = follow_ups(state, on)
        found = {b: quarantined(state, b, on, done) for b in state.buildings()}
    finally:
        state.close()

    return {building: people for building, people in found.items() if people}


def export_ledgers(
    deployment: Deployment, fmt: str, out_dir: Path, *, unmasked: bool = False
) -> list[Path]:
    """Write every building's ledger in ``fmt`` (xlsx, csv or json) to ``out_dir``.

    Each building's current ledger and every month of its archive:
    ``<building>.xlsx`` and ``archive/<building>/<YYYY-MM>.xlsx``; in CSV,
    a folder per building holding ``archive/<YYYY-MM>/``; in JSON, one
    document per building with its archive months inside.
    """
    if fmt not in FORMATS:
        raise LedgerError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    state = _open(deployment)
    try:
        view = make_view(deployment, state, unmasked=unmasked)
        written = []
        for building in state.buildings():
            written += _export_building(out_dir, fmt, state, building, view)
        # Tablets need the lists in full; an export of them is masked.
        written += _write_lists(
            deployment,
            state,
            view,
            out_dir / LISTS_DIR,
            exported=True,
            masked=not unmasked,
        )
    finally:
        state.close()

    return written


def _export_building(out_dir: Path, fmt: str, state, building: str, view: View):
    shown = file_name(view, building)
    months = [m for m in state.log_months(building) if m < view.month]
    parts = [(None, building_sheets(state, building, view))]
    parts += [(m, archive_sheets(state, building, m, view)) for m in months]
    if fmt == "json":
        return [_write_json(out_dir / shown, building, parts)]

    written = []
    for month, sheets in parts:
        if fmt == "xlsx":
            path = out_dir / f"{shown}.xlsx"
            if month:
                path = out_dir / ledger_write.ARCHIVE_DIR / shown / f"{month}.xlsx"
            write_workbook(path, sheets)
            written.append(path)
        else:
            folder = out_dir / shown
            if month:
                folder = folder / ledger_write.ARCHIVE_DIR / month
            written += _write_csv(folder, sheets)

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
    for entity in state.entities(where="AND conflicts != '[]'"):
        for conflict in apply_resolutions(entity, resolutions)[1]:
            found.append((entity, conflict))

    return found


def conflict_report(deployment: Deployment, *, settled: bool = False) -> list[dict]:
    """The open conflicts (with ``settled``, the settled ones too), described.

    Each: list, entity, building, property, the chosen value if settled, and
    every value with its choice number, device and time collected; values
    are masked as the ledgers are.
    """
    state = _open(deployment)
    try:
        view = make_view(deployment, state, unmasked=not _masks(deployment))
        found = all_conflicts(state, view.resolutions)
    finally:
        state.close()

    return [describe(c, view) for c in found if settled or c.chosen is None]


def resolve_conflict(
    deployment: Deployment, entity_ref: str, prop: str, value: str
) -> Conflict:
    """Settle the conflict on ``prop`` of an entity with one of its values.

    ``entity_ref`` is an entity id, or ``list:id`` where ids repeat across
    lists; ``value`` one of the values in conflict, or ``#N`` for the N-th
    listed. A conflict settled before is settled again. Rewrites the
    entity's building's ledger and its list; returns the conflict.
    """
    state = _open(deployment)
    try:
        view = make_view(deployment, state, unmasked=not _masks(deployment))
        found = all_conflicts(state, view.resolutions)
        conflict, chosen = pick(found, entity_ref, prop, value, view)
        key = (conflict.dataset, conflict.entity_id, prop, conflict.base)
        save_resolution(deployment.root, key, chosen)
        write_ledgers(deployment, state, {conflict.building})
    finally:
        state.close()

    return conflict


def _write_csv(base: Path, sheets: list[Sheet]) -> list[Path]:
    written = []
    for sheet in sheets:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([_inert(c.zh) for c in sheet.columns])
        writer.writerow([_inert(c.en) for c in sheet.columns])
        writer.writerows([[_inert(plain(v)) for v in row] for row in sheet.rows])
        path = base / f"{_safe(sheet.title)}.csv"
        write_atomic(path, out.getvalue().encode("utf-8-sig"))
        written.append(path)

    return written


def _write_json(base: Path, building: str, parts: list) -> Path:
    (_, sheets), archive = parts[0], parts[1:]
    document = {
        "building": building,
        "sheets": {s.title: dict_rows(s) for s in sheets},
        "archive": {
            month: {s.title: dict_rows(s) for s in sheets} for month, sheets in archive
        },
    }
    path = base.with_name(base.name + ".json")
    text = json.dumps(document, ensure_ascii=False, indent=1, default=str)
    write_atomic(path, text.encode("utf-8") + b"\n")

    return path


def _write_lists(
    deployment,
    state,
    view: View,
    folder: Path | None = None,
    *,
    exported: bool = False,
    masked: bool = False,
):
    folder = folder or deployment.ledgers_dir / LISTS_DIR
    written = []
    for dataset in state.lists():
        known = view.catalog.lists.get(dataset, [])
        columns = [c.key for c in known]
        entities = []
        for entity in state.entities(dataset=dataset):
            shown = apply_resolutions(entity, view.resolutions)[0]
            columns += [k for k in sorted(shown) if k not in columns]
            row = (entity.entity_id, entity.label, entity.version, shown)
            entities.append(_exported(row, known, masked) if exported else row)
        path = folder / f"{_safe(dataset)}.csv"
        write_atomic(path, list_csv(columns, entities), mode=0o600)
        written.append(path)

    return written


def _exported(row: tuple, known: list[Column], masked: bool) -> tuple:
    entity_id, label, version, properties = row
    personal = {c.key for c in known if c.personal}
    shown = {}
    for key, value in properties.items():
        if masked and value and (key in personal or is_personal_name(key)):
            value = mask(value)
        shown[key] = _inert(value)

    return _inert(entity_id), _inert(label), version, shown


def _inert(value):
    # Excel runs a CSV cell starting with one of these as a formula (CSV
    # injection); a leading quote keeps it text, as spreadsheets expect.
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value

    return value


def _open(deployment: Deployment) -> MergeState:
    if not (deployment.ledgers_dir / STATE_FILE).exists():
        raise LedgerError(
            f"{deployment.root} has no ledgers yet; run `doorstep merge` first"
        )

    return MergeState(deployment.ledgers_dir)


def _masks(deployment: Deployment) -> bool:
    return bool(deployment.setting("ledgers", "mask_personal", True))


def _safe(name: str) -> str:
    return ledger_names.file_name(name)


def _find_building(view: View, buildings: list[str], wanted: str) -> str:
    # The admin may name a building by its value, by its label as the
    # workbook shows it, or by its workbook's file name.
    if wanted in buildings:
        return wanted
    by_label = {view.catalog.building(b): b for b in buildings}
    by_file = {file_name(view, b): b for b in buildings}
    stem = wanted.removesuffix(".xlsx")
    found = by_label.get(wanted) or by_file.get(stem)
    if found is None:
        raise LedgerError(_unknown_building(wanted, list(by_file)))

    return found


def _unknown_building(building: str, known: list[str]) -> str:
    listed = ", ".join(known[:20]) or "none yet"
    return (
        f"no ledger for building {building!r}; buildings with ledgers: {listed} "
        "(a workbook's file name, without .xlsx, names its building too)"
    )
