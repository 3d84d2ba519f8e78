"""Sharded objects keyed by segment id (meshes, skeletons): locate, read, write whole values.

The same ``neuroglancer_uint64_sharded_v1`` machinery as sharded volume scales
(format/sharding.py, the :class:`ShardIndexCache`, ``Store.get_ranges`` and ``put_if``), keyed by
segid instead of a Morton code. Every step of a call covers all its keys at once: one
``get_ranges`` per shard file for the shard indexes, one for the minishard indexes, one for the
data, all shards concurrently.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from ..exceptions import IntegrityError
from ..format.sharding import ShardingSpec, encode_shard
from ..storage.base import Blob, Store
from . import shardfiles
from .fanout import TaskGroup
from .shardindex import ShardIndexCache

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
        return (await self._locate(keys))[0]

    async def _locate(self, keys: Sequence[int]) -> tuple[dict[int, Where | None], dict[str, object | None]]:
        """``locate``, and the version of each shard file its indexes were read from."""
        where: dict[int, Where | None] = {int(k): None for k in keys}
        versions: dict[str, object | None] = {}

        async def one(shard: str, entries: list[tuple[int, int]]) -> None:
            spans, versions[shard] = await shardfiles.locate(self.store, self.spec, self.cache, shard, entries)
            for k, span in spans.items():
                where[k] = None if span is None else (shard, span[0], span[1])

        async with TaskGroup() as group:
            for shard, entries in self.group(where).items():
                group.create_task(one(shard, entries))
        return where, versions

    async def read_ranges(self, wanted: Mapping[Hashable, Where],
                          versions: Mapping[str, object | None] | None = None) -> dict[Hashable, bytes | None]:
        """``{name: bytes of (shard, start, stop)}``: one ``get_ranges`` per shard, all concurrently.
        A shard gone since it was located gives None; one of another version than ``versions``
        says, ``ShardChangedError``."""
        by_shard: dict[str, list[tuple[Hashable, tuple[int, int]]]] = defaultdict(list)
        for name, (shard, start, stop) in wanted.items():
            by_shard[shard].append((name, (start, stop)))
        out: dict[Hashable, bytes | None] = {}

        async def one(shard: str, items: list[tuple[Hashable, tuple[int, int]]]) -> None:
            data = await shardfiles.read_ranges(self.store, self.cache, shard, [r for _, r in items],
                                                (versions or {}).get(shard))
            for i, (name, _) in enumerate(items):
                out[name] = None if data is None else data[i]

        async with TaskGroup() as group:
            for shard, items in by_shard.items():
                group.create_task(one(shard, items))
        return out

    async def get(self, keys: Sequence[int]) -> dict[int, tuple[bytes, Where] | None]:
        """Each key's value (``data_encoding`` undone) and where it is stored, or None."""
        return {k: None if v is None else v[:2] for k, v in (await self.get_versioned(keys)).items()}

    async def get_versioned(self, keys: Sequence[int]) -> dict[int, tuple[bytes, Where, object | None] | None]:
        """``get``, plus the version of the shard file each value was read from: ranges read
        later at offsets relative to it (a multires mesh's fragments) pass it to ``read_ranges``."""
        where, versions = await self._locate(keys)
        found = {k: w for k, w in where.items() if w is not None}
        try:
            data = await self.read_ranges(found, versions)
        except IntegrityError:  # replaced by another writer (or offsets past its end): locate afresh
            for shard in {w[0] for w in found.values()}:
                self.cache.drop(shard)
            where, versions = await self._locate(keys)
            found = {k: w for k, w in where.items() if w is not None}
            data = await self.read_ranges(found, versions)
        out: dict[int, tuple[bytes, Where, object | None] | None] = {k: None for k in where}
        for k, w in found.items():
            blob = data.get(k)
            if blob is not None:
                out[k] = (self.spec.decode_data(blob, f"key {k} in {self.store.url}/{w[0]}"), w, versions.get(w[0]))
        return out

    async def get_many(self, keys: Sequence[int]) -> dict[int, bytes | None]:
        """``{key: value (data_encoding undone) or None}`` for every key."""
        return {k: None if v is None else v[0] for k, v in (await self.get(keys)).items()}

    async def exists_many(self, keys: Sequence[int]) -> dict[int, bool]:
        """``{key: stored?}`` from the (cached) indexes alone, without reading values."""
        return {k: w is not None for k, w in (await self.locate(keys)).items()}

    async def list_keys(self) -> list[int]:
        """Every key stored in every shard file under the prefix (reads the files whole)."""
        prefix = self.prefix + "/" if self.prefix else ""
        shards = [k async for k in self.store.list(prefix) if k.endswith(".shard") and "/" not in k[len(prefix):]]
        keys: set[int] = set()

        async def one(shard: str) -> None:
            blob = await self.store.get(shard)
            if blob is not None:
                _, tables = await shardfiles.parse_blob(self.spec, f"{self.store.url}/{shard}", blob)
                keys.update(k for found in tables.values() for k in found)

        async with TaskGroup() as group:
            for shard in shards:
                group.create_task(one(shard))
        return sorted(keys)

    # -- writes --------------------------------------------------------------------------------
    async def write(self, values: Mapping[int, bytes], prefixes: Mapping[int, bytes] | None = None,
                    prefix_of: Any = None, cache_control: str | None = None) -> None:
        """Store ``{key: value}`` (raw; ``data_encoding`` applied here), each with its unindexed
        ``prefixes[key]`` right before it, merging into existing shards (read -> merge ->
        ``put_if``). ``prefix_of(key, value) -> prefix length`` recovers an existing entry's prefix
        (multires meshes: the fragments before the manifest) so merges keep it."""
        prefixes = prefixes or {}
        encoded = await asyncio.to_thread(lambda: {int(k): self.spec.encode_data(v) for k, v in values.items()})
        async with TaskGroup() as group:
            for shard, entries in self.group(encoded).items():
                keys = [k for k, _ in entries]
                group.create_task(self._merge(shard, {k: encoded[k] for k in keys},
                                              {k: prefixes[k] for k in keys if k in prefixes}, (), prefix_of,
                                              cache_control))

    async def put_many(self, values: Mapping[int, bytes], cache_control: str | None = "no-cache") -> None:
        await self.write(values, cache_control=cache_control)

    async def delete_many(self, keys: Sequence[int]) -> None:
        """Remove keys from their shards (a shard left empty keeps its index)."""
        async with TaskGroup() as group:
            for shard, entries in self.group(keys).items():
                group.create_task(self._merge(shard, {}, {}, [k for k, _ in entries], None, "no-cache"))

    async def _merge(self, shard: str, new: dict[int, bytes], new_prefixes: dict[int, bytes], drop: Sequence[int],
                     prefix_of: Any, cache_control: str | None = None) -> None:
        async def merged(blob: Blob | None) -> bytes | None:
            values: dict[int, bytes] = {}
            prefixes: dict[int, bytes] = {}
            if blob is not None:
                data = shardfiles.check_plain(f"{self.store.url}/{shard}", blob)
                values, prefixes = await asyncio.to_thread(self._entries, shard, data, prefix_of)
            if not new and not any(k in values for k in drop):
                return None  # nothing to delete
            for k in list(new) + list(drop):
                values.pop(k, None)
                prefixes.pop(k, None)
            values.update(new)
            prefixes.update(new_prefixes)
            return await asyncio.to_thread(encode_shard, self.spec, values, prefixes)

        async with self._locks.setdefault(shard, asyncio.Lock()):
            try:
                await shardfiles.rewrite(self.store, shard, merged, cache_control=cache_control)
            finally:
                self.cache.drop(shard)

    def _entries(self, shard: str, data: bytes, prefix_of: Any) -> tuple[dict[int, bytes], dict[int, bytes]]:
        what = f"shard {self.store.url}/{shard}"
        _, tables = shardfiles.parse(self.spec, data, what)
        values = shardfiles.entries(data, tables)
        prefixes: dict[int, bytes] = {}
        if prefix_of is not None:
            starts = {k: s for found in tables.values() for k, (s, _) in found.items()}
            for k, value in values.items():
                n = prefix_of(k, self.spec.decode_data(value, f"{what} key {k}"))
                prefixes[k] = data[starts[k] - n:starts[k]]
        return values, prefixes


__all__ = ["KeyedShards", "Where"]
