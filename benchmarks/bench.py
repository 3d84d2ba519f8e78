"""The benchmark scoreboard: aiovolume vs cloud-volume vs tensorstore, with the machine's limit
for every scenario measured in the same run (``make bench``).

Run: ``.venv/bin/python benchmarks/bench.py [--quick] [--runs N] [--scenarios S1,S4,...]
[--clients aiovolume,cloud-volume,tensorstore] [--no-gzip-study]``. See benchmarks/README.md.

Every client runs in its own worker process (worker.py); the driver (this file) sends it one
command at a time, round-robin over the clients with the order rotated each round, after one
untimed warm-up call each. Reads are checked against the reference voxels (a wrong read is
WRONG and never timed); writes are read back (untimed), verified, measured and deleted, then
``os.sync()``. The markdown report goes to stdout and ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import CpuMeter, Row, log, save_report, usable_cores  # noqa: E402
from datasets import Box, Layer, chunks_of, dir_stats, em_image, random_cutouts, voronoi_labels, write_layer  # noqa: E402
import limits  # noqa: E402
import report  # noqa: E402

DATA_ROOT = HERE / "data"
CHUNK = (64, 64, 64)
MIN_TIMED_S, MAX_RUNS = 1.0, 10   # short scenarios: more rounds (up to 10) while a client has < 1 s timed
CALL_TIMEOUT_S = 900
DEFAULT_CLIENTS = ("aiovolume", "aiovolume-async", "cloud-volume", "tensorstore")
# the facade scenarios also time CloudVolume(url, parallel=2): it must never be slower
FACADE_CLIENTS = (*DEFAULT_CLIENTS, "aiovolume-parallel2")
BASE_SUFFIX = "@base"
BASELINE: list[str] = []  # --baseline: the checkout whose src/ the "@base" workers import
LRU_BYTES = 256 << 20  # S8-lru: the same chunk-cache budget for every client


@dataclass
class Scenario:
    id: str
    title: str
    kind: str                      # "read", "cutouts", "write" or "skip"
    layer: str = ""
    boxes: list[Box] = field(default_factory=list)
    latency_ms: float | None = None  # None: file://
    compress: bool | None = None     # writes: None = cloud-volume's default (gzip), False = raw
    clients: tuple[str, ...] = ()
    primary: str = "aiovolume"     # the aiovolume row of the scoreboard
    full_read: bool = False        # RSS target applies
    cache_bytes: int = 0           # every client's decoded-chunk cache (0: none, the default)
    note: str = ""


def cutout_box(img_shape: tuple[int, int, int]) -> tuple[Box, str]:
    """The non-aligned 300x300x100 cutout of S7 (and S6 in bench_sharded.py) and its note."""
    origin = (137, 261, 17)
    cut_note = "300x300x100 at (137,261,17) (the volume is 128 deep, as in field-notes)"
    if any(o + s > n for o, s, n in zip(origin, (300, 300, 100), img_shape)):
        origin = (101, 73, 17)
        cut_note = "300x300x100 at (101,73,17) (--quick volume too small for (137,261,17))"
    return (origin, tuple(o + s for o, s in zip(origin, (300, 300, 100)))), cut_note  # type: ignore[return-value]


def scenarios(quick: bool, img_shape: tuple[int, int, int], seg_shape: tuple[int, int, int],
              n_cutouts: int) -> list[Scenario]:
    full_img = ((0, 0, 0), img_shape)
    full_seg = ((0, 0, 0), seg_shape)
    cut, cut_note = cutout_box(img_shape)
    boxes = random_cutouts(img_shape, n_cutouts)
    everyone = FACADE_CLIENTS
    no_facade = ("aiovolume-async", "cloud-volume", "tensorstore")
    return [
        Scenario("S1", "file:// read, gzip", "read", "img_gzip", [full_img], clients=everyone, full_read=True),
        Scenario("S2", "file:// read, uncompressed", "read", "img_raw", [full_img], clients=everyone, full_read=True),
        Scenario("S3-gzip", "file:// write, gzip", "write", "img_gzip", [full_img], compress=None, clients=everyone),
        Scenario("S3-raw", "file:// write, uncompressed", "write", "img_raw", [full_img], compress=False,
                 clients=everyone),
        Scenario("S4-0ms", "HTTP read, gzip, server +0 ms", "read", "img_gzip", [full_img], latency_ms=0.0,
                 clients=everyone, full_read=True),
        Scenario("S4-25ms", "HTTP read, gzip, server +25 ms", "read", "img_gzip", [full_img], latency_ms=25.0,
                 clients=everyone, full_read=True),
        Scenario("S5", "file:// read, uint64 compressed_segmentation", "read", "seg_cseg", [full_seg],
                 clients=everyone, full_read=True),
        Scenario("S6", "sharded read/write", "skip",
                 note="S6 (sharded layers) is benchmarks/bench_sharded.py, run after this by `make bench`"),
        Scenario("S7", "file:// non-aligned cutout, gzip", "read", "img_gzip", [cut], clients=everyone, note=cut_note),
        Scenario("S7-raw", "file:// non-aligned cutout, uncompressed", "read", "img_raw", [cut], clients=everyone,
                 note=cut_note),
        Scenario("S8", f"{n_cutouts} random 32^3 cutouts, gzip", "cutouts", "img_gzip", boxes, clients=no_facade,
                 primary="aiovolume-async",
                 note="aiovolume: async API, 64 in flight; cloud-volume: blocking, one after another; "
                      "tensorstore: 64 futures in flight"),
        Scenario("S8-raw", f"{n_cutouts} random 32^3 cutouts, uncompressed", "cutouts", "img_raw", boxes,
                 clients=no_facade, primary="aiovolume-async", note="as S8, on the uncompressed layer"),
        Scenario("S8-lru", f"{n_cutouts} random 32^3 cutouts, gzip, 256 MiB chunk cache", "cutouts", "img_gzip",
                 boxes, clients=no_facade, primary="aiovolume-async", cache_bytes=LRU_BYTES,
                 note="as S8, every client with a 256 MiB cache: aiovolume lru_bytes (decoded chunks), "
                      "cloud-volume lru_bytes (its default lru_encoding='same': encoded chunks), "
                      "tensorstore cache_pool total_bytes_limit (decoded chunks); the warm-up fills it"),
        Scenario("S8-raw-lru", f"{n_cutouts} random 32^3 cutouts, uncompressed, 256 MiB chunk cache", "cutouts",
                 "img_raw", boxes, clients=no_facade, primary="aiovolume-async", cache_bytes=LRU_BYTES,
                 note="as S8-lru, on the uncompressed layer"),
    ]


# ------------------------------------------------------------------------------------------
# workers
# ------------------------------------------------------------------------------------------
class Worker:
    """A client in its own process (worker.py), JSON lines over pipes."""

    def __init__(self, client: str) -> None:
        self.client = client
        env = None
        if client.endswith(BASE_SUFFIX):  # the same client on the --baseline checkout's code
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                p for p in (str(Path(BASELINE[0]) / "src"), os.environ.get("PYTHONPATH")) if p))
        self.proc = subprocess.Popen([sys.executable, str(HERE / "worker.py"), client.removesuffix(BASE_SUFFIX)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        hello = self._recv(120)
        if "error" in hello:
            self.close()
            raise RuntimeError(hello["error"])
        self.rss_method = hello["rss_method"]

    def _recv(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise TimeoutError(f"{self.client}: no reply within {timeout:.0f} s (worker killed)")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.client}: worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def request(self, timeout: float = CALL_TIMEOUT_S, **msg: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        return self._recv(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()
        for s in (self.proc.stdin, self.proc.stdout):
            try:
                s.close()  # type: ignore[union-attr]
            except (OSError, AttributeError, ValueError):
                pass


# ------------------------------------------------------------------------------------------
# the runs
# ------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.cores = usable_cores()
        self.layers: dict[str, Layer] = {}
        self.costs: dict[str, limits.ChunkCosts] = {}
        self.refs: dict[str, np.ndarray] = {}
        self.loop = asyncio.new_event_loop()
        self._n = 0
        self.memcpy_gib_s = 0.0

    # -- datasets --------------------------------------------------------------------------
    def make_datasets(self, img_shape: tuple[int, int, int], seg_shape: tuple[int, int, int],
                      need: set[str]) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        root = str(self.workdir)
        if need & {"img_gzip", "img_raw"}:
            t0 = time.perf_counter()
            img = em_image(img_shape)
            meta["img_generate_s"] = time.perf_counter() - t0
            log(f"  EM image {img_shape} generated in {meta['img_generate_s']:.1f} s")
            for name, compress in (("img_gzip", None), ("img_raw", False)):
                if name in need:
                    self.layers[name] = write_layer(root, name, img, "raw", compress, CHUNK)
                    self.refs[name] = np.load(self.layers[name].ref_f, mmap_mode="r")
            del img
        if "seg_cseg" in need:
            t0 = time.perf_counter()
            lab = voronoi_labels(seg_shape)
            meta["seg_generate_s"] = time.perf_counter() - t0
            u = np.unique(lab)
            meta["segments"] = int(np.count_nonzero(u))
            meta["background"] = float(np.count_nonzero(lab == 0) / lab.size)
            log(f"  labels {seg_shape} generated in {meta['seg_generate_s']:.1f} s: {meta['segments']} segments")
            # compress=False: the field-notes dataset stores cseg chunks plain (cloud-volume 12.15.2's
            # default would gzip them, which tensorstore cannot read on file://)
            self.layers["seg_cseg"] = write_layer(root, "seg_cseg", lab, "compressed_segmentation", False, CHUNK)
            self.refs["seg_cseg"] = np.load(self.layers["seg_cseg"].ref_f, mmap_mode="r")
            del lab
        for layer in self.layers.values():
            log(f"  {layer.name}: cloud-volume wrote {layer.stored_bytes / 2**20:.1f} MiB in {layer.files} files "
                f"({layer.nbytes / layer.stored_bytes:.2f}x) in {layer.write_s:.1f} s")
        return meta

    def chunk_costs(self, name: str) -> limits.ChunkCosts:
        if name not in self.costs:
            self.costs[name] = limits.ChunkCosts.measure(self.layers[name])
        return self.costs[name]

    # -- one scenario ----------------------------------------------------------------------
    def run(self, scen: Scenario, clients: list[str], study: dict | None) -> report.Result:
        res = report.Result(scen)
        if scen.kind == "skip":
            return res
        layer = self.layers[scen.layer]
        ref = self.refs[scen.layer]
        log(f"{scen.id}: {scen.title} — measuring the limit ...")
        if scen.kind == "write":
            res.limit = limits.write_limit(layer, ref, self.cores, str(self.workdir), scen.compress is None, study)
        else:
            res.limit = limits.read_limit(layer, self.chunk_costs(layer.name), ref, scen.boxes, self.cores,
                                          over_http=scen.latency_ms is not None, cache_bytes=scen.cache_bytes)
        meter = CpuMeter()
        before = meter.sample()
        if scen.latency_ms is not None:
            from latency import latency_server

            with latency_server(str(self.workdir), scen.latency_ms) as srv:
                base = srv.url
                res.extra["server_url"] = base
                self._http_limit_terms(res, layer, srv, scen)
                res.rows = self._round_robin(scen, clients, layer, layer.url(base), srv)
                res.limit.server_s = min([res.extra["fetch_cpu_s"]]
                                         + [min(r.server_cpu_s) for r in res.rows if r.ok and r.server_cpu_s])
        else:
            res.rows = self._round_robin(scen, clients, layer, layer.url(), None)
        res.noise = CpuMeter.others(before, meter.sample())
        report.log_scenario(res, self.memcpy_gib_s)
        return res

    def _http_limit_terms(self, res: report.Result, layer: Layer, srv: Any, scen: Scenario) -> None:
        from aiovolume import Options

        lim = res.limit
        assert lim is not None
        rtt = srv.rtt_s(f"/ds/{layer.name}/info")
        lim.latency_s = rtt
        lim.concurrency = Options().concurrency_for("http")
        lim.latency_bound_s = lim.n_requests * rtt / lim.concurrency
        paths = []
        for box in scen.boxes:
            for k in chunks_of(box, layer.chunk):
                rel = os.path.relpath(layer.chunk_file(k), self.workdir)
                paths.append("/" + rel[:-3] if rel.endswith(".gz") else "/" + rel)
        res.extra["fetch_cpu_s"] = srv.fetch_cpu_s(paths, lim.concurrency)
        res.extra["rtt_s"] = rtt

    def _fresh_layer(self, layer: Layer) -> str:
        self._n += 1
        path = self.workdir / "w" / f"{self._n:04d}"
        path.mkdir(parents=True)
        (path / "info").write_text(json.dumps(layer.info()))
        return str(path)

    def _readback(self, path: str, layer: Layer) -> str | None:
        from aiovolume import Bbox, Volume

        async def go() -> Any:
            async with Volume("file://" + path) as vol:
                return await vol.download(Bbox((0, 0, 0), layer.shape))

        try:
            out = np.asarray(self.loop.run_until_complete(go()))[..., 0]
        except Exception as exc:  # a missing or corrupt chunk
            return f"read-back failed: {type(exc).__name__}: {exc}"
        ref = self.refs[layer.name]
        if out.shape != ref.shape:
            return f"read back shape {out.shape}"
        if np.array_equal(out, ref):
            return None
        return "read back zeros" if not out.any() else f"{int(np.count_nonzero(out != ref))} voxels differ on read-back"

    def _call(self, scen: Scenario, w: Worker, row: Row, layer: Layer, srv: Any) -> tuple[float, str | None]:
        refspec = {"C": layer.ref_c, "F": layer.ref_f, "dtype": layer.dtype}
        if scen.kind == "write":
            path = self._fresh_layer(layer)
            try:
                r = w.request(cmd="write", url="file://" + path, compress=scen.compress, box=scen.boxes[0],
                              input=layer.ref_f)
                if "error" in r:
                    raise RuntimeError(r["error"])
                nbytes, nfiles, ngz = dir_stats(path)
                problem = self._readback(path, layer)
                if problem is None:
                    row.stored_bytes.append(nbytes)
                    row.stored_files = f"{nfiles} files, {ngz} .gz"
            finally:
                shutil.rmtree(path, ignore_errors=True)
                os.sync()  # one client's writeback must not land in the next client's timing
        else:
            c0 = srv.cpu_s() if srv else 0.0
            if scen.kind == "cutouts":
                r = w.request(cmd="cutouts", boxes=scen.boxes, ref=refspec)
            else:
                r = w.request(cmd="read", box=scen.boxes[0], ref=refspec)
            if srv is not None and "error" not in r:
                row.server_cpu_s.append(srv.cpu_s() - c0)
            if "error" in r:
                raise RuntimeError(r["error"])
            problem = r["problem"]
        row.rss_self_mib.append(r["hwm_self_kib"] / 1024)
        row.rss_kids_mib.append(r["hwm_kids_kib"] / 1024)
        return r["seconds"], problem

    def _round_robin(self, scen: Scenario, clients: list[str], layer: Layer, url: str, srv: Any) -> list[Row]:
        rows = {c: Row(c) for c in clients}
        workers: dict[str, Worker] = {}
        try:
            for c in clients:
                try:
                    workers[c] = Worker(c)
                    rows[c].rss_method = workers[c].rss_method
                    if scen.kind != "write":
                        r = workers[c].request(cmd="open", url=url, cache_bytes=scen.cache_bytes)
                        if "error" in r:
                            raise RuntimeError(r["error"])
                except Exception as exc:
                    rows[c].status, rows[c].skip = f"error: {exc}", True
            if scen.kind == "write" and scen.compress is None and "tensorstore" in rows:
                rows["tensorstore"].note = "raw only, n/c"
            rnd = 0
            while True:
                timed = rnd > 0
                k = (rnd - 1) % len(clients) if timed else 0
                for c in clients[k:] + clients[:k]:
                    row = rows[c]
                    if row.skip:
                        continue
                    try:
                        dt, problem = self._call(scen, workers[c], row, layer, srv)
                    except Exception as exc:
                        row.status, row.skip = f"error: {str(exc)[:200]}", True
                        log(f"  {scen.id} {c}: {row.status}")
                        continue
                    if not timed:
                        row.rss_self_mib.clear()
                        row.rss_kids_mib.clear()
                        row.server_cpu_s.clear()
                        row.stored_bytes.clear()
                    if problem is not None:
                        row.wrong_runs += timed
                        row.status = f"WRONG: {problem}"
                        row.skip = not timed
                        continue
                    if timed:
                        row.times.append(dt)
                log(f"  {scen.id}: {'warm-up' if not timed else f'run {rnd}'} done")
                live = [r for r in rows.values() if not r.skip]
                if rnd >= self.args.runs and (rnd >= MAX_RUNS or all(sum(r.times) >= MIN_TIMED_S for r in live)):
                    break
                rnd += 1
        finally:
            for w in workers.values():
                w.close()
        ts = rows.get("tensorstore")
        if ts is not None and ts.status.startswith("WRONG") and layer.compression == "gzip" and srv is None:
            ts.status = f"n/a (cannot read .gz siblings; verified {ts.status[7:]})"
        return [rows[c] for c in clients]


def choose_clients(scen: Scenario, wanted: list[str]) -> list[str]:
    out = [c for c in wanted if c in scen.clients]
    if scen.primary not in out and "aiovolume" in wanted and scen.primary in scen.clients:
        out.insert(0, scen.primary)  # S8: "aiovolume" means its async API
    extra = [c for c in wanted if c.startswith("aiovolume-") and c != "aiovolume-async" and c not in out
             and scen.kind != "cutouts"]
    chosen = out + extra
    if BASELINE:  # A/B: every aiovolume row again, on the baseline's code, in the same round-robin
        chosen += [c + BASE_SUFFIX for c in chosen if c.startswith("aiovolume") and c != "aiovolume-parallel2"]
    return chosen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="512x512x128 image, 256x256x128 labels, 3 runs, 200 cutouts (development)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per client (default 5; --quick 3)")
    ap.add_argument("--scenarios", default="", help="comma-separated ids or prefixes, e.g. S1,S4 (default: all)")
    ap.add_argument("--clients", default=",".join(FACADE_CLIENTS),
                    help="comma-separated; also aiovolume-process, aiovolume-thread, aiovolume-inline")
    ap.add_argument("--cutouts", type=int, default=None, help="S8 cutouts (default 1000; --quick 200)")
    ap.add_argument("--no-gzip-study", action="store_true", help="skip the gzip level study")
    ap.add_argument("--baseline", default="", help="a checkout of older aiovolume code (e.g. a git worktree): "
                    "each aiovolume row is run again on it, in the same round-robin, as '<client>@base'")
    args = ap.parse_args()
    args.runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    img_shape = (512, 512, 128) if args.quick else (1024, 1024, 128)
    seg_shape = (256, 256, 128) if args.quick else (512, 512, 128)
    n_cut = args.cutouts or (200 if args.quick else 1000)
    from clients import FACTORIES

    wanted = [c.strip() for c in args.clients.split(",") if c.strip()]
    if args.baseline:
        if not (Path(args.baseline) / "src" / "aiovolume").is_dir():
            ap.error(f"--baseline {args.baseline}: no src/aiovolume there (e.g. git worktree add DIR COMMIT)")
        BASELINE.append(str(Path(args.baseline).resolve()))
    unknown = [c for c in wanted if c not in FACTORIES]
    if unknown:
        ap.error(f"unknown client(s) {unknown}; choose from {list(FACTORIES)}")
    all_scen = scenarios(args.quick, img_shape, seg_shape, n_cut)
    sel = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    chosen = [s for s in all_scen if not sel or any(s.id.upper() == p or s.id.upper().startswith(p + "-")
                                                    for p in sel)]
    if not chosen:
        ap.error(f"no scenario matches {args.scenarios!r}; ids: {[s.id for s in all_scen]}")

    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    env = report.environment(args, " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    t_start = time.perf_counter()
    log("memcpy ...")
    env["memcpy_gib_s"] = limits.memcpy_gib_s()
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=DATA_ROOT))
    results: list[report.Result] = []
    try:
        bench = Bench(args, workdir)
        bench.memcpy_gib_s = env["memcpy_gib_s"]
        need = {s.layer for s in chosen if s.layer}
        if not args.no_gzip_study:
            need.add("img_gzip")
        log(f"datasets {sorted(need)} in {workdir} ...")
        env["datasets"] = bench.make_datasets(img_shape, seg_shape, need)
        study = None
        if not args.no_gzip_study:
            log("gzip level study ...")
            t0 = time.perf_counter()
            gl = bench.layers["img_gzip"]
            study, notes = limits.gzip_study(gl, bench.refs["img_gzip"])
            env["study"] = (study, notes, gl.nbytes, gl.stored_bytes, time.perf_counter() - t0)
        for scen in chosen:
            results.append(bench.run(scen, choose_clients(scen, wanted), study))
        bench.loop.close()
        env["layers"] = bench.layers
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            DATA_ROOT.rmdir()  # only if empty
        except OSError:
            pass
    env["wall_s"] = time.perf_counter() - t_start
    env["load_after"] = os.getloadavg()
    out = save_report(f"bench-{env['start']:%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}", report.render(env, results))
    log(f"written {out} (total {env['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
