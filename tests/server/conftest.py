"""A real server on loopback, with one small gate form and one tablet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from doorstep.server.app import create_app
from doorstep.server.serve import start_in_thread
from doorstep.sync.deployment import Deployment
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import Store
from tests.conftest import compile_md

GATE = """
| survey |          |          |          |
|        | type     | name     | label    |
|        | text     | visitor  | Visitor  |
|        | text     | building | Building |
|        | image    | photo    | Photo    |
| settings |           |         |            |
|          | form_id   | version | form_title |
|          | gate      | 2       | Gate log   |
"""


def gate_xml(instance_id: str = "uuid:1", visitor: str = "王", photo: str = "p.jpg"):
    return (
        f'<data id="gate" version="2"><visitor>{visitor}</visitor>'
        f"<building>3</building><photo>{photo}</photo>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@contextmanager
def serving(
    deployment: Deployment, name: str, form: str, media: dict | None = None
) -> Iterator[SimpleNamespace]:
    """Publish an inline form, serve the deployment, register one tablet."""
    registry = FormRegistry(deployment.data_dir)
    registry.publish(compile_md(deployment.root, name, form), media)
    running = start_in_thread(create_app(deployment))
    device = DeviceRegistry(deployment.data_dir).add("tablet-1")
    try:
        yield SimpleNamespace(
            url=device.url(running.url),
            base=running.url,
            port=running.port,
            token=device.token,
            store=Store(deployment.data_dir),
            registry=registry,
            deployment=deployment,
            root=deployment.root,
        )
    finally:
        running.stop()


@pytest.fixture
def server(deployment):
    """The gate form served with a 200 kB request limit."""
    deployment.settings["server"]["max_body_bytes"] = 200_000
    with serving(deployment, "gate", GATE) as served:
        yield served
