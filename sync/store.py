"""The submission store: every accepted submission, exactly as received.

Submission XML and attachments are immutable files named by the SHA-256 of
their content, written atomically before anything else; an SQLite index
(WAL, full sync) then records which instanceID holds which content. Naming
files by content means two devices racing with different XML under one
instanceID can never overwrite each other: the index decides the winner and
the loser's bytes stay on disk for review. A crash between the file and the
index row leaves an orphan file, never an acknowledged submission without
its content.

Layout under ``data/``::

    submissions/ab/<sha256>.xml
    blobs/ab/<sha256>
    index.sqlite
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from doorstep.sync.files import write_atomic

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL UNIQUE,
    form_id TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_name TEXT NOT NULL DEFAULT '',
    received REAL NOT NULL,
    deprecated_id TEXT,
    replaced_by TEXT,
    expected TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS attachments (
    instance_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (instance_id, name)
);
CREATE INDEX IF NOT EXISTS submissions_form ON submissions (form_id);
"""


# Each submission with its attachments in one statement: listing a store
# must not cost one query per submission.
_SELECT = (
    "SELECT s.*, (SELECT json_group_object(a.name, a.sha256) FROM attachments a"
    " WHERE a.instance_id = s.instance_id) AS files FROM submissions s"
)


@dataclass(frozen=True)
class StoredSubmission:
    """The index's view of one stored submission."""

    seq: int
    instance_id: str
    form_id: str
    version: str
    sha256: str
    device_id: str
    device_name: str
    received: float
    deprecated_id: str | None
    replaced_by: str | None
    expected: tuple[str, ...]
    attachments: dict[str, str]
    flags: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every file the XML names has arrived."""
        return all(name in self.attachments for name in self.expected)


class IndexRow(NamedTuple):
    """The part of a submission's index row the merge needs."""

    seq: int
    instance_id: str
    form_id: str
    version: str
    sha256: str
    device_id: str
    device_name: str
    received: float
    deprecated_id: str | None


class BulkItem(NamedTuple):
    """One submission for ``Store.put_many``."""

    xml: bytes
    instance_id: str
    form_id: str
    version: str
    device_id: str = ""
    deprecated_id: str | None = None


class StoreRefused(Exception):
    """A write the index refused; nothing of it was recorded."""


class StoreConflict(StoreRefused):
    """Raised when an instanceID is already held by different content."""


class StaleEdit(StoreRefused):
    """An edit of a submission another edit already replaced, or of another form."""


class Store:
    """Durable, idempotent storage of submissions and their attachments."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._local = threading.local()
        self._commits = _GroupCommit(self._db)
        with self._db() as db:
            db.executescript(_SCHEMA)

    def get(self, instance_id: str) -> StoredSubmission | None:
        """The stored submission with this instanceID, or None."""
        row = (
            self._db()
            .execute(_SELECT + " WHERE instance_id = ?", (instance_id,))
            .fetchone()
        )

        return self._stored(row) if row else None

    def put(
        self,
        xml: bytes,
        *,
        instance_id: str,
        form_id: str,
        version: str,
        device_id: str,
        expected: list[str],
        device_name: str = "",
        attachments: dict[str, bytes],
        deprecated_id: str | None = None,
        flags: list[str] | None = None,
    ) -> tuple[StoredSubmission, bool]:
        """Store a submission durably; returns it and whether it was new.

        Idempotent: the same XML again only adds attachments not yet held.
        Different XML under a stored instanceID raises StoreConflict. When
        ``deprecated_id`` is given, the original is marked replaced in the
        same transaction, so an edit chain never forks.
        """
        sha = hashlib.sha256(xml).hexdigest()
        self._write_once(self.xml_path(sha), xml)
        blobs = {name: self._put_blob(data) for name, data in attachments.items()}
        fresh = StoredSubmission(
            seq=0,
            instance_id=instance_id,
            form_id=form_id,
            version=version,
            sha256=sha,
            device_id=device_id,
            device_name=device_name,
            received=time.time(),
            deprecated_id=deprecated_id,
            replaced_by=None,
            expected=tuple(expected),
            attachments=blobs,
            flags=tuple(flags or ()),
        )
        files = [
            (instance_id, name, digest, len(attachments[name]))
            for name, digest in blobs.items()
        ]
        seq = self._commits.run(lambda db: _index(db, _row(fresh), files))
        if seq is None:
            return self.get(instance_id), False

        # Just inserted: the row is known, so no query is needed to return it.
        return replace(fresh, seq=seq), True

    def put_many(self, items: Iterable[BulkItem]) -> int:
        """Store many submissions without attachments; returns how many were new.

        For bulk loads (benchmarks, imports of whole folders): files are
        written without one fsync each, then flushed together with one
        ``os.sync()`` before the index rows go in, in one transaction, so
        the result is as durable as ``put``'s. An instanceID already held
        is skipped, whatever its content.
        """
        rows = []
        for item in items:
            sha = hashlib.sha256(item.xml).hexdigest()
            path = self.xml_path(sha)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                path.write_bytes(item.xml)
            rows.append(
                (
                    item.instance_id,
                    item.form_id,
                    item.version,
                    sha,
                    item.device_id,
                    time.time(),
                    item.deprecated_id,
                )
            )
        os.sync()
        db = self._db()
        with db:
            db.execute("BEGIN IMMEDIATE")
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO submissions (instance_id, form_id, version,"
                " sha256, device_id, received, deprecated_id, expected, flags)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, '[]', '[]')",
                rows,
            )
            created = db.total_changes - before
            db.executemany(
                "UPDATE submissions SET replaced_by = ? WHERE instance_id = ?",
                [(r[0], r[6]) for r in rows if r[6]],
            )

        return created

    def read_xml(self, submission: StoredSubmission) -> bytes:
        return self.xml_path(submission.sha256).read_bytes()

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def xml_path(self, sha256: str) -> Path:
        return self.root / "submissions" / sha256[:2] / f"{sha256}.xml"

    def iter(
        self, *, after: int = 0, form_id: str | None = None
    ) -> Iterator[StoredSubmission]:
        """Stored submissions in arrival order, from ``after`` (a seq) on."""
        query = _SELECT + " WHERE seq > ?"
        args: list = [after]
        if form_id is not None:
            query += " AND form_id = ?"
            args.append(form_id)
        cursor = self._db().execute(query + " ORDER BY seq", args)
        for row in cursor:
            yield self._stored(row)

    def iter_index(self, *, after: int = 0) -> Iterator[IndexRow]:
        """Index rows from ``after`` (a seq) on, in one query, without attachments.

        The merge reads every submission; one attachments query per row would
        cost more than reading the XML itself at a million rows.
        """
        cursor = self._db().execute(
            "SELECT seq, instance_id, form_id, version, sha256, device_id,"
            " device_name, received, deprecated_id FROM submissions"
            " WHERE seq > ? ORDER BY seq",
            (after,),
        )
        for row in cursor:
            yield IndexRow(*row)

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM submissions").fetchone()[0]

    def last_seq(self) -> int:
        row = self._db().execute("SELECT MAX(seq) FROM submissions").fetchone()
        return row[0] or 0

    def _write_once(self, path: Path, data: bytes) -> None:
        # Content-named files never change, so one already there is done.
        if not path.exists():
            write_atomic(path, data)

    def _put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._write_once(self.blob_path(digest), data)

        return digest

    def _stored(self, row: sqlite3.Row) -> StoredSubmission:
        return StoredSubmission(
            seq=row["seq"],
            instance_id=row["instance_id"],
            form_id=row["form_id"],
            version=row["version"],
            sha256=row["sha256"],
            device_id=row["device_id"],
            device_name=row["device_name"],
            received=row["received"],
            deprecated_id=row["deprecated_id"],
            replaced_by=row["replaced_by"],
            expected=tuple(json.loads(row["expected"])),
            attachments=json.loads(row["files"]),
            flags=tuple(json.loads(row["flags"])),
        )

    def _db(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections are not shared
        # across threads, and WAL lets readers and one writer run together.
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.root / "index.sqlite", timeout=30, isolation_level=None
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db

        return db


def _row(submission: StoredSubmission) -> tuple:
    """The index columns of a new submission, in INSERT order."""
    return (
        submission.instance_id,
        submission.form_id,
        submission.version,
        submission.sha256,
        submission.device_id,
        submission.device_name,
        submission.received,
        submission.deprecated_id,
        json.dumps(list(submission.expected)),
        json.dumps(list(submission.flags)),
    )


def _index(db: sqlite3.Connection, row: tuple, files: list[tuple]) -> int | None:
    """Record one submission inside an open transaction: its seq if it is new."""
    instance_id, form_id, sha, deprecated_id = row[0], row[1], row[3], row[7]
    current = db.execute(
        "SELECT sha256 FROM submissions WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    if current is not None and current[0] != sha:
        raise StoreConflict(instance_id)
    if current is None and deprecated_id:
        _check_edit(db, form_id, deprecated_id)

    seq = None
    if current is None:
        seq = db.execute(
            "INSERT INTO submissions (instance_id, form_id, version, sha256,"
            " device_id, device_name, received, deprecated_id, expected,"
            " flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        ).lastrowid
    if seq is not None and deprecated_id:
        db.execute(
            "UPDATE submissions SET replaced_by = ? WHERE instance_id = ?",
            (instance_id, deprecated_id),
        )
    db.executemany("INSERT OR IGNORE INTO attachments VALUES (?, ?, ?, ?)", files)

    return seq


def _check_edit(db: sqlite3.Connection, form_id: str, deprecated_id: str) -> None:
    # Checked inside the transaction that marks the original replaced, so two
    # edits of one original racing each other cannot both win.
    original = db.execute(
        "SELECT form_id, replaced_by FROM submissions WHERE instance_id = ?",
        (deprecated_id,),
    ).fetchone()
    if original is not None and (original[0] != form_id or original[1]):
        raise StaleEdit(deprecated_id)


@dataclass
class _Pending:
    write: Callable[[sqlite3.Connection], int | None]
    result: int | None = None
    error: BaseException | None = None
    done: bool = False


class _GroupCommit:
    """Index writes from many threads committed together, one fsync a batch.

    With full sync every commit waits for the disk. When several tablets send
    at once, the first thread to find no commit running commits everything
    queued so far in one transaction, each write under its own savepoint so
    that one refused write (a conflict) undoes only itself. No caller returns
    before the commit that holds its write is durable; if that commit fails,
    every caller in the batch gets the error.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._changed = threading.Condition()
        self._queue: list[_Pending] = []
        self._leading = False

    def run(self, write: Callable[[sqlite3.Connection], int | None]) -> int | None:
        pending = _Pending(write)
        with self._changed:
            self._queue.append(pending)
            while self._leading and not pending.done:
                self._changed.wait()
            batch = [] if pending.done else self._take()
        if batch:
            self._lead(batch)
        if pending.error is not None:
            raise pending.error

        return pending.result

    def _take(self) -> list[_Pending]:
        # Called with the condition held: this thread now commits the queue.
        self._leading = True
        batch, self._queue = self._queue, []

        return batch

    def _lead(self, batch: list[_Pending]) -> None:
        try:
            self._commit(batch)
        except BaseException as err:
            for pending in batch:
                pending.error = err
        finally:
            with self._changed:
                for pending in batch:
                    pending.done = True
                self._leading = False
                self._changed.notify_all()

    def _commit(self, batch: list[_Pending]) -> None:
        db = self._connect()
        with db:
            db.execute("BEGIN IMMEDIATE")
            for pending in batch:
                db.execute("SAVEPOINT one")
                try:
                    pending.result = pending.write(db)
                except StoreRefused as err:
                    db.execute("ROLLBACK TO one")
                    pending.error = err
                db.execute("RELEASE one")
