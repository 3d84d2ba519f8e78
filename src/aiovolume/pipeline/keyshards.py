"""``ShardedObjects``: objects keyed by uint64 (segment ids) in ``neuroglancer_uint64_sharded_v1``
shard files under one directory - sharded skeletons and meshes. The same machinery as
``ShardedSource`` (format/sharding.py, the shard-index LRU, ``Store.get_ranges`` and the
conditional read-merge-write), keyed by segment id instead of Morton code.

Reads fetch, per shard and concurrently, the shard index, then the minishard indexes of the
wanted keys, then their data (each step one ``get_ranges`` call; indexes are cached, so later
reads of the same shards fetch only data). Writes and deletes rewrite each touched shard:
read -> merge -> ``put_if``, again from the read when another writer won, so a shard's other
objects are never lost (CloudVolume's sharded upload replaces whole shard files).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import defaultdict
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from ..exceptions import ConcurrentModificationError, IntegrityError, UnsupportedFeatureError
from ..format.sharding import ShardingSpec, decode_shard_index, encode_shard
from ..storage.base import Blob, Store
from .sharded import MERGE_ATTEMPTS, _chunks, _parse_indexes, _table
from .fanout import run_all
from .shardindex import ShardIndexCache

_INDEX = "index"


class ShardedObjects:
    """uint64-keyed objects in the shard files of ``directory`` (``""``: the store's root)."""

    def __init__(self, store: Store, spec: ShardingSpec, directory: str, cache: ShardIndexCache | None = None) -> None:
        self.store = store
        self.spec = spec
        self.prefix = directory.strip("/") + "/" if directory.strip("/") else ""
        self.cache = cache if cache is not None else ShardIndexCache()
        self._locks: dict[str, asyncio.Lock] = {}

    def _group(self, keys: Sequence[int]) -> dict[str, list[tuple[int, int]]]:
        """``{shard file key: [(object key, minishard)]}``."""
        arr = np.array([int(k) for k in keys], dtype=np.uint64)
        shards, minis = self.spec.locate(arr)
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for key, shard, mini in zip(arr.tolist(), shards.tolist(), minis.tolist()):
            found[self.prefix + self.spec.shard_name(shard)].append((key, mini))
        return found

    # -- reads -----------------------------------------------------------------------------
    async def get_many(self, keys: Sequence[int]) -> dict[int, bytes | None]:
        """``{key: object bytes (data_encoding undone) or None}`` for every key."""
        found: dict[int, bytes | None] = {int(k): None for k in keys}

        async def one(shard: str, entries: list[tuple[int, int]]) -> None:
            try:
                found.update(await self._fetch(shard, entries))
            except IntegrityError:  # cached offsets past the end: rewritten elsewhere
                self.cache.drop(shard)
                found.update(await self._fetch(shard, entries))

        await run_all(one(shard, entries) for shard, entries in self._group(list(found)).items())
        return found

    async def exists_many(self, keys: Sequence[int]) -> dict[int, bool]:
        """``{key: stored?}`` from the (cached) indexes alone, without reading object data."""
        found = {int(k): False for k in keys}

        async def one(shard: str, entries: list[tuple[int, int]]) -> None:
            where = await self._ranges(shard, entries)
            found.update({k: r is not None for k, r in where.items()})

        await run_all(one(shard, entries) for shard, entries in self._group(list(found)).items())
        return found

    async def _fetch(self, shard: str, entries: list[tuple[int, int]]) -> dict[int, bytes | None]:
        where = await self._ranges(shard, entries)
        wanted = [(k, r) for k, r in where.items() if r is not None]
        if not wanted:
            return {}
        data = await self.store.get_ranges(shard, [r for _, r in wanted])
        if data is None:
            self.cache.drop(shard)
            return {}
        what = f"{self.store.url}/{shard}"
        return {k: self.spec.decode_data(bytes(blob), f"object {k} of {what}") for (k, _), blob in zip(wanted, data)}

    async def _ranges(self, shard: str, entries: list[tuple[int, int]]) -> dict[int, tuple[int, int] | None]:
        index = (await self.cache.get_many([(shard, _INDEX)], functools.partial(self._load_index, shard)))[
            (shard, _INDEX)]
        if index is None:
            return {}
        minis = sorted({m for _, m in entries if index[m][0] != index[m][1]})
        tables = await self.cache.get_many([(shard, m) for m in minis],
                                           functools.partial(self._load_minishards, shard, index))
        out: dict[int, tuple[int, int] | None] = {}
        for key, m in entries:
            table = tables.get((shard, m))
            out[key] = None if table is None else table.get(key)
        return out

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

    async def list_keys(self) -> list[int]:
        """Every key stored in every shard file of the directory (reads them whole)."""
        shards = [k async for k in self.store.list(self.prefix)
                  if k.endswith(".shard") and "/" not in k[len(self.prefix):]]
        keys: set[int] = set()

        async def one(shard: str) -> None:
            stored = await self._read(shard)
            keys.update(stored or {})

        await run_all(one(shard) for shard in shards)
        return sorted(keys)

    async def _read(self, shard: str) -> dict[int, bytes] | None:
        blob = await self.store.get(shard)
        return None if blob is None else await self._parse(shard, blob)

    async def _parse(self, shard: str, blob: Blob) -> dict[int, bytes]:
        if blob.encoding:
            raise UnsupportedFeatureError(f"{self.store.url}/{shard} is stored with Content-Encoding "
                                          f"{blob.encoding}; a shard file must be stored as is")
        _, tables = await asyncio.to_thread(_parse_indexes, self.spec, blob.data, f"shard {self.store.url}/{shard}")
        return _chunks(blob.data, tables)

    # -- writes ----------------------------------------------------------------------------
    async def put_many(self, items: Mapping[int, bytes]) -> None:
        """Store objects (raw bytes; ``data_encoding`` is applied here), merging into their shards."""
        encoded = await asyncio.to_thread(lambda: {int(k): self.spec.encode_data(v) for k, v in items.items()})
        await run_all(self._rewrite(shard, {k: encoded[k] for k, _ in entries}, ())
                      for shard, entries in self._group(list(encoded)).items())

    async def delete_many(self, keys: Sequence[int]) -> None:
        await run_all(self._rewrite(shard, {}, [k for k, _ in entries]) for shard, entries in self._group(keys).items())

    async def _rewrite(self, shard: str, new: dict[int, bytes], drop: Sequence[int]) -> None:
        async with self._locks.setdefault(shard, asyncio.Lock()):
            try:
                for attempt in range(MERGE_ATTEMPTS):
                    blob, version = await self.store.get_versioned(shard)
                    stored = {} if blob is None else await self._parse(shard, blob)
                    if not new and not any(k in stored for k in drop):
                        return
                    for k in drop:
                        stored.pop(k, None)
                    stored.update(new)
                    data = await asyncio.to_thread(encode_shard, self.spec, stored)
                    if await self.store.put_if(shard, data, version, cache_control="no-cache"):
                        return
                    await asyncio.sleep(random.uniform(0, 0.05 * 2 ** attempt))
                raise ConcurrentModificationError(
                    f"{self.store.url}/{shard}: other writers changed this shard {MERGE_ATTEMPTS} times while we "
                    "merged into it; nothing was written, retry")
            finally:
                self.cache.drop(shard)


__all__ = ["ShardedObjects"]
