"""The one door every submission comes in by, whatever carried it.

OpenRosa posts from ODK Collect, the browser client, a peer's batch and an
imported folder all end here. The outcome is a kind and a message for the
volunteer; the HTTP face maps kinds to status codes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from doorstep.forms.instance import Instance, InstanceError, parse_instance
from doorstep.forms.spec import FormSpec
from doorstep.forms.xml import local_name
from doorstep.sync.deployment import Deployment
from doorstep.sync.registry import FormRegistry, PublishedForm, folder_name
from doorstep.sync.store import StaleEdit, Store, StoreConflict, StoredSubmission

log = logging.getLogger(__name__)


class Outcome(Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    EDIT_OUT_OF_DATE = "edit_out_of_date"
    EDIT_UNKNOWN = "edit_unknown"
    UNKNOWN_FORM = "unknown_form"
    NOT_ALLOWED = "not_allowed"
    FORM_CLOSED = "form_closed"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class IngestResult:
    """What happened to one submission, with a message for the volunteer."""

    outcome: Outcome
    message: str
    instance_id: str | None = None
    form_id: str | None = None
    submission: StoredSubmission | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome in (Outcome.CREATED, Outcome.DUPLICATE)


class Ingest:
    """Accepts submissions into one deployment's store."""

    def __init__(self, deployment: Deployment) -> None:
        self.registry = FormRegistry(deployment.data_dir)
        self.store = Store(deployment.data_dir)
        self._forms = _FormCache(self.registry)

    def submit(
        self,
        xml: bytes,
        attachments: dict[str, bytes],
        *,
        device_id: str = "",
        device_name: str = "",
        allowed: Callable[[str], bool] | None = None,
    ) -> IngestResult:
        """Store one submission, or say in plain words why it was not.

        ``device_id`` is the id the tablet reports (Collect's ``deviceID``),
        ``device_name`` the registered device whose token carried it, and
        ``allowed`` says which forms that device may submit to.
        """
        try:
            _check_utf8(xml)
            instance = parse_instance(xml)
            files = _base_names(attachments)
        except InstanceError as err:
            return IngestResult(Outcome.MALFORMED, str(err))

        known = self._forms.lookup(instance.form_id)
        form = known.latest
        if form is None:
            return IngestResult(
                Outcome.UNKNOWN_FORM,
                f"The server has no form {instance.form_id!r}. Ask the office "
                "to publish it, then download forms again.",
                instance.instance_id,
                instance.form_id,
            )
        if allowed is not None and not allowed(instance.form_id):
            return IngestResult(
                Outcome.NOT_ALLOWED,
                f"This tablet may not send the form {instance.form_id!r}. "
                "Ask the office to allow it for this tablet.",
                instance.instance_id,
                instance.form_id,
            )
        if known.state == "closed" and not self._already_stored(instance):
            return IngestResult(
                Outcome.FORM_CLOSED,
                f"The form {form.spec.title or instance.form_id!r} is closed and "
                "accepts no more submissions. Ask the office what to do with it.",
                instance.instance_id,
                instance.form_id,
            )

        spec, flags = self._spec_for(instance)
        device = (device_id, device_name)
        return self._store(instance, spec, files, device, flags)

    def _already_stored(self, instance: Instance) -> bool:
        # A resend of what the server holds is acknowledged even once the
        # form has closed: the data is here, and Collect must stop retrying.
        stored = self.store.get(instance.instance_id)

        return stored is not None and stored.sha256 == _sha256(instance.xml)

    def _spec_for(self, instance: Instance) -> tuple[FormSpec, list[str]]:
        exact = self._forms.exact(instance.form_id, instance.version)
        if exact is not None:
            return exact.spec, []

        # The volunteer cannot fix a version mismatch, so the submission is
        # kept and flagged, and read with the closest version meanwhile.
        closest = self.registry.closest(instance.form_id, instance.version)
        flag = f"version {instance.version or '(none)'} was never published"

        return closest.spec, [flag]

    def _store(self, instance, spec, attachments, device, flags) -> IngestResult:
        problem = self._edit_problem(instance)
        if problem is not None and problem.outcome is Outcome.EDIT_OUT_OF_DATE:
            return problem
        if problem is not None:
            # An edit of an original never received is still the volunteer's
            # latest word: keep it for review, and say so with the 404.
            flags = flags + ["edit of a submission the server never received"]

        expected = _named_files(spec, instance)
        attachments = _prefer_named(attachments, expected)
        try:
            stored, created = self.store.put(
                instance.xml,
                instance_id=instance.instance_id,
                form_id=instance.form_id,
                version=instance.version,
                device_id=device[0],
                device_name=device[1],
                expected=expected,
                attachments=attachments,
                deprecated_id=instance.deprecated_id,
                flags=flags + (["no instanceID"] if instance.id_derived else []),
            )
        except StaleEdit:
            return self._stale(instance)
        except StoreConflict:
            return IngestResult(
                Outcome.CONFLICT,
                "A different submission with the same ID is already on the "
                "server. This one was not stored; tell the office.",
                instance.instance_id,
                instance.form_id,
            )

        if problem is not None:
            return replace(problem, submission=stored)

        outcome = Outcome.CREATED if created else Outcome.DUPLICATE
        return IngestResult(
            outcome,
            _accepted_message(stored, created),
            instance.instance_id,
            instance.form_id,
            stored,
        )

    def _edit_problem(self, instance: Instance) -> IngestResult | None:
        if not instance.deprecated_id or self.store.get(instance.instance_id):
            return None

        original = self.store.get(instance.deprecated_id)
        if original is None:
            return IngestResult(
                Outcome.EDIT_UNKNOWN,
                "This is an edit of a submission the server never received. "
                "The edit is kept for the office to review; send the original "
                "too if the tablet still has it.",
                instance.instance_id,
                instance.form_id,
            )
        if original.replaced_by or original.form_id != instance.form_id:
            return self._stale(instance)

        return None

    def _stale(self, instance: Instance) -> IngestResult:
        return IngestResult(
            Outcome.EDIT_OUT_OF_DATE,
            "The copy you edited is out of date: someone else edited this "
            "submission first, or it belongs to another form. Download it "
            "again before editing.",
            instance.instance_id,
            instance.form_id,
        )


@dataclass
class _KnownForm:
    stamp: tuple[int, int, int] | None
    latest: PublishedForm | None
    state: str
    versions: dict[str, PublishedForm | None]


class _FormCache:
    """The registry as ingest asks it, re-read only when a form's folder changes.

    Every submission needs its form's latest version, exact version and
    state; listing the form's folder for each one costs more than storing
    the submission on a busy disk. Publishing a version adds a subfolder
    (the folder's link count changes) and a state change renames a new state
    file in (a new inode), so the stamp notices every change an admin makes,
    even within one tick of the file system's clock.
    """

    def __init__(self, registry: FormRegistry) -> None:
        self.registry = registry
        self._known: dict[str, _KnownForm] = {}

    def lookup(self, form_id: str) -> _KnownForm:
        # The stamp is taken before the reads, so a change racing with them
        # makes the next lookup read again rather than keep stale answers.
        stamp = self._stamp(form_id)
        known = self._known.get(form_id)
        if known is None or stamp is None or known.stamp != stamp:
            latest = self.registry.get(form_id)
            known = _KnownForm(stamp, latest, self.registry.state(form_id), {})
            if stamp is not None:
                self._known[form_id] = known

        return known

    def exact(self, form_id: str, version: str) -> PublishedForm | None:
        versions = self.lookup(form_id).versions
        if version not in versions:
            versions[version] = self.registry.get(form_id, version)

        return versions[version]

    def _stamp(self, form_id: str) -> tuple[int, int, int] | None:
        folder = self.registry.root / folder_name(form_id)
        try:
            info = os.stat(folder)
        except (OSError, ValueError):
            return None
        try:
            state = os.stat(folder / "state").st_ino
        except OSError:
            state = 0

        return info.st_mtime_ns, info.st_nlink, state


def _named_files(spec: FormSpec, instance: Instance) -> list[str]:
    """File names the submission's XML gives in its attachment fields."""
    names = []
    paths = {f.path for f in spec.attachment_fields}
    for path, node in _leaves(instance.root, ""):
        if path in paths and (node.text or "").strip():
            names.append((node.text or "").strip())

    return sorted(set(names))


def _leaves(node, prefix):
    for child in node:
        path = f"{prefix}{local_name(child.tag)}"
        if len(child):
            yield from _leaves(child, path + "/")
        else:
            yield path, child


# Longer than any file system on a tablet allows, so never a real file.
_MAX_NAME_BYTES = 255
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([^\"']+)")


def _check_utf8(xml: bytes) -> None:
    # Collect always sends UTF-8; anything else would be read as the wrong
    # characters (or not at all) by every later step.
    declared = _DECLARED_ENCODING.match(xml[:200])
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InstanceError(
            f"The submission is not UTF-8 text (byte {err.start} cannot be "
            "read). Send it again from ODK Collect, or save it as UTF-8."
        ) from err
    name = declared.group(1).lower() if declared else b"utf-8"
    if name not in (b"utf-8", b"utf8", b"us-ascii"):
        raise InstanceError(
            f"The submission says it is {name.decode('ascii', 'replace')!r} text; "
            "only UTF-8 is accepted. Save it as UTF-8 and send it again."
        )


def _base_names(attachments: dict) -> dict[str, bytes]:
    """Attachments keyed by the base of the file name the device gave.

    A key may also be a pair (file name, part name), as multipart uploads
    carry both: the file name counts, and the part name stands in when the
    file name is not one the submission names (see ``_prefer_named``).

    Nothing a client sends chooses a path: only the base name counts, and a
    name that is no file name at all refuses the whole upload. Empty files
    are left out: the first file stored under a name stays, so an empty one
    would block the real photo from ever arriving.
    """
    named = {}
    for key, data in attachments.items():
        name, part = key if isinstance(key, tuple) else (key, key)
        base = _base(name)
        unusable = (
            base in ("", ".", "..")
            or len(base.encode("utf-8", "replace")) > _MAX_NAME_BYTES
            or any(ord(c) < 0x20 or c == "\x7f" for c in base)
        )
        if unusable:
            raise InstanceError(
                f"The attachment {name[:60]!r} has no usable file name. "
                "Attach the file again on the device and resend."
            )
        if data:
            named[_Name(base, _base(part))] = data

    return named


class _Name(str):
    """A file name that remembers the multipart part name it came under."""

    def __new__(cls, base: str, part: str) -> _Name:
        name = super().__new__(cls, base)
        name.part = part

        return name


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _prefer_named(files: dict[str, bytes], expected: list[str]) -> dict[str, bytes]:
    # Some HTTP stacks mangle a file name (backslash escapes) while the part
    # name is the file's real name; the name the submission gives wins.
    chosen = {}
    for name, data in files.items():
        part = getattr(name, "part", name)
        use = part if name not in expected and part in expected else name
        chosen[str(use)] = data

    return chosen


def _accepted_message(stored: StoredSubmission, created: bool) -> str:
    missing = [n for n in stored.expected if n not in stored.attachments]
    head = (
        "Thank you, the submission is stored."
        if created
        else ("The server already had this submission; nothing was lost.")
    )
    if missing:
        return f"{head} Still waiting for {len(missing)} file(s): {', '.join(missing)}."

    return head


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
