"""Devices: one revocable token per tablet, carried in the server URL.

A tablet's server URL is ``<server>/key/<token>``; ODK Collect keeps it from
the settings QR code and appends ``/formList`` and ``/submission`` itself.
The registry is a small TinyDB file (one document per tablet), guarded by
an ``fcntl`` lock because the server and the CLI may write it at once and
TinyDB alone loses writes across processes.
"""

from __future__ import annotations

import base64
import fcntl
import hmac
import json
import re
import secrets
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tinydb import Query, TinyDB

_NAME = re.compile(r"^[\w.-]{1,64}$")


class DeviceError(Exception):
    """A device that cannot be added, found or revoked."""


@dataclass(frozen=True)
class Device:
    """A tablet allowed to fetch forms and send submissions."""

    name: str
    token: str
    forms: tuple[str, ...]
    created: float
    revoked: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def may_use(self, form_id: str) -> bool:
        """Whether this device sees and submits ``form_id`` (no list: all)."""
        return not self.forms or form_id in self.forms

    def url(self, server_url: str) -> str:
        return f"{server_url.rstrip('/')}/key/{self.token}"


class DeviceRegistry:
    """The deployment's tablets and their tokens."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "devices.json"
        self._lock_path = data_dir / "devices.lock"

    def add(self, name: str, forms: list[str] | None = None) -> Device:
        """Register a tablet under a new random token."""
        if not _NAME.match(name):
            raise DeviceError(
                f"device name {name!r} is not allowed: use letters, digits, "
                "'_', '-' or '.', at most 64"
            )
        device = Device(
            name, secrets.token_urlsafe(32), tuple(forms or ()), time.time()
        )
        with self._db() as db:
            existing = db.get(Query().name == name)
            if existing is not None and existing.get("revoked") is None:
                raise DeviceError(
                    f"a device named {name!r} exists; revoke it or choose another name"
                )
            # A revoked tablet's name can be given again; its old key stays dead.
            db.remove(Query().name == name)
            db.insert(_document(device))

        return device

    def revoke(self, name: str) -> Device:
        with self._db() as db:
            if not db.search(Query().name == name):
                raise DeviceError(
                    f"no device named {name!r}; see `doorstep device list`"
                )
            db.update({"revoked": time.time()}, Query().name == name)

            return _device(db.get(Query().name == name))

    def devices(self) -> list[Device]:
        with self._db() as db:
            return sorted((_device(d) for d in db.all()), key=lambda d: d.name)

    def by_token(self, token: str) -> Device | None:
        """The device holding ``token``, revoked or not, compared in constant time."""
        for device in self.devices():
            if hmac.compare_digest(device.token.encode(), token.encode()):
                return device

        return None

    def get(self, name: str) -> Device | None:
        return next((d for d in self.devices() if d.name == name), None)

    @contextmanager
    def _db(self) -> Iterator[TinyDB]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            db = TinyDB(self.path, ensure_ascii=False)
            try:
                yield db
            finally:
                db.close()
                self.path.chmod(0o600)


def collect_settings(device: Device, server_url: str, project: str) -> str:
    """The ODK Collect settings QR payload: JSON, zlib, then Base64."""
    settings = {
        "general": {
            "server_url": device.url(server_url),
            "form_update_mode": "match_exactly",
            "autosend": "wifi_only",
            "metadata_username": device.name,
        },
        "admin": {},
        "project": {"name": project, "icon": project[:1] or "D", "color": "#2e7d32"},
    }
    packed = zlib.compress(json.dumps(settings, ensure_ascii=False).encode("utf-8"))

    return base64.b64encode(packed).decode("ascii")


def read_collect_settings(payload: str) -> dict:
    """Decode a settings QR payload, as Collect does when it scans one."""
    return json.loads(zlib.decompress(base64.b64decode(payload)).decode("utf-8"))


def _document(device: Device) -> dict:
    return {
        "name": device.name,
        "token": device.token,
        "forms": list(device.forms),
        "created": device.created,
        "revoked": device.revoked,
    }


def _device(document: dict) -> Device:
    return Device(
        name=document["name"],
        token=document["token"],
        forms=tuple(document.get("forms", ())),
        created=document["created"],
        revoked=document.get("revoked"),
    )
