"""Viewers: aiovolume's slice viewer vs microviewer (what CloudVolume's ``cutout.viewer()`` runs), and
``aiovolume.serve`` vs ``cloudvolume.server`` (what CloudVolume's ``vol.viewer()`` runs), same run.

Run: ``.venv/bin/python benchmarks/bench_viewer.py [--size 1024 1024 256] [--runs 5]``.
Writes ``benchmarks/results/viewer-<timestamp>.md``.

* **first image**: what a browser must download before it can paint anything: aiovolume, ``/meta``
  plus one z slice; microviewer, the whole volume (``/channel``, one response). Also a y and an x
  slice of ours (strided reads of the array).
* **Neuroglancer file server**: every chunk of a gzip ``file://`` layer fetched by an aiohttp client
  with 8 requests in flight (as a browser does), requests per second. cloudvolume.server answers
  with the decompressed bytes; ours with the stored gzip bytes and ``Content-Encoding: gzip``
  (the client decompresses, as a browser would).

Both servers run in this process on 127.0.0.1 (ours on its own loop thread, theirs in a
ThreadingHTTPServer thread); medians of ``--runs`` rounds after one warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from common import cpu_model, git_commit, log, save_report, versions  # noqa: E402


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def threaded_server(handler_class, *bound):  # type: ignore[no-untyped-def]
    quiet = type("Quiet", (handler_class,), {"log_message": lambda self, *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: quiet(*bound, *a))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


async def get_all(urls: list[str], inflight: int = 8) -> int:
    import aiohttp

    sem = asyncio.Semaphore(inflight)
    total = 0
    async with aiohttp.ClientSession() as s:
        async def one(url: str) -> None:
            nonlocal total
            async with sem, s.get(url) as r:
                assert r.status == 200, (url, r.status)
                total += len(await r.read())
        await asyncio.gather(*(one(u) for u in urls))
    return total


def timed(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, nargs=3, default=[1024, 1024, 256])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from aiovolume import CloudVolume
    from aiovolume.viewer.arrayview import start_viewer
    from aiovolume.viewer.ngserve import start_serve

    shape = tuple(args.size)
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    mb = img.nbytes / 1e6
    lt = LoopThread()
    rows = []

    # -- first image ------------------------------------------------------------------------------
    ours = lt.run(start_viewer(img, port=0))
    import microviewer

    cutouts = [{"img": img, "cloudpath": "bench", "resolution": np.ones(3), "layer_type": "image",
                "offset": np.zeros(3)}]
    theirs, their_url = threaded_server(microviewer.ViewerServerHandler, cutouts)
    z = shape[2] // 2
    t_ours = timed(args.runs, lambda: lt.run(get_all([f"{ours.url}/meta", f"{ours.url}/slice/image/z/{z}"])))
    t_theirs = timed(args.runs, lambda: lt.run(get_all([f"{their_url}/channel"])))
    rows.append(("first image (aiovolume: /meta + 1 z slice; microviewer: whole volume)",
                 f"{t_ours * 1e3:.1f} ms", f"{t_theirs * 1e3:.0f} ms", f"{t_theirs / t_ours:.0f}x"))
    for axis, index in (("y", shape[1] // 2), ("x", shape[0] // 2)):
        t = timed(args.runs, lambda: lt.run(get_all([f"{ours.url}/slice/image/{axis}/{index}"])))
        rows.append((f"one {axis} slice (strided in the array)", f"{t * 1e3:.1f} ms", "-", "-"))
    lt.run(ours.close())
    theirs.shutdown()
    theirs.server_close()

    # -- Neuroglancer file server -------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        layer = img[:512, :512, :128] if min(shape[:2]) >= 512 and shape[2] >= 128 else img
        vol = CloudVolume.from_numpy(np.ascontiguousarray(layer), f"file://{tmp}/layer", chunk_size=(64, 64, 64),
                                     compress="gzip")
        keys = [f"{vol.key}/{x}-{min(x + 64, layer.shape[0])}_{y}-{min(y + 64, layer.shape[1])}_"
                f"{zz}-{min(zz + 64, layer.shape[2])}"
                for x in range(0, layer.shape[0], 64) for y in range(0, layer.shape[1], 64)
                for zz in range(0, layer.shape[2], 64)]
        vol.close()
        ours = lt.run(start_serve(f"{tmp}/layer", port=0))
        import cloudvolume.server

        theirs, their_url = threaded_server(cloudvolume.server.ViewerServerHandler, f"file://{tmp}/layer")
        t_ours = timed(args.runs, lambda: lt.run(get_all([f"{ours.url}/{k}" for k in keys])))
        t_theirs = timed(args.runs, lambda: lt.run(get_all([f"{their_url}/{k}" for k in keys])))
        rows.append((f"serve {len(keys)} gzip chunks of 64^3 uint8, 8 in flight (requests/s)",
                     f"{len(keys) / t_ours:.0f}", f"{len(keys) / t_theirs:.0f}", f"{t_theirs / t_ours:.1f}x"))
        lt.run(ours.close())
        theirs.shutdown()
        theirs.server_close()
    lt.stop()

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "\n".join([
        f"# Viewers — {stamp}",
        "",
        f"aiovolume {git_commit(str(HERE.parent))}; {cpu_model()}; {versions(('aiovolume', 'numpy', 'aiohttp', 'microviewer', 'cloud-volume'))}",
        f"Volume {shape[0]}x{shape[1]}x{shape[2]} uint8 ({mb:.0f} MB); medians of {args.runs} runs after a warm-up.",
        "",
        "| measure | aiovolume | reference (microviewer / cloudvolume.server) | ratio |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ])
    log(f"wrote {save_report(f'viewer-{stamp}', text)}")


if __name__ == "__main__":
    main()
