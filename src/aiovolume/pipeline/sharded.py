"""``ShardedSource``: a ``neuroglancer_uint64_sharded_v1`` scale seen as chunks (format/sharding.py).

Reads group the chunks by shard (``groups``), so one group is one shard file:

- most of a shard wanted: one GET of the whole file, indexes parsed from it;
- otherwise the shard index, then the minishard indexes, then the chunk data, each as one
  ``Store.get_ranges`` call (ranges near each other coalesce); the indexes are kept in a
  :class:`~.shardindex.ShardIndexCache` so later reads of the same shards fetch only data.

Writes never lose a shard's other chunks: a write covering a whole shard builds it from the new
chunks; a write covering part of one reads the shard, merges and writes it back whole (one PUT,
atomic on every store). Within a process, writers of one shard take turns (a lock per shard).
Deleting chunks rewrites their shards without them (or removes a shard left empty).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from ..exceptions import EncodingError, IntegrityError
from ..format.chunks import grid_chunk_key
from ..format.info import ScaleInfo
from ..format.sharding import ShardingSpec, encode_shard, morton_codes, \
    shard_shape
from ..storage.base import Blob, PutItem, Store
from . import shardfiles
from .fanout import TaskGroup
from .shardindex import ShardIndexCache
from .shardwrite import build_shard
from .source import Budget, ChunkSource, Consume, GroupWriter, Window
from .tasks import ChunkTask, Position
from .worker import EncodeItem, EncodeSpec

#: a read wanting at least this share of a shard's chunks GETs the whole file
WHOLE_SHARD_SHARE = 0.5
_REMOTE = ("http", "https", "s3", "gs")
_INDEX = shardfiles.INDEX

Located = tuple[ChunkTask, int, int]  # task, chunk key (Morton code), minishard


class ShardedSource(ChunkSource):
    """One sharded scale; see the module docstring."""

    def __init__(self, store: Store, scale: ScaleInfo, cache: ShardIndexCache | None = None,
                 voxel_bytes: int = 0) -> None:
        """``voxel_bytes``: bytes of one voxel (all channels), for the size of a shard before its
        index is read; 0: unknown (no whole-shard reads for small cutouts)."""
        super().__init__(scale)
        self.store = store
        self.url = store.url
        self.spec = ShardingSpec.from_json(scale.sharding)  # type: ignore[arg-type]
        self.grid = tuple(-(-int(s) // int(c)) for s, c in zip(scale.size, scale.chunk_size))
        self._cuboid = shard_shape(self.spec, self.grid)
        self.chunk_name = functools.partial(grid_chunk_key, scale.key)  # type: ignore[method-assign]
        self.cache = cache if cache is not None else ShardIndexCache()
        self._locks: dict[str, asyncio.Lock] = {}
        self._data_encoding = "gzip" if self.spec.data_encoding == "gzip" else None
        # uncompressed bytes of one chunk: an upper bound of a raw shard's size per chunk
        self._chunk_bytes = math.prod(int(c) for c in scale.chunk_size) * voxel_bytes
        # remote: one GET of a small shard beats two index round trips (Options.whole_shard_slack)
        self._slack = store.options.whole_shard_slack if store.scheme in _REMOTE else 0
        # local stores: a shard read mostly whole is read and its chunks decoded in one codec-thread
        # hop (fetch_now), as unsharded chunks are; the rest go through fetch_many
        self._reader = store.blocking_reader()
        self.reads_blocking = self._reader is not None

    def fetch_concurrency(self) -> int:
        return self.store.options.concurrency_for(self.store.scheme)

    def chunk_compression(self, requested: str | None) -> str | None:
        """Chunks inside a shard carry the shard's ``data_encoding``, whatever ``compress`` says."""
        return self._data_encoding

    # -- where chunks live ---------------------------------------------------------------------
    def _locate(self, tasks: Sequence[ChunkTask]) -> dict[str, list[Located]]:
        """``{shard object key: [(task, chunk key, minishard)]}``."""
        codes = morton_codes([t.position for t in tasks], self.grid).reshape(-1)
        shards, minishards = self.spec.locate(codes)
        found: dict[str, list[Located]] = defaultdict(list)
        prefix = self.scale.key + "/"
        for task, code, shard, mini in zip(tasks, codes.tolist(), shards.tolist(), minishards.tolist()):
            found[prefix + self.spec.shard_name(shard)].append((task, code, mini))
        return found

    def groups(self, tasks: Sequence[ChunkTask]) -> list[Sequence[ChunkTask]]:
        """One group per shard file, so a shard's indexes and data are fetched together."""
        return [[t for t, _, _ in entries] for entries in self._locate(tasks).values()]

    groups_by_file = True

    def whole_shards(self, tasks: Sequence[ChunkTask]) -> tuple[list[tuple[str, list[ChunkTask]]], list[ChunkTask]]:
        """``([(shard file name, its tasks)], other tasks)``: the shards whose every chunk is among
        ``tasks`` (a transfer copies those as files), and the tasks of the others."""
        whole: list[tuple[str, list[ChunkTask]]] = []
        rest: list[ChunkTask] = []
        skip = len(self.scale.key) + 1
        for key, entries in self._locate(tasks).items():
            if self._covers(entries):
                whole.append((key[skip:], [t for t, _, _ in entries]))
            else:
                rest += [t for t, _, _ in entries]
        return whole, rest

    async def get_shard(self, name: str) -> bytes | None:
        """A shard file's bytes as stored (``name`` relative to the scale), None if absent."""
        blob = await self.store.get(f"{self.scale.key}/{name}")
        return None if blob is None else shardfiles.check_plain(f"{self.url}/{self.scale.key}/{name}", blob)

    async def put_shard(self, name: str, data: bytes, cache_control: str | None = None) -> None:
        """Replace a whole shard file by ``data`` (another layer's shard of the same spec and grid)."""
        key = f"{self.scale.key}/{name}"
        async with self._locks.setdefault(key, asyncio.Lock()):
            try:
                await self.store.put(key, data, cache_control=cache_control)
            finally:
                self.cache.drop(key)

    def _chunks_in_shard(self, position: Position) -> int | None:
        """How many chunks of the volume the shard holding ``position`` has (None: unknown)."""
        if self._cuboid is None:
            return None
        count = 1
        for g, side, size in zip(position, self._cuboid, self.grid):
            origin = g - g % side
            count *= min(origin + side, size) - origin
        return count

    def _whole(self, key: str, entries: Sequence[Located]) -> bool:
        """One GET of the whole shard: for most of its chunks, or (remote, indexes not cached) when
        the bytes not wanted cost less than the two round trips the indexes would."""
        total = self._chunks_in_shard(entries[0][0].position)
        if total is None:
            return False
        if len(entries) >= WHOLE_SHARD_SHARE * total:
            return True
        unwanted = (total - len(entries)) * self._chunk_bytes
        return 0 < self._chunk_bytes and unwanted <= self._slack and (key, _INDEX) not in self.cache

    # -- reads ---------------------------------------------------------------------------------
    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        found: dict[Position, Blob | None] = {}

        async def one(key: str, entries: list[Located]) -> None:
            found.update(await self._fetch_shard(key, entries))

        async with TaskGroup() as group:
            for key, entries in self._locate(tasks).items():
                group.create_task(one(key, entries))
        return found

    def fetch_now(self, tasks: Sequence[ChunkTask], budget: Budget, consume: Consume,
                  windows: Sequence[Window] | None = None) -> list[ChunkTask]:
        """Blocking (a codec thread): each shard wanted mostly whole is read in one go into this
        thread's reusable buffer, its indexes parsed from those bytes (one version of the file)
        and every wanted chunk handed to ``consume`` as a view, before the next read reuses the
        buffer. Other shards' tasks are left (``fetch_many`` reads their ranges)."""
        read = self._reader
        if read is None or not budget.wait or not budget.fetch:
            return list(tasks)
        left: list[ChunkTask] = []
        for key, entries in self._locate(tasks).items():
            if not self._whole(key, entries):
                left += [t for t, _, _ in entries]
                continue
            blob = read(key)
            if blob is None:
                for task, _, _ in entries:
                    consume(task, None)
                continue
            data = shardfiles.check_plain(f"{self.url}/{key}", blob)
            _, tables = shardfiles.parse(self.spec, data, f"shard {self.url}/{key}")
            stored = shardfiles.entries(data, tables, views=True)
            for task, code, _ in entries:
                consume(task, Blob(stored[code], self._data_encoding) if code in stored else None)
        return left

    async def _fetch_shard(self, key: str, entries: list[Located]) -> dict[Position, Blob | None]:
        if self._whole(key, entries):
            return await self._fetch_whole(key, entries)
        try:
            return await self._fetch_ranges(key, entries)
        except IntegrityError:
            # the shard was replaced by another writer (a new version, or cached offsets past its
            # end): its indexes were dropped; read it afresh
            self.cache.drop(key)
            return await self._fetch_ranges(key, entries)

    async def _fetch_whole(self, key: str, entries: list[Located]) -> dict[Position, Blob | None]:
        stored = await self._read_shard(key, keep_indexes=True)
        return {t.position: None if stored is None or code not in stored else Blob(stored[code], self._data_encoding)
                for t, code, _ in entries}

    async def _fetch_ranges(self, key: str, entries: list[Located]) -> dict[Position, Blob | None]:
        where, version = await self._chunk_ranges(key, entries)
        wanted = [(t, where[code]) for t, code, _ in entries if where.get(code) is not None]
        found: dict[Position, Blob | None] = {t.position: None for t, _, _ in entries}
        if wanted:
            data = await shardfiles.read_ranges(self.store, self.cache, key, [r for _, r in wanted], version)
            if data is None:  # the shard vanished since its index was read
                return found
            for (task, _), blob in zip(wanted, data):
                found[task.position] = Blob(blob, self._data_encoding)
        return found

    async def _chunk_ranges(self, key: str, entries: Sequence[Located]) -> tuple[
            dict[int, tuple[int, int] | None], object | None]:
        """``{chunk key: (start, stop) in the shard file}`` for the entries' chunks (None: absent),
        and the version of the file that says so."""
        return await shardfiles.locate(self.store, self.spec, self.cache, key, [(code, m) for _, code, m in entries])

    async def _read_shard(self, key: str, keep_indexes: bool = False) -> dict[int, bytes] | None:
        """Every chunk of a shard file as ``{chunk key: stored bytes}`` (one GET), or None.
        ``keep_indexes``: remember its indexes, so later reads of this shard fetch only data."""
        blob = await self.store.get_buffer(key)  # parsed and sliced as views only
        if blob is None:
            return None
        index, tables = await shardfiles.parse_blob(self.spec, f"{self.url}/{key}", blob)
        if keep_indexes:
            shardfiles.remember(self.cache, key, index, tables, blob.version)
        return shardfiles.entries(blob.data, tables, views=True)

    async def exists_many(self, tasks: Sequence[ChunkTask]) -> list[bool]:
        present: dict[Position, bool] = {}

        async def one(key: str, entries: list[Located]) -> None:
            where, _ = await self._chunk_ranges(key, entries)
            present.update({t.position: where.get(code) is not None for t, code, _ in entries})

        async with TaskGroup() as group:
            for key, entries in self._locate(tasks).items():
                group.create_task(one(key, entries))
        return [present[t.position] for t in tasks]

    # -- writes --------------------------------------------------------------------------------
    async def store_many(self, items: Sequence[tuple[ChunkTask, bytes]], *, content_encoding: str | None,
                         cache_control: str | None) -> None:
        if content_encoding != self._data_encoding:
            raise EncodingError(f"chunks for {self.url} arrived as {content_encoding!r}; its shards store "
                                f"{self.spec.data_encoding!r} data")
        payload = {t.position: data for t, data in items}
        async with TaskGroup() as group:
            for key, entries in self._locate([t for t, _ in items]).items():
                new = {code: payload[t.position] for t, code, _ in entries}
                group.create_task(self._rewrite(key, new, (), whole=self._covers(entries), cache_control=cache_control))

    def group_writer(self) -> GroupWriter | None:
        """On a store with a blocking writer (file://): a group covering a whole shard is built
        and written in one codec-thread hop (``shardwrite.build_shard``); others return None and
        take ``store_many`` (read -> merge -> conditional write)."""
        writer = self.store.blocking_writer()
        if writer is None or self._cuboid is None:
            return None
        loop = asyncio.get_running_loop()

        def write_group(src: np.ndarray, encode: EncodeSpec, items: Sequence[EncodeItem],
                        cache_control: str | None) -> list[ChunkTask] | None:
            located = self._locate([it.task for it in items])
            if len(located) != 1:
                return None
            (key, entries), = located.items()
            if not self._covers(entries):
                return None
            data = build_shard(self.spec, src, encode, items, [code for _, code, _ in entries])
            if data is None:  # every chunk background: the shard holds none of them
                return [it.task for it in items]
            try:
                writer([PutItem(key, data, cache_control=cache_control)])  # type: ignore[arg-type]
            finally:
                loop.call_soon_threadsafe(self.cache.drop, key)  # runs before the caller resumes
            return []

        return write_group

    def _covers(self, entries: Sequence[Located]) -> bool:
        return self._chunks_in_shard(entries[0][0].position) == len({code for _, code, _ in entries})

    async def delete_many(self, tasks: Sequence[ChunkTask]) -> None:
        async with TaskGroup() as group:
            for key, entries in self._locate(tasks).items():
                group.create_task(self._rewrite(key, {}, [code for _, code, _ in entries], whole=False))

    async def _rewrite(self, key: str, new: dict[int, bytes], drop: Sequence[int], *, whole: bool,
                       cache_control: str | None = None) -> None:
        """Replace a shard file by its old chunks (unless ``whole``) minus ``drop`` plus ``new``.

        A write covering the whole shard needs no read and is one plain PUT. Anything else is
        read -> merge -> conditional write (``Store.put_if``), again from the read when another
        writer changed the shard in between; after ``shardfiles.MERGE_ATTEMPTS`` lost races,
        ``ConcurrentModificationError``. A shard left without chunks is written empty (a plain
        delete could drop a chunk another writer just added).
        """
        async def merged(blob: Blob | None) -> bytes | None:
            chunks = {} if blob is None else shardfiles.entries(
                blob.data, (await shardfiles.parse_blob(self.spec, f"{self.url}/{key}", blob))[1])
            if not new and not any(code in chunks for code in drop):
                return None  # nothing to delete
            for code in drop:
                chunks.pop(code, None)
            chunks.update(new)
            return await asyncio.to_thread(encode_shard, self.spec, chunks)

        async with self._locks.setdefault(key, asyncio.Lock()):  # this process's writers take turns
            try:
                if whole and not drop:
                    await self.store.put(key, await asyncio.to_thread(encode_shard, self.spec, new),
                                         cache_control=cache_control)
                else:
                    await shardfiles.rewrite(self.store, key, merged, cache_control=cache_control)
            finally:
                self.cache.drop(key)


__all__ = ["ShardedSource", "WHOLE_SHARD_SHARE"]
