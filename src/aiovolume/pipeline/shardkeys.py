"""Sharded objects keyed by segment id (meshes, skeletons): locate, read, write whole values.

The same ``neuroglancer_uint64_sharded_v1`` machinery as sharded volume scales
(format/sharding.py, the :class:`ShardIndexCache`, ``Store.get_ranges`` and ``put_if``), keyed by
segid instead of a Morton code. Every step of a call covers all its keys at once: one
``get_ranges`` per shard file for the shard indexes, one for the minishard indexes, one for the
data, all shards concurrently.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import defaultdict
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from ..exceptions import ConcurrentModificationError, IntegrityError
from ..format.sharding import ShardingSpec, decode_minishard_index, decode_shard_index, encode_shard
from ..storage.base import Store
from .shardindex import ShardIndexCache

MERGE_ATTEMPTS = 8
_INDEX = "index"

#: where a key's stored value is: (shard object key, start, stop)
Where = tuple[str, int, int]


class KeyedShards:
    """The shard files under ``prefix`` of ``store``, holding values keyed by uint64 ids."""

    def __init__(self, store: Store, prefix: str, spec: ShardingSpec, cache: ShardIndexCache | None = None) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.spec = spec
        self.cache = cache if cache is not None else ShardIndexCache()
        self._locks: dict[str, asyncio.Lock] = {}

    def shard_key(self, shard: int) -> str:
        name = self.spec.shard_name(shard)
        return f"{self.prefix}/{name}" if self.prefix else name

    def group(self, keys: Iterable[int]) -> dict[str, list[tuple[int, int]]]:
        """``{shard object key: [(key, minishard)]}``."""
        ids = np.fromiter((int(k) for k in keys), dtype=np.uint64)
        shards, minis = self.spec.locate(ids)
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for k, s, m in zip(ids.tolist(), shards.tolist(), minis.tolist()):
            found[self.shard_key(s)].append((k, m))
        return found

    async def locate(self, keys: Sequence[int]) -> dict[int, Where | None]:
        """Where each key's value is stored (None: absent)."""
        where: dict[int, Where | None] = {int(k): None for k in keys}

        async def one(shard: str, entries: list[tuple[int, int]]) -> None:
            table = await self._tables(shard, {m for _, m in entries})
            for k, m in entries:
                span = table.get(m, {}).get(k)
                where[k] = None if span is None else (shard, span[0], span[1])

        async with asyncio.TaskGroup() as group:
            for shard, entries in self.group(where).items():
                group.create_task(one(shard, entries))
        return where

    async def read_ranges(self, wanted: Mapping[Hashable, Where]) -> dict[Hashable, bytes | None]:
        """``{name: bytes of (shard, start, stop)}``: one ``get_ranges`` per shard, all concurrently.
        A shard gone since it was located gives None."""
        by_shard: dict[str, list[tuple[Hashable, tuple[int, int]]]] = defaultdict(list)
        for name, (shard, start, stop) in wanted.items():
            by_shard[shard].append((name, (start, stop)))
        out: dict[Hashable, bytes | None] = {}

        async def one(shard: str, items: list[tuple[Hashable, tuple[int, int]]]) -> None:
            data = await self.store.get_ranges(shard, [r for _, r in items])
            for i, (name, _) in enumerate(items):
                out[name] = None if data is None else data[i]

        async with asyncio.TaskGroup() as group:
            for shard, items in by_shard.items():
                group.create_task(one(shard, items))
        return out

    async def get(self, keys: Sequence[int]) -> dict[int, tuple[bytes, Where] | None]:
        """Each key's value (``data_encoding`` undone) and where it is stored, or None."""
        where = await self.locate(keys)
        found = {k: w for k, w in where.items() if w is not None}
        try:
            data = await self.read_ranges(found)
        except IntegrityError:  # cached offsets past the end: rewritten elsewhere; locate afresh
            for shard in {w[0] for w in found.values()}:
                self.cache.drop(shard)
            where = await self.locate(keys)
            found = {k: w for k, w in where.items() if w is not None}
            data = await self.read_ranges(found)
        out: dict[int, tuple[bytes, Where] | None] = {k: None for k in where}
        for k, w in found.items():
            blob = data.get(k)
            if blob is not None:
                out[k] = (self.spec.decode_data(blob, f"key {k} in {self.store.url}/{w[0]}"), w)
        return out

    # -- indexes -------------------------------------------------------------------------------
    async def _tables(self, shard: str, minis: set[int]) -> dict[int, dict[int, tuple[int, int]]]:
        index = (await self.cache.get_many([(shard, _INDEX)], functools.partial(self._load_index, shard)))
        index_value = index[(shard, _INDEX)]
        if index_value is None:
            return {}
        wanted = sorted(m for m in minis if index_value[m][0] != index_value[m][1])
        loaded = await self.cache.get_many([(shard, m) for m in wanted],
                                           functools.partial(self._load_minishards, shard, index_value))
        return {m: loaded[(shard, m)] for m in wanted if loaded.get((shard, m)) is not None}

    async def _load_index(self, shard: str, _: list[Hashable]) -> dict[Hashable, Any]:
        data = await self.store.get_ranges(shard, [(0, self.spec.shard_index_bytes)])
        if data is None:
            return {}
        return {(shard, _INDEX): decode_shard_index(self.spec, data[0], f"shard {self.store.url}/{shard}")}

    async def _load_minishards(self, shard: str, index: np.ndarray, wanted: list[Hashable]) -> dict[Hashable, Any]:
        minis = [m for _, m in wanted]  # type: ignore[misc]
        data = await self.store.get_ranges(shard, [(int(index[m][0]), int(index[m][1])) for m in minis])
        if data is None:
            return {}
        return {(shard, m): _table(self.spec, blob, f"minishard {m} of {self.store.url}/{shard}")
                for m, blob in zip(minis, data)}

    # -- writes --------------------------------------------------------------------------------
    async def write(self, values: Mapping[int, bytes], prefixes: Mapping[int, bytes] | None = None,
                    prefix_of: Any = None) -> None:
        """Store ``{key: value}`` (raw; ``data_encoding`` applied here), each with its unindexed
        ``prefixes[key]`` right before it, merging into existing shards (read -> merge ->
        ``put_if``). ``prefix_of(key, value) -> prefix length`` recovers an existing entry's prefix
        (multires meshes: the fragments before the manifest) so merges keep it."""
        prefixes = prefixes or {}
        async with asyncio.TaskGroup() as group:
            for shard, entries in self.group(values).items():
                keys = [k for k, _ in entries]
                group.create_task(self._merge(
                    shard, {k: self.spec.encode_data(values[k]) for k in keys},
                    {k: prefixes[k] for k in keys if k in prefixes}, prefix_of))

    async def _merge(self, shard: str, new: dict[int, bytes], new_prefixes: dict[int, bytes], prefix_of: Any) -> None:
        async with self._locks.setdefault(shard, asyncio.Lock()):
            try:
                for attempt in range(MERGE_ATTEMPTS):
                    blob, version = await self.store.get_versioned(shard)
                    values: dict[int, bytes] = {}
                    prefixes: dict[int, bytes] = {}
                    if blob is not None:
                        values, prefixes = await asyncio.to_thread(self._entries, shard, blob.data, prefix_of)
                    values.update(new)
                    for k in new:
                        prefixes.pop(k, None)
                    prefixes.update(new_prefixes)
                    data = await asyncio.to_thread(encode_shard, self.spec, values, prefixes)
                    if await self.store.put_if(shard, data, version):
                        return
                    await asyncio.sleep(random.uniform(0, 0.05 * 2 ** attempt))
                raise ConcurrentModificationError(
                    f"{self.store.url}/{shard}: other writers changed this shard {MERGE_ATTEMPTS} times while "
                    "we merged into it; nothing was written, retry the write")
            finally:
                self.cache.drop(shard)

    def _entries(self, shard: str, data: bytes, prefix_of: Any) -> tuple[dict[int, bytes], dict[int, bytes]]:
        what = f"shard {self.store.url}/{shard}"
        index = decode_shard_index(self.spec, data[:self.spec.shard_index_bytes], what)
        values: dict[int, bytes] = {}
        prefixes: dict[int, bytes] = {}
        for m, (start, stop) in enumerate(index.tolist()):
            if start == stop:
                continue
            if stop > len(data):
                raise IntegrityError(f"{what}: minishard {m} index at [{start}, {stop}) is past the end")
            for k, (s, e) in _table(self.spec, data[start:stop], f"{what} minishard {m}").items():
                if e > len(data):
                    raise IntegrityError(f"{what}: key {k} at [{s}, {e}) is past the end ({len(data)} bytes)")
                values[k] = data[s:e]
                if prefix_of is not None:
                    n = prefix_of(k, self.spec.decode_data(values[k], f"{what} key {k}"))
                    prefixes[k] = data[s - n:s]
        return values, prefixes


def _table(spec: ShardingSpec, data: bytes, what: str) -> dict[int, tuple[int, int]]:
    keys, starts, sizes = decode_minishard_index(spec, data, what)
    return {k: (s, s + n) for k, s, n in zip(keys.tolist(), starts.tolist(), sizes.tolist())}


__all__ = ["KeyedShards", "Where"]
