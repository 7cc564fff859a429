"""The one door every submission comes in by, whatever carried it.

OpenRosa posts from ODK Collect, the browser client, a peer's batch and an
imported folder all end here. The outcome is a kind and a message for the
volunteer; the HTTP face maps kinds to status codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from doorstep.forms.instance import Instance, InstanceError, parse_instance
from doorstep.forms.spec import FormSpec
from doorstep.forms.xml import local_name
from doorstep.sync.deployment import Deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import Store, StoreConflict, StoredSubmission

log = logging.getLogger(__name__)


class Outcome(Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    EDIT_OUT_OF_DATE = "edit_out_of_date"
    EDIT_UNKNOWN = "edit_unknown"
    UNKNOWN_FORM = "unknown_form"
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
            instance = parse_instance(xml)
        except InstanceError as err:
            return IngestResult(Outcome.MALFORMED, str(err))

        form = self.registry.get(instance.form_id)
        if form is None or (allowed is not None and not allowed(instance.form_id)):
            return IngestResult(
                Outcome.UNKNOWN_FORM,
                f"The server has no form {instance.form_id!r}. Ask the office "
                "to publish it, then download forms again.",
                instance.instance_id,
                instance.form_id,
            )
        if self.registry.state(instance.form_id) == "closed":
            return IngestResult(
                Outcome.FORM_CLOSED,
                f"The form {form.spec.title or instance.form_id!r} is closed and "
                "accepts no more submissions. Ask the office what to do with it.",
                instance.instance_id,
                instance.form_id,
            )

        spec, flags = self._spec_for(instance)
        device = (device_id, device_name)
        return self._store(instance, spec, attachments, device, flags)

    def _spec_for(self, instance: Instance) -> tuple[FormSpec, list[str]]:
        exact = self.registry.get(instance.form_id, instance.version)
        if exact is not None:
            return exact.spec, []

        # The volunteer cannot fix a version mismatch, so the submission is
        # kept and flagged, and read with the closest version meanwhile.
        closest = self.registry.closest(instance.form_id, instance.version)
        flag = f"version {instance.version or '(none)'} was never published"

        return closest.spec, [flag]

    def _store(self, instance, spec, attachments, device, flags) -> IngestResult:
        problem = self._edit_problem(instance)
        if problem is not None:
            return problem

        expected = _named_files(spec, instance)
        try:
            stored, created = self.store.put(
                instance.xml,
                instance_id=instance.instance_id,
                form_id=instance.form_id,
                version=instance.version,
                device_id=device[0],
                device_name=device[1],
                expected=expected,
                attachments=_match_names(attachments, expected),
                deprecated_id=instance.deprecated_id,
                flags=flags + (["no instanceID"] if instance.id_derived else []),
            )
        except StoreConflict:
            return IngestResult(
                Outcome.CONFLICT,
                "A different submission with the same ID is already on the "
                "server. This one was not stored; tell the office.",
                instance.instance_id,
                instance.form_id,
            )

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
                "This is an edit of a submission the server does not have. "
                "Send the original first, or tell the office.",
                instance.instance_id,
                instance.form_id,
            )
        if original.replaced_by:
            return IngestResult(
                Outcome.EDIT_OUT_OF_DATE,
                "The copy you edited is out of date: someone else edited this "
                "submission first. Download it again before editing.",
                instance.instance_id,
                instance.form_id,
            )

        return None


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


def _match_names(attachments: dict[str, bytes], expected: list[str]) -> dict:
    # Attachments are keyed by the file name the device gave; only the base
    # name counts, so nothing a client sends can choose a path.
    matched = {}
    for name, data in attachments.items():
        base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
        if base and base not in (".", ".."):
            matched[base] = data

    return matched


def _accepted_message(stored: StoredSubmission, created: bool) -> str:
    missing = [n for n in stored.expected if n not in stored.attachments]
    head = "Thank you, the submission is stored." if created else (
        "The server already had this submission; nothing was lost."
    )
    if missing:
        return f"{head} Still waiting for {len(missing)} file(s): {', '.join(missing)}."

    return head
