"""Published forms: every version ever published, and each form's state.

Layout under ``data/forms/``::

    <form>/state                 open | closing | closed
    <form>/<version>/form.xml    the compiled XForm, as served to devices
    <form>/<version>/media/      CSV lists and media that come with it

``<form>`` and ``<version>`` are the id and version themselves where they
are plain names, else "_" and their UTF-8 in hex; the same names are used in
the server's URLs, so nothing a form says chooses a path.

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
# Ids and versions that are safe as folder names are used as they are; any
# other (Chinese file names without a settings sheet, spaces) is stored as
# "_" + hex, which a plain name can never start with.
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
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

    @property
    def key(self) -> str:
        """The form's folder name: safe in paths and URLs."""
        return self.folder.parent.name

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
        write_atomic(existing, xml)

        return self._load(folder), True

    def get(self, form_id: str, version: str | None = None) -> PublishedForm | None:
        """A published version, or the latest when ``version`` is None."""
        if not _usable(form_id):
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
        folder = self.root / folder_name(form_id)
        if not _usable(form_id) or not folder.is_dir():
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
        names = (_from_folder(p.name) for p in self.root.iterdir() if p.is_dir())
        ids = sorted(name for name in names if name is not None)

        return [form for form in map(self.get, ids) if form is not None]

    def state(self, form_id: str) -> str:
        path = self.root / folder_name(form_id) / "state"
        return path.read_text().strip() if path.exists() else "open"

    def set_state(self, form_id: str, state: str) -> None:
        if state not in STATES:
            raise RegistryError(f"state must be one of {', '.join(STATES)}")
        if not self.versions(form_id):
            raise RegistryError(f"no form {form_id!r} is published")

        write_atomic(self.root / folder_name(form_id) / "state", state.encode())

    def _folder(self, form_id: str, version: str) -> Path:
        # An empty version is legal in XForms; "_" cannot be a version pyxform
        # writes from a settings sheet, so it cannot collide.
        return self.root / folder_name(form_id) / folder_name(version)

    def _load(self, folder: Path) -> PublishedForm:
        return _load_version(folder)

    def _write_media(self, folder: Path, media: dict[str, bytes]) -> None:
        for name, content in media.items():
            if not _SAFE_MEDIA.match(name) or name in (".", ".."):
                raise RegistryError(f"media file name {name!r} is not allowed")
            write_atomic(folder / "media" / name, content)


@functools.lru_cache(maxsize=256)
def _load_version(folder: Path) -> PublishedForm:
    # A published version never changes, so reading it once per process is
    # enough; the cache spares the server a parse on every request.
    spec = read_spec((folder / "form.xml").read_bytes())
    meta = folder / "published.json"
    published = json.loads(meta.read_text())["at"] if meta.exists() else 0.0

    return PublishedForm(spec=spec, folder=folder, published=published)


def _check_id(form_id: str) -> None:
    if not _usable(form_id):
        raise RegistryError(
            f"form id {form_id!r} cannot be published: give the form a form_id "
            "of at most 128 characters on its settings sheet"
        )


def form_id_from_key(key: str) -> str | None:
    """The form id behind a folder name, as the server's URLs carry it."""
    form_id = _from_folder(key)

    return form_id if form_id is not None and folder_name(form_id) == key else None


def folder_name(text: str) -> str:
    """A form id or version as a folder name (see the module docstring)."""
    return text if _PLAIN.match(text) else "_" + text.encode("utf-8").hex()


def _from_folder(name: str) -> str | None:
    if not name.startswith("_"):
        return name
    try:
        return bytes.fromhex(name[1:]).decode("utf-8")
    except ValueError:
        return None


def _usable(form_id: str) -> bool:
    return 0 < len(form_id) <= 128 and form_id.isprintable()
