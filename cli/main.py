"""The `doorstep` command: one verb per job the office has.

Thin by design: parse, call the library, print. Library errors become one
clear line and exit 1 here, at the edge; usage mistakes exit 2 (click).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from doorstep.cli.demo_cmd import demo
from doorstep.cli.device_cmd import device
from doorstep.cli.forms_cmd import forms
from doorstep.cli.ledger_cmd import ledger, merge_command, report
from doorstep.cli.publish_cmd import register_publish_commands
from doorstep.cli.review_cmd import export, review
from doorstep.server.app import create_app
from doorstep.server.collect import CollectError
from doorstep.server.serve import serve as run_server
from doorstep.sync.deployment import (
    Deployment,
    DeploymentError,
    init_deployment,
    open_deployment,
)
from doorstep.sync.status import deployment_status, submission_rows


@dataclass
class DeploymentRef:
    """Where the deployment is; opened only by commands that need it."""

    root: Path

    def open(self) -> Deployment:
        try:
            return open_deployment(self.root)
        except DeploymentError as err:
            raise click.ClickException(str(err)) from err


class DoorstepGroup(click.Group):
    """The top command: turns what the file system refuses into one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`doorstep ledger show 3 | head`): not an
            # error to report; stop writing to the closed pipe and leave.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            raise click.ClickException(
                f"{where}{err.strerror or err}; check that the deployment's "
                "folders are folders and writable"
            ) from err


def _http_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{value!r} is not a server URL; give one like "
            "http://192.168.1.10:8000/key/<token>, as `doorstep device add` prints"
        )

    return value


@click.group(cls=DoorstepGroup)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DOORSTEP_DIR",
    default=".",
    show_default=True,
    help="The deployment directory (or set DOORSTEP_DIR).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens at INFO.")
@click.version_option(package_name="doorstep")
@click.pass_context
def main(ctx: click.Context, root: Path, verbose: bool) -> None:
    """doorstep: offline-first field data collection for building ledgers.

    Forms are XLSForms; tablets sync with `doorstep serve` over the office
    Wi-Fi; `doorstep merge` turns submissions into per-building ledgers.
    """
    ctx.obj = DeploymentRef(root)
    # Residents' personal data: whatever doorstep writes is its owner's only.
    os.umask(0o077)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="The office's name, shown on devices.")
def init(directory: Path, name: str | None) -> None:
    """Create a deployment in DIRECTORY with the shipped form templates."""
    from doorstep.forms.templates import copy_templates

    try:
        deployment = init_deployment(directory, name=name)
    except DeploymentError as err:
        raise click.ClickException(str(err)) from err
    written = copy_templates(deployment.forms_dir)
    click.echo(f"Created deployment {directory} with {len(written)} form templates.")
    click.echo(f"Next: doorstep --dir {directory} forms add {directory}/forms/*.xlsx")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.pass_obj
def serve(ref: DeploymentRef, host: str, port: int) -> None:
    """Serve forms to tablets and receive their submissions (OpenRosa)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run_server(create_app(ref.open()), host, port)


@main.command()
@click.option(
    "--server",
    "server_url",
    required=True,
    help="A device's server URL, as `doorstep device add` prints it.",
    callback=_http_url,
)
@click.option("--devices", default=5, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--per-device", default=40, show_default=True, type=click.IntRange(1, 100000)
)
@click.option("--seed", default=0, show_default=True, help="Random seed.")
def simulate(server_url: str, devices: int, per_device: int, seed: int) -> None:
    """Play volunteers' tablets against a server, as ODK Collect would."""
    from doorstep.cli.demo_cmd import run_simulation

    try:
        result = run_simulation([server_url], devices, per_device, seed=seed)
    except (CollectError, OSError) as err:
        raise click.ClickException(
            f"simulation against {server_url} failed: {err}"
        ) from err
    click.echo(result.describe())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(ref: DeploymentRef, as_json: bool) -> None:
    """Counts per form, device and building, and each device's last sync."""
    from doorstep.cli.demo_cmd import building_counts

    deployment = ref.open()
    data = deployment_status(deployment)
    data["buildings"] = building_counts(deployment)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return

    click.echo(f"{data['submissions']} submissions ({data['incomplete']} incomplete)")
    _table("form", data["forms"])
    _table(
        "device",
        {
            k: f"{v['submissions']}  last sync {v['last_sync']}"
            for k, v in data["devices"].items()
        },
    )
    _table("building", data["buildings"])


@main.group()
def submissions() -> None:
    """Stored submissions."""


@submissions.command("list")
@click.option("--form", "form_id", help="Only this form id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_submissions(ref: DeploymentRef, form_id: str | None, as_json: bool) -> None:
    """List stored submissions: id, form, version, device, received, complete."""
    rows = submission_rows(ref.open(), form_id)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = "complete" if row["complete"] else "waiting for files"
        click.echo(
            f"{row['instance_id']}  {row['form_id']}  {row['version'] or '-'}  "
            f"{row['device_id'] or '-'}  {row['received']}  {state}"
        )


def _table(title: str, counts: dict) -> None:
    if not counts:
        return
    click.echo(f"\nper {title}:")
    for key, value in counts.items():
        click.echo(f"  {key}: {value}")


main.add_command(forms)
main.add_command(ledger)
main.add_command(merge_command)
main.add_command(report)
main.add_command(demo)
main.add_command(device)
main.add_command(review)
main.add_command(export)
register_publish_commands(forms)
