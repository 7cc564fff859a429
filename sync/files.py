"""Durable file writes: the floor every acknowledgement stands on.

A file is written under a temporary name, fsync'd, renamed into place and
its directory fsync'd, so after a crash it is either whole or absent.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that it is whole and durable on return."""
    tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
    fd = _create(tmp, mode)
    try:
        _write_all(fd, data)
        if mode != 0o600:
            # The umask may have taken bits the caller asked for.
            os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise

    fsync_dir(path.parent)


def _create(tmp: Path, mode: int) -> int:
    # Folders are made only when missing: on the ingest path one failed
    # open is cheaper than a mkdir call before every write.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        return os.open(tmp, flags, mode)
    except FileNotFoundError:
        _make_folder(tmp.parent)
        return os.open(tmp, flags, mode)


def _make_folder(folder: Path) -> None:
    # A new folder's own entry must be durable too, or a file renamed into
    # it could vanish with it after a power cut.
    missing = []
    for level in (folder, *folder.parents):
        if level.exists():
            break
        missing.append(level)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for level in missing:
        fsync_dir(level.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
