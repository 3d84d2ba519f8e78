"""Decoded chunks kept between reads: CloudVolume's ``lru_bytes`` option.

Many small reads that touch the same chunks (a training data loader's random cutouts) then
decode each chunk once instead of once per cutout. Entries are read-only copies, so neither a
caller nor a decoder's reused buffer can change them; a write or delete through the same
Volume drops the chunks it touched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterable

import numpy as np

from ..exceptions import OptionError


class ChunkCache:
    """A thread-safe LRU of decoded ``(x, y, z, c)`` chunks holding at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        if int(max_bytes) < 0:
            raise OptionError(f"lru_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            chunk = self._items.get(key)
            if chunk is not None:
                self._items.move_to_end(key)
            return chunk

    def put(self, key: str, chunk: np.ndarray) -> None:
        if chunk.nbytes > self.max_bytes:
            return
        # own memory: decoders may hand back views of buffers they reuse
        owned = np.array(chunk, order="F", copy=True)
        owned.flags.writeable = False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = owned
            self._bytes += owned.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def discard(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                old = self._items.pop(key, None)
                if old is not None:
                    self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
