"""What the aiohttp-based stores (http, s3, gs) share, written once.

- :class:`RemoteStore`: loop-bound clients (:class:`~.loopclients.LoopClients`), the store's
  retry budget, ``_retry`` through :func:`~.retry.call_with_retries`, ``close``, and the
  coalescing parameters of :meth:`~.base.Store.get_ranges` for remote objects.
- :func:`client_session`: ``aiohttp.ClientSession`` with ``TCPConnector(limit=N)``, explicit
  per-attempt timeouts (aiohttp's default is 300 s in total and no read timeout) and
  ``auto_decompress=False`` (stored bytes come back as stored; decoding is the workers' job).
- :func:`response_body`: a response's body; a large one into a huge-page-backed buffer.
- :func:`range_header`, and the checksums servers offer: MD5 (Content-MD5, ETag, x-goog-hash)
  and CRC32C (x-goog-hash), hashed in a thread for big bodies.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp
import numpy as np

from ..buffers import HUGE_ALIGN_FROM, aligned_bytes
from ..exceptions import CRC32CIntegrityError, IntegrityError, MD5IntegrityError, TransientError
from ..options import Options
from .base import ByteRange, Store
from .loopclients import LoopClients
from .retry import RetryBudget, call_with_retries

T = TypeVar("T")

#: Bodies larger than this are hashed in a worker thread (hashlib and crc32c release the GIL).
HASH_OFF_LOOP_BYTES = 1 << 20


class RemoteStore(Store):
    """Base of the network stores: one set of clients per event loop, one retry policy."""

    range_gap = 4 << 10  # a round trip costs more than reading 4 KiB we do not need
    max_coalesced = 8 << 20

    def __init__(self, url: str, options: Options | None = None, *, read_only: bool = False) -> None:
        super().__init__(url, options, read_only=read_only)
        self._clients: LoopClients[Any] = LoopClients(self._connect)
        self._budget = RetryBudget()

    @abstractmethod
    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Create this loop's clients: an object with ``loop``, ``stack``, ``abandoned``, ``abandon()``."""

    async def _conn(self) -> Any:
        return await self._clients.get(self._check_open)

    async def _retry(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        # ``what`` is the credential-free URL of the object; error texts are scrubbed where made.
        return await call_with_retries(op, policy=self.options.retry, what=what, budget=self._budget)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._clients.close()


def client_session(options: Options, limit: int, **kwargs: Any) -> aiohttp.ClientSession:
    """A session for one store on the running loop (enter it into the connection's stack)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout),
        auto_decompress=False,
        **kwargs,
    )


async def response_body(resp: aiohttp.ClientResponse, any_buffer: bool = False) -> bytes | memoryview:
    """The response's body. ``any_buffer``: the caller reads it only through the buffer protocol,
    so a body of HUGE_ALIGN_FROM bytes or more is copied into a 2 MiB-aligned buffer as it
    arrives (a memoryview of it), not joined into fresh bytes, whose 4 KiB page faults cost the
    event loop twice the copy (buffers.py)."""
    size = resp.content_length
    if not any_buffer or size is None or size < HUGE_ALIGN_FROM:
        return await resp.read()
    body = memoryview(aligned_bytes(size))
    at = 0
    async for block in resp.content.iter_any():
        end = at + len(block)
        if end > size:
            raise TransientError(f"body longer than its Content-Length ({size} bytes)")
        body[at:end] = block
        at = end
    return body[:at].toreadonly()  # shorter than Content-Length: the caller's length check retries


def abandon_sessions(*sessions: aiohttp.ClientSession | None) -> None:
    """Close the transports of sessions whose loop is gone (nothing can await their close):
    what the connector itself does when garbage-collected, without the warning."""
    for session in sessions:
        if session is not None and not session.closed and session.connector is not None:
            session.connector._close()  # noqa: SLF001


def range_header(rng: ByteRange) -> str:
    """``Range`` for a validated ``(start, stop)``: half-open, or a suffix when start < 0."""
    start, stop = rng
    if start < 0:
        return f"bytes=-{-start}"
    if stop is None:
        return f"bytes={start}-"
    return f"bytes={start}-{stop - 1}"


# -- checksums ------------------------------------------------------------------------------
def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def crc32c_b64(data: bytes | memoryview) -> str:
    import google_crc32c

    if isinstance(data, memoryview):  # it refuses memoryviews (get_buffer's bodies), not arrays
        data = np.frombuffer(data, np.uint8)  # type: ignore[assignment]
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


async def off_loop(fn: Callable[[bytes], T], data: bytes) -> T:
    """``fn(data)``, in a worker thread for big buffers."""
    return await asyncio.to_thread(fn, data) if len(data) > HASH_OFF_LOOP_BYTES else fn(data)


_DIGESTS: dict[str, tuple[Callable[[bytes], str], type[IntegrityError]]] = {
    "md5": (md5_b64, MD5IntegrityError),
    "md5-hex": (md5_hex, MD5IntegrityError),
    "crc32c": (crc32c_b64, CRC32CIntegrityError),
}


async def verify_digest(data: bytes, algorithm: str, expected: str, *, what: str, source: str) -> None:
    """Raise an IntegrityError (retried as transient) unless ``data`` hashes to ``expected``.

    ``algorithm``: "md5" (base64), "md5-hex" or "crc32c" (base64); ``source`` names the header.
    """
    fn, error = _DIGESTS[algorithm]
    actual = await off_loop(fn, data)
    if actual != expected:
        raise error(
            f"{what}: {source} mismatch (server says {expected}, body hashes to {actual}); "
            "the bytes were damaged in transit or at rest"
        )


def goog_hashes(values: Iterable[str]) -> dict[str, str]:
    """``{"crc32c": b64, "md5": b64}`` from ``x-goog-hash`` header values (repeated or comma-joined)."""
    found: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            name, _, digest = part.strip().partition("=")
            if digest:
                found[name.strip().lower()] = digest.strip()
    return found


async def verify_goog_hashes(data: bytes, hashes: dict[str, str], *, what: str) -> None:
    """Check the cheaper of GCS's hashes: CRC32C is ~30x cheaper than MD5 (field notes §3)."""
    if "crc32c" in hashes:
        await verify_digest(data, "crc32c", hashes["crc32c"], what=what, source="x-goog-hash crc32c")
    elif "md5" in hashes:
        await verify_digest(data, "md5", hashes["md5"], what=what, source="x-goog-hash md5")
