"""Whole-volume read throughput over S3 (moto's server): aiovolume vs cloud-volume vs tensorstore,
and aiovolume's client CPU per S3 request (signed aiohttp fast path vs aiobotocore).

Run: ``.venv/bin/python benchmarks/bench_s3.py [--runs N] [--requests N]``.

Everything runs on 127.0.0.1: ``python -m moto.server`` as a subprocess (one bucket), and for
the CPU section the fault server (``aiovolume.testing.faultserver``, fault rate 0) as a
subprocess, once as a keep-alive proxy in front of moto and once in root mode serving the
same objects from a directory with MD5 ETags (the fastest origin available, so the client's
own cost dominates).

Throughput. Dataset: 512x512x128 uint8 (``datasets.em_image``), 64^3 chunks (128),
written by cloud-volume to ``s3://bench/src_gzip`` (its default gzip, ``Content-Encoding:
gzip``) and ``s3://bench/src_raw``. Clients, each opened once per layer (untimed):

* ``aiovolume``            blocking facade ``aiovolume.CloudVolume(url)[:, :, :]``
* ``aiovolume-async``      ``await Volume.download(bbox)`` on a loop owned by the benchmark
* ``aiovolume-botocore``   async, with the S3 fast path off (every request through aiobotocore)
* ``cloud-volume``         ``cloudvolume.CloudVolume(url, parallel=1, cache=False, lru_bytes=0)``
* ``tensorstore``          ``neuroglancer_precomputed`` on the ``s3`` kvstore (``endpoint`` =
                           moto, credentials from the environment), ``cache_pool`` 0

One untimed warm-up per client, then N timed reads round-robin, the order rotated each round;
every read is compared with the reference voxels (a wrong read is reported, never timed).
moto answers ~300-460 requests/s and closes the connection after every response, so these
rates measure moto as much as the clients: compare within one run only.

CPU per request: ``--requests`` GETs of 4 KiB objects at 64 concurrent after a warm-up, in this
process; CPU = ``time.process_time()`` of the client process only (the servers are separate
processes). Includes signing, the HTTP exchange, the retry wrapper and the MD5 check.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from clients import AioAsync as _AioAsync, AioFacade, CloudVolumeClient, TensorStoreClient as _TSClient  # noqa: E402
from common import Row, check_array as check, free_port, log, save_report, versions as _versions  # noqa: E402

SHAPE = (512, 512, 128)
CHUNK = (64, 64, 64)
FULL = ((0, 0, 0), SHAPE)
BUCKET = "bench"
CV, TS = "cloud-volume", "tensorstore"


# -- servers ----------------------------------------------------------------------------------------
class Moto:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto did not start")
                time.sleep(0.1)
        req = urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="PUT")
        urllib.request.urlopen(req, timeout=10).close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# -- clients (benchmarks/clients.py, plus the S3 specifics) -------------------------------------------
class AioAsync(_AioAsync):
    def __init__(self, fast_path: bool = True) -> None:
        super().__init__()
        self.name = "aiovolume-async" if fast_path else "aiovolume-botocore"
        self.fast_path = fast_path

    def open(self, url: str, write: bool = False, compress: bool | None = None) -> Any:
        import aiovolume.volume as volmod

        if self.fast_path:
            return super().open(url)
        original = volmod.open_store

        def slow_store(*args: Any, **kw: Any) -> Any:  # benchmark-only: the store is lazy,
            store = original(*args, **kw)  # so switching before its first request is enough
            store.fast_path = False
            return store

        volmod.open_store = slow_store
        try:
            return super().open(url)
        finally:
            volmod.open_store = original

    def close_loop(self) -> None:
        self._loop.close()


class TensorStoreClient(_TSClient):
    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint

    def open(self, url: str, write: bool = False, compress: bool | None = None) -> Any:
        bucket, _, path = url.removeprefix("s3://").partition("/")
        spec = {
            "driver": "neuroglancer_precomputed",
            "kvstore": {"driver": "s3", "bucket": bucket, "path": path + "/", "endpoint": self.endpoint,
                        "aws_region": "us-east-1", "aws_credentials": {"type": "environment"}},
        }
        ctx = self._ts.Context({"cache_pool": {"total_bytes_limit": 0}})
        return self._ts.open(spec, read=True, context=ctx).result()


# -- throughput -------------------------------------------------------------------------------------
def write_layers(ref: np.ndarray) -> dict[str, tuple[str, int]]:
    import cloudvolume

    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
        voxel_offset=[0, 0, 0], chunk_size=list(CHUNK), volume_size=list(SHAPE))
    out = {}
    for name, compress in (("gzip", None), ("raw", False)):
        url = f"s3://{BUCKET}/src_{name}"
        vol = cloudvolume.CloudVolume(url, info=info, compress=compress, parallel=1, progress=False, cache=False)
        vol.commit_info()
        vol[:, :, :] = ref
        out[name] = (url, stored_bytes(f"src_{name}/"))
    return out


def stored_bytes(prefix: str) -> int:
    import boto3

    s3 = boto3.client("s3")
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        total += sum(o["Size"] for o in page.get("Contents", []) if not o["Key"].endswith("/info"))
    return total


def scenario(url: str, clients: list[Any], ref: np.ndarray, runs: int) -> list[Row]:
    rows = {c.name: Row(c.name) for c in clients}
    handles: dict[str, Any] = {}
    for c in clients:
        try:
            handles[c.name] = c.open(url)
        except Exception as exc:
            rows[c.name].status, rows[c.name].skip = f"n/a (open failed: {type(exc).__name__}: {exc})", True
    for rnd in range(runs + 1):
        timed = rnd > 0
        k = (rnd - 1) % len(clients) if timed else 0
        for c in clients[k:] + clients[:k]:
            row = rows[c.name]
            if row.skip:
                continue
            gc.collect()
            try:
                c0, t0 = time.process_time(), time.perf_counter()
                out = c.read(handles[c.name], FULL)
                dt, dcpu = time.perf_counter() - t0, time.process_time() - c0
            except Exception as exc:
                row.status, row.skip = f"error: {type(exc).__name__}: {str(exc)[:200]}", True
                log(traceback.format_exc())
                continue
            problem = check(out, ref)
            del out
            if problem is not None:
                row.status = f"WRONG: {problem}"
                row.skip = not timed
            elif timed:
                row.times.append(dt)
                row.cpu_s.append(dcpu)
        log(f"  {url}: {'warm-up' if not timed else f'run {rnd}/{runs}'} done")
    for c in clients:
        if c.name in handles:
            try:
                c.close(handles[c.name])
            except Exception:
                pass
    return [rows[c.name] for c in clients]


# -- CPU per request ------------------------------------------------------------------------------
async def cpu_per_get(endpoint: str, fast_path: bool, n: int, conc: int = 64) -> tuple[float, float]:
    """(ms of client CPU per GET, GET/s) for ``n`` verified GETs of 4 KiB objects."""
    from aiovolume.storage.base import bounded_map
    from aiovolume.storage.s3 import S3Store

    async with S3Store(BUCKET, "cpu", endpoint=endpoint, fast_path=fast_path) as store:
        keys = [f"k{i % 100:03d}" for i in range(n)]
        await bounded_map(store.get, keys[: min(n, 300)], conc)  # warm-up: connections, credentials
        c0, t0 = time.process_time(), time.perf_counter()
        blobs = await bounded_map(store.get, keys, conc)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    assert all(b is not None and len(b.data) == 4096 for b in blobs)
    return cpu / n * 1e3, n / wall


async def cpu_raw_aiohttp(endpoint: str, n: int, conc: int = 64) -> tuple[float, float]:
    """Baseline: unsigned, unverified aiohttp GETs of the same objects (root-mode server)."""
    import aiohttp

    from aiovolume.storage.base import bounded_map

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc), auto_decompress=False) as http:
        async def get(key: str) -> bytes:
            async with http.get(f"{endpoint}/{BUCKET}/cpu/{key}") as r:
                return await r.read()

        keys = [f"k{i % 100:03d}" for i in range(n)]
        await bounded_map(get, keys[:300], conc)
        c0, t0 = time.process_time(), time.perf_counter()
        await bounded_map(get, keys, conc)
        return (time.process_time() - c0) / n * 1e3, n / (time.perf_counter() - t0)


def cpu_section(moto: Moto, n: int, repeats: int) -> list[tuple[str, str, float, float, float]]:
    """Rows (origin, client, median ms CPU/GET, min, GET/s)."""
    from aiovolume.storage.base import PutItem
    from aiovolume.storage.s3 import S3Store
    from aiovolume.testing.faultserver import FaultConfig, spawn_fault_server

    payloads = [os.urandom(4096) for _ in range(100)]

    async def upload() -> None:
        async with S3Store(BUCKET, "cpu", endpoint=moto.endpoint) as store:
            await store.put_many([PutItem(f"k{i:03d}", d) for i, d in enumerate(payloads)])

    asyncio.run(upload())
    root = Path(tempfile.mkdtemp(prefix="bench_s3_root-"))
    (root / BUCKET / "cpu").mkdir(parents=True)
    for i, d in enumerate(payloads):
        (root / BUCKET / "cpu" / f"k{i:03d}").write_bytes(d)
    out = []
    try:
        with spawn_fault_server(upstream=moto.endpoint) as (_, proxy_url), \
                spawn_fault_server(root=root, config=FaultConfig(etag_md5=True)) as (_, root_url):
            origins = [("moto (closes every connection)", moto.endpoint),
                       ("fault proxy → moto (keep-alive)", proxy_url),
                       ("fault server, root mode (MD5 ETags)", root_url)]
            for origin, ep in origins:
                for fast in (True, False):
                    runs = [asyncio.run(cpu_per_get(ep, fast, n)) for _ in range(repeats)]
                    ms = [r[0] for r in runs]
                    rate = statistics.median(r[1] for r in runs)
                    out.append((origin, "fast path (SigV4 + aiohttp)" if fast else "aiobotocore",
                                statistics.median(ms), min(ms), rate))
                    log(f"  cpu: {origin} fast={fast}: {statistics.median(ms):.3f} ms/GET, {rate:.0f} GET/s")
            runs = [asyncio.run(cpu_raw_aiohttp(root_url, n)) for _ in range(repeats)]
            out.append(("fault server, root mode (MD5 ETags)", "raw aiohttp GET (baseline: no signing, no checks)",
                        statistics.median(r[0] for r in runs), min(r[0] for r in runs),
                        statistics.median(r[1] for r in runs)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


# -- report -------------------------------------------------------------------------------------------
def versions() -> str:
    v = _versions(("aiovolume", "aiobotocore", "botocore", "aiohttp", "moto", "cloud-volume", "cloud-files",
                   "tensorstore", "numpy"))
    return ", ".join(f"{k} {val}" for k, val in v.items() if val != "not installed")


def table(results: list[tuple[str, list[Row], int]], nbytes: int, nchunks: int) -> list[str]:
    lines = ["| layer | client | median s | MiB/s | chunks/s | spread s | ×cv | ×ts | main-process CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for layer, rows, stored in results:
        by = {r.client: r for r in rows}
        for r in rows:
            if not r.times:
                lines.append(f"| {layer} | {r.client} | {r.status} | | | | | | |")
                continue
            med = statistics.median(r.times)
            ratios = []
            for other in (CV, TS):
                o = by.get(other)
                ok = o is not None and o.times and r.client not in (CV, TS)
                ratios.append(f"{statistics.median(o.times) / med:.2f}" if ok else "")  # type: ignore[union-attr]
            status = "" if r.status == "ok" else f" ({r.status})"
            lines.append(
                f"| {layer} | {r.client}{status} | {med:.3f} | {nbytes / med / 2**20:.0f} | {nchunks / med:.0f} | "
                f"{min(r.times):.3f}–{max(r.times):.3f} | {ratios[0]} | {ratios[1]} | {statistics.median(r.cpu_s):.3f} |"
            )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed reads per client and layer (>= 3)")
    ap.add_argument("--requests", type=int, default=2000, help="GETs per CPU measurement")
    ap.add_argument("--cpu-repeats", type=int, default=3)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    runs = max(3, args.runs)

    workdir = Path(tempfile.mkdtemp(prefix="bench_s3-"))
    (workdir / "cloudvolume" / "secrets").mkdir(parents=True)
    moto = Moto()
    # The benchmark's own process environment (the library itself never edits os.environ).
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
        "CLOUD_VOLUME_DIR": str(workdir / "cloudvolume"), "CLOUD_FILES_DIR": str(workdir / "cloudfiles"),
    })
    started = time.time()
    load_before = os.getloadavg()
    lines: list[str] = []
    try:
        results = []
        nbytes, nchunks = int(np.prod(SHAPE)), int(np.prod([s // c for s, c in zip(SHAPE, CHUNK)]))
        if not args.skip_throughput:
            from datasets import em_image

            ref = em_image(SHAPE)
            log("writing the layers with cloud-volume ...")
            layers = write_layers(ref)
            slow = AioAsync(fast_path=False)
            clients = [AioFacade(), AioAsync(), slow, CloudVolumeClient(), TensorStoreClient(moto.endpoint)]
            for name in ("gzip", "raw"):
                url, stored = layers[name]
                results.append((f"{name} ({stored / 2**20:.1f} MiB stored)", scenario(url, clients, ref, runs), stored))
            for c in clients:
                if isinstance(c, AioAsync):
                    c.close_loop()
        cpu_rows = [] if args.skip_cpu else cpu_section(moto, args.requests, args.cpu_repeats)
    finally:
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    stamp = datetime.now()
    lines += [
        "# bench_s3: whole-volume reads over S3 (moto) and client CPU per S3 request", "",
        f"- date: {stamp:%Y-%m-%d %H:%M:%S} (wall time {time.time() - started:.0f} s); nproc {os.cpu_count()}; "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}",
        f"- python {sys.version.split()[0]}; {versions()}",
        f"- volume {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} uint8 (datasets.em_image), {CHUNK[0]}^3 chunks ({nchunks}), "
        f"{nbytes / 2**20:.0f} MiB decoded; layers written by cloud-volume to moto; {runs} timed reads per client "
        "after 1 warm-up, round-robin, order rotated each round; every read verified against the reference",
        "- moto serves ~300-460 requests/s and closes the connection after every response: the rates below "
        "are bounded by moto, not by the clients (see the CPU section for the client's own cost)", "",
    ]
    if results:
        lines += ["## Whole-volume read", "",
                  "median = median seconds; MiB/s = decoded voxels / median; ×cv / ×ts = throughput of the row ÷ "
                  "that of cloud-volume / tensorstore (>1: the row is faster); main-process CPU = median "
                  "process_time of this process during one read (aiovolume decodes in worker processes, "
                  "cloud-volume and tensorstore in this one, so it is not comparable across clients).", ""]
        lines += table(results, nbytes, nchunks)
        lines += ["", "Per-run seconds:", "", "| layer | client | runs |", "|---|---|---|"]
        for layer, rows, _ in results:
            for r in rows:
                lines.append(f"| {layer} | {r.client} | {' '.join(f'{t:.3f}' for t in r.times) or r.status} |")
        lines.append("")
    if cpu_rows:
        lines += ["## Client CPU per S3 GET", "",
                  f"{args.requests} GETs of 4 KiB at 64 concurrent, after a warm-up; median (min) of "
                  f"{args.cpu_repeats} runs; CPU = process_time of the client process only; includes SigV4 "
                  "signing, the request, the retry wrapper and the MD5-vs-ETag check.", "",
                  "| origin | client path | ms CPU / GET | min | GET/s |", "|---|---|---|---|---|"]
        for origin, client, med, lo, rate in cpu_rows:
            lines.append(f"| {origin} | {client} | {med:.3f} | {lo:.3f} | {rate:.0f} |")
        lines.append("")
    path = save_report(f"bench_s3-{stamp:%Y%m%d-%H%M%S}", "\n".join(lines))
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
