"""`doorstep review list|show` and `doorstep export`: looking at what came in."""

from __future__ import annotations

import json
from pathlib import Path

import click

from doorstep.sync.review import ReviewItem, review_item, review_queue
from doorstep.sync.table_export import ExportError, export_table


@click.group()
def review() -> None:
    """Submissions stored with problems, flagged for an admin's eye."""


@review.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_review(ref, as_json: bool) -> None:
    """List flagged submissions and why each was flagged."""
    items = list(review_queue(ref.open()))
    if as_json:
        click.echo(
            json.dumps([i.to_dict() for i in items], ensure_ascii=False, indent=2)
        )
        return
    for item in items:
        why = item.reasons + [f"{p.path}: {p.message}" for p in item.problems]
        click.echo(
            f"{item.submission.instance_id}  {item.submission.form_id}  "
            f"{'; '.join(why)}"
        )
    click.echo(f"{len(items)} submission(s) to review")


@review.command("show")
@click.argument("instance_id")
@click.pass_obj
def show_review(ref, instance_id: str) -> None:
    """Show one submission: where it came from, its problems and its values."""
    item = review_item(ref.open(), instance_id)
    if item is None:
        raise click.ClickException(
            f"no submission {instance_id!r}; see `doorstep submissions list`"
        )
    _print_item(item)


def _print_item(item: ReviewItem) -> None:
    data = item.to_dict()
    for key in ("instance_id", "form_id", "version", "device"):
        click.echo(f"{key}: {data[key] or '-'}")
    for reason in item.reasons:
        click.echo(f"flag: {reason}")
    for problem in item.problems:
        click.echo(f"problem: {problem.path}: {problem.message} ({problem.value!r})")
    if not item.reasons and not item.problems:
        click.echo("no problems found")
    if item.record is not None:
        click.echo("values:")
        for path, value in item.record.values.items():
            click.echo(f"  {path} = {value}")


@click.command("export")
@click.argument("form_id")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the CSV files into.",
)
@click.option(
    "--unmasked", is_flag=True, help="Keep ID-card and phone numbers in full."
)
@click.pass_obj
def export(ref, form_id: str, out: Path, unmasked: bool) -> None:
    """Export a form's raw submissions as CSV (one file per repeat, KEY/PARENT_KEY)."""
    try:
        written = export_table(ref.open(), form_id, out, unmasked=unmasked)
    except ExportError as err:
        raise click.ClickException(str(err)) from err
    for path in written:
        click.echo(path)
