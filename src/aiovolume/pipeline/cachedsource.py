"""The on-disk chunk cache as a :class:`ChunkSource` that wraps another (``cache=`` of CloudVolume).

Reads ask the cache store (a ``file://`` directory laid out as CloudVolume's cache: the chunk
``<scale key>/<name>`` at that path, transport compression as a ``.gz``/``.br``/... suffix)
first, fetch the misses from the wrapped source and write them to the cache; writes and
deletes go to the wrapped source, then to the cache (write-through). Every cache file is
written atomically by the file store (temp file + ``os.replace``), so several processes can
fill one cache. The read and write algorithms are unchanged: they see one more source.

A cached copy that does not decode is never returned twice: the read pipeline's refetch calls
:meth:`CachedSource.fetch_fresh_many`, which deletes the copy, reads the wrapped source and caches
that. Writes merge partial chunks into the wrapped source's bytes the same way, never into a copy
(a stale copy would undo another writer's voxels). An empty cache file (CloudVolume writes one for
a chunk that was missing) is a miss.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Protocol, Sequence

from ..codecs import compression
from ..exceptions import AiovolumeError, CacheError, StorageError
from ..storage.base import ENCODINGS, Blob, PutItem, Store
from .executor import thread_pool
from .source import ChunkSource
from .tasks import ChunkTask, Position

_log = logging.getLogger("aiovolume")


class CacheBudget(Protocol):
    """The size cap of a cache: told what was written (it may evict) and what was used (LRU)."""

    async def filled(self, nbytes: int) -> None: ...

    async def used(self, files: Sequence[tuple[str, str | None]]) -> None:
        """``(key, transport encoding)`` of the cached copies a read used."""


#: the cache file names of tasks' chunks (default: the chunk keys; a sharded scale: Morton codes)
Keys = Callable[[Sequence[ChunkTask]], list[str]]


def _task_keys(tasks: Sequence[ChunkTask]) -> list[str]:
    return [t.key for t in tasks]


class CachedSource(ChunkSource):
    """``inner``'s chunks, kept in ``cache`` (a file store) with transport encoding ``encoding``.

    ``encoding``: what cached copies of fetched chunks are stored as (None = uncompressed,
    ``"gzip"``...): CloudVolume's ``compress_cache`` rule, resolved by the caller. Copies of
    written chunks keep the encoding they were written with, as CloudVolume's.
    """

    def __init__(self, inner: ChunkSource, cache: Store, encoding: str | None, budget: CacheBudget | None = None,
                 keys: Keys | None = None) -> None:
        super().__init__(inner.scale)
        self.inner, self.cache, self.encoding, self._budget = inner, cache, encoding, budget
        self._keys: Keys = keys or _task_keys
        self.store = getattr(inner, "store", None)  # Volume._source checks the store it was made for
        self.url = inner.url
        self.chunk_name = inner.chunk_name  # type: ignore[method-assign]
        # cached copies are read with fetch_many only: a miss must go on to the wrapped source
        self.reads_now = self.reads_blocking = False
        self.fixed_transport = inner.fixed_transport

    def fetch_concurrency(self) -> int:
        return self.inner.fetch_concurrency()

    def groups(self, tasks: Sequence[ChunkTask]) -> list[Sequence[ChunkTask]]:
        return self.inner.groups(tasks)

    def chunk_compression(self, requested: str | None) -> str | None:
        return self.inner.chunk_compression(requested)

    # -- reads -------------------------------------------------------------------------------
    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        keys = self._keys(tasks)
        copies = await self.cache.get_many(keys)
        out: dict[Position, Blob | None] = {}
        misses, used = [], []
        for task, key, blob in zip(tasks, keys, copies):
            if blob is None or not blob.data:
                misses.append(task)
            else:
                out[task.position] = blob
                used.append((key, blob.encoding))
        if used and self._budget is not None:
            await self._budget.used(used)
        if misses:
            fetched = await self.inner.fetch_many(misses)
            out.update(fetched)
            await self._fill([(t, fetched.get(t.position)) for t in misses])
        return out

    async def fetch_fresh_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        """The wrapped source's bytes, never the cache's: the cached copies are deleted first."""
        await self.cache.delete_many(self._keys(tasks))
        fetched = await self.inner.fetch_fresh_many(tasks)
        await self._fill([(t, fetched.get(t.position)) for t in tasks])
        return fetched

    async def _fill(self, found: Sequence[tuple[ChunkTask, Blob | None]]) -> None:
        found = [(t, b) for t, b in found if b is not None and b.span is None and b.data]
        if not found:
            return
        want, keys = self.encoding, self._keys([t for t, _ in found])
        if all(b.encoding == want for _, b in found):
            items = [PutItem(k, b.data, content_encoding=want) for k, (_, b) in zip(keys, found)]
        else:  # recompressing is CPU work: never in the loop
            items = await asyncio.get_running_loop().run_in_executor(thread_pool(), _transcode, found, keys, want)
        try:
            await self.cache.put_many(items)
        except StorageError as e:  # a full or unwritable cache must not fail a read that succeeded
            _log.warning("could not write %d chunk(s) to the disk cache %s: %s", len(items), self.cache.url, e)
            await self._drop(items, e)
            return
        if self._budget is not None:
            await self._budget.filled(sum(len(it.data) for it in items))

    async def _drop(self, items: Sequence[PutItem], error: Exception) -> None:
        try:
            await self.cache.delete_many([it.key for it in items])
        except StorageError as e:
            raise CacheError(f"could not write chunks to the disk cache {self.cache.url} ({error}) nor remove "
                             f"their old copies ({e}); flush the cache (vol.cache.flush()) before reading again") from e

    async def exists_many(self, tasks: Sequence[ChunkTask]) -> list[bool]:
        return await self.inner.exists_many(tasks)

    # -- writes (through to the wrapped source, then the cache) -------------------------------
    async def store_many(self, items: Sequence[tuple[ChunkTask, bytes]], *, content_encoding: str | None,
                         cache_control: str | None) -> None:
        await self.inner.store_many(items, content_encoding=content_encoding, cache_control=cache_control)
        keys = self._keys([t for t, _ in items])
        if content_encoding is None or content_encoding in ENCODINGS:
            puts = [PutItem(k, data, content_encoding=content_encoding) for k, (_, data) in zip(keys, items)]
        else:  # a transport only the source speaks (BOSS's blosc): cached as the cache's encoding
            found = [(t, Blob(data, content_encoding)) for t, data in items]
            puts = await asyncio.get_running_loop().run_in_executor(thread_pool(), _transcode, found, keys,
                                                                    self.encoding)
        try:
            await self.cache.put_many(puts)
        except StorageError as e:
            await self._drop(puts, e)  # a stale copy must not outlive a write
            return
        if self._budget is not None:
            await self._budget.filled(sum(len(it.data) for it in puts))

    def store_now(self) -> Callable[[Sequence[tuple[ChunkTask, bytes]], str | None, str | None], None] | None:
        inner, cache, keys = self.inner.store_now(), self.cache.blocking_writer(), self._keys
        if inner is None or cache is None:
            return None

        def store(items: Sequence[tuple[ChunkTask, bytes]], encoding: str | None, cache_control: str | None) -> None:
            inner(items, encoding, cache_control)
            names = keys([t for t, _ in items])
            cache([PutItem(k, data, content_encoding=encoding) for k, (_, data) in zip(names, items)])

        return store

    async def delete_many(self, tasks: Sequence[ChunkTask]) -> None:
        await self.inner.delete_many(tasks)
        await self.cache.delete_many(self._keys(tasks))


def _transcode(found: Sequence[tuple[ChunkTask, Blob]], keys: Sequence[str], want: str | None) -> list[PutItem]:
    items = []
    for key, (_, blob) in zip(keys, found):
        try:
            data = blob.data if blob.encoding == want else \
                compression.compress(bytes(compression.decompress(blob.data, blob.encoding)), want)
        except AiovolumeError:
            continue  # bytes that do not decompress are not cached; the read reports them
        items.append(PutItem(key, data, content_encoding=want))
    return items
