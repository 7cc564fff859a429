"""Counts for `doorstep status`: per form, per device, per building."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from doorstep.sync.deployment import Deployment
from doorstep.sync.store import Store, StoredSubmission


def deployment_status(deployment: Deployment) -> dict[str, Any]:
    """What the deployment holds, as plain data."""
    store = Store(deployment.data_dir)
    per_form: Counter[str] = Counter()
    per_device: Counter[str] = Counter()
    last_sync: dict[str, float] = {}
    incomplete = 0
    for submission in store.iter():
        per_form[submission.form_id] += 1
        device = submission.device_name or submission.device_id or "(unknown)"
        per_device[device] += 1
        last_sync[device] = max(last_sync.get(device, 0.0), submission.received)
        incomplete += not submission.complete

    return {
        "submissions": sum(per_form.values()),
        "incomplete": incomplete,
        "forms": dict(sorted(per_form.items())),
        "devices": {
            device: {"submissions": count, "last_sync": _iso(last_sync[device])}
            for device, count in sorted(per_device.items())
        },
    }


def submission_rows(
    deployment: Deployment, form_id: str | None = None
) -> list[dict[str, Any]]:
    """One row per stored submission, in arrival order."""
    store = Store(deployment.data_dir)

    return [_row(s) for s in store.iter(form_id=form_id)]


def _row(submission: StoredSubmission) -> dict[str, Any]:
    return {
        "instance_id": submission.instance_id,
        "form_id": submission.form_id,
        "version": submission.version,
        "device": submission.device_name,
        "device_id": submission.device_id,
        "received": _iso(submission.received),
        "complete": submission.complete,
        "replaced_by": submission.replaced_by,
        "flags": list(submission.flags),
    }


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="seconds")
