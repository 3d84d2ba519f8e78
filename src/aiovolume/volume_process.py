"""What of a Volume belongs to one process: pickling (multiprocessing, dask workers) and fork.

A pickled or forked volume keeps its options, info, mip and paths and drops its store, threads,
network sessions, chunk-cache contents and shard indexes; they are rebuilt on first use.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from .pipeline.chunkcache import ChunkCache

# Per-process state of a Volume, rebuilt lazily after unpickling or in a forked child.
_PROCESS_LOCAL = frozenset({"_store", "_sources", "_formats", "lru", "_reopen", "_shard_indexes", "_mesh", "_skeleton"})
# Volumes that have opened a store in this process, so a forked child can drop them.
_OPEN: "weakref.WeakSet[Any]" = weakref.WeakSet()


def opened(vol: Any) -> None:
    """Note that ``vol`` opened a store in this process."""
    _OPEN.add(vol)


def closed(vol: Any) -> None:
    _OPEN.discard(vol)


class ProcessLocal:
    """Mixin for :class:`aiovolume.Volume`: pickling without its per-process state."""

    def __getstate__(self) -> dict[str, Any]:
        """Options, info, mip and paths; never the store, its threads or sessions, nor the
        chunk cache's contents (the other side starts with an empty cache of the same size)."""
        state = {k: v for k, v in self.__dict__.items() if k not in _PROCESS_LOCAL}
        state["lru"] = self.lru.max_bytes if self.lru is not None else 0
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget_process_state()

    def _forget_process_state(self) -> None:
        """Drop what belongs to another process; the store is reopened on first use, no I/O here."""
        lru = self.__dict__.get("lru")
        size = lru if isinstance(lru, int) else (lru.max_bytes if lru is not None else 0)
        self.lru = ChunkCache(size) if size else None
        self._store = None
        self._sources, self._formats = {}, {}
        self._shard_indexes = None
        self._mesh = self._skeleton = None  # their sources hold loop-bound state: rebuilt on use
        if "_disk_cache" in self.__dict__:
            self._disk_cache.bind(self)
            self._disk_cache.forget_store()
        self._reopen = "_info" in self.__dict__  # a volume that never opened stays unopened


def _after_fork_in_child() -> None:
    # The parent's store threads and network clients do not exist here: open fresh ones on use.
    for vol in list(_OPEN):
        if vol._store is not None or vol._reopen:
            vol._forget_process_state()
    _OPEN.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
