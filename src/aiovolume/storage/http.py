"""``http://`` and ``https://``: read-only access to a layer served by any web server.

One ``aiohttp.ClientSession`` per store and event loop (:class:`~._aiohttp.RemoteStore`'s
loop-bound clients), with ``TCPConnector(limit=options.concurrency_for(scheme))``, explicit
per-attempt timeouts and ``auto_decompress=False``: a gzip-encoded object comes back as its
stored bytes plus ``encoding="gzip"``, and is decompressed by the decode workers, off the loop.

Every request is one unit for :func:`~aiovolume.storage.retry.call_with_retries`: send,
read the whole body, check it, so a truncated body or a checksum mismatch is retried like a
503. Status codes: 404 -> missing (None); 401/403 -> :class:`AuthenticationError`, never
missing; 408/429/5xx -> retried; anything else -> :class:`StorageError`.

Integrity, on what the server gives us:

* the body length against ``Content-Length`` (always);
* ``Content-MD5`` (the body as sent), and ``x-goog-hash`` crc32c/md5 on full-object reads;
* a strong ETag of 32 hex digits as an MD5 of a full object, only with ``md5_etags=True``
  (S3 and S3-like servers; a generic server's ETag is an opaque version tag);
* with ``check_gzip`` (off by default) a gzip body that no checksum covered is test-inflated
  here, so its CRC-32 and length trailer catch damage and the fetch is retried. By default
  the decoder does that check anyway and the read pipeline fetches a chunk that fails to
  decode again, so the extra inflate (1.6x the read cost over plain HTTP) buys nothing there.

Without any of these, a flipped byte in an uncompressed chunk cannot be noticed.

Credentials typed into the URL (``https://user:pass@host/...``) are sent as HTTP basic auth
and never appear in ``url``, ``repr``, errors or logs.

Example::

    async with HttpStore("https://example.org/ds/image") as store:
        blob = await store.get("info")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ..exceptions import (
    AuthenticationError, IntegrityError, ListingNotSupported, ReadOnlyException, StorageError, UnsupportedProtocolError,
)
from ..options import Options
from ._aiohttp import (
    RemoteStore, abandon_sessions, client_session, goog_hashes, range_header, response_body, verify_digest,
    verify_goog_hashes,
)
from .base import ENCODINGS, Blob, ByteRange, check_prefix, check_range, join_key, slice_range
from .paths import CloudPath, parse_cloudpath, redact
from .retry import TransientError, parse_retry_after
#: Encodings we can decode; sent as Accept-Encoding so a server never picks one we cannot.
ACCEPT_ENCODING = "gzip, br, zstd"
_SAFE = "/-_.~!$&'()*+,;=:@"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_MD5_ETAG = re.compile(r'^"([0-9a-fA-F]{32})"$')
_ENCODING_ALIASES = {"x-gzip": "gzip", "identity": None, "": None}


@dataclass(frozen=True, slots=True)
class _Head:
    size: int | None
    encoding: str | None


@dataclass
class _Conn:
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack
    session: aiohttp.ClientSession
    abandoned: bool = field(default=False, init=False)

    def abandon(self) -> None:
        self.abandoned = True
        abandon_sessions(self.session)


class HttpStore(RemoteStore):
    """A read-only store rooted at an ``http(s)://host[:port]/path`` URL.

    md5_etags: treat a strong 32-hex-digit ETag as the MD5 of the object (S3 and
        S3-compatible servers). Off by default: other servers' ETags are opaque.
    check_gzip: test-inflate gzip bodies that no checksum header covered, so damage is
        caught (and retried) in the store rather than at decode time, where the read
        pipeline re-fetches chunks that fail to decode. Costs one extra inflate per chunk.
        Default (None): off.
    headers: extra request headers (e.g. an API key); never shown in errors.
    """

    def __init__(
        self,
        url: str | CloudPath,
        options: Options | None = None,
        *,
        read_only: bool = True,
        md5_etags: bool = False,
        check_gzip: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        cp = parse_cloudpath(url)
        if cp.scheme not in ("http", "https"):
            raise UnsupportedProtocolError(f"HttpStore takes http:// or https:// URLs, not {cp.url}")
        if not read_only:
            raise ReadOnlyException(f"{cp.url}: HTTP(S) layers are read-only; write through file://, gs:// or s3://")
        super().__init__(cp.url, options, read_only=True)
        self.scheme = cp.scheme
        self._origin = f"{cp.scheme}://{cp.bucket}"  # no credentials
        self._shown_origin = redact(self._origin)
        self._root = cp.path
        self.md5_etags = md5_etags
        # TLS already authenticates every byte in transit; plain http has only TCP's checksum
        self.check_gzip = False if check_gzip is None else bool(check_gzip)
        self._headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        if cp.auth:
            # aiohttp drops Authorization when a redirect leaves the origin
            self._headers["Authorization"] = _basic_auth(*cp.auth)

    # -- session (one per store and loop) -------------------------------------------------
    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Conn:
        stack = contextlib.AsyncExitStack()
        session = await stack.enter_async_context(client_session(
            self.options, self.options.concurrency_for(self.scheme),
            trust_env=False,  # no proxies or .netrc credentials picked up behind the user's back
            headers=self._headers,
        ))
        return _Conn(loop, stack, session)

    async def _client(self) -> aiohttp.ClientSession:
        return (await self._conn()).session

    # -- keys and URLs -------------------------------------------------------------------
    def _locate(self, key: str) -> tuple[URL, str]:
        """The request URL of ``key`` and its credential-free spelling for messages."""
        path = quote(join_key(self._root, key), safe=_SAFE)
        text = f"{self._origin}/{path}"
        # redacting costs a regex pass per chunk; a key without "=" or "@" adds nothing to hide
        shown = f"{self._shown_origin}/{path}" if "=" not in path and "@" not in path else redact(text)
        return URL(text, encoded=True), shown

    # -- reads ---------------------------------------------------------------------------
    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        rng = check_range(byte_range)
        url, shown = self._locate(key)
        self._check_open()
        if rng is not None and rng[1] is not None and rng[1] == rng[0]:
            # HTTP cannot ask for zero bytes; a HEAD tells missing from present
            head = await self._retry(partial(self._head_once, url, shown), f"HEAD {shown}")
            return None if head is None else Blob(b"", head.encoding)
        if rng == (0, None):
            rng = None  # a full read, which can be checksummed
        return await self._retry(partial(self._get_once, url, shown, rng), f"GET {shown}")

    async def get_buffer(self, key: str) -> Blob | None:
        url, shown = self._locate(key)
        self._check_open()
        return await self._retry(partial(self._get_once, url, shown, None, True), f"GET {shown}")

    async def _get_once(self, url: URL, shown: str, rng: ByteRange | None, any_buffer: bool = False) -> Blob | None:
        headers = {"Range": range_header(rng)} if rng is not None else None
        try:
            async with (await self._client()).get(url, headers=headers) as resp:
                status = resp.status
                if status == 404:
                    return None
                encoding = _encoding(resp.headers.get("Content-Encoding"), shown)
                if status == 416:
                    return Blob(b"", encoding)  # the range starts past the end: nothing there
                if status not in (200, 206):
                    raise _status_error("GET", shown, resp)
                body = await response_body(resp, any_buffer)
                expected = resp.content_length
                resp_headers = resp.headers
        except asyncio.TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
            raise self._timeout_error(exc) from exc
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc

        if expected is not None and len(body) != expected:
            raise TransientError(f"truncated body: {len(body)} of {expected} bytes (Content-Length)")
        full_object = status == 200
        await self._verify(body, resp_headers, full_object, encoding, shown)
        version = _version(resp_headers, len(body) if full_object else None)
        if status == 206:
            body = _from_partial(body, resp_headers.get("Content-Range"), rng, shown)
        elif rng is not None:  # the server ignored Range and sent everything
            start, stop = slice_range(len(body), rng)
            body = body[start:stop]
        return Blob(body, encoding, version=version)

    async def exists(self, key: str) -> bool:
        url, shown = self._locate(key)
        self._check_open()
        return await self._retry(partial(self._head_once, url, shown), f"HEAD {shown}") is not None

    async def size(self, key: str) -> int | None:
        url, shown = self._locate(key)
        self._check_open()
        head = await self._retry(partial(self._head_once, url, shown), f"HEAD {shown}")
        if head is None or head.size is not None:
            return None if head is None else head.size
        # no Content-Length on HEAD (chunked server): ask for one byte and read the total
        return await self._retry(partial(self._size_by_range, url, shown), f"GET {shown}")

    async def _head_once(self, url: URL, shown: str) -> _Head | None:
        try:
            async with (await self._client()).head(url, allow_redirects=True) as resp:
                if resp.status == 404:
                    return None
                if resp.status == 200:
                    return _Head(resp.content_length, _encoding(resp.headers.get("Content-Encoding"), shown))
                if resp.status not in (405, 501):
                    raise _status_error("HEAD", shown, resp)
        except asyncio.TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
            raise self._timeout_error(exc) from exc
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc
        # HEAD not allowed here: a one-byte GET answers too
        size = await self._size_by_range(url, shown)
        return None if size is None else _Head(size, None)

    async def _size_by_range(self, url: URL, shown: str) -> int | None:
        try:
            async with (await self._client()).get(url, headers={"Range": "bytes=0-0"}) as resp:
                if resp.status == 404:
                    return None
                if resp.status == 416:
                    return 0
                if resp.status == 206:
                    m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                    if m and m.group(3) != "*":
                        return int(m.group(3))
                if resp.status in (200, 206):
                    return len(await resp.read()) if resp.status == 200 else None
                raise _status_error("GET", shown, resp)
        except asyncio.TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
            raise self._timeout_error(exc) from exc
        except aiohttp.ClientError as exc:
            raise _transport_error(exc) from exc

    def list(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        raise ListingNotSupported(
            f"{self.url}: HTTP(S) servers cannot list objects; list through the bucket's own "
            "protocol (gs://, s3://) or a local copy"
        )

    # -- writes: never --------------------------------------------------------------------
    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        self._check_writable()  # always raises ReadOnlyException

    async def delete(self, key: str) -> None:
        self._check_writable()  # always raises ReadOnlyException

    # -- integrity -----------------------------------------------------------------------
    async def _verify(
        self, body: bytes, headers: "CIMultiDictProxy[str]", full_object: bool, encoding: str | None, shown: str
    ) -> None:
        """Check ``body`` against every checksum the response offers; IntegrityError if wrong."""
        what = f"GET {shown}"
        checked = False
        md5_header = headers.get("Content-MD5")
        if md5_header:
            await verify_digest(body, "md5", md5_header.strip(), what=what, source="Content-MD5")
            checked = True
        if full_object:
            goog = goog_hashes(headers.getall("x-goog-hash", []))
            stored = headers.get("x-goog-stored-content-encoding")
            # GCS may serve a gzip object decompressed; its hashes describe the stored bytes
            transcoded = stored is not None and _ENCODING_ALIASES.get(stored.lower(), stored.lower()) != encoding
            if not transcoded and ("crc32c" in goog or "md5" in goog):
                await verify_goog_hashes(body, goog, what=what)
                checked = True
            if self.md5_etags:
                m = _MD5_ETAG.match(headers.get("ETag") or "")
                if m:
                    await verify_digest(body, "md5-hex", m.group(1).lower(), what=what, source="ETag (MD5)")
                    checked = True
        if checked:
            return
        if self.check_gzip and full_object and encoding == "gzip" and body:
            error = await asyncio.to_thread(_gzip_error, body)
            if error is not None:
                raise IntegrityError(f"GET {shown}: gzip body failed its integrity check ({error})")

    def _timeout_error(self, exc: BaseException) -> TransientError:
        o = self.options
        detail = f": {type(exc).__name__}: {redact(str(exc))}" if str(exc) else ""
        return TransientError(f"timed out (sock_connect={o.connect_timeout:g}s, sock_read={o.read_timeout:g}s){detail}")

    def __repr__(self) -> str:
        return f"HttpStore({self.url!r}, read_only=True)"


# -- helpers ------------------------------------------------------------------------------------
def _basic_auth(user: str, password: str) -> str:
    if ":" in user:
        raise UnsupportedProtocolError("a user name in an http(s) URL cannot contain ':'")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _encoding(value: str | None, shown: str) -> str | None:
    if value is None:
        return None
    enc = value.strip().lower()
    if enc in _ENCODING_ALIASES:
        return _ENCODING_ALIASES[enc]
    if enc not in ENCODINGS:
        raise StorageError(f"{shown}: the server sent Content-Encoding {value!r}, which aiovolume cannot decode")
    return enc


def _version(headers: Mapping[str, str], full_size: int | None) -> tuple[str | None, ...] | None:
    """A generic server's version of an object: its ETag, Last-Modified and full size (of a
    whole response, or after the slash of Content-Range); None when it says none of them."""
    total = str(full_size) if full_size is not None else (
        (headers.get("Content-Range") or "").rpartition("/")[2] or None)
    if headers.get("ETag") is None and headers.get("Last-Modified") is None:
        return None  # a size alone does not tell a rewrite of the same size
    return (headers.get("ETag"), headers.get("Last-Modified"), total)


def _from_partial(body: bytes, content_range: str | None, rng: ByteRange | None, shown: str) -> bytes:
    """The requested slice of a 206 body, checked against its Content-Range."""
    m = _CONTENT_RANGE.match(content_range or "")
    if rng is None or m is None:
        return body
    first, last = int(m.group(1)), int(m.group(2))
    if last - first + 1 != len(body):
        raise TransientError(f"truncated body: {len(body)} bytes for Content-Range {content_range}")
    start, stop = rng
    if start < 0:
        return body  # a suffix: the server computed where it starts
    offset = start - first
    if offset < 0 or offset > len(body):
        raise StorageError(f"GET {shown}: asked for bytes from {start}, the server sent {content_range}")
    return body[offset:] if stop is None else body[offset : offset + (stop - start)]


def _status_error(method: str, shown: str, resp: aiohttp.ClientResponse) -> StorageError:
    status, reason = resp.status, resp.reason or ""
    if status in (401, 403):
        return AuthenticationError(
            f"{method} {shown}: HTTP {status} {reason}: the server refused access. Check the "
            "credentials (https://user:password@host/...) or the server's permissions; this is "
            "an error, never a missing chunk"
        )
    if status == 408 or status == 429 or status >= 500:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        note = f" (Retry-After {retry_after:g}s)" if retry_after is not None else ""
        return TransientError(
            f"HTTP {status} {reason}{note}", retry_after=retry_after, throttled=status in (429, 503)
        )
    return StorageError(f"{method} {shown}: unexpected HTTP {status} {reason}")


def _transport_error(exc: aiohttp.ClientError) -> StorageError:
    name, text = type(exc).__name__, redact(str(exc))
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.InvalidURL, aiohttp.TooManyRedirects)):
        return StorageError(f"{name}: {text}")  # retrying cannot fix these
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return TransientError(f"{name}: {text}")
    return StorageError(f"{name}: {text}")


def _gzip_error(data: bytes) -> str | None:
    """None if ``data`` is a sound gzip stream (CRC-32 and length trailers), else why not."""
    try:
        import imagecodecs

        imagecodecs.gzip_decode(data)  # libdeflate: fast, checks both trailers
        return None
    except Exception:
        pass  # multi-member streams, or real damage that zlib describes better
    try:
        rest = data
        while rest:
            d = zlib.decompressobj(31)
            d.decompress(rest)
            if not d.eof:
                return "truncated gzip stream"
            rest = d.unused_data
        return None
    except (zlib.error, binascii.Error) as exc:
        return str(exc)
