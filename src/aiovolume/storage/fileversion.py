"""Conditional writes on file://: the blocking halves of ``FileStore.get_versioned`` / ``put_if``.

A version is ``(inode, mtime_ns, size)`` of the object file: every write is a new file renamed
into place, so a changed object always has a new inode. ``put_if`` holds an exclusive
``flock`` on the object's directory (no lock files left behind; it excludes other processes
and other threads alike) while it checks the version and renames the new file in; the merge
itself happens before, outside the lock.
"""

from __future__ import annotations

import fcntl
import os
from typing import Callable

from .fileio import file_version as _version

Version = tuple[int, int, int]


def read_versioned(path: str) -> tuple[bytes | None, Version | None]:
    """The file's bytes and the version of exactly those bytes (one descriptor for both)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    try:
        st = os.fstat(fd)
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
        return data, _version(st)
    finally:
        os.close(fd)


def write_if(path: str, expected: Version | None, write: Callable[[], None]) -> bool:
    """Run ``write()`` (an atomic replace of ``path``) only if ``path`` is still at ``expected``."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            current = None
        else:
            current = _version(st)
        if current != expected:
            return False
        write()
        return True
    finally:
        os.close(dfd)  # releases the lock
