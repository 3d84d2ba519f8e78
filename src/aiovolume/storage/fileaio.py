"""Single-object ``file://`` operations through aiofiles: info, provenance, manifests, listing.

Why not everywhere: aiofiles pays one thread hop per call (open, read, close: three per
file), which measured 1.2-3.6x slower than one executor hop per file for chunk batches
(field notes §5). So chunks (``get_many``, ``put_many``, ``blocking_reader``/``writer``,
``get_ranges``) stay on FileStore's executor batches with bare ``pread``; what is here reads
or stats one small object at a time, where a few hops do not matter. Writes and deletes stay on
the executor too: the atomic write (temp file, fsync, ``os.replace``, then dropping the other
spellings) must run as one step under the key's lock, which several hops cannot hold.

Every call runs on the executor given (FileStore's own, so ``close()`` still sees the work).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import Executor

import aiofiles
import aiofiles.os

from .base import Blob, ByteRange
from .fileio import MISSING, SIBLINGS, TMP_PREFIX, file_version, storage_error, strip_encoding


async def read_object(path: str, rng: ByteRange | None, executor: Executor) -> Blob | None:
    """The first spelling of ``path`` that exists (or None), optionally only ``rng`` of it."""
    for suffix, encoding in SIBLINGS:
        p = path + suffix
        try:
            # not ``async with``: aiofiles would close on the loop's default executor
            f = await aiofiles.open(p, "rb", buffering=0, executor=executor)
            try:
                version = file_version(os.fstat(f.fileno()))  # one cheap syscall, no disk wait
                data = await _read(f, rng)
            finally:
                await f.close()
        except MISSING:
            continue
        except OSError as exc:  # a directory in the way is an error, not a missing object
            raise storage_error("read", p, exc) from exc
        return Blob(data, encoding, version=version)
    return None


async def _read(f: aiofiles.threadpool.binary.AsyncFileIO, rng: ByteRange | None) -> bytes:
    if rng is None:
        return await f.readall()
    start, stop = rng
    if start < 0:  # a suffix: where it starts depends on the size
        await f.seek(max(0, await f.seek(0, os.SEEK_END) + start))
    elif start:
        await f.seek(start)
    if stop is None:
        return await f.readall()
    parts: list[bytes] = []
    left = stop - start
    while left > 0:  # read() stops early only at the end of the file
        part = await f.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def stat_object(path: str, executor: Executor, *, dir_is_error: bool) -> os.stat_result | None:
    """``stat`` of the first spelling of ``path`` that is an object (a directory is not one)."""
    for suffix, _ in SIBLINGS:
        p = path + suffix
        try:
            st = await aiofiles.os.stat(p, executor=executor)
        except MISSING:
            continue
        except OSError as exc:
            raise storage_error("stat", p, exc) from exc
        if not stat.S_ISDIR(st.st_mode):
            return st
        if dir_is_error:  # get() cannot read it either: an error, not "missing"
            raise storage_error("size", p, IsADirectoryError(21, "Is a directory", p))
    return None


def _scan(directory: str) -> tuple[list[str], list[str]]:
    """(file names, names of subdirectories to descend) of one directory, as os.walk sees them."""
    files, dirs = [], []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir():
                if not entry.is_symlink():  # os.walk(followlinks=False) does not descend links
                    dirs.append(entry.name)
            else:
                files.append(entry.name)
    return files, dirs


_scan_async: Callable[..., object] = aiofiles.os.wrap(_scan)  # scandir in a thread, one hop per directory


async def list_keys(root: str, prefix: str, executor: Executor) -> list[str]:
    """Keys under ``root`` starting with ``prefix``, encoding suffixes stripped, sorted."""
    dirpart, _, partial = prefix.rpartition("/")
    start = os.path.normpath(os.path.join(root, dirpart)) if dirpart else root
    keys: set[str] = set()
    pending = [(start, dirpart)]
    while pending:
        directory, base = pending.pop()
        try:
            files, dirs = await _scan_async(directory, executor=executor)  # type: ignore[misc]
        except MISSING:
            continue  # nothing there (or it vanished while we listed)
        except OSError as exc:
            raise storage_error("list", exc.filename or directory, exc) from exc
        if directory == start:  # prune top-level directories that cannot hold a matching key
            dirs = [d for d in dirs if (d + "/").startswith(partial)]
        for name in files:
            if name.startswith(TMP_PREFIX):
                continue
            key = strip_encoding(name)
            full = f"{base}/{key}" if base else key
            if full.startswith(prefix):
                keys.add(full)
        pending.extend((os.path.join(directory, d), f"{base}/{d}" if base else d) for d in dirs)
    return sorted(keys)
