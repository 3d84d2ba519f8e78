"""Neuroglancer rendering checks: our layers served from 127.0.0.1, shown by the static
Neuroglancer client of the ``neuroglancer`` Python package (its server, bound to 127.0.0.1, serves
the client and hands it the viewer state), screenshotted in headless Chromium (Debian's
``/usr/bin/chromium`` driven by ``playwright``).

The package's client is built for its Python server: opened as a plain file with a ``#!`` state it
stays black, so the viewer is set up through ``neuroglancer.Viewer``.

Usage (a plain, synchronous test)::

    require_chromium()                                   # skips when /usr/bin/chromium is absent
    with serve({"data": tmp_path}) as base:
        def configure(s):                                # s: neuroglancer.ViewerState
            s.layers["seg"] = neuroglancer.SegmentationLayer(source=f"precomputed://{base}/data/seg", segments=[7])
        with viewer_url(configure) as url:
            image = screenshot(url, ARTIFACTS / "mesh.png")   # (h, w, 3) uint8
    assert not_blank(image)

``.gz`` files are served as their plain name with ``Content-Encoding: gzip`` (CloudVolume's
local convention); Range requests are honoured; every response carries
``Access-Control-Allow-Origin: *``.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL without a GPU: ANGLE on SwiftShader (software), which headless Chromium refuses otherwise
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


def require_chromium() -> str:
    """The Chromium path; skips the test when Chromium, playwright or neuroglancer is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); .ci/run installs it")
    pytest.importorskip("playwright.sync_api", reason="the playwright package drives Chromium")
    pytest.importorskip("neuroglancer", reason="the neuroglancer package bundles the static client")
    return CHROMIUM


class _Handler(http.server.SimpleHTTPRequestHandler):
    roots: Mapping[str, Path] = {}

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Expose-Headers", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802  (CORS preflight of ranged requests)
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        prefix, _, rest = path.lstrip("/").partition("/")
        root = self.roots.get(prefix)
        if root is None:
            self.send_error(404)
            return
        target = (root / rest).resolve()
        if not str(target).startswith(str(root.resolve())):
            self.send_error(403)
            return
        encoding = None
        if not target.is_file() and Path(str(target) + ".gz").is_file():
            target, encoding = Path(str(target) + ".gz"), "gzip"
        if not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        start, stop = 0, len(data)
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes=") and encoding is None:
            lo, _, hi = ranged[6:].partition("-")
            if lo:
                start, stop = int(lo), (min(int(hi) + 1, len(data)) if hi else len(data))
            else:  # a suffix range: the last ``hi`` bytes (shard indexes are read so)
                start, stop = max(0, len(data) - int(hi)), len(data)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        else:
            self.send_response(200)
        kind = self.guess_type(str(target)) if encoding is None else "application/octet-stream"
        self.send_header("Content-Type", kind)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        self.wfile.write(data[start:stop])


@contextlib.contextmanager
def serve(roots: Mapping[str, Path | str]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``/<prefix>/...`` from each root; yields its base URL."""
    handler = type("Handler", (_Handler,), {"roots": {k: Path(v) for k, v in roots.items()}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def viewer_url(configure: Callable[[Any], None]) -> Iterator[str]:
    """A Neuroglancer viewer (the package's server on 127.0.0.1, UI controls, axis lines and the
    default bounding-box annotations hidden) whose state ``configure(state)`` sets; yields its URL."""
    import neuroglancer

    neuroglancer.set_server_bind_address("127.0.0.1")
    viewer = neuroglancer.Viewer()
    with viewer.txn() as state:
        state.show_axis_lines = False
        state.show_default_annotations = False
        configure(state)
    with viewer.config_state.txn() as config:
        config.show_ui_controls = False
        config.show_panel_borders = False
    try:
        yield viewer.get_viewer_url()
    finally:
        neuroglancer.stop()


def screenshot(url: str, path: Path, size: tuple[int, int] = (800, 600), settle_s: float = 4.0,
               timeout_s: float = 60.0) -> np.ndarray:
    """Open ``url`` in headless Chromium, wait until the page is quiet, save a PNG at ``path``
    and return it as an ``(h, w, 3)`` uint8 array."""
    from playwright.sync_api import sync_playwright

    path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(url, wait_until="networkidle", timeout=timeout_s * 1000)
            deadline = time.monotonic() + timeout_s
            time.sleep(settle_s)
            while time.monotonic() < deadline:  # until two screenshots in a row agree
                first = page.screenshot()
                time.sleep(1.0)
                if page.screenshot() == first:
                    break
            page.screenshot(path=str(path))
        finally:
            browser.close()
    import imagecodecs

    return np.asarray(imagecodecs.png_decode(path.read_bytes()))[..., :3]


def not_blank(image: np.ndarray, min_pixels: int = 500) -> bool:
    """Whether more than ``min_pixels`` pixels differ from the most common (background) colour."""
    flat = image.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    return int(np.any(flat != background, axis=1).sum()) > min_pixels


def colour_mask(image: np.ndarray, rgb: tuple[int, int, int], dominance: int = 40) -> np.ndarray:
    """Pixels whose hue is that of ``rgb`` (shading varies brightness): for a pure primary,
    its channel exceeds both others by ``dominance``."""
    img = image.astype(np.int32)
    main = int(np.argmax(rgb))
    others = [c for c in range(3) if c != main]
    return (img[..., main] - img[..., others[0]] > dominance) & (img[..., main] - img[..., others[1]] > dominance)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    """``(row, column)`` centre of the True pixels, as fractions of the image height and width."""
    rows, cols = np.nonzero(mask)
    return float(rows.mean() / mask.shape[0]), float(cols.mean() / mask.shape[1])


__all__ = ["ARTIFACTS", "CHROMIUM", "require_chromium", "serve", "viewer_url", "screenshot",
           "not_blank", "colour_mask", "centroid"]
