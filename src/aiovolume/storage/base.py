"""The storage contract every backend implements: keys in, bytes out, all async.

A :class:`Store` is rooted at a layer directory. Keys are ``/``-separated and relative to
that root; ``..`` segments are allowed (an info ``"key": "../other/8_8_8"`` is legal
Precomputed) and resolved with posix ``normpath``. Stores hand back the *stored* bytes with
their transport content-encoding; decompression happens in the decode workers, never here.

Example::

    async with open_store("mem://demo/layer") as store:
        await store.put("info", b"{}", content_type="application/json")
        blob = await store.get("info")          # Blob(data=b'{}', encoding=None)
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from ..exceptions import (
    InvalidKeyError, InvalidRangeError, ReadOnlyException, StorageError, UnsupportedCompressionType,
    UnsupportedFeatureError,
)
from ..options import Options
from ..taskgroup import TaskGroup
from .ranges import ranges_via_get

T = TypeVar("T")
R = TypeVar("R")

#: Transport content-encodings a store accepts and reports. gzip, br and zstd are the ones
#: Precomputed writers use; xz and bzip2 exist because CloudVolume can write them locally and
#: an object we cannot name must never look "missing".
ENCODINGS: frozenset[str] = frozenset({"gzip", "br", "zstd", "xz", "bzip2"})

ByteRange = tuple[int, int | None]


@dataclass(frozen=True, slots=True)
class Blob:
    """One stored object: its bytes exactly as stored, and their transport encoding."""

    data: bytes
    encoding: str | None  # None, "gzip", "br", "zstd" (or "xz", "bzip2")
    span: tuple[int, int] | None = None  # (start, stop) when data is only that part of the object
    # which stored version these bytes are (ETag, generation, inode+mtime+size), when the store
    # says: shard readers check that ranges come from the file their cached index describes
    version: object | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PutItem:
    """One object of a :meth:`Store.put_many` batch."""

    key: str
    data: bytes
    content_encoding: str | None = None
    content_type: str = "application/octet-stream"
    cache_control: str | None = None


# -- validation helpers shared by the backends ------------------------------------------------
def plain_key(key: str) -> bool:
    """Whether ``key`` is already normal with no ".", ".." or empty parts (as chunk keys are)."""
    return bool(key) and key[0] not in "./" and "/." not in key and "//" not in key \
        and key[-1] != "/" and "\x00" not in key


def normalize_key(key: str) -> str:
    """Return ``key`` in posix-normal form; reject keys that cannot name an object.

    >>> normalize_key("a//b/../c")
    'a/c'
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"storage keys are str, got {type(key).__name__}")
    if plain_key(key):
        return key  # skip normpath: it was a measurable part of every chunk read
    if not key or key.startswith("/"):
        raise InvalidKeyError(f"storage key {key!r} must be a non-empty path relative to the store root")
    if "\x00" in key:
        raise InvalidKeyError(f"storage key {key!r} contains a NUL byte")
    norm = posixpath.normpath(key)
    if norm in (".", "..") or norm.endswith("/.."):
        raise InvalidKeyError(f"storage key {key!r} names a directory, not an object")
    return norm


def check_prefix(prefix: str) -> str:
    """Validate a ``list`` prefix: a plain string prefix of keys, relative to the root."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"list prefixes are str, got {type(prefix).__name__}")
    if prefix.startswith("/") or "\x00" in prefix:
        raise InvalidKeyError(f"list prefix {prefix!r} must be relative to the store root")
    return prefix


def join_key(root: str, key: str) -> str:
    """Resolve ``key`` against an object-store root path (no leading slash), e.g. for mem/s3/gs.

    Raises InvalidKeyError when ``..`` climbs above the bucket.

    >>> join_key("ds/layer", "../other/8_8_8")
    'ds/other/8_8_8'
    """
    norm = normalize_key(key)
    full = posixpath.normpath(posixpath.join(root, norm)) if root else norm
    if full == ".." or full.startswith("../") or full == ".":
        raise InvalidKeyError(f"storage key {key!r} climbs above the bucket root")
    return full


def check_encoding(encoding: str | None) -> str | None:
    if encoding is not None and encoding not in ENCODINGS:
        known = ", ".join(sorted(ENCODINGS))
        raise UnsupportedCompressionType(f"unknown content_encoding {encoding!r}; use None or one of: {known}")
    return encoding


def check_range(byte_range: ByteRange | None) -> ByteRange | None:
    """Validate a ``(start, stop)`` half-open range; ``start < 0`` means a suffix of ``-start``."""
    if byte_range is None:
        return None
    start, stop = byte_range
    if not isinstance(start, int) or (stop is not None and not isinstance(stop, int)):
        raise InvalidRangeError(f"byte_range must be (int, int | None), got {byte_range!r}")
    if start < 0 and stop is not None:
        raise InvalidRangeError(f"a suffix byte_range (negative start) takes stop=None, got {byte_range!r}")
    if stop is not None and stop < start:
        raise InvalidRangeError(f"byte_range {byte_range!r} has stop < start")
    return (start, stop)


def slice_range(size: int, byte_range: ByteRange) -> tuple[int, int]:
    """Clip a validated range to an object of ``size`` bytes; returns absolute ``(start, stop)``."""
    start, stop = byte_range
    if start < 0:
        return max(0, size + start), size
    stop = size if stop is None else min(stop, size)
    start = min(start, size)
    return start, max(start, stop)


def as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """Immutable bytes of ``data`` (copies only mutable buffers)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"store data must be bytes-like, got {type(data).__name__}")


def as_buffer(data: Any) -> bytes | memoryview | list[memoryview]:
    """``data`` checked bytes-like, not copied: for blocking writes, done before the caller
    could change it (a whole raw shard is built in place and written from that buffer). A list
    or tuple of buffers is the object's consecutive pieces (a skeleton's arrays), written as is."""
    if isinstance(data, (list, tuple)):
        return [memoryview(as_buffer(part)) for part in data]  # type: ignore[arg-type]
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        view = memoryview(data)
        return view.cast("B") if view.nbytes else memoryview(b"")  # an empty (0, 3) array cannot cast
    raise TypeError(f"store data must be bytes-like, got {type(data).__name__}")


async def bounded_map(fn: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """``[await fn(x) for x in items]`` with at most ``limit`` in flight, results in order.

    A failure cancels the rest and is re-raised as itself (not an ExceptionGroup), so callers
    can ``except StorageError`` as usual.
    """
    n = len(items)
    results: list[R] = [None] * n  # type: ignore[list-item]
    if n == 0:
        return results
    work = iter(enumerate(items))

    async def worker() -> None:
        # The iterator is shared; next() runs between awaits, so no two workers take one item.
        for i, item in work:
            results[i] = await fn(item)

    async with TaskGroup() as tg:
        for _ in range(min(max(1, limit), n)):
            tg.create_task(worker())
    return results


# -- the contract -----------------------------------------------------------------------------
class Store(ABC):
    """Async key/bytes store rooted at one directory (usually a layer).

    ``get`` returns None only when the object truly does not exist; any other failure
    (permissions, a directory in the way, 401/403, 5xx) raises :class:`StorageError`.
    """

    scheme: str
    url: str  # never contains credentials
    read_only: bool

    def __init__(self, url: str, options: Options | None = None, *, read_only: bool = False) -> None:
        self.url = url
        self.options = options if options is not None else Options()
        self.read_only = read_only
        self._closed = False

    # -- blocking fast path (local stores only)
    #: whether blocking_reader's ``nowait=True`` can succeed (False: it always raises)
    reads_without_waiting: bool = False

    def blocking_reader(self) -> Callable[..., Blob | None] | None:
        """A thread-safe blocking ``read(key, window=None, nowait=False)`` when a read is a
        cheap local call, else None.

        With it the read pipeline fetches and decodes a batch in one codec-thread hop instead
        of a store hop plus a codec hop (profiled: the hops cost more than reading a file).
        ``window=(size, start, stop)`` allows returning only bytes ``[start, stop)`` (with
        ``Blob.span`` set) when the object is stored uncompressed and is exactly ``size``
        bytes long; otherwise, and by readers that ignore it, the whole object is returned.
        ``nowait=True``: raise BlockingIOError instead of waiting for a disk (the caller is an
        event loop and will hand the read to a thread).
        ``scatter=(head_size, place)``: a reader may read the object's first ``head_size`` bytes,
        call ``place(size, head)`` for writable buffers to read the rest into, and return
        ``Blob(head, None, span=(0, len(head)))``. Readers that do not (mem://), and every reader
        for a transport-encoded object, return the whole object (``span`` None).
        """
        return None

    def blocking_writer(self) -> Callable[[Sequence[PutItem]], None] | None:
        """A thread-safe blocking ``put_many`` (unique keys, validated encodings), or None."""
        return None

    # -- single objects
    @abstractmethod
    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        """The stored bytes of ``key`` (optionally a ``(start, stop)`` slice of them), or None."""

    async def get_buffer(self, key: str) -> Blob | None:
        """:meth:`get` of a whole object for a caller that reads its data only through the
        buffer protocol (``memoryview``, numpy): a store may then hand back a view of memory it
        filled (HttpStore: large bodies in huge-page-backed buffers) instead of ``bytes``."""
        return await self.get(key)

    @abstractmethod
    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        """Store ``data`` (already encoded with ``content_encoding``) atomically under ``key``."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def size(self, key: str) -> int | None:
        """Stored (transport-encoded) size in bytes, or None if missing."""

    @abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys under the root starting with ``prefix``: recursive, sorted, relative to the root."""

    # -- conditional writes (read-merge-write of shard files) ----------------------------------
    async def get_versioned(self, key: str) -> tuple[Blob | None, object]:
        """The whole object and an opaque version token for :meth:`put_if` (None when absent).

        Example::

            blob, version = await store.get_versioned("0.shard")
            if not await store.put_if("0.shard", merged, version):
                ...  # someone else wrote it first: read again and merge again
        """
        raise UnsupportedFeatureError(f"{self.url}: this store cannot do conditional writes")

    async def put_if(self, key: str, data: bytes, version: object, *, cache_control: str | None = None) -> bool:
        """Store ``data`` (no transport encoding) under ``key`` only if the object is still at
        ``version`` (None: only if it does not exist), atomically; False if it changed first
        (S3 ``If-Match``/``If-None-Match``, GCS ``ifGenerationMatch``, file:// a directory lock)."""
        raise UnsupportedFeatureError(f"{self.url}: this store cannot do conditional writes")

    # -- byte ranges of one object (shards)
    #: ranges at most this many bytes apart are read as one (remote stores: 4 KiB)
    range_gap: int = 0
    #: a merged read stays within this many bytes (a single longer range is read whole)
    max_coalesced: int = 8 << 20

    async def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes] | None:
        """As :meth:`get_ranges_versioned`, without the version."""
        got = await self.get_ranges_versioned(key, ranges)
        return None if got is None else got[0]

    async def get_ranges_versioned(self, key: str, ranges: Sequence[tuple[int, int]]) -> tuple[
            list[bytes], object | None] | None:
        """``(bytes of each range, version of the object they were read from)``: the bytes of each ``(start, stop)`` range of the object ``key``, in the order given.

        The contract, on every store:

        * ``ranges``: half-open, absolute offsets into the *stored* object; integers (numpy
          integers too, not bool) with ``0 <= start <= stop``. Duplicates and overlaps are
          fine; an empty range gives ``b""``. Anything else raises
          :class:`~aiovolume.exceptions.InvalidRangeError` before any I/O.
        * Returns None only when the object does not exist (404, NoSuchKey, ENOENT), as
          ``get`` does: an absent shard means all its chunks are missing. 401/403 and other
          failures raise.
        * A range reaching past the end of the object (``stop > size``, empty ranges
          included) raises :class:`~aiovolume.exceptions.IntegrityError` naming the object,
          the range and the size: an index pointing there is corrupt; short bytes are never
          returned.
        * The object must be stored without a transport encoding (shards are). A
          transport-encoded one (``key.gz`` on file://, Content-Encoding on s3/gs/http) raises
          :class:`~aiovolume.exceptions.UnsupportedFeatureError`: its ranges would be ranges of
          the compressed stream.
        * Ranges at most ``range_gap`` bytes apart are fetched by one read of at most
          ``max_coalesced`` bytes and sliced apart; reads run concurrently up to the store's
          limit, each through ``get``'s retries and integrity checks.

        * The version is an opaque value equal for two reads of the same stored object and
          different once it was replaced (ETag, GCS generation, inode+mtime+size), or None where
          the store cannot tell; :data:`~.ranges.MIXED` (equal to nothing) when the reads of one
          call saw different versions.

        Example::

            (index, entry, data), version = await store.get_ranges_versioned(
                "0.shard", [(0, 16), (16, 32), (1000, 1100)])
        """
        return await ranges_via_get(self, key, ranges)

    # -- batches: bounded fan-out by default; backends override with something cheaper
    def _limit(self) -> int:
        return self.options.concurrency_for(self.scheme)

    async def get_many(self, keys: Sequence[str]) -> list[Blob | None]:
        """``get`` of every key, results in the order of ``keys``."""
        return await bounded_map(self.get, keys, self._limit())

    async def put_many(self, items: Sequence[PutItem]) -> None:
        async def put_one(item: PutItem) -> None:
            await self.put(
                item.key,
                item.data,
                content_encoding=item.content_encoding,
                content_type=item.content_type,
                cache_control=item.cache_control,
            )

        await bounded_map(put_one, items, self._limit())

    async def delete_many(self, keys: Sequence[str]) -> None:
        await bounded_map(self.delete, keys, self._limit())

    async def exists_many(self, keys: Sequence[str]) -> list[bool]:
        return await bounded_map(self.exists, keys, self._limit())

    # -- lifecycle
    async def close(self) -> None:
        """Release clients and threads. Idempotent."""
        self._closed = True

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        flags = ", read_only=True" if self.read_only else ""
        return f"{type(self).__name__}({self.url!r}{flags})"

    # -- helpers for backends
    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.url}: the store is closed; open a new one with open_store()")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyException(
                f"{self.url} is opened read-only; reopen it with read_only=False to write"
            )
