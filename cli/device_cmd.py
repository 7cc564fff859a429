"""`doorstep device add|list|revoke|qr`: tablets and their tokens."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
import segno

from doorstep.sync.devices import Device, DeviceError, DeviceRegistry, collect_settings


@click.group()
def device() -> None:
    """Tablets allowed to sync, each with a revocable key and a QR code."""


@device.command("add")
@click.argument("name")
@click.option(
    "--form", "forms", multiple=True, help="Limit to this form id (repeatable)."
)
@click.option("--server-url", help="Override the settings' [server] url.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def add(ref, name: str, forms: tuple[str, ...], server_url: str | None, as_json: bool):
    """Register a tablet: prints its server URL and writes its QR code."""
    deployment = ref.open()
    base = server_url or deployment.setting("server", "url", "http://127.0.0.1:8000")
    try:
        added = DeviceRegistry(deployment.data_dir).add(name, list(forms))
    except DeviceError as err:
        raise click.ClickException(str(err)) from err
    qr = _write_qr(added, base, deployment.name, deployment.data_dir / "devices")

    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": added.name,
                    "token": added.token,
                    "url": added.url(base),
                    "qr": str(qr),
                },
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"{added.name}: {added.url(base)}")
    click.echo(
        f"Scan {qr} in ODK Collect (Project settings > Reconfigure with QR code)."
    )


@device.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_devices(ref, as_json: bool) -> None:
    """List tablets, their forms and whether they are revoked."""
    devices = DeviceRegistry(ref.open().data_dir).devices()
    rows = [
        {
            "name": d.name,
            "forms": list(d.forms),
            "created": _when(d.created),
            "revoked": _when(d.revoked) if d.revoked else None,
        }
        for d in devices
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = f"revoked {row['revoked']}" if row["revoked"] else "active"
        click.echo(f"{row['name']}  {state}  forms: {', '.join(row['forms']) or 'all'}")


@device.command("revoke")
@click.argument("name")
@click.pass_obj
def revoke(ref, name: str) -> None:
    """Revoke a tablet's key: it can no longer fetch forms or submit."""
    try:
        DeviceRegistry(ref.open().data_dir).revoke(name)
    except DeviceError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{name} revoked")


@device.command("qr")
@click.argument("name")
@click.option("--server-url", help="Override the settings' [server] url.")
@click.pass_obj
def qr(ref, name: str, server_url: str | None) -> None:
    """Write a tablet's ODK Collect settings QR code again."""
    deployment = ref.open()
    found = DeviceRegistry(deployment.data_dir).get(name)
    if found is None or not found.active:
        raise click.ClickException(f"no active device named {name!r}")
    base = server_url or deployment.setting("server", "url", "http://127.0.0.1:8000")
    click.echo(_write_qr(found, base, deployment.name, deployment.data_dir / "devices"))


def _write_qr(device: Device, base: str, project: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{device.name}.png"
    segno.make(collect_settings(device, base, project), error="l").save(
        str(path), scale=6, border=4
    )
    path.chmod(0o600)

    return path


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")
