"""The review queue: stored submissions that need an admin's eye.

Nothing is refused for its content. A submission lands here when its form
version was never published, it had no instanceID, files its XML names have
not arrived, or reading it against its form found problems (a value that
does not fit its type, a choice the form does not offer, an element the form
does not know).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from doorstep.forms.instance import parse_instance
from doorstep.forms.record import Problem, Record, read_record
from doorstep.sync.deployment import Deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import Store, StoredSubmission


@dataclass
class ReviewItem:
    """One submission and everything found wrong with it."""

    submission: StoredSubmission
    reasons: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    record: Record | None = None

    def to_dict(self) -> dict:
        return {
            "instance_id": self.submission.instance_id,
            "form_id": self.submission.form_id,
            "version": self.submission.version,
            "device": self.submission.device_name or self.submission.device_id,
            "reasons": self.reasons,
            "problems": [
                {"path": p.path, "message": p.message, "value": p.value}
                for p in self.problems
            ],
        }


def review_queue(deployment: Deployment) -> Iterator[ReviewItem]:
    """Every stored submission that needs review, in arrival order."""
    store = Store(deployment.data_dir)
    registry = FormRegistry(deployment.data_dir)
    for submission in store.iter():
        item = _examine(store, registry, submission)
        if item.reasons or item.problems:
            yield item


def review_item(deployment: Deployment, instance_id: str) -> ReviewItem | None:
    """One submission with what was found wrong with it (maybe nothing)."""
    store = Store(deployment.data_dir)
    submission = store.get(instance_id)
    if submission is None:
        return None

    return _examine(store, FormRegistry(deployment.data_dir), submission)


def _examine(store: Store, registry: FormRegistry, submission) -> ReviewItem:
    item = ReviewItem(submission, reasons=list(submission.flags))
    missing = [n for n in submission.expected if n not in submission.attachments]
    if missing:
        item.reasons.append(f"waiting for files: {', '.join(missing)}")

    form = registry.closest(submission.form_id, submission.version)
    if form is None:
        item.reasons.append("its form is no longer published")
        return item

    instance = parse_instance(store.read_xml(submission))
    item.record = read_record(form.spec, instance)
    item.problems = list(item.record.problems)

    return item
