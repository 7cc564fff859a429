"""`doorstep merge`, `doorstep ledger ...` and `doorstep report ...`.

Thin: each command opens the deployment, calls the library and prints.
Library errors become one line and exit 1; usage mistakes exit 2 (click).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from pathlib import Path

import click

from doorstep.sync.deployment import Deployment
from doorstep.sync.ledgers import (
    FORMATS,
    LedgerError,
    conflict_report,
    export_ledgers,
    ledger_sheets,
    quarantine_report,
    resolve_conflict,
)
from doorstep.sync.merge import merge


def _deployment(ctx: click.Context) -> Deployment:
    """The deployment the main group points at (``--dir`` or DOORSTEP_DIR)."""
    return ctx.obj.open()


@click.command("merge")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Start over from the first submission instead of going on "
    "from the last merge.",
)
@click.option(
    "--cold",
    is_flag=True,
    help="Rebuild and also discard the cache of facts read from each "
    "submission, so that every submission's XML is parsed again (slow; "
    "--rebuild reuses the cache).",
)
@click.pass_context
def merge_command(ctx: click.Context, rebuild: bool, cold: bool) -> None:
    """Merge submissions into entities and per-building ledgers.

    Writes data/ledgers/<building>.xlsx (summary, entity lists, quarantine
    and this month's logs) and archive/<building>/<YYYY-MM>.xlsx (earlier
    months' logs), each only when its content changed.
    """
    try:
        summary = merge(_deployment(ctx), rebuild=rebuild, cold=cold)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    click.echo(
        f"{summary.new} new submission(s); {summary.submissions} in the "
        f"ledgers, {summary.edits_replaced} replaced by edits."
    )
    lists = ", ".join(f"{k} {v}" for k, v in sorted(summary.entities.items()))
    logs = ", ".join(f"{k} {v}" for k, v in sorted(summary.log_rows.items()))
    click.echo(f"Entities: {lists or 'none'}. Log rows: {logs or 'none'}.")
    click.echo(
        f"Buildings: {len(summary.buildings)}; workbooks written: "
        f"{len(summary.workbooks)}."
    )
    for count, what in (
        (
            summary.conflicts,
            "open conflict(s): list them with `doorstep ledger conflicts`, "
            "settle with `doorstep ledger resolve`",
        ),
        (summary.duplicates, "group(s) of probable duplicates (merge.json)"),
        (summary.unknown_originals, "edit(s) of a submission never received"),
        (len(summary.unreadable), "submission(s) whose form is not published"),
    ):
        if count:
            click.echo(f"{count} {what}.")


@click.group("ledger")
def ledger() -> None:
    """Per-building ledgers (台账): show, export, resolve conflicts."""


@ledger.command("show")
@click.argument("building")
@click.pass_context
def show(ctx: click.Context, building: str) -> None:
    """Print BUILDING's ledger, sheet by sheet."""
    try:
        sheets = ledger_sheets(_deployment(ctx), building)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    for sheet in sheets:
        click.echo(f"== {sheet.title} ({len(sheet.rows)}) ==")
        headers = [[c.zh for c in sheet.columns], [c.en for c in sheet.columns]]
        click.echo(_table(headers, sheet.rows, sheet.flags))
        for (r, i), note in sorted(sheet.flags.items()):
            click.echo(f"! {sheet.rows[r][0]} {sheet.columns[i].key}: {note}")
        click.echo("")


@ledger.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="xlsx: one workbook per building and one per archived month; csv: "
    "one file per sheet; json: one document per building with its archive.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write to (created if missing).",
)
@click.option(
    "--unmasked", is_flag=True, help="Write ID-card and phone numbers in full."
)
@click.pass_context
def export(ctx: click.Context, fmt: str, out: Path, unmasked: bool) -> None:
    """Export every building's ledger, its archived months and the entity lists."""
    try:
        written = export_ledgers(_deployment(ctx), fmt, out, unmasked=unmasked)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    click.echo(f"Wrote {len(written)} file(s) to {out}.")


@ledger.command("conflicts")
@click.option("--all", "settled", is_flag=True, help="Also list settled conflicts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def conflicts(ctx: click.Context, settled: bool, as_json: bool) -> None:
    """List open conflicts: entity, property, each value with device and time."""
    try:
        found = conflict_report(_deployment(ctx), settled=settled)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("No open conflicts.")
    for conflict in found:
        click.echo(_conflict_text(conflict))


@ledger.command("resolve")
@click.argument("entity")
@click.argument("property")
@click.argument("value")
@click.pass_context
def resolve(ctx: click.Context, entity: str, property: str, value: str) -> None:
    """Settle a conflict: ENTITY's PROPERTY is VALUE (ENTITY: id or LIST:ID).

    VALUE is one of the values in conflict, or #N for the N-th that
    `doorstep ledger conflicts` lists. Resolving again changes the choice.
    """
    try:
        settled = resolve_conflict(_deployment(ctx), entity, property, value)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    click.echo(
        f"Resolved {settled.dataset}:{settled.entity_id} {property}; "
        f"ledger of building {settled.building} rewritten."
    )


def _conflict_text(conflict: dict) -> str:
    ref = f"{conflict['list']}:{conflict['entity']}"
    lines = [f"{ref} {conflict['property']} (building {conflict['building']})"]
    lines += [
        f"  {v['choice']} {v['value']}  {v['device']}  {v['collected']}  "
        f"{v['submission']}"
        for v in conflict["values"]
    ]
    if conflict["chosen"] is not None:
        lines.append(f"  settled: {conflict['chosen']}")
    else:
        lines.append(
            f"  settle: doorstep ledger resolve {ref} {conflict['property']} #N"
        )

    return "\n".join(lines)


@click.group("report")
def report() -> None:
    """Reports for the street office."""


@report.command("quarantine")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day to report on (YYYY-MM-DD); today by default.",
)
@click.pass_context
def quarantine(ctx: click.Context, day) -> None:
    """Who is in home quarantine, their day N of 14, and who is due a follow-up."""
    on = day.date() if day else date.today()
    try:
        found = quarantine_report(_deployment(ctx), on)
    except LedgerError as err:
        raise click.ClickException(str(err)) from err

    if not found:
        click.echo(f"Nobody is in home quarantine on {on}.")
    for building, people in found.items():
        due = sum(p.due for p in people)
        click.echo(
            f"== {building}: {len(people)} in quarantine, {due} due a "
            f"follow-up on {on} =="
        )
        rows = [
            [
                p.name,
                p.person,
                f"{p.day}/{p.days}",
                _yes(p.due),
                _yes(p.missed_yesterday),
                _yes(p.ends_today),
            ]
            for p in people
        ]
        headers = [
            ["姓名", "人员编号", "第几天", "今日待随访", "昨日未随访", "今日解除"],
            ["Name", "Person", "Day", "Due", "Missed yesterday", "Ends today"],
        ]
        click.echo(_table(headers, rows, {}))


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _table(headers: list[list[str]], rows: list[list], flags: dict) -> str:
    cells = [[str(h) for h in row] for row in headers]
    for r, row in enumerate(rows):
        cells.append(
            [_text(v) + (" !" if (r, i) in flags else "") for i, v in enumerate(row)]
        )
    widths = [max(_width(row[i]) for row in cells) for i in range(len(cells[0]))]

    return "\n".join(
        "  ".join(
            c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in cells
    )


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()

    return str(value)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
