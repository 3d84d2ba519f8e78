"""A small BOSS (bossdb.io) REST API v1 server for the tests, on 127.0.0.1.

Implements what BOSS documents, following its server's URL patterns and serializers
(github.com/jhuapl-boss/boss: ``bosscore/urls``, ``bosscore/serializers.py``,
``bossspatialdb/urls.py``, ``renderers.py``, ``parsers.py``):

- ``GET /v1/collection/{c}/``, ``.../experiment/{e}/``, ``.../channel/{ch}/``, ``GET /v1/coord/{frame}/``:
  the read serializers' fields;
- ``GET /v1/cutout/{c}/{e}/{ch}/{res}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}/[?access-mode=...]`` with
  ``Accept: application/blosc``: ``blosc.compress`` of the C-order (z, y, x) array with
  ``typesize`` = the bit depth, as BOSS's renderer does (``application/blosc-python``:
  ``blosc.pack_array``);
- ``POST`` of the same URL with a blosc body (``Content-Type: application/blosc``) -> 201;
- ``PUT /v1/cutout/to_black/...`` (same ranges) -> 200, zeroes the box;
- DRF token auth: ``Authorization: Token <token>``; a wrong or absent token -> 401
  ``{"detail": ...}``; errors otherwise as BOSS's ``{"status", "code", "message"}``;
- cutouts over 500 MB uncompressed -> 413; ranges outside the level's extent -> 400.

Voxels live in 512x512x16 cuboids per (channel, resolution), created on first write; unwritten
voxels read as 0. The extent of resolution ``r`` is the frame's divided by the level's factor
(floor of the start, ceiling of the stop); BOSS itself checks every level against the level-0
frame (its own code says that is wrong), which accepts a superset of these requests.

``fail_next(n, status)`` makes the next ``n`` cutout requests fail (5xx injection),
``corrupt_next(n)`` truncates the next ``n`` cutout bodies (sent with a matching length);
``requests`` records (method, path, had_token) of every request.

The python ``blosc`` package (c-blosc, what BOSS and intern use) does the compression here, so
the client's imagecodecs blosc is checked against a different implementation.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import blosc
import numpy as np
from aiohttp import web

from aiovolume.options import Options, RetryPolicy

#: quick retries, so the 5xx-injection tests take milliseconds
FAST = Options(retry=RetryPolicy(max_attempts=6, base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05))

CUBOID = (512, 512, 16)  # x, y, z
MAX_BYTES = 500 * 10**6
UNITS = ("nanometers", "micrometers", "millimeters", "centimeters")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Channel:
    collection: str
    experiment: str
    meta: dict[str, Any]
    cuboids: dict[tuple[int, int, int, int], np.ndarray] = field(default_factory=dict)  # (res, cx, cy, cz) -> (z, y, x)


class BossServer:
    """Start with ``start()`` (a thread with its own loop), stop with ``stop()``."""

    def __init__(self, token: str = "test-token-0123456789abcdef") -> None:
        self.token = token
        self.collections: dict[str, dict[str, Any]] = {}
        self.experiments: dict[tuple[str, str], dict[str, Any]] = {}
        self.channels: dict[tuple[str, str, str], Channel] = {}
        self.frames: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, bool]] = []
        self._faults: list[int] = []
        self._corrupt = 0
        self.faults_served = 0
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- fixtures' API ------------------------------------------------------------------------
    def secrets(self, token: str | None = None) -> dict[str, str]:
        return {"token": self.token if token is None else token, "protocol": "http", "host": f"127.0.0.1:{self.port}"}

    def add_frame(self, name: str, start: tuple[int, int, int], stop: tuple[int, int, int],
                  voxel_size: tuple[float, float, float], unit: str = "nanometers") -> None:
        assert unit in UNITS
        frame = {"name": name, "description": ""}
        for a, lo, hi, v in zip("xyz", start, stop, voxel_size):
            frame.update({f"{a}_start": lo, f"{a}_stop": hi, f"{a}_voxel_size": v})
        frame["voxel_unit"] = unit
        self.frames[name] = frame

    def add_experiment(self, collection: str, experiment: str, frame: str, levels: int = 1,
                       method: str = "anisotropic") -> None:
        self.collections.setdefault(collection, {"name": collection, "description": "", "creator": "tester",
                                                 "public": False})
        self.experiments[(collection, experiment)] = {
            "name": experiment, "description": "", "collection": collection, "coord_frame": frame,
            "num_hierarchy_levels": levels, "hierarchy_method": method, "num_time_samples": 1,
            "time_step": None, "time_step_unit": "", "creator": "tester", "public": False,
        }

    def add_channel(self, collection: str, experiment: str, channel: str, kind: str = "image",
                    datatype: str = "uint8", **extra: Any) -> None:
        meta = {
            "name": channel, "description": "", "experiment": experiment, "default_time_sample": 0,
            "type": kind, "base_resolution": 0, "datatype": datatype, "creator": "tester", "sources": [],
            "downsample_status": "NOT_DOWNSAMPLED", "related": [], "public": False,
            "storage_type": "spdb", "bucket": None, "cv_path": None,
        }
        meta.update(extra)
        self.channels[(collection, experiment, channel)] = Channel(collection, experiment, meta)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._faults.extend([status] * n)

    def corrupt_next(self, n: int) -> None:
        """The next ``n`` cutout GETs answer 200 with half of the blosc body (damage in transit)."""
        with self._lock:
            self._corrupt += n

    def cutouts(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if "/cutout/" in p and (method is None or m == method)]

    # -- the voxels ---------------------------------------------------------------------------
    def extent(self, key: tuple[str, str, str], res: int) -> tuple[list[int], list[int]]:
        c, e, _ = key
        exp = self.experiments[(c, e)]
        frame = self.frames[exp["coord_frame"]]
        f = 2 ** res
        factor = (f, f, f) if exp["hierarchy_method"] == "isotropic" else (f, f, 1)
        lo = [frame[f"{a}_start"] // k for a, k in zip("xyz", factor)]
        hi = [-(-frame[f"{a}_stop"] // k) for a, k in zip("xyz", factor)]
        return lo, hi

    def read(self, key: tuple[str, str, str], res: int, box: tuple[int, ...]) -> np.ndarray:
        ch = self.channels[key]
        x0, x1, y0, y1, z0, z1 = box
        out = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=ch.meta["datatype"])
        for (cx, cy, cz), part, local in _cuboid_parts(box):
            block = ch.cuboids.get((res, cx, cy, cz))
            if block is not None:
                out[local] = block[part]
        return out

    def write(self, key: tuple[str, str, str], res: int, box: tuple[int, ...], data: np.ndarray | None) -> None:
        ch = self.channels[key]
        for (cx, cy, cz), part, local in _cuboid_parts(box):
            block = ch.cuboids.get((res, cx, cy, cz))
            if block is None:
                if data is None:
                    continue
                block = ch.cuboids[(res, cx, cy, cz)] = np.zeros(CUBOID[::-1], dtype=ch.meta["datatype"])
            block[part] = 0 if data is None else data[local]

    # -- HTTP -----------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30, middlewares=[self._auth])
        cut = r"/{c}/{e}/{ch}/{res:\d+}/{x:\d+:\d+}/{y:\d+:\d+}/{z:\d+:\d+}"
        routes = [
            ("GET", "/v1/collection/{c}", self._collection),
            ("GET", "/v1/collection/{c}/experiment/{e}", self._experiment),
            ("GET", "/v1/collection/{c}/experiment/{e}/channel/{ch}", self._channel),
            ("GET", "/v1/coord/{frame}", self._frame),
            ("PUT", "/v1/cutout/to_black" + cut, self._to_black),
            ("GET", "/v1/cutout" + cut, self._cutout_get),
            ("POST", "/v1/cutout" + cut, self._cutout_post),
        ]
        for method, path, handler in routes:  # BOSS's patterns end in "/?" (intern omits it on metadata)
            app.router.add_route(method, path, handler)
            app.router.add_route(method, path + "/", handler)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        with self._lock:
            self.requests.append((request.method, request.path, bool(header)))
            fault = self._faults.pop(0) if self._faults and "/cutout/" in request.path else None
            if fault is not None:
                self.faults_served += 1
        if not header.startswith("Token "):
            return web.json_response({"detail": "Authentication credentials were not provided."}, status=401)
        if header[len("Token "):] != self.token:
            return web.json_response({"detail": "Invalid token."}, status=401)
        if fault is not None:
            return _error(fault, 1000 + fault, "injected fault")
        return await handler(request)

    async def _collection(self, request: web.Request) -> web.Response:
        coll = self.collections.get(request.match_info["c"])
        if coll is None:
            return _error(404, 4000, "Collection not found")
        exps = [e for (c, e) in self.experiments if c == coll["name"]]
        return web.json_response({**coll, "experiments": exps})

    async def _experiment(self, request: web.Request) -> web.Response:
        exp = self.experiments.get((request.match_info["c"], request.match_info["e"]))
        if exp is None:
            return _error(404, 4000, "Experiment not found")
        chans = [ch for (c, e, ch) in self.channels if (c, e) == (exp["collection"], exp["name"])]
        return web.json_response({**exp, "channels": chans})

    async def _channel(self, request: web.Request) -> web.Response:
        key = (request.match_info["c"], request.match_info["e"], request.match_info["ch"])
        ch = self.channels.get(key)
        if ch is None:
            return _error(404, 4000, "Channel not found")
        return web.json_response(ch.meta)

    async def _frame(self, request: web.Request) -> web.Response:
        frame = self.frames.get(request.match_info["frame"])
        if frame is None:
            return _error(404, 4000, "Coordinate frame not found")
        return web.json_response(frame)

    def _parse_cutout(self, request: web.Request) -> tuple[tuple[str, str, str], int, tuple[int, ...]] | web.Response:
        m = request.match_info
        key = (m["c"], m["e"], m["ch"])
        if key not in self.channels:
            return _error(404, 4000, "Channel not found")
        res = int(m["res"])
        if not 0 <= res < self.experiments[key[:2]]["num_hierarchy_levels"]:
            return _error(400, 2002, f"Invalid resolution {res}")
        box = tuple(int(v) for a in "xyz" for v in m[a].split(":"))
        lo, hi = self.extent(key, res)
        if any(box[2 * i] >= box[2 * i + 1] or box[2 * i] < lo[i] or box[2 * i + 1] > hi[i] for i in range(3)):
            return _error(400, 2002, f"Incorrect cutout arguments {res}/{m['x']}/{m['y']}/{m['z']}")
        nbytes = (box[1] - box[0]) * (box[3] - box[2]) * (box[5] - box[4]) * np.dtype(self.channels[key].meta["datatype"]).itemsize
        if nbytes > MAX_BYTES:
            return _error(413, 2006, "Cutout request is over 500MB when uncompressed. Reduce cutout dimensions.")
        return key, res, box

    async def _cutout_get(self, request: web.Request) -> web.Response:
        parsed = self._parse_cutout(request)
        if isinstance(parsed, web.Response):
            return parsed
        key, res, box = parsed
        data = self.read(key, res, box)
        accept = request.headers.get("Accept", "")
        if "application/blosc-python" in accept:
            return web.Response(body=blosc.pack_array(data), content_type="application/blosc-python")
        if "application/blosc" not in accept:
            return _error(406, 2007, f"Unsupported Accept {accept!r}")
        body = blosc.compress(np.ascontiguousarray(data), typesize=data.dtype.itemsize * 8)
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                body = body[: len(body) // 2]
        return web.Response(body=body, content_type="application/blosc")

    async def _cutout_post(self, request: web.Request) -> web.Response:
        parsed = self._parse_cutout(request)
        if isinstance(parsed, web.Response):
            return parsed
        key, res, box = parsed
        if request.content_type != "application/blosc":
            return _error(415, 2007, f"Unsupported Content-Type {request.content_type!r}")
        dtype = self.channels[key].meta["datatype"]
        try:
            flat = np.frombuffer(blosc.decompress(await request.read()), dtype=dtype)
        except Exception:
            return _error(400, 2008, "Failed to decompress data. Verify the datatype/bitdepth of your data "
                                     "matches the channel.")
        shape = (box[5] - box[4], box[3] - box[2], box[1] - box[0])
        if flat.size != np.prod(shape):
            return _error(400, 2009, "Failed to unpack data. Verify the datatype of your POSTed data and "
                                     "xyz dimensions used in the POST URL.")
        self.write(key, res, box, flat.reshape(shape, order="C"))
        return web.Response(status=201)

    async def _to_black(self, request: web.Request) -> web.Response:
        parsed = self._parse_cutout(request)
        if isinstance(parsed, web.Response):
            return parsed
        key, res, box = parsed
        self.write(key, res, box, None)
        return web.Response(status=200)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "BossServer":
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            runner = self._runner = web.AppRunner(self._app(), access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="boss-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the BOSS test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"status": status, "code": code, "message": message}),
                        content_type="application/json")


def _cuboid_parts(box: tuple[int, ...]):
    """For each server cuboid meeting ``box``: its index, the part of it, the part of the box ((z, y, x) slices)."""
    x0, x1, y0, y1, z0, z1 = box
    ranges = []
    for lo, hi, c in ((x0, x1, CUBOID[0]), (y0, y1, CUBOID[1]), (z0, z1, CUBOID[2])):
        axis = []
        for g in range(lo // c, -(-hi // c)):
            a, b = max(lo, g * c), min(hi, (g + 1) * c)
            axis.append((g, slice(a - g * c, b - g * c), slice(a - lo, b - lo)))
        ranges.append(axis)
    for gz, pz, lz in ranges[2]:
        for gy, py, ly in ranges[1]:
            for gx, px, lx in ranges[0]:
                yield (gx, gy, gz), (pz, py, px), (lz, ly, lx)
