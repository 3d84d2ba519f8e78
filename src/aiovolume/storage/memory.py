"""``mem://name/path``: an in-process object store, for tests and scratch pipelines.

Example::

    async with MemoryStore("scratch", "ds/layer") as store:
        await store.put("info", b"{}")
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence

from ..exceptions import UnsupportedProtocolError
from ..options import Options
from .base import (
    Blob,
    ByteRange,
    Store,
    as_bytes,
    check_encoding,
    check_prefix,
    check_range,
    join_key,
    slice_range,
)
from .ranges import check_ranges, encoded_error, past_end_error

# Deliberate process-wide state. mem:// stands for a bucket service, so every store opened on
# the same mem://name must see the same objects (CloudVolume's mem:// behaves the same way).
# bucket name -> object name (path inside the bucket) -> (immutable bytes, content-encoding).
# The lock makes it safe for stores driven by different event loops / threads.
_BUCKETS: dict[str, dict[str, tuple[bytes, str | None]]] = {}
_LOCK = threading.Lock()


class MemoryStore(Store):
    """Objects kept in a process-wide registry of named buckets; the encoding is stored with them."""

    scheme = "mem"

    def __init__(
        self,
        bucket: str,
        path: str = "",
        options: Options | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        if not bucket or "/" in bucket:
            raise UnsupportedProtocolError(f"mem:// bucket name must be a single non-empty component, got {bucket!r}")
        self._bucket = bucket
        self._root = path.strip("/")
        url = f"mem://{bucket}" + (f"/{self._root}" if self._root else "")
        super().__init__(url, options, read_only=read_only)

    @staticmethod
    def clear_all() -> None:
        """Forget every mem:// bucket (for tests)."""
        with _LOCK:
            _BUCKETS.clear()

    @staticmethod
    def drop_bucket(bucket: str) -> None:
        """Forget one mem:// bucket and its objects (e.g. a disposable ``memory_cutout``)."""
        with _LOCK:
            _BUCKETS.pop(bucket, None)

    def _name(self, key: str) -> str:
        return join_key(self._root, key)

    reads_without_waiting = True  # never waits for a disk

    def blocking_reader(self) -> Callable[..., Blob | None]:
        self._check_open()

        def read(key: str, window: tuple[int, int, int] | None = None, nowait: bool = False,
                 scatter: object = None) -> Blob | None:  # scatter ignored: the stored bytes are returned
            with _LOCK:
                found = _BUCKETS.get(self._bucket, {}).get(self._name(key))
            return None if found is None else Blob(*found)

        return read

    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        self._check_open()
        rng = check_range(byte_range)
        name = self._name(key)
        with _LOCK:
            found = _BUCKETS.get(self._bucket, {}).get(name)
        if found is None:
            return None
        data, encoding = found
        if rng is not None:
            start, stop = slice_range(len(data), rng)
            data = data[start:stop]
        return Blob(data, encoding)

    async def get_ranges_versioned(self, key: str, ranges: Sequence[tuple[int, int]]) -> tuple[
            list[bytes], object | None] | None:
        """As :meth:`Store.get_ranges_versioned`; slices of the stored bytes (nothing to coalesce).
        No version: a mem:// object is replaced in this process, where writers drop the indexes."""
        self._check_open()
        wanted = check_ranges(ranges)
        name = self._name(key)
        with _LOCK:
            found = _BUCKETS.get(self._bucket, {}).get(name)
        if found is None:
            return None
        data, encoding = found
        if encoding is not None:
            raise encoded_error(f"{self.url}/{key}", encoding)
        if any(stop > len(data) for _, stop in wanted):
            raise past_end_error(f"{self.url}/{key}", wanted, len(data))
        return [data[start:stop] for start, stop in wanted], None

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
        name = self._name(key)
        value = (as_bytes(data), encoding)
        with _LOCK:
            _BUCKETS.setdefault(self._bucket, {})[name] = value

    async def get_versioned(self, key: str) -> tuple[Blob | None, object]:
        self._check_open()
        with _LOCK:
            found = _BUCKETS.get(self._bucket, {}).get(self._name(key))
        # the stored tuple itself is the version: every put stores a new one (compared with `is`)
        return (None if found is None else Blob(*found)), found

    async def put_if(self, key: str, data: bytes, version: object, *, cache_control: str | None = None) -> bool:
        self._check_writable()
        name = self._name(key)
        value = (as_bytes(data), None)
        with _LOCK:
            bucket = _BUCKETS.setdefault(self._bucket, {})
            if bucket.get(name) is not version:
                return False
            bucket[name] = value
        return True

    async def delete(self, key: str) -> None:
        self._check_writable()
        name = self._name(key)
        with _LOCK:
            _BUCKETS.get(self._bucket, {}).pop(name, None)

    async def exists(self, key: str) -> bool:
        self._check_open()
        name = self._name(key)
        with _LOCK:
            return name in _BUCKETS.get(self._bucket, {})

    async def size(self, key: str) -> int | None:
        self._check_open()
        name = self._name(key)
        with _LOCK:
            found = _BUCKETS.get(self._bucket, {}).get(name)
        return None if found is None else len(found[0])

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        self._check_open()
        check_prefix(prefix)
        root = self._root + "/" if self._root else ""
        with _LOCK:
            names = list(_BUCKETS.get(self._bucket, {}))
        wanted = root + prefix
        keys = sorted(name[len(root):] for name in names if name.startswith(wanted))
        for key in keys:
            yield key
