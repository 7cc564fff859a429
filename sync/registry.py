"""Published forms: every version ever published, and each form's state.

Layout under ``data/forms/``::

    <form_id>/state              open | closing | closed
    <form_id>/<version>/form.xml the compiled XForm, as served to devices
    <form_id>/<version>/media/   CSV lists and media that come with it

A version is never overwritten: submissions made with an older version are
still read with that version's form. The registry is small (forms, not
submissions), so it is read from disk on every call, which lets a CLI
publish while the server runs.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from doorstep.forms.spec import FormSpec, read_spec
from doorstep.sync.files import write_atomic

STATES = ("open", "closing", "closed")
_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]{0,127}$")
_SAFE_MEDIA = re.compile(r"^[^/\\\x00]{1,200}$")


class RegistryError(Exception):
    """A form that cannot be published or found, in the admin's words."""


@dataclass(frozen=True)
class PublishedForm:
    """One published version of a form."""

    spec: FormSpec
    folder: Path
    published: float

    @property
    def form_id(self) -> str:
        return self.spec.form_id

    @property
    def version(self) -> str:
        return self.spec.version

    def media(self) -> dict[str, Path]:
        folder = self.folder / "media"
        if not folder.is_dir():
            return {}

        return {p.name: p for p in sorted(folder.iterdir()) if p.is_file()}


class FormRegistry:
    """The forms published in one deployment."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "forms"

    def publish(
        self, xform: str | bytes, media: dict[str, bytes] | None = None
    ) -> tuple[PublishedForm, bool]:
        """Publish a compiled XForm; returns the form and whether it was new.

        The same XForm published again is a no-op. A changed XForm under a
        version already published is refused: devices would hold two forms
        under one name.
        """
        xml = xform.encode("utf-8") if isinstance(xform, str) else xform
        spec = read_spec(xml)
        _check_id(spec.form_id)
        folder = self._folder(spec.form_id, spec.version)
        existing = folder / "form.xml"
        if existing.exists():
            if existing.read_bytes() != xml:
                raise RegistryError(
                    f"form {spec.form_id!r} version {spec.version or '(none)'!r} "
                    "is already published with different content; set a new "
                    "version in the settings sheet and publish again"
                )
            self._write_media(folder, media or {})
            return self._load(folder), False

        self._write_media(folder, media or {})
        write_atomic(
            folder / "published.json", json.dumps({"at": time.time()}).encode()
        )
        write_atomic(existing, xml, mode=0o644)

        return self._load(folder), True

    def get(self, form_id: str, version: str | None = None) -> PublishedForm | None:
        """A published version, or the latest when ``version`` is None."""
        if not _SAFE_ID.match(form_id):
            return None
        if version is not None:
            folder = self._folder(form_id, version)
            return self._load(folder) if (folder / "form.xml").exists() else None

        versions = self.versions(form_id)
        return versions[-1] if versions else None

    def closest(self, form_id: str, version: str) -> PublishedForm | None:
        """The published version to read a submission made with ``version``.

        The exact version when published; otherwise, for numeric versions
        (pyxform's yyyymmddnn style), the nearest one by value, and else the
        latest.
        """
        exact = self.get(form_id, version)
        if exact is not None:
            return exact
        versions = self.versions(form_id)
        numeric = [f for f in versions if f.version.isdigit()]
        if version.isdigit() and numeric:
            return min(
                numeric,
                key=lambda f: (abs(int(f.version) - int(version)), -f.published),
            )

        return versions[-1] if versions else None

    def versions(self, form_id: str) -> list[PublishedForm]:
        """Every published version of a form, oldest first."""
        folder = self.root / form_id
        if not _SAFE_ID.match(form_id) or not folder.is_dir():
            return []
        found = [
            self._load(child)
            for child in folder.iterdir()
            if (child / "form.xml").exists()
        ]

        return sorted(found, key=lambda f: f.published)

    def forms(self) -> list[PublishedForm]:
        """The latest version of every published form, by form id."""
        if not self.root.is_dir():
            return []
        ids = sorted(p.name for p in self.root.iterdir() if p.is_dir())

        return [form for form in map(self.get, ids) if form is not None]

    def state(self, form_id: str) -> str:
        path = self.root / form_id / "state"
        return path.read_text().strip() if path.exists() else "open"

    def set_state(self, form_id: str, state: str) -> None:
        if state not in STATES:
            raise RegistryError(f"state must be one of {', '.join(STATES)}")
        if not self.versions(form_id):
            raise RegistryError(f"no form {form_id!r} is published")

        write_atomic(self.root / form_id / "state", state.encode(), mode=0o644)

    def _folder(self, form_id: str, version: str) -> Path:
        # An empty version is legal in XForms; "_" cannot be a version pyxform
        # writes from a settings sheet, so it cannot collide.
        name = version if version and _SAFE_ID.match(version) else "_" + _hex(version)
        return self.root / form_id / name

    def _load(self, folder: Path) -> PublishedForm:
        return _load_version(folder)

    def _write_media(self, folder: Path, media: dict[str, bytes]) -> None:
        for name, content in media.items():
            if not _SAFE_MEDIA.match(name) or name in (".", ".."):
                raise RegistryError(f"media file name {name!r} is not allowed")
            write_atomic(folder / "media" / name, content, mode=0o644)


@functools.lru_cache(maxsize=256)
def _load_version(folder: Path) -> PublishedForm:
    # A published version never changes, so reading it once per process is
    # enough; the cache spares the server a parse on every request.
    spec = read_spec((folder / "form.xml").read_bytes())
    meta = folder / "published.json"
    published = json.loads(meta.read_text())["at"] if meta.exists() else 0.0

    return PublishedForm(spec=spec, folder=folder, published=published)


def _check_id(form_id: str) -> None:
    if not _SAFE_ID.match(form_id):
        raise RegistryError(
            f"form id {form_id!r} cannot be published: use letters, digits, "
            "'_', '-' and '.', starting with a letter (settings sheet, form_id)"
        )


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()
