"""``serve(cloudpath_or_dir, port=1337)``: a layer served to Neuroglancer over HTTP on 127.0.0.1.

CloudVolume's ``vol.viewer()`` / ``cloudvolume.server.view``, through our Store API, so a local
directory and any readable cloudpath (s3, gs, http, mem, file) work alike. Each response:

* ``Access-Control-Allow-Origin: *`` (Neuroglancer runs on another origin) and preflights for
  its ``Range`` requests;
* byte ranges (``bytes=a-b``, ``bytes=a-``, suffix ``bytes=-n``) with ``206`` and
  ``Content-Range``: sharded layers are read so;
* objects stored gzip-compressed (``.gz`` files, ``Content-Encoding: gzip`` objects) go out as
  stored with ``Content-Encoding: gzip`` so the browser decodes them; other transport encodings
  (br, zstd, xz, bzip2) pass through when the request's ``Accept-Encoding`` lists them and are
  decoded here otherwise. A range of an encoded object is answered with the whole object (200),
  as HTTP allows.
* ``..`` in a path is refused (403), as CloudVolume does; 404 only for a missing object;
  storage failures are 502 with their (credential-free) message.

Tests start it without blocking::

    server = await start_serve("file:///data/layer", port=0)   # server.url; await server.close()
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from typing import Any

from aiohttp import web

from ..codecs.compression import decompress
from ..exceptions import AiovolumeError, StorageError
from ..storage import Store, open_store
from .httpserver import RunningServer, block_until_interrupted, start_app

DEFAULT_PORT = 1337
NEUROGLANCER = "https://neuroglancer-demo.appspot.com/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, *",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Content-Encoding, Accept-Ranges",
}


def _content_type(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return "application/json" if name == "info" or name.endswith(".json") or name == "provenance" else \
        "application/octet-stream"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` half-open for one satisfiable range; None for a multi-range or
    malformed header (answered with the whole object); raises HTTPRequestRangeNotSatisfiable."""
    m = _RANGE.match(header.strip())
    if m is None or (m[1] == "" and m[2] == ""):
        return None
    if m[1] == "":  # suffix: the last n bytes
        n = int(m[2])
        if n == 0:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}", **CORS})
        return max(0, size - n), size
    start = int(m[1])
    stop = size if m[2] == "" else min(int(m[2]) + 1, size)
    if start >= size or stop <= start:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}", **CORS})
    return start, stop


def make_app(store: Store) -> web.Application:
    async def options(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    async def get(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]  # already percent-decoded by aiohttp
        if ".." in key.split("/"):
            raise web.HTTPForbidden(text="relative paths are not allowed", headers=CORS)
        if not key:
            return web.Response(text=f"aiovolume serving {store.url}\n", headers=CORS)
        try:
            return await _respond(store, request, key)
        except web.HTTPException:
            raise
        except AiovolumeError as exc:
            status = 502 if isinstance(exc, StorageError) else 500
            return web.Response(status=status, text=f"{key}: {type(exc).__name__}: {exc}", headers=CORS)

    app = web.Application()
    app.router.add_route("OPTIONS", "/{key:.*}", options)
    app.router.add_get("/{key:.*}", get)  # HEAD too (aiohttp drops the body)
    return app


async def _respond(store: Store, request: web.Request, key: str) -> web.Response:
    headers = {**CORS, "Accept-Ranges": "bytes", "Content-Type": _content_type(key), "Cache-Control": "no-cache"}
    ranged = request.headers.get("Range")
    if ranged:
        size = await store.size(key)
        if size is None:
            raise web.HTTPNotFound(text=f"{key}: not found", headers=CORS)
        span = _parse_range(ranged, size)
        if span is not None:
            try:
                parts = await store.get_ranges(key, [span])
            except AiovolumeError as exc:
                if not isinstance(exc, NotImplementedError):  # not "stored with a transport encoding"
                    raise
                parts = None
                encoded = True
            else:
                encoded = False
            if parts is None and not encoded:
                raise web.HTTPNotFound(text=f"{key}: not found", headers=CORS)
            if parts is not None:
                headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
                return web.Response(status=206, body=parts[0], headers=headers)
    blob = await store.get(key)
    if blob is None:
        raise web.HTTPNotFound(text=f"{key}: not found", headers=CORS)
    body: bytes | memoryview = blob.data
    if blob.encoding is not None:
        accepted = {e.split(";")[0].strip() for e in request.headers.get("Accept-Encoding", "").split(",")}
        if blob.encoding in accepted:
            headers["Content-Encoding"] = blob.encoding
        else:
            body = await asyncio.to_thread(decompress, blob.data, blob.encoding)
        headers.pop("Accept-Ranges")
    return web.Response(body=bytes(body), headers=headers)


async def start_serve(cloudpath_or_dir: str, port: int = DEFAULT_PORT, *, secrets: Any = None,
                      store: Store | None = None) -> RunningServer:
    """Start serving without blocking; ``server.info`` holds the layer's info (or None) and
    ``server.neuroglancer_url`` a Neuroglancer link. ``store``: serve this open store instead
    (it is not closed with the server)."""
    own = store is None
    if store is None:
        store = open_store(cloudpath_or_dir, read_only=True, secrets=secrets)
    app = make_app(store)
    if own:
        app.on_cleanup.append(lambda app: store.close())
    try:
        server = await start_app(app, port)
    except BaseException:
        if own:
            await store.close()
        raise
    server.info["layer"] = await _layer_info(store)
    server.info["neuroglancer_url"] = neuroglancer_url(server.url, server.info["layer"], store.url)
    return server


async def _layer_info(store: Store) -> dict[str, Any] | None:
    try:
        blob = await store.get("info")
        if blob is None:
            return None
        data = blob.data if blob.encoding is None else await asyncio.to_thread(decompress, blob.data, blob.encoding)
        info = json.loads(bytes(data))
        return info if isinstance(info, dict) else None
    except (AiovolumeError, ValueError):
        return None


def neuroglancer_state(url: str, info: dict[str, Any] | None, name: str = "layer") -> dict[str, Any]:
    """A Neuroglancer viewer state with the served layer (image or segmentation by its info)."""
    kind = "segmentation" if (info or {}).get("type") == "segmentation" else "image"
    return {"layers": [{"type": kind, "source": f"precomputed://{url}", "name": name}], "layout": "4panel"}


def neuroglancer_url(url: str, info: dict[str, Any] | None, cloudpath: str) -> str:
    name = cloudpath.rstrip("/").rsplit("/", 1)[-1] or "layer"
    state = json.dumps(neuroglancer_state(url, info, name), separators=(",", ":"))
    return f"{NEUROGLANCER}#!{urllib.parse.quote(state, safe='')}"


def announce(server: RunningServer) -> None:
    print(f"Neuroglancer server listening to {server.url} (Ctrl-C to stop)")
    if server.info.get("layer") is None:
        print(f"No info at the root: add layers as precomputed://{server.url}/<layer>")
    print(f"Neuroglancer: {server.info['neuroglancer_url']}")


def serve(cloudpath_or_dir: str, port: int = DEFAULT_PORT, *, secrets: Any = None) -> None:
    """Serve a Precomputed layer (a local directory or any cloudpath) to Neuroglancer at
    http://127.0.0.1:``port`` until Ctrl-C, printing a Neuroglancer link for it.

    >>> aiovolume.serve("/data/layer", port=1337)   # doctest: +SKIP
    """
    block_until_interrupted(lambda: start_serve(cloudpath_or_dir, port, secrets=secrets), announce)
