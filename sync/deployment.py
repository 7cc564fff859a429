"""A deployment: one directory holding an office's settings, forms and data.

Layout::

    doorstep.toml     settings
    forms/            the XLSForms the admin edits (copies of the templates)
    data/             everything doorstep writes: published forms,
                      submissions, attachments, indexes, ledgers
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doorstep.sync.settings import check_settings
from doorstep.sync.settings import default as settings_default

SETTINGS_FILE = "doorstep.toml"

DEFAULT_SETTINGS = """\
# doorstep deployment settings. Every setting is described in the README.

[deployment]
# The name shown on devices' project screens and in ledgers.
name = "{name}"
# The office's time zone, for times shown in ledgers.
timezone = "Asia/Shanghai"

[server]
# The address tablets use to reach this laptop over the office Wi-Fi; it goes
# into each device's URL and QR code. Set it to the laptop's Wi-Fi address.
url = "http://127.0.0.1:8000"
# Largest request body accepted, in bytes (submission XML plus attachments).
max_body_bytes = 10000000

[ledgers]
# The field that names the building, per form id, where it is not `building`.
# building_field = {{ gate_log = "building" }}

# Entity properties that mark two entities with different ids as probable
# duplicates, per entity list.
# duplicate_keys = {{ residents = ["name", "id_card"] }}

# Mask ID-card and phone numbers in exported ledgers.
mask_personal = true
"""


class DeploymentError(Exception):
    """A deployment directory that is missing or cannot be read."""


@dataclass
class Deployment:
    """An opened deployment directory and its settings."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.settings.get("deployment", {}).get("name", self.root.name)

    @property
    def forms_dir(self) -> Path:
        return self.root / "forms"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def ledgers_dir(self) -> Path:
        return self.data_dir / "ledgers"

    def setting(self, section: str, key: str, default: Any = None) -> Any:
        """A setting's value, else ``default``, else the documented default."""
        if default is None:
            default = settings_default(section, key)

        return self.settings.get(section, {}).get(key, default)


def init_deployment(root: Path, *, name: str | None = None) -> Deployment:
    """Create a deployment at ``root``; refuse one that already exists."""
    settings_path = root / SETTINGS_FILE
    if settings_path.exists():
        raise DeploymentError(
            f"{root} already holds a deployment ({SETTINGS_FILE} exists); "
            "choose an empty directory"
        )

    root.mkdir(parents=True, exist_ok=True)
    for folder in ("forms", "data"):
        (root / folder).mkdir(exist_ok=True)
    os.chmod(root / "data", 0o700)
    title = (name or root.resolve().name).replace('"', "'")
    settings_path.write_text(DEFAULT_SETTINGS.format(name=title), encoding="utf-8")

    return open_deployment(root)


def open_deployment(root: Path) -> Deployment:
    """Open the deployment at ``root``, reading its settings."""
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file():
        raise DeploymentError(
            f"{root.resolve()} is not a doorstep deployment (no {SETTINGS_FILE}). "
            "Create one with `doorstep init DIR`, or point at one with "
            "--dir or DOORSTEP_DIR"
        )

    try:
        settings = tomllib.loads(settings_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise DeploymentError(f"{settings_path}: cannot be read: {err}") from err
    except OSError as err:
        raise DeploymentError(f"{settings_path}: cannot be opened: {err}") from err

    problems = check_settings(settings)
    if problems:
        raise DeploymentError(f"{settings_path}: " + "; ".join(problems))

    return Deployment(root=root, settings=settings)
