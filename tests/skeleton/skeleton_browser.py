"""A minimal Neuroglancer harness for the skeleton rendering test: serve a layer directory from
127.0.0.1 (CORS, byte ranges for sharded layers), open a viewer state in Neuroglancer's static
client (bundled in the ``neuroglancer`` PyPI package, served by its own 127.0.0.1 server) in
headless Chromium, and screenshot it.
(The mesh branch builds a shared ``tests/browser_helpers.py``; this is the skeleton's own.)"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def neuroglancer_client() -> Path | None:
    try:
        import neuroglancer
    except ImportError:
        return None
    client = Path(neuroglancer.__file__).parent / "static" / "client"
    return client if (client / "index.html").exists() else None


class _Handler(http.server.SimpleHTTPRequestHandler):
    roots: dict[str, Path] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def translate_path(self, path: str) -> str:
        parts = urllib.parse.urlsplit(path).path.lstrip("/").split("/", 1)
        root = self.roots.get(parts[0])
        if root is None:
            return "/nonexistent"
        return str(root / urllib.parse.unquote(parts[1] if len(parts) > 1 else ""))

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Expose-Headers", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not rng or not os.path.isfile(path):
            return super().do_GET()
        data = Path(path).read_bytes()
        start_s, _, stop_s = rng.replace("bytes=", "").partition("-")
        start = int(start_s) if start_s else len(data) - int(stop_s)
        stop = min(int(stop_s) + 1, len(data)) if (stop_s and start_s) else len(data)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        self.wfile.write(data[start:stop])


@contextlib.contextmanager
def serve(roots: dict[str, Path]) -> Iterator[str]:
    """``http://127.0.0.1:<port>``, serving ``/<name>/...`` from each root."""
    handler = type("Handler", (_Handler,), {"roots": dict(roots)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def screenshot(state: dict, out: Path, settle_ms: int = 5000) -> bytes:
    """Open ``state`` in Neuroglancer (its Python package serves the client on 127.0.0.1: the
    bundled client needs that server) in headless Chromium; PNG bytes, also saved to ``out``."""
    import neuroglancer
    import neuroglancer.server
    from playwright.sync_api import sync_playwright

    neuroglancer.set_server_bind_address("127.0.0.1")
    viewer = neuroglancer.Viewer()
    viewer.set_state(neuroglancer.ViewerState(state))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 800, "height": 800})
                page.goto(viewer.get_viewer_url(), wait_until="load")
                page.wait_for_timeout(settle_ms)
                return page.screenshot(path=str(out))
            finally:
                browser.close()
    finally:
        neuroglancer.server.stop()
