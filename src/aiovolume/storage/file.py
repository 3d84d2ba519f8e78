"""``file://``: a directory tree on a local (or mounted) filesystem.

All file I/O runs on one ThreadPoolExecutor per store. Chunks go in batches, one hop per
group of files (``*_many``, the blocking reader/writer, ``get_ranges``), with bare
``pread``/``preadv``: aiofiles, one hop per call, measured 1.2-3.6x slower for chunk batches
(field notes §5). Single small objects (info, provenance, manifests: ``get``, ``exists``,
``size``) and listing are plain async file access through aiofiles on the same executor
(:mod:`.fileaio`); ``put`` and ``delete`` stay one executor hop each, because the atomic
write (temp file, fsync, ``os.replace``, dropping the other spellings) runs under a per-key
lock that aiofiles' several hops could not hold.

CloudVolume's local convention for Content-Encoding is a filename suffix: a gzip-encoded
object ``key`` lives in ``key.gz`` (``.br``, ``.zstd``, ``.xz``, ``.bz2`` likewise). Reads
probe ``key``, ``key.gz``, ``key.br``, ``key.zstd``, ``key.xz``, ``key.bz2`` in that order;
a write replaces the object atomically (temp file + ``os.replace``) and then removes the
siblings with other suffixes, so only one spelling survives. ``content_type`` and
``cache_control`` mean nothing on a filesystem and are ignored, as in CloudFiles.

Example::

    async with FileStore("/data/ds/image") as store:
        await store.put("info", b"{}")
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

from ..options import Options
from .base import (
    Blob,
    ByteRange,
    PutItem,
    Store,
    as_buffer,
    as_bytes,
    bounded_map,
    check_encoding,
    check_prefix,
    check_range,
    normalize_key,
    plain_key,
)
from . import fileaio
from .fileversion import read_versioned, write_if
from .fileio import SIBLINGS, TMP_PREFIX  # noqa: F401  (re-exported: part of file://'s interface)
from .fileio import (
    NOWAIT_READS,
    SUFFIX,
    atomic_write,
    file_version,
    fsync_dir,
    object_exists,
    read_object,
    read_object_reusing,
    read_object_scattered,
    read_spans,
    storage_error,
    unlink_all,
)
from .ranges import check_ranges, encoded_error, past_end_error, plan_reads, slice_back

T = TypeVar("T")
R = TypeVar("R")

#: Most files handled by one executor hop of a ``*_many`` call (keeps cancellation prompt).
MAX_FILES_PER_HOP = 32
_LOCK_STRIPES = 64

class FileStore(Store):
    """A store rooted at a local directory. ``root`` may be relative or use ``~``."""

    scheme = "file"

    def __init__(self, root: str, options: Options | None = None, *, read_only: bool = False) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        super().__init__("file://" + self.root, options, read_only=read_only)
        self._executor: ThreadPoolExecutor | None = None
        self._small: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        # Writers of one key with different encodings must not interleave "write key.gz,
        # remove key" with "write key, remove key.gz" (both would end up deleted).
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._unnamed = True  # try unnamed temp files (fileio.atomic_write) until one is refused

    # -- executor plumbing ----------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        self._check_open()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=max(1, self.options.io_threads), thread_name_prefix="aiovolume-file"
            )
        return self._executor

    def _small_pool(self) -> ThreadPoolExecutor:
        """One thread for aiofiles' hops: several per small object, and a pool adds a thread when a
        hop arrives before the last one's thread has gone idle, which grew the chunk pool."""
        self._check_open()
        if self._small is None:
            self._small = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiovolume-file-small")
        return self._small

    def _submit(self, fn: Callable[..., R], *args: object, small: bool = False) -> Future[R]:
        pool = self._small_pool() if small else self._pool()
        with self._inflight_lock:
            self._inflight += 1
        try:
            job = pool.submit(fn, *args)
        except BaseException:
            self._job_done(None)
            raise
        # Fires when the job finishes, or when a cancelled caller cancels it before it starts.
        job.add_done_callback(self._job_done)
        return job

    async def _run(self, fn: Callable[..., R], *args: object) -> R:
        return await asyncio.wrap_future(self._submit(fn, *args))

    def _executor_for_aiofiles(self) -> Executor:
        self._pool()  # raises if closed
        return _Tracked(self)

    def _job_done(self, _: object) -> None:
        with self._inflight_lock:
            self._inflight -= 1

    async def _batched(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` in about ``io_threads`` executor hops running in parallel."""
        n = len(items)
        if n == 0:
            return []
        threads = max(1, self.options.io_threads)
        per_hop = min(MAX_FILES_PER_HOP, -(-n // threads))
        groups = [items[i : i + per_hop] for i in range(0, n, per_hop)]

        def run_group(group: Sequence[T]) -> list[R]:
            return [fn(item) for item in group]

        async def hop(group: Sequence[T]) -> list[R]:
            return await self._run(run_group, group)

        results = await bounded_map(hop, groups, threads)
        return [r for group in results for r in group]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pools = [p for p in (self._executor, self._small) if p is not None]
        self._executor = self._small = None
        if not pools:
            return
        with self._inflight_lock:
            busy = self._inflight > 0
        for pool in pools:
            if busy:  # work orphaned by a cancelled caller: wait for it without blocking the loop
                await asyncio.to_thread(pool.shutdown, True)
            else:  # idle threads exit at once
                pool.shutdown(wait=True)

    # -- keys and paths ---------------------------------------------------------------------
    def _path(self, key: str) -> str:
        if isinstance(key, str) and plain_key(key) and self.root != "/":
            return self.root + "/" + key  # what normpath(join(...)) gives, without the cost
        return os.path.normpath(os.path.join(self.root, normalize_key(key)))

    def _lock(self, path: str) -> threading.Lock:
        return self._locks[hash(path) % _LOCK_STRIPES]

    # -- public API ---------------------------------------------------------------------------
    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        rng = check_range(byte_range)
        return await fileaio.read_object(self._path(key), rng, self._executor_for_aiofiles())

    range_gap = 512  # a syscall costs about as much as copying a few hundred bytes
    max_coalesced = 4 << 20

    async def get_ranges_versioned(self, key: str, ranges: Sequence[tuple[int, int]]) -> tuple[
            list[bytes], object | None] | None:
        """As :meth:`Store.get_ranges_versioned`: one open and one ``pread`` per merged range, all
        in one executor hop; the size check and the version need no read (fstat)."""
        wanted = check_ranges(ranges)
        path = self._path(key)
        spans = plan_reads(wanted, self.range_gap, self.max_coalesced)
        limit = max((stop for _, stop in wanted), default=0)
        got = await self._run(read_spans, path, [(s0, s1) for s0, s1, _ in spans], limit)
        if got is None:
            return None
        found, encoding, st, datas = got
        size = st.st_size
        if encoding is not None:
            raise encoded_error(f"{self.url}/{key}", encoding, f"{found}; no plain {os.path.basename(path)}")
        if limit > size or any(len(d) < s1 - s0 for (s0, s1, _), d in zip(spans, datas)):
            raise past_end_error(f"{self.url}/{key}", wanted, size)
        return slice_back(wanted, spans, datas), file_version(st)

    async def get_many(self, keys: Sequence[str]) -> list[Blob | None]:
        self._check_open()
        paths = [self._path(k) for k in keys]
        return await self._batched(read_object, paths)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        self._check_writable()
        encoding = check_encoding(content_encoding)
        await self._run(self._write, self._path(key), as_bytes(data), encoding)

    async def get_versioned(self, key: str) -> tuple[Blob | None, object]:
        data, version = await self._run(read_versioned, self._path(key))
        return (None if data is None else Blob(data, None)), version

    async def put_if(self, key: str, data: bytes, version: object, *, cache_control: str | None = None) -> bool:
        self._check_writable()
        path, body = self._path(key), as_bytes(data)
        return await self._run(write_if, path, version, lambda: self._write(path, body, None))

    async def put_many(self, items: Sequence[PutItem]) -> None:
        self._check_writable()
        # Validate everything before writing anything; a key repeated in one batch: last wins.
        latest: dict[str, tuple[bytes, str | None]] = {}
        for item in items:
            path = self._path(item.key)
            latest.pop(path, None)
            latest[path] = (as_bytes(item.data), check_encoding(item.content_encoding))
        await self._batched(lambda entry: self._write(entry[0], *entry[1]), list(latest.items()))

    async def delete(self, key: str) -> None:
        self._check_writable()
        await self._run(self._remove, self._path(key))

    async def delete_many(self, keys: Sequence[str]) -> None:
        self._check_writable()
        paths = list(dict.fromkeys(self._path(k) for k in keys))
        await self._batched(self._remove, paths)

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await fileaio.stat_object(path, self._executor_for_aiofiles(), dir_is_error=False) is not None

    async def exists_many(self, keys: Sequence[str]) -> list[bool]:
        self._check_open()
        return await self._batched(object_exists, [self._path(k) for k in keys])

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        st = await fileaio.stat_object(path, self._executor_for_aiofiles(), dir_is_error=True)
        return None if st is None else st.st_size

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        keys = await fileaio.list_keys(self.root, check_prefix(prefix), self._executor_for_aiofiles())
        for key in keys:
            yield key

    # -- blocking fast path ----------------------------------------------------------------------
    reads_without_waiting = NOWAIT_READS

    def blocking_reader(self) -> Callable[..., Blob | None]:
        """As :meth:`Store.blocking_reader`; the Blob's data is a view of a per-thread buffer,
        valid until the thread's next read (a fresh 256 KiB ``bytes`` per chunk cost more in
        page faults than reading the file); with ``scatter`` see :func:`.fileio.read_object_scattered`."""
        self._check_open()
        path = self._path

        def read(key: str, window: tuple[int, int, int] | None = None, nowait: bool = False,
                 scatter: tuple[int, Callable[[int, bytes], Sequence[memoryview]]] | None = None) -> Blob | None:
            if scatter is not None:
                return read_object_scattered(path(key), *scatter)
            return read_object_reusing(path(key), window, nowait)

        return read

    def blocking_writer(self) -> Callable[[Sequence[PutItem]], None]:
        self._check_writable()

        def write_many(items: Sequence[PutItem]) -> None:
            for item in items:
                self._write(self._path(item.key), as_buffer(item.data), check_encoding(item.content_encoding))

        return write_many

    # -- blocking halves (run on the executor) ------------------------------------------------
    def _write(self, path: str, data: bytes, encoding: str | None) -> None:
        target = path + SUFFIX[encoding]
        durable = self.options.fsync
        with self._lock(path):
            try:
                try:
                    unnamed = atomic_write(target, data, durable, self._unnamed)
                except FileNotFoundError:  # parent directories do not exist yet
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    unnamed = atomic_write(target, data, durable, self._unnamed)
                if not unnamed:
                    self._unnamed = False  # this filesystem has no unnamed temp files
            except OSError as exc:
                raise storage_error("write", target, exc) from exc
            # Only now drop the other spellings: a reader never finds the object missing.
            if unlink_all(path, keep=target) and durable:
                fsync_dir(os.path.dirname(target))

    def _remove(self, path: str) -> None:
        with self._lock(path):
            if unlink_all(path, keep=None) and self.options.fsync:
                fsync_dir(os.path.dirname(path))


class _Tracked(Executor):
    """The store's executor as aiofiles sees it: jobs are counted, so ``close()`` knows
    whether threads are still busy."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def submit(self, fn: Callable[..., R], /, *args: object, **kwargs: object) -> Future[R]:
        if kwargs:
            return self._store._submit(lambda: fn(*args, **kwargs), small=True)
        return self._store._submit(fn, *args, small=True)
