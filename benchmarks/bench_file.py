"""Whole-volume read/write throughput on ``file://``: aiovolume vs cloud-volume vs tensorstore.

Run: ``.venv/bin/python benchmarks/bench_file.py [--runs N] [--quick]`` (``make bench``).

Dataset: a 1024x1024x128 uint8 image layer (``--quick``: 512x512x128), 64^3 chunks,
``aiovolume.demo.synthetic_em`` texture, written by cloud-volume twice (gzip = the default
``compress=None``, stored as ``<chunk>.gz``; raw = ``compress=False``) into a temporary
directory under ``benchmarks/data/`` that is deleted at the end.

Scenarios: read-gzip, read-raw, write-gzip, write-raw (whole volume). Clients:

* ``aiovolume``          blocking facade ``aiovolume.CloudVolume(path)``, ``vol[:, :, :]``
* ``aiovolume-async``    ``await Volume.download(bbox)`` / ``await Volume.upload(bbox, img)``
* ``aiovolume-process``  facade with ``Options(codec_executor="process")`` (forkserver pool,
                         shared-memory output)
* ``aiovolume-thread``   facade with ``Options(codec_executor="thread")``
* ``aiovolume-inline``   facade with ``Options(codec_executor="inline")`` (codec in the loop)
* ``cloud-volume``       ``cloudvolume.CloudVolume(path, parallel=1, cache=False, lru_bytes=0,
                         progress=False)``
* ``tensorstore``        ``neuroglancer_precomputed`` on a ``file`` kvstore, ``cache_pool`` 0

Method: handles are opened untimed (reads: once per client and scenario; writes: on a fresh
layer holding only the reference ``info``, for every call). One untimed warm-up call per
client and scenario, then N timed calls, round-robin over the clients with the order rotated
each round. Every read is compared with the reference array; a wrong read is reported as
WRONG and its time is dropped. Every write is read back with aiovolume (untimed) and
compared; the written layer is then deleted and ``os.sync()`` flushes dirty pages so that
one client's writeback does not land in the next client's timing. We report the median, MiB/s of decoded voxels,
chunks/s, the min-max spread and speed ratios (throughput of the row / throughput of
cloud-volume or tensorstore, i.e. >1 means the row is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / "data"
RESULTS_DIR = HERE / "results"

CHUNK = (64, 64, 64)
FULL_SHAPE = (1024, 1024, 128)
QUICK_SHAPE = (512, 512, 128)
AIOVOLUME_ROWS = ("aiovolume", "aiovolume-async", "aiovolume-process", "aiovolume-thread", "aiovolume-inline")
CV = "cloud-volume"
TS = "tensorstore"
CLIENT_ORDER = (*AIOVOLUME_ROWS, CV, TS)
SCENARIOS = (("read", "gzip"), ("read", "raw"), ("write", "gzip"), ("write", "raw"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# clients: each has open_read / read / open_write / write / close; only read/write are timed
# --------------------------------------------------------------------------------------
class Client:
    name: str

    def open_read(self, path: str) -> Any: ...
    def read(self, h: Any) -> np.ndarray: ...
    def open_write(self, path: str, compress: bool | None) -> Any: ...
    def write(self, h: Any, img: np.ndarray) -> None: ...
    def close(self, h: Any) -> None: ...


class AioFacade(Client):
    def __init__(self, name: str, options: Any = None) -> None:
        import aiovolume

        self.name = name
        self._cls = aiovolume.CloudVolume
        self._options = options

    def _open(self, path: str, **kw: Any) -> Any:
        if self._options is not None:
            kw["options"] = self._options
        return self._cls("file://" + path, **kw)

    def open_read(self, path: str) -> Any:
        return self._open(path)

    def read(self, h: Any) -> np.ndarray:
        return h[:, :, :]

    def open_write(self, path: str, compress: bool | None) -> Any:
        return self._open(path, compress=compress)

    def write(self, h: Any, img: np.ndarray) -> None:
        h[:, :, :] = img

    def close(self, h: Any) -> None:
        h.close()


class AioAsync(Client):
    """The async API, driven by an event loop owned by the benchmark (main thread)."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop, shape: tuple[int, int, int]) -> None:
        import aiovolume

        self.name = name
        self._mod = aiovolume
        self._loop = loop
        self._bbox = aiovolume.Bbox((0, 0, 0), shape)

    def open_read(self, path: str) -> Any:
        return self._loop.run_until_complete(self._mod.Volume.open("file://" + path))

    def read(self, h: Any) -> np.ndarray:
        return self._loop.run_until_complete(h.download(self._bbox))

    def open_write(self, path: str, compress: bool | None) -> Any:
        return self._loop.run_until_complete(self._mod.Volume.open("file://" + path, compress=compress))

    def write(self, h: Any, img: np.ndarray) -> None:
        self._loop.run_until_complete(h.upload(self._bbox, img))

    def close(self, h: Any) -> None:
        self._loop.run_until_complete(h.close())


class CloudVolumeClient(Client):
    name = CV

    def __init__(self) -> None:
        import cloudvolume

        self._cls = cloudvolume.CloudVolume

    def _open(self, path: str, **kw: Any) -> Any:
        return self._cls("file://" + path, parallel=1, cache=False, lru_bytes=0, progress=False, **kw)

    def open_read(self, path: str) -> Any:
        return self._open(path)

    def read(self, h: Any) -> np.ndarray:
        return h[:, :, :]

    def open_write(self, path: str, compress: bool | None) -> Any:
        return self._open(path, compress=compress)

    def write(self, h: Any, img: np.ndarray) -> None:
        h[:, :, :] = img

    def close(self, h: Any) -> None:
        pass


class TensorStoreClient(Client):
    name = TS

    def __init__(self) -> None:
        import tensorstore

        self._ts = tensorstore

    def _open(self, path: str, **kw: Any) -> Any:
        ctx = self._ts.Context({"cache_pool": {"total_bytes_limit": 0}})
        spec = {"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": path + "/"}}
        return self._ts.open(spec, context=ctx, **kw).result()

    def open_read(self, path: str) -> Any:
        return self._open(path, read=True)

    def read(self, h: Any) -> np.ndarray:
        return h.read().result()

    def open_write(self, path: str, compress: bool | None) -> Any:
        # No gzip for unsharded raw Precomputed in tensorstore: it always writes plain chunks.
        return self._open(path, write=True)

    def write(self, h: Any, img: np.ndarray) -> None:
        h.write(img[..., np.newaxis]).result()  # waits for the commit

    def close(self, h: Any) -> None:
        pass


# --------------------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------------------
@dataclass
class Row:
    client: str
    times: list[float] = field(default_factory=list)
    status: str = "ok"           # "ok", "WRONG: ...", "n/a ...", "error: ..."
    note: str = ""               # e.g. "raw only"
    wrong_runs: int = 0
    stored_bytes: list[int] = field(default_factory=list)
    stored_files: str = ""
    skip: bool = False           # no further calls (warm-up failed)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


@dataclass
class Reference:
    img_c: np.ndarray            # (x, y, z) C order, what every writer is given
    img_f: np.ndarray            # Fortran copy, so comparisons with (x,y,z,c) F-order reads are fast

    def check(self, out: Any) -> str | None:
        """None if ``out`` equals the reference, else a short description of what is wrong."""
        arr = np.asarray(out)
        shape = self.img_c.shape
        if arr.shape == (*shape, 1):
            arr = arr[..., 0]
        if arr.shape != shape:
            return f"shape {arr.shape}, expected {(*shape, 1)}"
        if arr.dtype != self.img_c.dtype:
            return f"dtype {arr.dtype}"
        ref = self.img_f if (arr.flags.f_contiguous and not arr.flags.c_contiguous) else self.img_c
        if np.array_equal(arr, ref):
            return None
        if not arr.any():
            return "zeros"
        n = int(np.count_nonzero(arr != ref))
        return f"{n} of {arr.size} voxels differ"


def dir_stats(path: str) -> tuple[int, int, int]:
    """(bytes, files, .gz files) of the chunk files under ``path`` (the info file excluded)."""
    total = files = gz = 0
    for root, _, names in os.walk(path):
        for n in names:
            if root == path and n in ("info", "provenance"):
                continue
            total += os.path.getsize(os.path.join(root, n))
            files += 1
            gz += n.endswith(".gz")
    return total, files, gz


def _descendants() -> list[int]:
    """Live descendant pids of this process (aiovolume's forkserver and decode workers)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, stack = [], list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def descendants_hwm_mib() -> float:
    """Sum of VmHWM (peak RSS) of the live descendant processes."""
    total_kib = 0
    for pid in _descendants():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024


class CpuMeter:
    """How much CPU the rest of the machine used while we ran: a noise indicator.

    busy = all non-idle CPU time of the machine (/proc/stat); ours = this process plus its
    descendants (live ones from /proc, reaped ones from os.times); steal = time the hypervisor
    gave our vCPUs to someone else.
    """

    TICK = os.sysconf("SC_CLK_TCK")

    def sample(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        busy = (user + nice + system + irq + softirq) / self.TICK
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        for pid in _descendants():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ours += (int(fields[11]) + int(fields[12])) / self.TICK
            except (OSError, ValueError, IndexError):
                pass
        return time.perf_counter(), busy, ours, steal / self.TICK

    @staticmethod
    def others(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> tuple[float, float, float]:
        """(wall s, other processes' average cores, steal average cores) between two samples."""
        wall = max(b[0] - a[0], 1e-9)
        return wall, max(0.0, (b[1] - a[1]) - (b[2] - a[2])) / wall, (b[3] - a[3]) / wall


def self_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --------------------------------------------------------------------------------------
# the runs
# --------------------------------------------------------------------------------------
class Bench:
    def __init__(self, shape: tuple[int, int, int], runs: int, workdir: Path) -> None:
        self.shape = shape
        self.runs = runs
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self._layer_counter = 0

    # -- dataset ----------------------------------------------------------------------
    def make_dataset(self) -> dict[str, Any]:
        import cloudvolume
        from aiovolume.demo import synthetic_em

        t0 = time.perf_counter()
        img = synthetic_em(self.shape)
        self.ref = Reference(img, np.asfortranarray(img))
        t_gen = time.perf_counter() - t0
        info = cloudvolume.CloudVolume.create_new_info(
            num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
            resolution=[4, 4, 40], voxel_offset=[0, 0, 0], chunk_size=list(CHUNK),
            volume_size=list(self.shape),
        )
        self.layers: dict[str, str] = {}
        meta: dict[str, Any] = {"generate_s": t_gen}
        for comp_name, compress in (("gzip", None), ("raw", False)):
            path = str(self.workdir / f"src_{comp_name}")
            vol = cloudvolume.CloudVolume("file://" + path, info=info, compress=compress,
                                          parallel=1, cache=False, lru_bytes=0, progress=False)
            vol.commit_info()
            t0 = time.perf_counter()
            vol[:, :, :] = img
            meta[f"{comp_name}_write_s"] = time.perf_counter() - t0
            nbytes, nfiles, ngz = dir_stats(path)
            meta[comp_name] = (nbytes, nfiles, ngz)
            self.layers[comp_name] = path
        with open(os.path.join(self.layers["raw"], "info")) as f:
            self.info_json = json.load(f)
        return meta

    def fresh_layer(self) -> str:
        """A new empty layer with the reference info (same info for every writer)."""
        self._layer_counter += 1
        path = str(self.workdir / f"w{self._layer_counter:04d}")
        os.makedirs(path)
        with open(os.path.join(path, "info"), "w") as f:
            json.dump(self.info_json, f)
        return path

    def readback(self, path: str) -> str | None:
        from aiovolume import Bbox, Volume

        async def go() -> Any:
            async with Volume("file://" + path) as vol:
                return await vol.download(Bbox((0, 0, 0), self.shape))

        try:
            out = self.loop.run_until_complete(go())
        except Exception as exc:  # a missing chunk, a corrupt one...
            return f"read-back failed: {type(exc).__name__}: {exc}"
        return self.ref.check(out)

    # -- one call -----------------------------------------------------------------------
    def call(self, op: str, comp: str, client: Client, row: Row, read_handle: Any, timed: bool) -> None:
        gc.collect()
        if op == "read":
            t0 = time.perf_counter()
            out = client.read(read_handle)
            dt = time.perf_counter() - t0
            problem = self.ref.check(out)
            del out
        else:
            path = self.fresh_layer()
            h = client.open_write(path, None if comp == "gzip" else False)
            try:
                t0 = time.perf_counter()
                client.write(h, self.ref.img_c)
                dt = time.perf_counter() - t0
            finally:
                client.close(h)
            nbytes, nfiles, ngz = dir_stats(path)
            problem = self.readback(path)
            if problem is None:
                row.stored_bytes.append(nbytes)
                row.stored_files = f"{nfiles} files, {ngz} .gz"
            shutil.rmtree(path)
            # Flush the kernel's dirty pages now (untimed), so a write is not slowed down by the
            # writeback of the previous client's files.
            os.sync()
        if problem is not None:
            row.wrong_runs += 1
            row.status = f"WRONG: {problem}"
            if not timed:
                row.skip = True
            return
        if timed:
            row.times.append(dt)

    def scenario(self, op: str, comp: str, clients: list[Client]) -> list[Row]:
        rows = {c.name: Row(c.name) for c in clients}
        handles: dict[str, Any] = {}
        if op == "read":
            for c in clients:
                try:
                    handles[c.name] = c.open_read(self.layers[comp])
                except Exception as exc:
                    rows[c.name].status = f"error: {type(exc).__name__}: {exc}"
                    rows[c.name].skip = True
        if op == "write" and comp == "gzip" and TS in rows:
            rows[TS].note = "raw only"
        # warm-up round, then timed rounds with the order rotated each round
        for rnd in range(self.runs + 1):
            timed = rnd > 0
            k = (rnd - 1) % len(clients) if timed else 0
            order = clients[k:] + clients[:k]
            for c in order:
                row = rows[c.name]
                if row.skip:
                    continue
                try:
                    self.call(op, comp, c, row, handles.get(c.name), timed)
                except Exception as exc:
                    row.status = f"error: {type(exc).__name__}: {exc}"
                    row.skip = True
                    log(traceback.format_exc())
            log(f"  {op}-{comp}: {'warm-up' if not timed else f'run {rnd}/{self.runs}'} done")
        for name, h in handles.items():
            try:
                next(c for c in clients if c.name == name).close(h)
            except Exception:
                pass
        # the tensorstore / .gz case: name it for what it is
        ts_row = rows.get(TS)
        if op == "read" and comp == "gzip" and ts_row is not None and ts_row.status.startswith("WRONG"):
            ts_row.status = f"n/a (cannot read .gz siblings; verified: returned {ts_row.status[7:]})"
        return [rows[c.name] for c in clients]


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {}
    for p in ("aiovolume", "cloud-volume", "cloud-files", "tensorstore", "numpy", "imagecodecs", "deflate"):
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def aiovolume_default_mode(nbytes: int) -> str:
    """What codec executor Options() resolves to for raw chunks (informational)."""
    from aiovolume import Options
    from aiovolume.codecs import ChunkFormat
    from aiovolume.pipeline.read import choose_mode

    return choose_mode(Options(), ChunkFormat("raw", "uint8"), nbytes)


def fmt_row(scen: str, row: Row, nbytes: int, nchunks: int, rows: dict[str, Row], like_for_like_ts: bool) -> str:
    label = row.client + (f" ({row.note})" if row.note else "")
    med = row.median
    if not row.status.startswith("ok") and (row.skip or not row.times):
        status = row.status if not row.status.startswith("WRONG") else f"**{row.status}**"
        return f"| {scen} | {label} | {status} | | | | | | |"
    mibs = nbytes / 2**20 / med
    chunks = nchunks / med
    spread = f"{min(row.times):.3f}–{max(row.times):.3f}"
    ratio_cv = ratio_ts = ""
    if row.client in AIOVOLUME_ROWS:
        cv, ts = rows.get(CV), rows.get(TS)
        if cv is not None and cv.median and cv.status == "ok":
            ratio_cv = f"{cv.median / med:.2f}"
        if ts is not None and ts.median and ts.status == "ok":
            ratio_ts = f"{ts.median / med:.2f}" if like_for_like_ts else "n/c"
        elif ts is not None:
            ratio_ts = "n/a"
    med_s = f"{med:.3f}"
    if row.wrong_runs:
        med_s += f" (**{row.wrong_runs} WRONG run(s) dropped**)"
    stored = ""
    if row.stored_bytes:
        stored = f"{statistics.median(row.stored_bytes) / 2**20:.1f} MiB ({row.stored_files})"
    return (f"| {scen} | {label} | {med_s} | {mibs:.0f} | {chunks:.0f} | {spread} | {ratio_cv} | {ratio_ts} "
            f"| {stored} |")


def busy_warning(results: list[tuple[str, list[Row], tuple[float, ...]]]) -> list[str]:
    busy = [(scen, extra[3]) for scen, _, extra in results if extra[3] > 0.15]
    if not busy:
        return []
    worst = ", ".join(f"{scen} {cores:.2f}" for scen, cores in busy)
    return [f"- **WARNING: other processes used CPU during the run (average cores: {worst}); those "
            "timings are noisy. Compare clients within this run only, or re-run on a quiet machine.**"]


def report(args: argparse.Namespace, shape: tuple[int, int, int], runs: int, meta: dict[str, Any],
           results: list[tuple[str, list[Row], tuple[float, ...]]], env: dict[str, Any]) -> str:
    nbytes = int(np.prod(shape))
    nchunks = math.prod(math.ceil(s / c) for s, c in zip(shape, CHUNK))
    v = env["versions"]
    lines = [
        f"# bench_file: whole-volume file:// throughput ({'quick' if args.quick else 'full'} run)",
        "",
        f"- date: {env['start']:%Y-%m-%d %H:%M:%S} (wall time {env['wall_s']:.0f} s)",
        f"- machine: {platform.node()}, {cpu_model()}, nproc {os.cpu_count()} "
        f"(affinity {len(os.sched_getaffinity(0))}), {mem_total_gib():.1f} GiB RAM, {platform.platform()}",
        f"- load average (1/5/15 min) before: {env['load_before'][0]:.2f} / {env['load_before'][1]:.2f} / "
        f"{env['load_before'][2]:.2f}; after: {env['load_after'][0]:.2f} / {env['load_after'][1]:.2f} / "
        f"{env['load_after'][2]:.2f}",
        *busy_warning(results),
        f"- python {platform.python_version()}; " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- volume {shape[0]}x{shape[1]}x{shape[2]} uint8 (synthetic_em), {CHUNK[0]}^3 chunks, "
        f"{nchunks} chunks, {nbytes / 2**20:.0f} MiB decoded; layers written by cloud-volume: "
        f"gzip {meta['gzip'][0] / 2**20:.1f} MiB ({meta['gzip'][1]} files, {meta['gzip'][2]} .gz, "
        f"ratio {nbytes / meta['gzip'][0]:.2f}x), raw {meta['raw'][0] / 2**20:.1f} MiB",
        f"- {runs} timed runs per client after 1 untimed warm-up, round-robin, order rotated each round; "
        f"aiovolume default codec executor here: {env['aio_mode']}",
        "",
        "median = median seconds of the timed runs; MiB/s = decoded voxels / median; chunks/s = chunks / "
        "median; spread = min–max seconds; **×cv / ×ts = throughput of the row ÷ throughput of "
        "cloud-volume / tensorstore** (>1: the aiovolume row is faster). WRONG = returned or wrote wrong "
        "voxels (never timed). *raw only* = tensorstore cannot gzip unsharded raw Precomputed chunks, so "
        "in write-gzip it stores them uncompressed (n/c = not comparable). Writes go into a fresh layer "
        "each call and are read back with aiovolume and compared, then deleted and `sync`ed (untimed); "
        "'stored' = chunk bytes written.",
        "",
        "| scenario | client | median s | MiB/s | chunks/s | spread s | ×cv | ×ts | stored |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scen, rows, _ in results:
        by_name = {r.client: r for r in rows}
        like = not (scen == "write-gzip")
        for r in rows:
            lines.append(fmt_row(scen, r, nbytes, nchunks, by_name, like))
    lines += [
        "",
        "## Per-run seconds (in run order)",
        "",
        "| scenario | client | runs |",
        "|---|---|---|",
    ]
    for scen, rows, _ in results:
        for r in rows:
            lines.append(f"| {scen} | {r.client} | {' '.join(f'{t:.3f}' for t in r.times) or r.status} |")
    lines += [
        "",
        "## Run conditions per scenario",
        "",
        "Other processes' CPU = the machine's non-idle CPU time minus this benchmark's (and its "
        "children's), per second of the scenario's wall time, in cores (this machine has "
        f"{os.cpu_count()}); steal = vCPU time the hypervisor gave to other guests. Anything well "
        "above 0 means another workload shared the cores and the timings of that scenario are noisy "
        "(in write scenarios it also includes the kernel threads flushing our own files, a few "
        "hundredths of a core on a quiet machine). "
        "Peak memory is cumulative: ru_maxrss is the benchmark process's all-time peak (it never goes "
        "down), so it is dominated by the dataset generation (synthetic_em works in float32 "
        "temporaries) unless a client exceeds it; the process also holds the reference array twice "
        "(C and Fortran order) and every client's libraries, so it is not a per-client figure. "
        "Child processes are aiovolume's forkserver and decode workers (VmHWM = their own all-time peak).",
        "",
        "| scenario | wall s | other processes' CPU (cores) | steal (cores) | ru_maxrss MiB | children's VmHWM MiB |",
        "|---|---|---|---|---|---|",
        f"| (dataset generated and written by cloud-volume) | | | | {env['rss_after_dataset'][0]:.0f} "
        f"| {env['rss_after_dataset'][1]:.0f} |",
    ]
    for scen, _, (self_rss, kids, wall, others, steal) in results:
        lines.append(f"| {scen} | {wall:.0f} | {others:.2f} | {steal:.2f} | {self_rss:.0f} | {kids:.0f} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="timed runs per client and scenario (default 5; 3 with --quick)")
    ap.add_argument("--quick", action="store_true", help="512x512x128 volume and 3 runs")
    args = ap.parse_args()
    runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    if runs < 1:
        ap.error("--runs must be >= 1")
    shape = QUICK_SHAPE if args.quick else FULL_SHAPE

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    env: dict[str, Any] = {"start": datetime.now(), "load_before": os.getloadavg(), "versions": versions()}
    t_start = time.perf_counter()
    env["aio_mode"] = aiovolume_default_mode(int(np.prod(shape)))

    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_file-", dir=DATA_ROOT))
    try:
        from aiovolume import Options

        bench = Bench(shape, runs, workdir)
        log(f"dataset {shape} in {workdir} ...")
        meta = bench.make_dataset()
        log(f"  generated in {meta['generate_s']:.1f} s; cloud-volume wrote gzip in {meta['gzip_write_s']:.1f} s, "
            f"raw in {meta['raw_write_s']:.1f} s")
        env["rss_after_dataset"] = (self_maxrss_mib(), descendants_hwm_mib())
        clients: list[Client] = [
            AioFacade("aiovolume"),
            AioAsync("aiovolume-async", bench.loop, shape),
            AioFacade("aiovolume-process", Options(codec_executor="process")),
            AioFacade("aiovolume-thread", Options(codec_executor="thread")),
            AioFacade("aiovolume-inline", Options(codec_executor="inline")),
            CloudVolumeClient(),
            TensorStoreClient(),
        ]
        results = []
        meter = CpuMeter()
        for op, comp in SCENARIOS:
            log(f"{op}-{comp} ...")
            before = meter.sample()
            rows = bench.scenario(op, comp, clients)
            wall, others, steal = meter.others(before, meter.sample())
            results.append((f"{op}-{comp}", rows, (self_maxrss_mib(), descendants_hwm_mib(), wall, others, steal)))
            log(f"  {op}-{comp} took {wall:.0f} s; other processes used {others:.2f} cores on average")
        bench.loop.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            DATA_ROOT.rmdir()  # only if empty
        except OSError:
            pass
    env["load_after"] = os.getloadavg()
    env["wall_s"] = time.perf_counter() - t_start

    text = report(args, shape, runs, meta, results, env)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench_file-{env['start']:%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    log(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
