"""The sheets of one building's ledger, built from the merge state.

A summary, one sheet per entity list, one per log form, and the home
quarantine sheet. The quarantine sheet is "as of" the last day any
submission was collected on, not the day the merge ran, so that a ledger
stays a function of the submissions alone; so is the current month, the
month of that day. Log sheets of the current ledger hold the current
month's rows; each earlier month's rows make a month's archive (a summary
and its log sheets).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from doorstep.sync import ledger_names
from doorstep.sync.deployment import Deployment
from doorstep.sync.entities import apply_resolutions, load_resolutions
from doorstep.sync.ledger_columns import (
    Catalog,
    Column,
    catalog,
    cell,
    deployment_zone,
    local_time,
    with_extras,
)
from doorstep.sync.ledger_names import clashes, file_names
from doorstep.sync.ledger_quarantine import Quarantined, follow_ups, quarantined
from doorstep.sync.merge_state import MergeState
from doorstep.sync.registry import FormRegistry


@dataclass
class Sheet:
    """One sheet of a ledger: columns, typed rows, and flagged cells."""

    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    flags: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class View:
    """What rendering needs besides the state: columns, resolutions, masking."""

    catalog: Catalog
    resolutions: dict
    unmasked: bool
    as_of: date | None
    done: set = field(default_factory=set)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    # Each building's file name (ledger_names), all told apart.
    names: dict[str, str] = field(default_factory=dict)

    @property
    def month(self) -> str:
        """The current month, YYYY-MM: earlier log rows are archived."""
        return self.as_of.isoformat()[:7] if self.as_of else ""


def building_sheets(state: MergeState, building: str, view: View) -> list[Sheet]:
    """The sheets of one building's current ledger."""
    sheets = [
        _entity_sheet(state, building, dataset, view) for dataset in state.lists()
    ]
    sheets = [s for s in sheets if s.rows]
    sheets += _log_sheets(state.logs(building, view.month), view)
    people = quarantined(state, building, view.as_of, view.done) if view.as_of else []
    if people:
        sheets.append(_quarantine_sheet(people, view.as_of))

    return [_summary_sheet(building, sheets, view, view.as_of)] + sheets


def archive_sheets(
    state: MergeState, building: str, month: str, view: View
) -> list[Sheet]:
    """The sheets of one building's archive of ``month`` (YYYY-MM)."""
    sheets = _log_sheets(state.logs(building, month, month + "\uffff"), view)

    return [_summary_sheet(building, sheets, view, month)] + sheets


def make_view(deployment: Deployment, state: MergeState, *, unmasked: bool) -> View:
    last = state.last_day()
    as_of = date.fromisoformat(last) if last else None
    found = catalog(FormRegistry(deployment.data_dir))
    shown = {b: found.building(b) for b in state.buildings()}

    return View(
        catalog=found,
        resolutions=load_resolutions(deployment.root),
        unmasked=unmasked,
        as_of=as_of,
        done=follow_ups(state, as_of) if as_of else set(),
        zone=deployment_zone(deployment),
        names=file_names(shown),
    )


def file_name(view: View, building: str) -> str:
    """The name of ``building``'s files (without extension)."""
    found = view.names.get(building)

    return found or ledger_names.file_name(view.catalog.building(building), building)


def signature(view: View, *, archive: bool = False) -> str:
    # Everything besides the submissions that shapes a ledger: when any of
    # it changes, every building is written again. Archives hold no
    # entities and no quarantine, so the day and resolutions are not theirs.
    parts = [
        repr(view.catalog.logs),
        view.catalog.titles,
        view.catalog.buildings,
        view.unmasked,
        str(view.zone),
        # Only names that a clash changed: a new building alone writes no
        # other building's ledger again.
        sorted(clashes(view.names, _shown(view)).items()),
    ]
    if not archive:
        parts += [
            repr(view.catalog.lists),
            sorted(view.resolutions.items()),
            str(view.as_of),
        ]

    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _shown(view: View) -> dict[str, str]:
    return {b: view.catalog.building(b) for b in view.names}


def _entity_sheet(state, building, dataset, view: View) -> Sheet:
    known = view.catalog.lists.get(dataset, [])
    entities = list(state.entities(building=building, dataset=dataset))
    columns = with_extras(known, [e.properties for e in entities])
    sheet = Sheet(
        dataset,
        [
            Column("__id", "编号", "ID"),
            Column("__label", "名称", "Label"),
            *columns,
            Column("__version", "版本", "Version", "int"),
        ],
    )
    for entity in entities:
        shown, still_open = apply_resolutions(entity, view.resolutions)
        cells = [cell(c, shown.get(c.key, ""), unmasked=view.unmasked) for c in columns]
        sheet.rows.append([entity.entity_id, entity.label, *cells, entity.version])
        for conflict in still_open:
            at = next(i for i, c in enumerate(columns) if c.key == conflict["property"])
            note = _conflict_note(conflict, columns[at], view)
            sheet.flags[(len(sheet.rows) - 1, at + 2)] = note

    return sheet


def _conflict_note(conflict: dict, column: Column, view: View) -> str:
    values = [
        f"{cell(column, c['value'], unmasked=view.unmasked)!s} "
        f"({c['device'] or 'unknown device'}, "
        f"{local_time(c['collected'], view.zone):%Y-%m-%d %H:%M}, "
        f"{c['instance_id']})"
        for c in conflict["values"]
    ]

    return "冲突 Conflict: " + "; ".join(values)


def _log_sheets(logs, view: View) -> list[Sheet]:
    rows_by_form: dict[str, list] = {}
    for form_id, collected, day, iid, values in logs:
        rows_by_form.setdefault(form_id, []).append((collected, day, iid, values))

    sheets = []
    for form_id, rows in rows_by_form.items():
        columns = with_extras(view.catalog.logs.get(form_id, []), [r[3] for r in rows])
        sheet = Sheet(
            form_id,
            [
                Column("__day", "日期", "Date", "date"),
                Column("__time", "填写时间", "Collected", "dateTime"),
                *columns,
                Column("__instance", "提交编号", "Submission"),
            ],
        )
        for collected, day, iid, values in rows:
            cells = [
                cell(c, values.get(c.key, ""), unmasked=view.unmasked) for c in columns
            ]
            sheet.rows.append(
                [
                    date.fromisoformat(day),
                    local_time(collected, view.zone),
                    *cells,
                    iid,
                ]
            )
        sheets.append(sheet)

    return sheets


def _quarantine_sheet(people: list[Quarantined], as_of: date) -> Sheet:
    yes = {True: "是 yes", False: ""}
    sheet = Sheet(
        "quarantine",
        [
            Column("person", "人员编号", "Person"),
            Column("name", "姓名", "Name"),
            Column("start", "开始日期", "Start", "date"),
            Column("end", "结束日期", "End", "date"),
            Column("day", f"第几天 ({as_of})", f"Day N of 14 ({as_of})"),
            Column("due", "今日待随访", "Follow-up due"),
            Column("missed", "昨日未随访", "Missed yesterday"),
            Column("ends", "今日解除", "Ends today"),
        ],
    )
    for q in people:
        sheet.rows.append(
            [
                q.person,
                q.name,
                q.start,
                q.end,
                f"{q.day}/{q.days}",
                yes[q.due],
                yes[q.missed_yesterday],
                yes[q.ends_today],
            ]
        )

    return sheet


def _summary_sheet(building: str, sheets: list[Sheet], view: View, as_of) -> Sheet:
    summary = Sheet(
        "summary",
        [
            Column("item", "项目", "Item"),
            Column("count", "数量", "Count", "int"),
        ],
    )
    summary.rows.append(["楼栋 Building", view.catalog.building(building)])
    for sheet in sheets:
        title = view.catalog.titles.get(sheet.title, sheet.title)
        summary.rows.append([title, len(sheet.rows)])
    flagged = sum(len(s.flags) for s in sheets)
    summary.rows.append(["待处理冲突 Open conflicts", flagged])
    summary.rows.append(["截至 As of", as_of])

    return summary


def dict_rows(sheet: Sheet) -> list[dict]:
    """Rows keyed by English header; a header used twice adds its field name."""
    names = [c.en for c in sheet.columns]
    names = [
        f"{name} ({c.key})" if names.count(name) > 1 else name
        for name, c in zip(names, sheet.columns, strict=True)
    ]

    return [
        dict(zip(names, (plain(v) for v in row), strict=True)) for row in sheet.rows
    ]


def plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()

    return value
