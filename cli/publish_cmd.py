"""`doorstep forms add|list|state`: publishing forms to the deployment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from doorstep.sync.publish import PublishError, publish_form
from doorstep.sync.registry import STATES, FormRegistry, RegistryError


@click.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--media",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV list or media file that comes with the form (repeatable).",
)
@click.pass_obj
def add(ref, paths: tuple[Path, ...], media: tuple[Path, ...]) -> None:
    """Publish XLSForms (or compiled XForms) to the deployment."""
    deployment = ref.open()
    failed = 0
    for path in paths:
        try:
            result = publish_form(deployment, path, list(media))
        except PublishError as err:
            failed += 1
            click.echo(f"{path}: not published: {err}", err=True)
            for problem in err.problems:
                click.echo(f"  {problem}", err=True)
            continue
        for warning in result.warnings:
            click.echo(f"  {warning}")
        spec = result.form.spec
        word = "published" if result.new else "already published, unchanged"
        click.echo(f"{spec.form_id} version {spec.version or '-'}: {word}")
    if failed:
        raise click.ClickException(f"{failed} of {len(paths)} form(s) not published")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_forms(ref, as_json: bool) -> None:
    """List published forms with their version, state and md5."""
    registry = FormRegistry(ref.open().data_dir)
    rows = [
        {
            "form_id": form.form_id,
            "version": form.version,
            "title": form.spec.title,
            "state": registry.state(form.form_id),
            "md5": form.spec.md5,
            "versions": len(registry.versions(form.form_id)),
        }
        for form in registry.forms()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['form_id']}  v{row['version'] or '-'}  {row['state']}  "
            f"{row['title']}"
        )


@click.command("state")
@click.argument("form_id")
@click.argument("state", type=click.Choice(STATES))
@click.pass_obj
def set_state(ref, form_id: str, state: str) -> None:
    """Open, close, or start closing a form (closing: hidden, still accepts)."""
    try:
        FormRegistry(ref.open().data_dir).set_state(form_id, state)
    except RegistryError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{form_id} is now {state}")


def register_publish_commands(group: click.Group) -> None:
    for command in (add, list_forms, set_state):
        group.add_command(command)
