"""The skeleton rendering test's Neuroglancer harness: layers are served by
``tests/browser_helpers.serve`` (127.0.0.1, CORS, byte ranges); this opens a viewer state in
Neuroglancer's static client (bundled in the ``neuroglancer`` PyPI package, served by its own
127.0.0.1 server) in headless Chromium and screenshots it."""

from __future__ import annotations

from pathlib import Path

from browser_helpers import serve  # noqa: F401  (re-exported for the test)

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
