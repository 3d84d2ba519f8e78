"""Shard files on a store, whatever their keys mean: what sharded scales (Morton codes) and sharded
meshes and skeletons (segment ids) share.

- :func:`locate`: ``{key: (start, stop)}`` in one shard file, through the volume's
  :class:`~.shardindex.ShardIndexCache` (shard index, then the wanted minishard indexes, each one
  ``Store.get_ranges`` call; later lookups in the same shard cost nothing), and the version of
  the file those indexes describe; :func:`read_ranges` reads data and checks it is of that
  version (ETag, generation, inode+mtime+size), so a shard replaced by another writer is never
  read through a stale index: ``ShardChangedError``, and the caller drops and retries.
- :func:`parse` / :func:`entries`: a whole shard file's indexes and stored values, every range
  checked to lie within the file.
- :func:`rewrite`: read -> merge -> ``Store.put_if`` (conditional), again from the read when another
  writer changed the file in between; after ``MERGE_ATTEMPTS`` lost races,
  ``ConcurrentModificationError``. Nothing of another writer is ever lost.
"""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Any, Callable, Hashable, Iterable

import numpy as np

from ..exceptions import ConcurrentModificationError, IntegrityError, ShardChangedError, UnsupportedFeatureError
from ..format.sharding import ShardingSpec, decode_minishard_index, decode_shard_index
from ..storage.base import Blob, Store
from .shardindex import ShardIndexCache

#: read-merge-writes of one shard lost to other writers before ConcurrentModificationError
MERGE_ATTEMPTS = 8
INDEX = "index"

Table = dict[int, tuple[int, int]]  # key -> (start, stop) of its stored bytes in the file


def table(spec: ShardingSpec, data: bytes, what: str) -> Table:
    """A minishard index as ``{key: (start, stop)}`` (absolute file offsets)."""
    keys, starts, sizes = decode_minishard_index(spec, data, what)
    return {k: (s, s + n) for k, s, n in zip(keys.tolist(), starts.tolist(), sizes.tolist())}


def parse(spec: ShardingSpec, data: bytes, what: str) -> tuple[np.ndarray, dict[int, Table]]:
    """A whole shard file's index and ``{minishard: Table}``, every range within the file."""
    index = decode_shard_index(spec, data[:spec.shard_index_bytes], what)
    tables: dict[int, Table] = {}
    for m, (start, stop) in enumerate(index.tolist()):
        if start == stop:
            continue
        if stop > len(data):
            raise IntegrityError(f"{what}: minishard {m} index at [{start}, {stop}) is past the end ({len(data)} bytes)")
        found = tables[m] = table(spec, data[start:stop], f"{what} minishard {m}")
        for key, (s, e) in found.items():
            if e > len(data):
                raise IntegrityError(f"{what}: key {key} at [{s}, {e}) is past the end ({len(data)} bytes)")
    return index, tables


def entries(data: bytes, tables: dict[int, Table], *, views: bool = False) -> dict[int, bytes]:
    """``{key: stored bytes}`` of a parsed shard file.

    ``views``: memoryviews into ``data`` instead of copies, for readers that only decode them.
    Slicing bytes copies: a whole-volume sharded read copied every chunk once more, in the event
    loop (profiled: the loop's largest cost in a file:// read of 16 shards).
    """
    if views:
        data = memoryview(data)  # type: ignore[assignment]
    return {key: data[s:e] for found in tables.values() for key, (s, e) in found.items()}


def check_plain(url: str, blob: Blob) -> bytes:
    if blob.encoding:
        raise UnsupportedFeatureError(f"{url} is stored with Content-Encoding {blob.encoding}; "
                                      "a shard file must be stored as is")
    return blob.data


async def parse_blob(spec: ShardingSpec, url: str, blob: Blob) -> tuple[np.ndarray, dict[int, Table]]:
    return await asyncio.to_thread(parse, spec, check_plain(url, blob), f"shard {url}")


async def locate(store: Store, spec: ShardingSpec, cache: ShardIndexCache, shard: str,
                 wanted: Iterable[tuple[int, int]]) -> tuple[dict[int, tuple[int, int] | None], object | None]:
    """``({key: (start, stop) or None}, version)`` for ``(key, minishard)`` pairs of one shard
    file; ``version``: the stored version the indexes were read from (None: unknown)."""
    wanted = list(wanted)
    entry = (await cache.get_many([(shard, INDEX)], functools.partial(_load_index, store, spec, shard)))[
        (shard, INDEX)]
    if entry is None:
        return {key: None for key, _ in wanted}, None
    index, version = entry
    minis = sorted({m for _, m in wanted if index[m][0] != index[m][1]})
    tables = await cache.get_many([(shard, m) for m in minis],
                                  functools.partial(_load_minishards, store, spec, cache, shard, entry))
    out: dict[int, tuple[int, int] | None] = {}
    for key, m in wanted:
        found = tables.get((shard, m))
        out[key] = None if found is None else found.get(key)
    return out, version


async def read_ranges(store: Store, cache: ShardIndexCache, shard: str, ranges: list[tuple[int, int]],
                      version: object | None) -> list[bytes] | None:
    """The bytes of ``ranges`` of a shard file located at ``version``; ``ShardChangedError``
    (after dropping the shard's cached indexes) when the file is another version now."""
    got = await store.get_ranges_versioned(shard, ranges)
    if got is None:
        cache.drop(shard)  # the shard vanished since its index was read
        return None
    data, now = got
    if version is not None and now is not None and not now == version:
        cache.drop(shard)
        raise ShardChangedError(f"{store.url}/{shard} was replaced while it was being read; read it again")
    return data


async def _load_index(store: Store, spec: ShardingSpec, shard: str, _: list[Hashable]) -> dict[Hashable, Any]:
    got = await store.get_ranges_versioned(shard, [(0, spec.shard_index_bytes)])
    if got is None:
        return {}
    (data,), version = got
    return {(shard, INDEX): (decode_shard_index(spec, data, f"shard {store.url}/{shard}"), version)}


async def _load_minishards(store: Store, spec: ShardingSpec, cache: ShardIndexCache, shard: str,
                           entry: tuple[np.ndarray, object | None], wanted: list[Hashable]) -> dict[Hashable, Any]:
    index, version = entry
    minis = [m for _, m in wanted]  # type: ignore[misc]
    data = await read_ranges(store, cache, shard, [(int(index[m][0]), int(index[m][1])) for m in minis], version)
    if data is None:
        return {}
    return {(shard, m): table(spec, blob, f"minishard {m} of {store.url}/{shard}") for m, blob in zip(minis, data)}


def remember(cache: ShardIndexCache, shard: str, index: np.ndarray, tables: dict[int, Table],
             version: object | None) -> None:
    """Keep the indexes of a shard read whole, so later reads of it fetch only data."""
    cache.put((shard, INDEX), (index, version))
    for m, found in tables.items():
        cache.put((shard, m), found)


async def rewrite(store: Store, shard: str, build: Callable[[Blob | None], "asyncio.Future[bytes | None] | Any"],
                  *, cache_control: str | None = None) -> None:
    """Replace ``shard`` by ``await build(current blob or None)`` (None: nothing to change),
    conditionally on the file not having changed since it was read; see the module docstring."""
    for attempt in range(MERGE_ATTEMPTS):
        blob, version = await store.get_versioned(shard)
        data = await build(blob)
        if data is None or await store.put_if(shard, data, version, cache_control=cache_control):
            return
        await asyncio.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # let the other writer finish
    raise ConcurrentModificationError(
        f"{store.url}/{shard}: other writers changed this shard {MERGE_ATTEMPTS} times while we merged into "
        "it; nothing was written, retry the write")
