"""Raw submissions as CSV tables, laid out the way ODK Briefcase and Central do.

One file for the form and one per repeat, joined by ``KEY`` and
``PARENT_KEY``. Column names are field paths joined by ``-``
(``a_group-grouped``); a repeat item's KEY is its parent's KEY followed by
``/<repeat>[n]``. Values are the text the device sent: an export is a copy
of what was received, not of what doorstep made of it, except that ID-card
and phone numbers are masked unless the admin asks for them. Only the latest
submission of an edit chain is exported.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from doorstep.forms.instance import parse_instance
from doorstep.forms.personal import is_personal, mask
from doorstep.forms.spec import FormSpec
from doorstep.forms.xml import local_name
from doorstep.sync.deployment import Deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import Store, StoredSubmission


class ExportError(Exception):
    """A table export that cannot be made."""


def export_table(
    deployment: Deployment, form_id: str, out_dir: Path, *, unmasked: bool = False
) -> list[Path]:
    """Write ``<form_id>.csv`` and one CSV per repeat into ``out_dir``."""
    form = FormRegistry(deployment.data_dir).get(form_id)
    if form is None:
        raise ExportError(
            f"no form {form_id!r} is published; see `doorstep forms list`"
        )

    spec = form.spec
    tables = _Tables(spec, masked=not unmasked)
    store = Store(deployment.data_dir)
    for submission in store.iter(form_id=form_id):
        if submission.replaced_by is None:
            root = parse_instance(store.read_xml(submission)).root
            tables.add(submission, root)

    return tables.write(out_dir, form_id)


class _Tables:
    """Rows for the main table and each repeat table, built one submission at a time."""

    def __init__(self, spec: FormSpec, *, masked: bool) -> None:
        self.spec = spec
        self.masked = (
            {f.path for f in spec.fields if is_personal(f)} if masked else set()
        )
        self.rows: dict[str | None, list[dict[str, str]]] = {None: []}
        self.rows.update({repeat: [] for repeat in spec.repeats})

    def add(self, submission: StoredSubmission, root: Element) -> None:
        row = {
            "SubmissionDate": _iso(submission.received),
            "KEY": submission.instance_id,
            "DeviceID": submission.device_id,
            "FormVersion": submission.version,
        }
        self._fill(root, "", None, row, submission.instance_id)
        self.rows[None].append(row)

    def _fill(self, node: Element, prefix: str, repeat, row: dict, key: str) -> None:
        counts: dict[str, int] = {}
        for child in node:
            path = f"{prefix}{local_name(child.tag)}"
            if path in self.spec.repeats:
                counts[path] = counts.get(path, 0) + 1
                item_key = f"{key}/{local_name(child.tag)}[{counts[path]}]"
                item = {"PARENT_KEY": key, "KEY": item_key}
                self._fill(child, path + "/", path, item, item_key)
                self.rows[path].append(item)
            elif len(child):
                self._fill(child, path + "/", repeat, row, key)
            else:
                text = child.text or ""
                if path in self.masked and text.strip():
                    text = mask(text)
                row[self._column(path, repeat)] = text

    def _column(self, path: str, repeat: str | None) -> str:
        inner = path[len(repeat) + 1 :] if repeat else path
        return inner.replace("/", "-")

    def write(self, out_dir: Path, form_id: str) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for repeat, rows in self.rows.items():
            name = (
                form_id if repeat is None else f"{form_id}-{repeat.rsplit('/', 1)[-1]}"
            )
            path = out_dir / f"{name}.csv"
            _write_csv(path, self._header(repeat, rows), rows)
            written.append(path)

        return written

    def _header(self, repeat: str | None, rows: list[dict]) -> list[str]:
        fields = [
            self._column(f.path, repeat) for f in self.spec.fields if f.repeat == repeat
        ]
        seen = dict.fromkeys(fields)
        for row in rows:
            seen.update(dict.fromkeys(row))
        if repeat is None:
            front = ["SubmissionDate"]
            back = ["KEY", "DeviceID", "FormVersion"]
        else:
            front, back = [], ["PARENT_KEY", "KEY"]

        return front + [c for c in seen if c not in front + back] + back


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    # utf-8-sig so that Excel on an office laptop shows Chinese correctly.
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")
