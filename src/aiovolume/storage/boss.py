"""``boss://collection/experiment/channel``: a channel of The BOSS (bossdb.io) over its REST API v1.

BOSS is not a key/bytes store: it serves metadata and cutouts of any box. This store offers
what the volume needs of it through the Store contract, and the cutout service beside it:

- ``get("info")``: the channel's Precomputed-style info, made from its experiment, channel and
  coordinate frame (:func:`.bossapi.precomputed_info`); ``get("provenance")``: None. Any other
  key (meshes, skeletons, shard files, ...) raises UnsupportedFeatureError: BOSS has no files.
- ``get_cutout`` / ``post_cutout`` / ``black_out``: one cutout request each (blosc bodies), used by
  ``pipeline.bosssource.BossSource``, which splits requests along BOSS's 512x512x16 cuboids.

Every request is one unit of :func:`~.retry.call_with_retries` (the policy of every network
store): 408/429/5xx, resets, timeouts and truncated bodies are retried; 401/403 raise
AuthenticationError (never retried, never "missing"); other statuses raise StorageError with
BOSS's message. The token is sent as ``Authorization: Token <token>`` (:func:`.secrets.boss_credentials`)
and never appears in a message, a repr or a log record.

Example::

    async with BossStore(parse_cloudpath("boss://coll/exp/chan"), secrets={"token": "..."}) as store:
        info = json.loads((await store.get("info")).data)
        blosc = await store.get_cutout(0, (0, 512, 0, 512, 0, 16))
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from ..exceptions import (
    AuthenticationError, InfoError, InfoUnavailableError, ListingNotSupported, StorageError, UnsupportedFeatureError,
)
from ..options import Options
from . import bossapi
from ._aiohttp import RemoteStore, abandon_sessions, client_session
from .base import Blob, ByteRange, bounded_map, check_prefix, check_range, normalize_key
from .paths import CloudPath, parse_cloudpath
from .retry import TransientError, parse_retry_after
from .secrets import BossCredentials, SecretsArg, boss_credentials, protect_logs, scrub

Box = tuple[int, int, int, int, int, int]


@dataclass
class _Conn:
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack
    session: aiohttp.ClientSession
    creds: BossCredentials
    abandoned: bool = field(default=False, init=False)

    def abandon(self) -> None:
        self.abandoned = True
        abandon_sessions(self.session)


class BossStore(RemoteStore):
    """One BOSS channel; see the module docstring. ``secrets``: ``{"token", "protocol", "host"}``
    (a dict, a JSON file path or a JSON string), else ``boss-secret.json``."""

    scheme = "boss"

    def __init__(self, path: str | CloudPath, options: Options | None = None, *, read_only: bool = False,
                 secrets: SecretsArg = None) -> None:
        cp = parse_cloudpath(path)
        if cp.scheme != "boss" or cp.bucket is None:
            raise StorageError(f"BossStore takes boss://collection/experiment/channel, not {cp.url}")
        super().__init__(cp.url, options, read_only=read_only)
        self.collection = cp.bucket
        self.experiment, self.channel = cp.path.split("/")
        self._secrets = secrets

    # -- connection ---------------------------------------------------------------------------
    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Conn:
        creds = await asyncio.to_thread(boss_credentials, self._secrets)  # may read a secret file
        protect_logs(creds.secret_values)
        headers = {"Authorization": f"Token {creds.token}"} if creds.token else {}
        stack = contextlib.AsyncExitStack()
        session = await stack.enter_async_context(client_session(
            self.options, self.options.concurrency_for(self.scheme), trust_env=False, headers=headers,
        ))
        return _Conn(loop, stack, session, creds)

    async def _request(self, method: str, path: str, *, body: bytes | None = None, accept: str | None = None,
                       content_type: str | None = None, ok: tuple[int, ...] = (200,)) -> bytes:
        """One API call through the retry policy; the body of an ``ok`` answer."""
        self._check_open()
        conn = await self._conn()
        shown = f"{method} {conn.creds.endpoint}{path}"
        url = URL(conn.creds.endpoint + path, encoded=True)
        headers = {}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        secret = conn.creds.secret_values

        async def once() -> bytes:
            session = (await self._conn()).session
            try:
                # a BytesIO per attempt: aiohttp warns that big raw bytes could block the loop
                data_arg = None if body is None else io.BytesIO(body)
                async with session.request(method, url, data=data_arg, headers=headers) as resp:
                    data = await resp.read()
                    if resp.status not in ok:
                        raise _status_error(shown, resp, data, conn.creds)
                    expected = resp.content_length
            except asyncio.TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
                raise TransientError(f"timed out: {type(exc).__name__}") from exc
            except aiohttp.ClientError as exc:
                text = scrub(str(exc), secret)
                if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
                    raise TransientError(f"{type(exc).__name__}: {text}") from None
                raise StorageError(f"{shown}: {type(exc).__name__}: {text}") from None
            if expected is not None and len(data) != expected:
                raise TransientError(f"truncated body: {len(data)} of {expected} bytes (Content-Length)")
            return data

        return await self._retry(once, shown)

    async def _json(self, path: str) -> dict[str, Any]:
        data = await self._request("GET", path, accept="application/json")
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise InfoError(f"{self.url}: GET {path} did not return a JSON object")
        return value

    # -- metadata -------------------------------------------------------------------------------
    async def metadata(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The experiment, channel and coordinate frame JSON, as BOSS returns them."""
        c, e, ch = self.collection, self.experiment, self.channel
        try:
            experiment, channel = await bounded_map(  # both at once; a failure cancels the other
                self._json, [bossapi.experiment_path(c, e), bossapi.channel_path(c, e, ch)], 2)
            frame_name = experiment.get("coord_frame")
            if not isinstance(frame_name, str) or not frame_name:
                raise InfoError(f"{self.url}: the experiment names no coordinate frame")
            frame = await self._json(bossapi.coord_path(frame_name))
        except _NotFound as exc:
            raise InfoUnavailableError(f"{self.url}: {exc}") from None
        return experiment, channel, frame

    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        check_range(byte_range)
        key = normalize_key(key)
        if key == "provenance":
            return None  # BOSS keeps no provenance file
        if key != "info":
            raise self._no_files(key)
        experiment, channel, frame = await self.metadata()
        return Blob(bossapi.info_bytes(experiment, channel, frame, self.url), None)

    def _no_files(self, key: str) -> UnsupportedFeatureError:
        return UnsupportedFeatureError(
            f"{self.url}: BOSS serves volumes through its cutout service and has no files ({key!r}): "
            "meshes, skeletons, sharded scales and other Precomputed files do not exist on BOSS"
        )

    async def exists(self, key: str) -> bool:
        if normalize_key(key) == "info":
            await self.get("info")
            return True
        raise self._no_files(key)

    async def size(self, key: str) -> int | None:
        blob = await self.get(key)
        return None if blob is None else len(blob.data)

    def list(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        raise ListingNotSupported(f"{self.url}: BOSS channels cannot be listed as files")

    async def put(self, key: str, data: bytes, *, content_encoding: str | None = None,
                  content_type: str = "application/octet-stream", cache_control: str | None = None) -> None:
        self._check_writable()
        if normalize_key(key) == "info":
            raise UnsupportedFeatureError(
                f"{self.url}: BOSS metadata cannot be written through the info (create or edit the "
                "collection, experiment and channel with BOSS's own tools); nothing was written"
            )
        raise self._no_files(key)

    async def delete(self, key: str) -> None:
        self._check_writable()
        raise self._no_files(key)

    # -- cutouts ----------------------------------------------------------------------------------
    def _cutout(self, resolution: int, box: Box, *, to_black: bool = False) -> str:
        nbytes = (box[1] - box[0]) * (box[3] - box[2]) * (box[5] - box[4]) * 8
        if nbytes > bossapi.MAX_REQUEST_BYTES:  # the caller splits along cuboids: a bug if reached
            raise StorageError(f"{self.url}: a cutout of {box} would exceed BOSS's 500 MB request limit")
        return bossapi.cutout_path(self.collection, self.experiment, self.channel, resolution, box,
                                   to_black=to_black)

    async def get_cutout(self, resolution: int, box: Box) -> bytes:
        """The blosc-compressed C-order (z, y, x) voxels of ``box`` = ``(x0, x1, y0, y1, z0, z1)``."""
        try:
            return await self._request("GET", self._cutout(resolution, box), accept="application/blosc")
        except _NotFound as exc:
            raise StorageError(f"{self.url}: {exc}") from None

    async def post_cutout(self, resolution: int, box: Box, data: bytes) -> None:
        """Write ``box`` from a blosc-compressed C-order (z, y, x) array."""
        self._check_writable()
        try:
            await self._request("POST", self._cutout(resolution, box), body=data,
                                content_type="application/blosc", ok=(200, 201))
        except _NotFound as exc:
            raise StorageError(f"{self.url}: {exc}") from None

    async def black_out(self, resolution: int, box: Box) -> None:
        """Set ``box`` to 0 (BOSS's ``cutout/to_black``)."""
        self._check_writable()
        try:
            await self._request("PUT", self._cutout(resolution, box, to_black=True), ok=(200, 201, 204))
        except _NotFound as exc:
            raise StorageError(f"{self.url}: {exc}") from None

    def __repr__(self) -> str:
        flags = ", read_only=True" if self.read_only else ""
        return f"BossStore({self.url!r}{flags})"


class _NotFound(StorageError):
    """404 from the API: a collection, experiment, channel or frame that does not exist."""


def _status_error(shown: str, resp: aiohttp.ClientResponse, body: bytes, creds: BossCredentials) -> StorageError:
    status, reason = resp.status, resp.reason or ""
    detail = scrub(bossapi.error_text(body), creds.secret_values)
    if status in (401, 403):
        has = f"the token from {creds.source}" if creds.token else "no token (none given, no boss-secret.json)"
        return AuthenticationError(
            f"{shown}: HTTP {status} {reason}: BOSS refused the request with {has} ({detail}). Pass "
            "secrets={'token': ...} or put {\"token\": ...} in ~/.cloudvolume/secrets/boss-secret.json"
        )
    if status == 408 or status == 429 or status >= 500:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return TransientError(f"HTTP {status} {reason}: {detail}", retry_after=retry_after,
                              throttled=status in (429, 503))
    if status == 404:
        return _NotFound(f"{shown}: HTTP 404: {detail}")
    return StorageError(f"{shown}: HTTP {status} {reason}: {detail}")
