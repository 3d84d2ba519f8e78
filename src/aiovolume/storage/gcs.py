"""``gs://bucket/path``: Google Cloud Storage through gcloud-aio-storage.

Each store owns, per event loop, one ``aiohttp.ClientSession`` (``TCPConnector(limit=
concurrency)``, ``auto_decompress=False``) and a gcloud-aio-storage ``Storage`` on it. Every call
gets an explicit ``ClientTimeout`` (gcloud's default is 10 s in total, too short for big
objects).

- Reads send ``Accept-Encoding: gzip`` so GCS returns the **stored** bytes (no decompressive
  transcoding); full-object reads are checked against ``X-Goog-Hash`` (CRC32C, else MD5) and
  their length. A mismatch raises :class:`~aiovolume.exceptions.IntegrityError` (retried).
- Writes are single-request uploads (never resumable: gcloud's resumable upload has its own
  retry loop, and we want exactly one) with ``contentEncoding`` and header-style metadata keys
  (``"Cache-Control"``: gcloud turns ``Cache-Control`` into ``cacheControl``); the returned
  ``md5Hash`` / ``crc32c`` must match what we sent.
- Credentials: ``secrets=``, ``{bucket}-google-secret.json``, ``google-secret.json``, else
  application default credentials; none with ``STORAGE_EMULATOR_HOST`` (an emulator).

Example::

    async with GcsStore("bucket", "ds/image") as store:
        blob = await store.get("info")
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp

from ..exceptions import (
    AuthenticationError, CRC32CIntegrityError, IntegrityError, MD5IntegrityError, StorageError,
    UnsupportedProtocolError,
)
from ..options import Options
from ._aiohttp import (
    RemoteStore, abandon_sessions, client_session, crc32c_b64, goog_hashes, md5_b64, off_loop, range_header,
    response_body, verify_goog_hashes,
)
from .base import Blob, ByteRange, as_bytes, check_encoding, check_prefix, check_range, join_key, slice_range
from .paths import redact
from .retry import TransientError, parse_retry_after
from .secrets import SecretsArg, google_credentials, protect_logs, scrub

__all__ = ["GcsStore", "emulator_root"]

T = TypeVar("T")

LIST_PAGE = 1000
SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
_TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError", "userRateLimitExceeded"})


def emulator_root(env: Mapping[str, str] | None = None) -> str | None:
    """``STORAGE_EMULATOR_HOST`` as a URL (``http://`` added when missing), or None."""
    env = os.environ if env is None else env
    host = env.get("STORAGE_EMULATOR_HOST")
    if not host:
        return None
    return (host if host.startswith(("http://", "https://")) else f"http://{host}").rstrip("/")


@dataclass
class _Conn:
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack
    http: aiohttp.ClientSession
    storage: Any  # gcloud.aio.storage.Storage
    abandoned: bool = field(default=False, init=False)

    def abandon(self) -> None:
        self.abandoned = True
        abandon_sessions(self.http)


class _Missing(Exception):
    """A 404: the caller decides whether that means None, False or "already deleted"."""


class _PreconditionFailed(Exception):
    """HTTP 412 to an ``ifGenerationMatch`` upload: the object changed (an answer, not a failure)."""


class _Unsatisfiable(Exception):
    """A 416: a range that starts past the end of an existing object."""


class GcsStore(RemoteStore):
    """A store rooted at ``bucket/path`` on Google Cloud Storage (or an emulator)."""

    scheme = "gs"

    def __init__(
        self,
        bucket: str,
        path: str = "",
        options: Options | None = None,
        *,
        read_only: bool = False,
        secrets: SecretsArg = None,
        endpoint: str | None = None,
    ) -> None:
        """``endpoint``: an authenticated JSON API root other than Google's (a proxy, a private
        gateway); an emulator is configured with ``STORAGE_EMULATOR_HOST`` instead (no auth)."""
        if not bucket or "/" in bucket:
            raise UnsupportedProtocolError(f"GCS bucket name must be a single non-empty component, got {bucket!r}")
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self.bucket = bucket
        self._root = path.strip("/")
        super().__init__(f"gs://{bucket}" + (f"/{self._root}" if self._root else ""), options, read_only=read_only)
        self._secrets_arg = secrets
        self._scrub_values: tuple[str, ...] = ()
        # every gcloud call gets it: gcloud's own default is 10 s in total
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.options.connect_timeout, sock_read=self.options.read_timeout
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        return join_key(self._root, key)

    def _where(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"

    def _scrub(self, text: str) -> str:
        return scrub(text, self._scrub_values)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Conn:
        from gcloud.aio.auth import Token
        from gcloud.aio.storage import Storage

        root = emulator_root() if self._endpoint is None else None
        creds = None
        if root is None:
            creds = await asyncio.to_thread(google_credentials, self.bucket, self._secrets_arg)
            self._scrub_values = creds.secret_values if creds else ()
            protect_logs(self._scrub_values)
        stack = contextlib.AsyncExitStack()
        try:
            http = await stack.enter_async_context(client_session(self.options, self.options.concurrency_for("gs")))
            if root is not None:
                storage = Storage(session=http, api_root=root, api_is_dev=True, token=_NoToken())
            else:
                service_file = io.StringIO(json.dumps(dict(creds.info))) if creds is not None else None

                def make_token() -> Any:  # reads the ADC file when there is no secret: off the loop
                    return Token(service_file=service_file, session=http, scopes=SCOPES)

                problem = ""
                try:
                    token = await asyncio.to_thread(make_token)
                except Exception as exc:  # malformed service-account JSON, unreadable ADC file
                    problem, token = self._scrub(f"{type(exc).__name__}: {exc}"), None
                if token is None:  # raised outside the except clause: nothing chained
                    source = creds.source if creds is not None else "application default credentials"
                    raise AuthenticationError(f"{self.url}: unusable Google credentials from {source}: {problem}")
                storage = Storage(session=http, token=token, api_root=self._endpoint,
                                  api_is_dev=False if self._endpoint else None)
        except BaseException:
            await stack.aclose()
            raise
        return _Conn(loop, stack, http, storage)

    async def _gcs(self, op: str, name: str | None, call: Callable[[], Awaitable[T]]) -> T:
        """Await one gcloud call; HTTP errors become our exceptions (404 -> :class:`_Missing`)."""
        try:
            return await call()
        except aiohttp.ClientResponseError as exc:
            # Not chained on purpose: its repr holds the request headers (the bearer token).
            mapped = self._classify(op, name, exc.status, exc.message, exc.headers or {})
        except Exception as exc:
            if type(exc).__module__.startswith(("gcloud", "tenacity")):  # token refresh failures
                text = self._scrub(f"{op} {self._where(name) if name else self.url}: {type(exc).__name__}: {exc}")
                mapped = AuthenticationError(f"{text}; check google-secret.json / application default credentials")
            else:
                raise
        raise mapped

    def _classify(self, op: str, name: str | None, status: int, body: str, headers: Mapping[str, str]) -> Exception:
        message, reason = _error_fields(body)
        if status == 404 and "bucket does not exist" not in message:
            return _Missing()
        if status == 416:
            return _Unsatisfiable()
        if status == 412:
            return _PreconditionFailed()
        where = self._where(name) if name else self.url
        detail = f"HTTP {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
        text = self._scrub(f"{op} {where}: {detail}")
        if status in (401, 403):
            return AuthenticationError(
                f"{text} (check the credentials for bucket {self.bucket!r}: google-secret.json, secrets= "
                "or application default credentials)"
            )
        throttled = status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded")
        if status in (408, 429) or status >= 500 or reason in _TRANSIENT_REASONS:
            retry_after = parse_retry_after(_header(headers, "retry-after"))
            return TransientError(text, retry_after=retry_after, throttled=throttled)
        return StorageError(text)

    # -- single objects -------------------------------------------------------------------------
    async def get_buffer(self, key: str) -> Blob | None:
        return await self.get(key, any_buffer=True)  # big bodies into aligned buffers

    async def get(self, key: str, byte_range: ByteRange | None = None, *, any_buffer: bool = False) -> Blob | None:
        rng = check_range(byte_range)
        name = self._name(key)
        conn = await self._conn()
        if rng is not None and rng[1] is not None and rng[1] <= rng[0]:
            return await self._empty_blob(name)

        async def once() -> Blob | None | bool:
            headers = {"Accept-Encoding": "gzip"}
            if rng is not None:
                headers["Range"] = range_header(rng)
            try:
                stream = await self._gcs(
                    "GET", name,
                    lambda: conn.storage.download_stream(self.bucket, name, headers=headers, timeout=self._timeout),
                )
            except _Missing:
                return None
            except _Unsatisfiable:
                return False
            async with stream as resp:
                data = await response_body(resp, any_buffer)
                hdrs = {k.lower(): v for k, v in resp.headers.items()}
                status = resp.status
            return await self._verified_blob(name, status, hdrs, data, rng)

        got = await self._retry(once, f"GET {self._where(name)}")
        if got is False:
            return await self._empty_blob(name)
        return got  # type: ignore[return-value]

    async def _empty_blob(self, name: str) -> Blob | None:
        meta = await self._metadata(name)
        return None if meta is None else Blob(b"", meta.get("contentEncoding") or None)

    async def _verified_blob(self, name: str, status: int, headers: Mapping[str, str], data: bytes | memoryview,
                             rng: ByteRange | None) -> Blob:
        where = self._where(name)
        encoding = headers.get("content-encoding") or None
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) != len(data):
            raise IntegrityError(f"GET {where}: received {len(data)} bytes, Content-Length says {length}")
        stored_encoding = headers.get("x-goog-stored-content-encoding")
        transcoded = stored_encoding not in (None, "identity", encoding or "identity")
        if status == 200 and not transcoded:
            await verify_goog_hashes(data, goog_hashes([headers.get("x-goog-hash", "")]), what=f"GET {where}")
            stored_len = headers.get("x-goog-stored-content-length")
            if stored_len is not None and stored_len.isdigit() and int(stored_len) != len(data):
                raise IntegrityError(f"GET {where}: received {len(data)} bytes, the object has {stored_len}")
            if rng is not None:  # a server that ignored Range
                start, stop = slice_range(len(data), rng)
                data = data[start:stop]
        elif transcoded:
            encoding = None  # GCS decompressed it for us after all: the bytes are plain
        return Blob(data, encoding, version=headers.get("x-goog-generation") or None)

    async def _metadata(self, name: str) -> dict[str, Any] | None:
        conn = await self._conn()

        async def once() -> dict[str, Any] | None:
            try:
                return await self._gcs(
                    "HEAD", name, lambda: conn.storage.download_metadata(self.bucket, name, timeout=self._timeout)
                )
            except _Missing:
                return None

        return await self._retry(once, f"HEAD {self._where(name)}")

    async def get_versioned(self, key: str) -> tuple[Blob | None, object]:
        name = self._name(key)
        conn = await self._conn()

        async def once() -> tuple[Blob | None, object]:
            try:
                stream = await self._gcs("GET", name, lambda: conn.storage.download_stream(
                    self.bucket, name, headers={"Accept-Encoding": "gzip"}, timeout=self._timeout))
            except _Missing:
                return None, None
            async with stream as resp:
                data = await resp.read()
                hdrs = {k.lower(): v for k, v in resp.headers.items()}
                status = resp.status
            return await self._verified_blob(name, status, hdrs, data, None), hdrs.get("x-goog-generation")

        return await self._retry(once, f"GET {self._where(name)}")

    async def put_if(self, key: str, data: bytes, version: object, *, cache_control: str | None = None) -> bool:
        # ifGenerationMatch=0: only if absent; a 412 means another writer came first
        try:
            await self._put(key, data, None, "application/octet-stream", cache_control,
                            {"ifGenerationMatch": "0" if version is None else str(version)})
        except _PreconditionFailed:
            return False
        return True

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        await self._put(key, data, content_encoding, content_type, cache_control, {})

    async def _put(self, key: str, data: bytes, content_encoding: str | None, content_type: str,
                   cache_control: str | None, condition: dict[str, str]) -> None:
        self._check_writable()
        encoding = check_encoding(content_encoding)
        body = as_bytes(data)
        name = self._name(key)
        conn = await self._conn()
        crc_b64 = await off_loop(crc32c_b64, body)
        where = self._where(name)
        metadata: dict[str, Any] | None = None
        parameters: dict[str, str] = dict(condition)
        if cache_control:
            metadata = {"Cache-Control": cache_control}  # header-style: gcloud camel-cases it
            if encoding:
                metadata["Content-Encoding"] = encoding
        elif encoding:
            parameters["contentEncoding"] = encoding
        if condition and metadata is None:
            # a multipart upload: fake-gcs-server honours ifGenerationMatch only there (GCS everywhere)
            metadata = {"Content-Type": content_type}

        async def once() -> None:
            out = await self._gcs(
                "PUT", name,
                lambda: conn.storage.upload(
                    self.bucket, name, body, content_type=content_type, parameters=dict(parameters),
                    metadata=metadata, force_resumable_upload=False, timeout=self._timeout,
                ),
            )
            got_crc, got_md5 = out.get("crc32c"), out.get("md5Hash")
            # CRC32C when the service reports it (always, on GCS), else MD5 (computed only then)
            if got_crc and got_crc != crc_b64:
                raise CRC32CIntegrityError(f"PUT {where}: the stored object's CRC32C is not the one we sent")
            if not got_crc and got_md5 and got_md5 != await off_loop(md5_b64, body):
                raise MD5IntegrityError(f"PUT {where}: the stored object's MD5 is not the one we sent")

        try:
            await self._retry(once, f"PUT {where}")
        except _Missing:
            raise StorageError(f"PUT {where}: HTTP 404 (does the bucket exist?)") from None

    async def delete(self, key: str) -> None:
        self._check_writable()
        name = self._name(key)
        conn = await self._conn()

        async def once() -> None:
            try:
                await self._gcs("DELETE", name, lambda: conn.storage.delete(self.bucket, name, timeout=self._timeout))
            except _Missing:
                pass  # already gone

        await self._retry(once, f"DELETE {self._where(name)}")

    async def exists(self, key: str) -> bool:
        return await self._metadata(self._name(key)) is not None

    async def size(self, key: str) -> int | None:
        name = self._name(key)
        meta = await self._metadata(name)
        if meta is None:
            return None
        try:
            return int(meta["size"])
        except (KeyError, TypeError, ValueError):
            raise StorageError(f"HEAD {self._where(name)}: the object metadata has no size") from None

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        conn = await self._conn()
        root = self._root + "/" if self._root else ""
        token: str | None = None
        while True:
            params = {"prefix": root + prefix, "maxResults": str(LIST_PAGE), "fields": "items(name),nextPageToken"}
            if token:
                params["pageToken"] = token

            async def page(params: dict[str, str] = params) -> dict[str, Any]:
                try:
                    return await self._gcs(
                        "LIST", None, lambda: conn.storage.list_objects(self.bucket, params=params, timeout=self._timeout)
                    )
                except _Missing:
                    raise StorageError(f"LIST {self.url}: HTTP 404 (the bucket does not exist)") from None

            out = await self._retry(page, f"LIST {self.url}/{prefix}")
            for item in out.get("items", []) or []:
                yield item["name"][len(root):]
            token = out.get("nextPageToken")
            if not token:
                return


# -- helpers -------------------------------------------------------------------------------------
class _NoToken:
    """Emulators take no credentials: a token that never fetches (and never reads ADC files)."""

    async def get(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def _error_fields(body: str) -> tuple[str, str]:
    """(message, reason) of a GCS JSON error body; a short plain-text excerpt otherwise."""
    try:
        err = json.loads(body).get("error", {})
        reason = ""
        if isinstance(err.get("errors"), list) and err["errors"]:
            reason = str(err["errors"][0].get("reason", ""))
        return redact(str(err.get("message", "")))[:300], reason
    except (ValueError, AttributeError, TypeError):
        return redact(body.strip().replace("\n", " "))[:200], ""
