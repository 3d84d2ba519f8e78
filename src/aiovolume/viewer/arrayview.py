"""The local slice viewer: ``view(img)``, ``hyperview(img, seg)`` (microviewer's names and
arguments, which CloudVolume's ``VolumeCutout.viewer`` calls) over an aiohttp app on 127.0.0.1.

The page (``static/``, shipped in the package: no CDN) asks ``/meta`` for the shape and layers,
then one binary response per slice: ``/slice/<layer>/<axis>/<index>`` is the 2-D plane with
``rows x columns`` = ``y x x`` (axis z), ``z x x`` (axis y) or ``z x y`` (axis x), row-major,
little-endian, its dtype in ``X-Dtype`` and shape in ``X-Shape``. A 2 GB volume is never sent
whole. Images go as their own dtype (64-bit ones as float64), segmentation as uint64.

Tests (and async code) start it without blocking::

    server = await start_viewer(img, seg, port=0)    # server.url, then await server.close()
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import Any, Sequence

import numpy as np
from aiohttp import web

from ..exceptions import DimensionError, DtypeError
from .httpserver import RunningServer, block_until_interrupted, check_host, start_app

DEFAULT_PORT = 8080
AXES = {"x": 0, "y": 1, "z": 2}
_WIRE = {np.dtype(t): np.dtype(t).newbyteorder("<") for t in
         ("u1", "i1", "u2", "i2", "u4", "i4", "f4", "f8")}
STATIC_FILES = {"/": ("index.html", "text/html"), "/viewer.js": ("viewer.js", "text/javascript"),
                "/viewer.css": ("viewer.css", "text/css")}


@dataclass
class Layer:
    name: str
    kind: str  # "image" | "segmentation"
    data: np.ndarray  # (x, y, z)
    low: float
    high: float

    @property
    def wire_dtype(self) -> np.dtype:
        if self.kind == "segmentation":
            return np.dtype("<u8")
        if self.data.dtype == bool:
            return np.dtype("u1")
        return _WIRE.get(self.data.dtype.newbyteorder("="), np.dtype("<f8"))

    def plane(self, axis: str, index: int) -> np.ndarray:
        """The slice as displayed: rows down, columns across, C order, wire dtype."""
        plane = np.take(self.data, index, axis=AXES[axis]).T
        if self.kind == "segmentation" and self.data.dtype.kind == "i":
            plane = plane.astype(np.int64).view(np.uint64)
        return np.ascontiguousarray(plane, dtype=self.wire_dtype)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "dtype": str(self.data.dtype),
                "wire": self.wire_dtype.str[1:], "low": self.low, "high": self.high}


def to3d(img: Any, what: str) -> np.ndarray:
    """``(x, y, z)`` from a 2-D, 3-D or ``(x, y, z, c)`` array (channel 0 is shown)."""
    if img.__class__.__name__ == "CrackleArray":
        img = img.decompress()
    arr = np.asarray(img)
    if arr.ndim == 4:
        arr = arr[..., 0]
    while arr.ndim < 3:
        arr = arr[..., np.newaxis]
    if arr.ndim != 3:
        raise DimensionError(f"{what}: expected a 2-D, 3-D or (x, y, z, c) array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or arr.dtype.kind == "c":
        raise DtypeError(f"{what}: cannot show {arr.dtype} data")
    if 0 in arr.shape:
        raise DimensionError(f"{what}: the array is empty (shape {arr.shape})")
    return arr


def _range(arr: np.ndarray, kind: str) -> tuple[float, float]:
    if kind == "segmentation":
        return 0.0, 0.0
    if arr.dtype == np.uint8 or arr.dtype == bool:
        return 0.0, 255.0 if arr.dtype == np.uint8 else 1.0
    low, high = arr.min(), arr.max()
    if arr.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        finite = arr[np.isfinite(arr)]  # a copy, only when NaN or infinities are present
        if finite.size == 0:
            return 0.0, 1.0
        low, high = finite.min(), finite.max()
    return float(low), float(high)


def make_layer(arr: Any, kind: str) -> Layer:
    data = to3d(arr, kind)
    low, high = _range(data, kind)
    return Layer("segmentation" if kind == "segmentation" else "image", kind, data, low, high)


def make_app(layers: Sequence[Layer], resolution: Any = None, offset: Any = None,
             cloudpath: str = "IN MEMORY") -> web.Application:
    shape = layers[0].data.shape
    for layer in layers[1:]:
        if layer.data.shape != shape:
            raise DimensionError(f"image and segmentation differ in shape: {shape} vs {layer.data.shape}")
    meta = {
        "shape": [int(n) for n in shape],
        "resolution": [float(v) for v in (np.ones(3) if resolution is None else np.asarray(resolution)[:3])],
        "offset": [int(v) for v in (np.zeros(3) if offset is None else np.asarray(offset)[:3])],
        "cloudpath": str(cloudpath),
        "layers": [layer.describe() for layer in layers],
    }
    by_name = {layer.name: layer for layer in layers}
    static = resources.files("aiovolume.viewer") / "static"

    async def page(request: web.Request) -> web.Response:
        name, kind = STATIC_FILES[request.path]
        return web.Response(body=(static / name).read_bytes(), content_type=kind,
                            headers={"Cache-Control": "no-cache"})

    async def get_meta(request: web.Request) -> web.Response:
        return web.json_response(meta)

    async def get_slice(request: web.Request) -> web.Response:
        layer = by_name.get(request.match_info["layer"])
        axis = request.match_info["axis"]
        if layer is None or axis not in AXES:
            raise web.HTTPNotFound(text="no such layer or axis")
        index = int(request.match_info["index"])
        if not 0 <= index < shape[AXES[axis]]:
            raise web.HTTPNotFound(text=f"slice {index} is outside 0..{shape[AXES[axis]] - 1}")
        plane = await asyncio.to_thread(layer.plane, axis, index)
        return web.Response(body=plane.tobytes(), content_type="application/octet-stream", headers={
            "X-Dtype": plane.dtype.str[1:], "X-Shape": f"{plane.shape[0]},{plane.shape[1]}",
            "Cache-Control": "no-cache"})

    app = web.Application()
    for path in STATIC_FILES:
        app.router.add_get(path, page)
    app.router.add_get("/meta", get_meta)
    app.router.add_get(r"/slice/{layer}/{axis}/{index:\d+}", get_slice)
    return app


async def start_viewer(img: Any, seg: Any = False, *, port: int = DEFAULT_PORT, resolution: Any = None,
                       offset: Any = None, cloudpath: str = "IN MEMORY") -> RunningServer:
    """Start the viewer without blocking and return the running server (``port=0``: any free port).

    ``seg``: ``False`` (``img`` is an image), ``True`` (``img`` is a segmentation) or a
    segmentation array of ``img``'s shape to overlay on it.
    """
    if isinstance(seg, (bool, np.bool_)):
        wanted = [(img, "segmentation" if seg else "image")]
    else:
        wanted = [(img, "image"), (seg, "segmentation")]
    # the contrast range of a 2 GB image takes a while: not on the loop
    layers = [await asyncio.to_thread(make_layer, arr, kind) for arr, kind in wanted]
    app = make_app(layers, resolution, offset, cloudpath)
    return await start_app(app, port)


def _announce(server: RunningServer) -> None:
    print(f"Viewer server listening to {server.url} (Ctrl-C to stop)")


def view(img: Any, seg: bool = False, resolution: Any = None, offset: Any = None, cloudpath: str = "IN MEMORY",
         hostname: str = "localhost", port: int = DEFAULT_PORT, browser: bool = False) -> None:
    """Show a 3-D array (``seg=True``: a segmentation) in a local web viewer at
    http://127.0.0.1:``port`` until Ctrl-C. Arguments as microviewer's ``view``; ``hostname``
    may only name the loopback, and ``browser=True`` opens a browser tab (default off).

    >>> aiovolume.view(np.random.randint(0, 255, (128, 128, 64), np.uint8))   # doctest: +SKIP
    """
    check_host(hostname)
    _run(lambda: start_viewer(img, bool(seg), port=port, resolution=resolution, offset=offset,
                              cloudpath=cloudpath), browser)


def hyperview(img: Any, seg: Any, resolution: Any = None, offset: Any = None, cloudpath: Any = "IN MEMORY",
              hostname: str = "localhost", port: int = DEFAULT_PORT, browser: bool = False) -> None:
    """Show an image with a segmentation of the same shape overlaid, until Ctrl-C (see :func:`view`)."""
    check_host(hostname)
    if isinstance(cloudpath, (list, tuple)):
        cloudpath = " | ".join(str(c) for c in cloudpath)
    _run(lambda: start_viewer(img, seg, port=port, resolution=resolution, offset=offset,
                              cloudpath=cloudpath), browser)


def _run(start: Any, browser: bool) -> None:
    def announce(server: RunningServer) -> None:
        _announce(server)
        if browser:
            import webbrowser

            webbrowser.open(server.url, new=2)

    block_until_interrupted(start, announce)


__all__ = ["view", "hyperview", "start_viewer"]
