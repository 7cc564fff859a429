"""`doorstep demo`: the whole main job in a fresh deployment, end to end."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import click

from doorstep.server.app import create_app
from doorstep.server.collect import run_simulation
from doorstep.server.serve import start_in_thread
from doorstep.sync.deployment import Deployment, init_deployment
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.merge import merge
from doorstep.sync.publish import publish_form

__all__ = ["building_counts", "demo", "run_simulation"]

DEVICES = 5
PER_DEVICE = 40


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--devices", default=DEVICES, show_default=True, type=click.IntRange(1, 100)
)
@click.option(
    "--per-device", default=PER_DEVICE, show_default=True, type=click.IntRange(1, 10000)
)
def demo(directory: Path | None, devices: int, per_device: int) -> None:
    """Run the main job in a fresh deployment (a temporary one by default).

    Creates the deployment, publishes the shipped forms, serves them on a
    free loopback port, plays volunteers' tablets against it over real HTTP,
    merges, and says where the ledgers are.
    """
    from doorstep.forms.templates import copy_templates

    started = time.perf_counter()
    root = directory or Path(tempfile.mkdtemp(prefix="doorstep-demo-"))
    deployment = _init(root, copy_templates)
    step = _stepper()

    step(f"deployment at {root}")
    for path in sorted(deployment.forms_dir.glob("*.xlsx")):
        publish_form(deployment, path)
    step(f"published {len(list(deployment.forms_dir.glob('*.xlsx')))} forms")

    server = start_in_thread(create_app(deployment))
    registry = DeviceRegistry(deployment.data_dir)
    tablets = [registry.add(f"volunteer-{n}") for n in range(1, devices + 1)]
    step(f"server listening on {server.url}; {devices} tablets registered")
    try:
        urls = [tablet.url(server.url) for tablet in tablets]
        result = _simulate(urls, devices, per_device)
    finally:
        server.stop()
    step(result.describe())

    summary = merge(deployment)
    step("merged")
    _print_summary(result, summary, deployment, time.perf_counter() - started)


def _init(root: Path, copy_templates) -> Deployment:
    if root.exists() and any(root.iterdir()):
        raise click.UsageError(
            f"{root} is not empty; give an empty or new directory for the demo"
        )
    deployment = init_deployment(root, name="doorstep demo")
    copy_templates(deployment.forms_dir)

    return deployment


def _simulate(urls: list[str], devices: int, per_device: int):
    total = devices * per_device
    lock = threading.Lock()
    with click.progressbar(length=total, label="  tablets sending") as bar:

        def advance() -> None:
            with lock:
                bar.update(1)

        return run_simulation(urls, devices, per_device, on_sent=advance)


def _stepper():
    started = time.perf_counter()

    def step(text: str) -> None:
        click.echo(f"[{time.perf_counter() - started:5.1f}s] {text}")

    return step


def _print_summary(result, summary, deployment: Deployment, seconds: float) -> None:
    received = result.statuses.get(201, 0)
    click.echo("")
    click.echo(f"received      {received - result.resent} submissions")
    click.echo(f"duplicates    {result.resent} resends ignored")
    click.echo(f"buildings     {len(summary.buildings)}")
    for name, count in sorted(summary.entities.items()):
        click.echo(f"{name:<13} {count}")
    click.echo(f"log rows      {sum(summary.log_rows.values())}")
    click.echo(f"ledgers       {deployment.ledgers_dir}")
    click.echo(f"done in {seconds:.1f} s")


def building_counts(deployment: Deployment) -> dict[str, int]:
    """Submissions per building, from the last merge."""
    from doorstep.sync.ledgers import building_counts as counts

    return counts(deployment)
