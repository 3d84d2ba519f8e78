"""Whole-volume read throughput over ``http://``: aiovolume vs cloud-volume vs tensorstore.

Run: ``.venv/bin/python benchmarks/bench_http.py [--full] [--runs N] [--latencies 0,25]``.

Dataset: a 512x512x128 uint8 image layer (``--full``: 1024x1024x128), 64^3 chunks, raw
encoding, ``aiovolume.demo.synthetic_em`` texture, written by cloud-volume with its default
compression (gzip, stored as ``<chunk>.gz``) into a temporary directory under
``benchmarks/data/`` that is deleted at the end.

Server: ``aiovolume.testing.faultserver`` **in a subprocess** (its own GIL and core), root
mode, no faults, ``--latency-ms`` 0 and 25 (added to every response). It serves ``key.gz``
as ``key`` with ``Content-Encoding: gzip``, so every client receives the stored gzip bytes:
aiovolume and cloud-volume gunzip them themselves, tensorstore's HTTP client (curl) does it
transparently, which is why tensorstore can read this .gz-backed layer over HTTP although
it cannot over ``file://``.

Clients (handles opened once per latency, untimed):

* ``aiovolume``           ``aiovolume.CloudVolume(url)`` (default options), ``vol[:, :, :]``
* ``aiovolume-nogzcheck`` diagnostic: the same with ``HttpStore(check_gzip=False)``, to
                          show what the store's gzip CRC check (test-inflating each body) costs
* ``cloud-volume``        ``cloudvolume.CloudVolume(url, parallel=1, cache=False, progress=False)``
* ``tensorstore``         ``neuroglancer_precomputed`` over the ``http`` kvstore, ``cache_pool`` 0

Method: one untimed warm-up call per client, then N timed calls (default 5, at least 3),
round-robin over the clients with the order rotated each round. Every read is compared with
the reference array (a wrong read is reported and not timed). The server's request count per
call is read from ``/__stats__`` (untimed). We report the median, MiB/s of decoded voxels,
and speed ratios (row throughput / cloud-volume's or tensorstore's; >1 = the row is faster).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / "data"
RESULTS_DIR = HERE / "results"
sys.path.insert(0, str(HERE))
from bench_file import CpuMeter, Reference, cpu_model, mem_total_gib  # noqa: E402

CHUNK = (64, 64, 64)
DEFAULT_SHAPE = (512, 512, 128)
FULL_SHAPE = (1024, 1024, 128)
AIO, AIO_NOGZ, CV, TS = "aiovolume", "aiovolume-nogzcheck", "cloud-volume", "tensorstore"
AIOVOLUME_ROWS = (AIO, AIO_NOGZ)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# clients: open (untimed) / read (timed) / close
# --------------------------------------------------------------------------------------
class AioClient:
    def __init__(self, name: str, check_gzip: bool = True) -> None:
        import aiovolume

        self.name = name
        self._mod = aiovolume
        self._check_gzip = check_gzip

    def open(self, url: str) -> Any:
        vol = self._mod.CloudVolume(url)
        if not self._check_gzip:
            vol._vol.store.check_gzip = False  # diagnostic only: the public default stays on
        return vol

    def read(self, h: Any) -> Any:
        return h[:, :, :]

    def close(self, h: Any) -> None:
        h.close()


class CloudVolumeClient:
    name = CV

    def __init__(self) -> None:
        import cloudvolume

        self._cls = cloudvolume.CloudVolume

    def open(self, url: str) -> Any:
        return self._cls(url, parallel=1, cache=False, progress=False)

    def read(self, h: Any) -> Any:
        return h[:, :, :]

    def close(self, h: Any) -> None:
        pass


class TensorStoreClient:
    name = TS

    def __init__(self) -> None:
        import tensorstore

        self._ts = tensorstore

    def open(self, url: str) -> Any:
        ctx = self._ts.Context({"cache_pool": {"total_bytes_limit": 0}})
        base, _, path = url.partition("/ds/")
        spec = {
            "driver": "neuroglancer_precomputed",
            "kvstore": {"driver": "http", "base_url": base, "path": "/ds/" + path + "/"},
        }
        return self._ts.open(spec, context=ctx, read=True).result()

    def read(self, h: Any) -> Any:
        return h.read().result()

    def close(self, h: Any) -> None:
        pass


# --------------------------------------------------------------------------------------
@dataclass
class Row:
    client: str
    times: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    status: str = "ok"
    skip: bool = False

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def server_requests(url: str, reset: bool = False) -> int:
    req = urllib.request.Request(url + "/__stats__", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(req) as r:
        return int(json.load(r)["requests"])


def make_dataset(shape: tuple[int, int, int], workdir: Path) -> tuple[Reference, dict[str, Any]]:
    import cloudvolume

    from aiovolume.demo import synthetic_em

    img = synthetic_em(shape)
    ref = Reference(img, np.asfortranarray(img))
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
        voxel_offset=[0, 0, 0], chunk_size=list(CHUNK), volume_size=list(shape),
    )
    path = workdir / "ds" / "layer"
    vol = cloudvolume.CloudVolume("file://" + str(path), info=info, parallel=1, cache=False, progress=False)
    vol.commit_info()
    t0 = time.perf_counter()
    vol[:, :, :] = img
    write_s = time.perf_counter() - t0
    chunks = [p for p in (path / "4_4_40").iterdir()]
    stored = sum(p.stat().st_size for p in chunks)
    return ref, {"write_s": write_s, "files": len(chunks), "gz": sum(p.suffix == ".gz" for p in chunks), "stored": stored}


def run_latency(latency_ms: float, workdir: Path, clients: list[Any], ref: Reference, runs: int) -> tuple[list[Row], tuple[float, float, float]]:
    from aiovolume.testing.faultserver import FaultConfig, spawn_fault_server

    meter = CpuMeter()
    rows = {c.name: Row(c.name) for c in clients}
    with spawn_fault_server(root=workdir, config=FaultConfig(latency_ms=latency_ms)) as (proc, base):
        url = base + "/ds/layer"
        a = meter.sample()
        handles: dict[str, Any] = {}
        for c in clients:
            try:
                handles[c.name] = c.open(url)
            except Exception as exc:
                rows[c.name].status = f"error: {type(exc).__name__}: {exc}"
                rows[c.name].skip = True
                log(traceback.format_exc())
        for rnd in range(runs + 1):
            timed = rnd > 0
            k = (rnd - 1) % len(clients) if timed else 0
            for c in clients[k:] + clients[:k]:
                row = rows[c.name]
                if row.skip:
                    continue
                gc.collect()
                server_requests(base, reset=True)
                try:
                    t0 = time.perf_counter()
                    out = c.read(handles[c.name])
                    dt = time.perf_counter() - t0
                except Exception as exc:
                    row.status = f"error: {type(exc).__name__}: {exc}"
                    row.skip = True
                    log(traceback.format_exc())
                    continue
                nreq = server_requests(base)
                problem = ref.check(out)
                del out
                if problem is not None:
                    row.status = f"WRONG: {problem}"
                    row.skip = True
                    continue
                if timed:
                    row.times.append(dt)
                    row.requests.append(nreq)
            log(f"  latency {latency_ms:g} ms: {'warm-up' if not timed else f'run {rnd}/{runs}'} done")
        for c in clients:
            if c.name in handles:
                try:
                    c.close(handles[c.name])
                except Exception:
                    pass
        b = meter.sample()
    return [rows[c.name] for c in clients], meter.others(a, b)


# --------------------------------------------------------------------------------------
def versions() -> str:
    out = []
    for p in ("aiovolume", "cloud-volume", "cloud-files", "tensorstore", "aiohttp", "numpy", "imagecodecs"):
        try:
            out.append(f"{p} {importlib.metadata.version(p)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{p} not installed")
    return ", ".join(out)


def report(shape: tuple[int, int, int], runs: int, meta: dict[str, Any], results: list[tuple[float, list[Row], tuple[float, float, float]]], env: dict[str, Any]) -> str:
    nbytes = int(np.prod(shape))
    nchunks = math.prod(math.ceil(s / c) for s, c in zip(shape, CHUNK))
    lines = [
        f"# bench_http: whole-volume reads over http:// ({'full' if shape == FULL_SHAPE else 'default'} size)",
        "",
        f"- date: {env['start']:%Y-%m-%d %H:%M:%S} (wall time {env['wall_s']:.0f} s)",
        f"- machine: {platform.node()}, {cpu_model()}, nproc {os.cpu_count()} (affinity "
        f"{len(os.sched_getaffinity(0))}), {mem_total_gib():.1f} GiB RAM, {platform.platform()}",
        f"- load average before: {env['load_before'][0]:.2f} / {env['load_before'][1]:.2f} / {env['load_before'][2]:.2f}; "
        f"after: {env['load_after'][0]:.2f} / {env['load_after'][1]:.2f} / {env['load_after'][2]:.2f}",
        f"- python {platform.python_version()}; {versions()}",
        f"- volume {shape[0]}x{shape[1]}x{shape[2]} uint8 (synthetic_em), raw encoding, {CHUNK[0]}^3 chunks, "
        f"{nchunks} chunks, {nbytes / 2**20:.0f} MiB decoded; written by cloud-volume with its default gzip: "
        f"{meta['stored'] / 2**20:.1f} MiB in {meta['files']} files ({meta['gz']} .gz, ratio {nbytes / meta['stored']:.2f}x)",
        "- server: aiovolume.testing.faultserver in a subprocess (root mode, no faults), latency added to "
        "every response; `.gz` files served with `Content-Encoding: gzip`",
        f"- {runs} timed reads per client after 1 untimed warm-up, round-robin, order rotated each round; "
        "every read checked against the reference voxels",
        "",
        "MiB/s = decoded voxels / median seconds; ×cv / ×ts = throughput of the row ÷ that of cloud-volume / "
        "tensorstore (>1: the row is faster); req/read = HTTP requests the server saw per read (info "
        "included where the client re-reads it). `aiovolume-nogzcheck` is a diagnostic row (the store's "
        "gzip CRC check off); the default is the `aiovolume` row.",
        "",
        "| latency | client | median s | MiB/s | spread s | req/read | ×cv | ×ts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for latency, rows, _ in results:
        by = {r.client: r for r in rows}
        for r in rows:
            if not r.times:
                lines.append(f"| {latency:g} ms | {r.client} | {r.status} | | | | | |")
                continue
            med = r.median
            assert med is not None
            ratios = []
            for other in (CV, TS):
                o = by.get(other)
                ratios.append(f"{o.median / med:.2f}" if r.client in AIOVOLUME_ROWS and o and o.median else "")
            lines.append(
                f"| {latency:g} ms | {r.client} | {med:.3f} | {nbytes / 2**20 / med:.0f} | "
                f"{min(r.times):.3f}–{max(r.times):.3f} | {statistics.median(r.requests):.0f} | {ratios[0]} | {ratios[1]} |"
            )
    lines += ["", "## Per-run seconds (in run order)", "", "| latency | client | runs |", "|---|---|---|"]
    for latency, rows, _ in results:
        for r in rows:
            lines.append(f"| {latency:g} ms | {r.client} | {' '.join(f'{t:.3f}' for t in r.times) or r.status} |")
    lines += [
        "", "## Run conditions", "",
        "Other processes' CPU = the machine's non-idle CPU minus this benchmark's and its children's "
        "(which include the server process), in cores; steal = vCPU time given to other guests.", "",
        "| latency | wall s | other processes' CPU (cores) | steal (cores) |", "|---|---|---|---|",
    ]
    for latency, _, (wall, others, steal) in results:
        lines.append(f"| {latency:g} ms | {wall:.0f} | {others:.2f} | {steal:.2f} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="1024x1024x128 instead of 512x512x128")
    ap.add_argument("--runs", type=int, default=5, help="timed reads per client and latency (>= 3)")
    ap.add_argument("--latencies", default="0,25", help="server latencies in ms, comma-separated")
    ap.add_argument("--no-diagnostic", action="store_true", help="skip the aiovolume-nogzcheck row")
    args = ap.parse_args()
    runs = max(3, args.runs)
    shape = FULL_SHAPE if args.full else DEFAULT_SHAPE
    latencies = [float(x) for x in args.latencies.split(",") if x.strip()]
    env: dict[str, Any] = {"start": datetime.now(), "load_before": os.getloadavg()}
    t_start = time.perf_counter()

    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_http-", dir=DATA_ROOT))
    try:
        log(f"writing {shape} with cloud-volume into {workdir} ...")
        ref, meta = make_dataset(shape, workdir)
        clients: list[Any] = [AioClient(AIO)]
        if not args.no_diagnostic:
            clients.append(AioClient(AIO_NOGZ, check_gzip=False))
        clients += [CloudVolumeClient(), TensorStoreClient()]
        results = []
        for latency in latencies:
            log(f"latency {latency:g} ms")
            rows, cond = run_latency(latency, workdir, clients, ref, runs)
            results.append((latency, rows, cond))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    env["load_after"] = os.getloadavg()
    env["wall_s"] = time.perf_counter() - t_start
    text = report(shape, runs, meta, results, env)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench_http-{env['start']:%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    print(text)
    log(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
