"""A bounded LRU of decoded shard and minishard indexes, shared by the reads of one volume.

Neither CloudVolume nor TensorStore keeps indexes between calls, so their second cutout over
the same shards pays the index round trips again; with this, it pays only for its data.
Loads in flight are shared: concurrent reads of one shard ask for its index once.
Entries are dropped after our own writes to a shard (``drop``); a shard index remembers the
version of the file it was read from (ETag, generation, inode+mtime+size), and a read whose
bytes come from another version drops the shard's entries and reads again (``shardfiles``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Hashable, Sequence

Loader = Callable[[list[Hashable]], Awaitable[dict[Hashable, Any]]]


class ShardIndexCache:
    """``{(shard key, part): decoded index}``, at most ``max_entries`` (shard index <= 8 KiB and a
    minishard index of a few thousand entries are typical, so the default holds tens of MiB)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        self.hits = 0
        self.loads = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, keys: Sequence[Hashable], load: Loader) -> dict[Hashable, Any]:
        """The entries of ``keys``: cached, awaited from a load in flight, or loaded now in one
        ``load(missing_keys) -> {key: value}`` call. A value of None is returned, never cached."""
        found: dict[Hashable, Any] = {}
        waiting: dict[Hashable, asyncio.Future[Any]] = {}
        missing: list[Hashable] = []
        for key in keys:
            if key in self._entries:
                self._entries.move_to_end(key)
                found[key] = self._entries[key]
                self.hits += 1
            elif key in self._loading:
                waiting[key] = self._loading[key]
            elif key not in found:
                missing.append(key)
        if missing:
            await self._load(missing, load, found)
        for key, future in waiting.items():
            found[key] = await asyncio.shield(future)
        return found

    async def _load(self, keys: list[Hashable], load: Loader, found: dict[Hashable, Any]) -> None:
        loop = asyncio.get_running_loop()
        futures = {key: loop.create_future() for key in keys}
        self._loading.update(futures)
        self.loads += len(keys)
        try:
            values = await load(keys)
        except BaseException as exc:
            for future in futures.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: waiters re-raise it, nobody else must see it
            raise
        finally:
            for key in keys:
                self._loading.pop(key, None)
        for key, future in futures.items():
            value = values.get(key)
            future.set_result(value)
            found[key] = value
            if value is not None:
                self._put(key, value)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def peek(self, key: Hashable) -> Any:
        """A cached entry (KeyError if absent), without counting a hit or reordering."""
        return self._entries[key]

    def put(self, key: Hashable, value: Any) -> None:
        self._put(key, value)

    def _put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, shard_key: str) -> None:
        """Forget every entry of one shard file (after it was written, or found changed)."""
        for key in [k for k in self._entries if isinstance(k, tuple) and k[0] == shard_key]:
            del self._entries[key]
