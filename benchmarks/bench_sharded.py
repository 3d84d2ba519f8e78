"""S6 of the scoreboard: sharded Precomputed layers, aiovolume vs cloud-volume vs tensorstore
(``make bench`` runs it after bench.py).

Run: ``.venv/bin/python benchmarks/bench_sharded.py [--quick] [--runs N] [--scenarios S6-read,...]
[--clients aiovolume,cloud-volume,tensorstore] [--baseline DIR]``. See benchmarks/README.md.

The machinery is bench.py's (``Bench._round_robin``: one worker process per client, one untimed
warm-up each, round-robin with the order rotated each round, every read checked against the
reference voxels, writes read back by aiovolume and deleted, peak RSS of the worker and its
descendants). What differs:

* the layer is sharded (``neuroglancer_uint64_sharded_v1``) and written by tensorstore;
* every read is made on a **freshly opened handle** (opened untimed), so no client starts with
  cached shard or minishard indexes; in the ``twice`` scenarios the same read is then repeated
  on that handle and reported as its own row ("2nd identical ..."): that is where an index cache
  shows;
* over HTTP the latency server's request counter is reset before each timed read and read after
  it: **requests per read** next to MiB/s.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402
import report  # noqa: E402
import shard_limits  # noqa: E402
from common import CpuMeter, Row, cpu_model, log, mem_total_gib, save_report, usable_cores  # noqa: E402
from datasets import Box, Layer, em_image, sharding_spec, write_sharded_layer  # noqa: E402

CHUNK = (64, 64, 64)
LAYER = "raw"
CLIENTS = bench.DEFAULT_CLIENTS
EVERYONE = CLIENTS


@dataclass
class ShardScenario(bench.Scenario):
    twice: bool = False   # read again on the same handle; reported as "2nd identical ..."
    target: str = ""      # "faster" (than tensorstore), "" none


def scenarios(shape: tuple[int, int, int]) -> list[ShardScenario]:
    full: Box = ((0, 0, 0), shape)
    cut, cut_note = bench.cutout_box(shape)
    return [
        ShardScenario("S6-read-25ms", "sharded, whole volume, HTTP +25 ms", "read", LAYER, [full], latency_ms=25.0,
                      clients=EVERYONE, full_read=True, twice=True, target="faster"),
        ShardScenario("S6-cutout-25ms", "sharded, 9 MB cutout, HTTP +25 ms", "read", LAYER, [cut], latency_ms=25.0,
                      clients=EVERYONE, twice=True, target="faster", note=cut_note),
        ShardScenario("S6-read-file", "sharded, whole volume, file://", "read", LAYER, [full], clients=EVERYONE,
                      full_read=True),
        ShardScenario("S6-write-file", "sharded write, whole volume, file://", "write", LAYER, [full],
                      compress=False, clients=EVERYONE, target="faster",
                      note="into a fresh layer with the same info; aiovolume `vol[:, :, :] = img` / "
                           "`await upload`; tensorstore one write of the whole array; cloud-volume one "
                           "`vol[bbox] = img` per shard (its only correct way: clients.py `_write_shards`)"),
    ]


def second_label(scen: ShardScenario) -> str:
    return "2nd identical cutout, same handle" if "cutout" in scen.id else "2nd identical read, same handle"


# ------------------------------------------------------------------------------------------
# the runs: bench.Bench with a fresh handle per read and request counts
# ------------------------------------------------------------------------------------------
class ShardedBench(bench.Bench):
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        super().__init__(args, workdir)
        self.calls: Counter[str] = Counter()
        self.second: dict[str, Row] = {}

    def make_sharded(self, shape: tuple[int, int, int]) -> dict[str, Any]:
        t0 = time.perf_counter()
        img = em_image(shape)
        gen_s = time.perf_counter() - t0
        spec = sharding_spec(shape, CHUNK)
        layer = write_sharded_layer(str(self.workdir), LAYER, img, spec, CHUNK)
        del img
        self.layers[LAYER] = layer
        self.refs[LAYER] = np.load(layer.ref_f, mmap_mode="r")
        log(f"  {LAYER}: EM image {shape} generated in {gen_s:.1f} s; tensorstore wrote "
            f"{layer.stored_bytes / 2**20:.1f} MiB in {layer.files} shard files in {layer.write_s:.1f} s")
        return {"sharding": spec, "generate_s": gen_s}

    def data_runs(self, box: Box) -> tuple[int, int, int]:
        """(chunks, shards, contiguous byte runs) of the chunks ``box`` touches in their shard
        files, from the stored indexes: a reader that already holds the indexes needs at most one
        GET per run (fewer if it merges runs across gaps)."""
        from aiovolume.format.sharding import ShardingSpec, decode_minishard_index, decode_shard_index, morton_codes

        from datasets import SCALE_KEY, chunks_of

        layer = self.layers[LAYER]
        with open(os.path.join(layer.path, "info")) as f:
            import json

            spec = ShardingSpec.from_json(json.load(f)["scales"][0]["sharding"])
        grid = [-(-s // c) for s, c in zip(layer.shape, layer.chunk)]
        pos = [tuple(a // c for a, c in zip(lo, layer.chunk)) for lo in chunks_of(box, layer.chunk)]
        codes = morton_codes(pos, grid).reshape(-1)
        shards, _ = spec.locate(codes)
        tables: dict[int, dict[int, tuple[int, int]]] = {}
        ranges: dict[int, list[tuple[int, int]]] = {}
        for code, shard in zip(codes.tolist(), shards.tolist()):
            if shard not in tables:
                with open(os.path.join(layer.path, SCALE_KEY, spec.shard_name(shard)), "rb") as f:
                    data = f.read()
                tables[shard] = {}
                for start, stop in decode_shard_index(spec, data[:spec.shard_index_bytes]).tolist():
                    keys, starts, sizes = decode_minishard_index(spec, data[start:stop])
                    tables[shard].update({k: (s, s + n) for k, s, n in zip(keys.tolist(), starts.tolist(),
                                                                         sizes.tolist())})
            if code in tables[shard]:
                ranges.setdefault(shard, []).append(tables[shard][code])
        runs = 0
        for rs in ranges.values():
            rs.sort()
            runs += 1 + sum(1 for a, b in zip(rs, rs[1:]) if b[0] != a[1])
        return len(codes), len(ranges), runs

    # -- one scenario ------------------------------------------------------------------------
    def run(self, scen: ShardScenario, clients: list[str], study: dict | None = None) -> report.Result:  # type: ignore[override]
        res = report.Result(scen)
        layer = self.layers[LAYER]
        self.calls.clear()
        self.second = {}
        log(f"{scen.id}: {scen.title} ...")
        meter = CpuMeter()
        before = meter.sample()
        ref = self.refs[LAYER]
        if scen.kind == "write":
            res.limit = shard_limits.write_limit(layer, ref, self.cores, str(self.workdir))
        else:
            res.limit = shard_limits.read_limit(layer, ref, scen.boxes, self.cores, scen.latency_ms is not None)
        if scen.latency_ms is not None:
            from latency import latency_server

            with latency_server(str(self.workdir), scen.latency_ms) as srv:
                res.extra["rtt_s"] = srv.rtt_s(f"/ds/{layer.name}/info")
                res.rows = self._round_robin(scen, clients, layer, layer.url(srv.url), srv)
            least = [min(r.server_cpu_s) for r in res.rows if r.ok and r.server_cpu_s]
            shard_limits.with_http_terms(res.limit, res.extra["rtt_s"], min(least) if least else 0.0)
        else:
            res.rows = self._round_robin(scen, clients, layer, layer.url(), None)
        res.extra["second"] = [self.second[c] for c in clients if c in self.second]
        res.noise = CpuMeter.others(before, meter.sample())
        out = _out_bytes(scen)
        for r in res.rows + res.extra["second"]:
            v = f"{out / 2**20 / r.median:.0f} MiB/s, median {r.median:.3f} s" if r.ok else r.status
            req = getattr(r, "requests", [])
            log(f"    {r.client:22s} {v}{f'; requests {_reqs(r)}' if req else ''}; peak RSS {_rss(r)} MiB")
        return res

    def _call(self, scen: bench.Scenario, w: bench.Worker, row: Row, layer: Layer, srv: Any) -> tuple[float, str | None]:
        if scen.kind == "write":
            return super()._call(scen, w, row, layer, srv)
        assert isinstance(scen, ShardScenario)
        warm = self.calls[row.client] == 0
        self.calls[row.client] += 1
        r = w.request(cmd="open", url=layer.url(srv.url if srv else None))  # a fresh handle, untimed
        if "error" in r:
            raise RuntimeError(r["error"])
        refspec = {"C": layer.ref_c, "F": layer.ref_f, "dtype": layer.dtype}
        r, n = self._read(w, scen, refspec, srv)
        self._record(row, r, n, warm)
        if scen.twice and r["problem"] is None:
            row2 = self.second.setdefault(row.client, Row(row.client))
            r2, n2 = self._read(w, scen, refspec, srv)
            if r2["problem"] is not None:
                row2.wrong_runs += not warm
                row2.status = f"WRONG: {r2['problem']}"
            elif not warm and not row2.status.startswith("WRONG"):
                row2.times.append(r2["seconds"])
                self._record(row2, r2, n2, False)
        return r["seconds"], r["problem"]

    @staticmethod
    def _read(w: bench.Worker, scen: bench.Scenario, refspec: dict[str, Any], srv: Any) -> tuple[
            dict[str, Any], dict[str, int] | None]:
        """One timed read; with the latency server, the requests it served during the call."""
        if srv is not None:
            srv.reset_stats()
            c0 = srv.cpu_s()
        r = w.request(cmd="read", box=scen.boxes[0], ref=refspec)
        n = None
        if srv is not None:
            r["server_cpu_s"] = srv.cpu_s() - c0
            st = srv.stats()
            shards = {p: e["requests"] for p, e in st["paths"].items() if p.endswith(".shard")}
            n = {"requests": st["requests"], "shard_files": len(shards), "other": st["requests"] - sum(shards.values())}
        if "error" in r:
            raise RuntimeError(r["error"])
        return r, n

    @staticmethod
    def _record(row: Row, r: dict[str, Any], n: dict[str, int] | None, warm: bool) -> None:
        """Peak RSS (bench.Bench._round_robin drops the warm-up's) and request counts (not the warm-up's)."""
        if "server_cpu_s" in r and not warm:
            row.server_cpu_s.append(r["server_cpu_s"])
        row.rss_self_mib.append(r["hwm_self_kib"] / 1024)
        row.rss_kids_mib.append(r["hwm_kids_kib"] / 1024)
        if not hasattr(row, "requests"):
            row.requests, row.req_detail = [], []  # type: ignore[attr-defined]
        if n is not None and not warm:
            row.requests.append(n["requests"])  # type: ignore[attr-defined]
            row.req_detail.append(n)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def _out_bytes(scen: bench.Scenario) -> int:
    lo, hi = scen.boxes[0]
    return int(np.prod([b - a for a, b in zip(lo, hi)]))  # uint8


def _rss(r: Row) -> str:
    return f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib is not None else "·"


def _reqs(r: Row) -> str:
    req = getattr(r, "requests", [])
    if not req:
        return ""
    lo, hi, med = min(req), max(req), statistics.median(req)
    return f"{med:g}" if lo == hi else f"{med:g} ({lo}–{hi})"


def _speed_ratio(a: Row, b: Row | None) -> str:
    if b is None or not a.ok:
        return ""
    if not b.ok:
        return "n/a"
    return f"{b.median / a.median:.2f}"  # type: ignore[operator]


def _targets(scen: ShardScenario, a: Row, ts: Row | None, second: bool, runs: int | None,
             lim: Any = None, cv: Row | None = None) -> str:
    if not a.client.startswith("aiovolume") or not a.ok:
        return ""
    parts = []
    if lim is not None and not second:
        target = report.READ_TARGET if scen.kind == "read" else report.WRITE_TARGET
        frac = _out_bytes(scen) / 2**20 / a.median / lim.mib_s  # type: ignore[operator]
        parts.append(f"{frac:.2f} of limit {lim.mib_s:.0f} MiB/s {'✓' if frac >= target else '✗'} ≥{target}")
        if cv is not None and cv.ok:
            parts.append(f"{'✓' if a.median < cv.median else '✗'} faster than cloud-volume")  # type: ignore[operator]
    if second:
        if "cutout" not in scen.id:
            return ""
        req = getattr(a, "requests", [])
        ts_req = getattr(ts, "requests", []) if ts is not None else []
        if req:
            worst = max(req)
            if runs is not None:
                parts.append(f"{'✓' if worst <= runs else '✗'} ≤ {runs} data runs")
            if ts_req:
                third = statistics.median(ts_req) / 3
                parts.append(f"{'✓' if worst <= third else '✗'} ≤ ⅓ of tensorstore's ({third:.1f})")
        return "; ".join(parts)
    if (scen.target == "faster" or lim is not None) and ts is not None and ts.ok:
        parts.append(f"{'✓' if a.median < ts.median else '✗'} faster than tensorstore")  # type: ignore[operator]
    return "; ".join(parts)


def render(env: dict[str, Any], results: list[report.Result], layer: Layer, meta: dict[str, Any],
           runs_info: dict[str, tuple[int, int, int]]) -> str:
    import platform

    args = env["args"]
    v = env["versions"]
    lb, la = env["load_before"], env["load_after"]
    sh = meta["sharding"]
    L = [
        f"# aiovolume benchmark S6: sharded Precomputed ({'quick' if args.quick else 'full'} run)",
        "",
        f"- date: {env['start']:%Y-%m-%d %H:%M:%S}; total wall time {env['wall_s']:.0f} s",
        f"- command: `{env['cmdline']}`",
        f"- aiovolume commit {env['commit']}; python {platform.python_version()}; "
        + ", ".join(f"{k} {val}" for k, val in v.items() if k != "aiovolume"),
        f"- machine: {cpu_model()}, {usable_cores()} usable cores, {mem_total_gib():.1f} GiB RAM, {platform.platform()}",
        f"- load average before {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}, after {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}",
        f"- aiovolume defaults: concurrency file {env['concurrency']['file']} / http {env['concurrency']['http']}",
        f"- dataset: `{layer.name}` {'x'.join(map(str, layer.shape))} uint8 raw, {layer.chunk[0]}^3 chunks, EM-like "
        f"content (datasets.em_image), **written by tensorstore** ({layer.write_s:.1f} s) into benchmarks/data/ "
        f"(deleted at the end): {layer.files} shard files, {layer.stored_bytes / 2**20:.1f} MiB; sharding "
        f"`{sh['@type']}`, hash {sh['hash']}, preshift_bits {sh['preshift_bits']}, minishard_bits "
        f"{sh['minishard_bits']}, shard_bits {sh['shard_bits']} (shards of 4x4x2 chunks), minishard_index_encoding "
        f"{sh['minishard_index_encoding']}, data_encoding {sh['data_encoding']}",
    ]
    busy = [f"{r.scen.id} {r.noise[1]:.2f}" for r in results if r.rows and r.noise[1] > 0.15]
    if busy:
        L.append(f"- **WARNING: other processes used CPU during: {', '.join(busy)} (cores); those timings are noisy.**")
    L += [
        "",
        "Method: bench.py's (every client in its own worker process; one untimed warm-up per client, then "
        f"≥ {args.runs} timed calls round-robin with the order rotated each round, up to 10 while a client has "
        "< 1 s of timed calls; medians; every read checked against the reference voxels, WRONG reads never timed; "
        "writes go into a fresh layer holding only the info, are read back by aiovolume (untimed), compared and "
        "deleted, then `os.sync()`). **Every read starts on a freshly opened handle** (opened untimed: no client "
        "holds shard or minishard indexes); the \"2nd identical\" rows repeat the same read on that same handle "
        "right after. MiB/s = voxels requested (uint8) / median s. ×ts, ×cv = aiovolume's speed ÷ tensorstore's / "
        "cloud-volume's (> 1: aiovolume faster). Requests = every request the latency server counted during the "
        "timed call (`GET /__stats__`, reset before each call; median, min–max if they differ). Peak RSS = max over "
        "the timed calls of VmHWM of the worker + its descendants (an upper bound).",
        "",
        "Clients: aiovolume = `aiovolume.CloudVolume(url)` (facade), aiovolume-async = `await Volume.download` / "
        "`upload`, cloud-volume = `cloudvolume.CloudVolume(url, parallel=1, cache=False, lru_bytes=0, "
        "fill_missing=False)`, tensorstore = `neuroglancer_precomputed` on a file/http kvstore, cache_pool 0.",
        "",
        "| scenario | client | median s | MiB/s | ×ts | ×cv | requests per read | peak RSS MiB | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        scen = res.scen
        out = _out_bytes(scen)
        for second, rows in ((False, res.rows), (True, res.extra.get("second", []))):
            if not rows:
                continue
            ts = next((r for r in rows if r.client == "tensorstore"), None)
            cv = next((r for r in rows if r.client == "cloud-volume"), None)
            label = f"{scen.id} · {second_label(scen)}" if second else f"{scen.id} {scen.title}"
            dr = runs_info.get(scen.id)
            for i, r in enumerate(rows):
                aio = r.client.startswith("aiovolume")
                if r.ok:
                    cells = f"{r.median:.3f} | {out / 2**20 / r.median:.0f}"
                    if r.wrong_runs:
                        cells += f" **{r.wrong_runs} WRONG run(s)**"
                else:
                    st = f"**{r.status}**" if r.status.startswith("WRONG") else r.status
                    cells = f"{st} | "
                L.append(f"| {label if i == 0 else ''} | {r.client} | {cells} "
                         f"| {_speed_ratio(r, ts) if aio else ''} | {_speed_ratio(r, cv) if aio else ''} "
                         f"| {_reqs(r) if scen.latency_ms is not None else '·'} | {_rss(r)} "
                         f"| {_targets(scen, r, ts, second, dr[2] if dr else None, res.limit, cv)} |")
    L += [""]
    for res in results:
        if res.scen.note:
            L.append(f"- {res.scen.id}: {res.scen.note}")
        dr = runs_info.get(res.scen.id)
        if dr:
            L.append(f"- {res.scen.id}: the box touches {dr[0]} chunks in {dr[1]} shards; in the stored shard files "
                     f"their data lie in {dr[2]} contiguous byte runs, so a reader holding the indexes needs at most "
                     f"{dr[2]} data requests (fewer if it merges runs across gaps). Target of the 2nd identical "
                     f"cutout: ≤ that, and ≤ a third of tensorstore's requests.")
        if "rtt_s" in res.extra:
            L.append(f"- {res.scen.id}: round trip to the latency server {1e3 * res.extra['rtt_s']:.1f} ms "
                     "(median of 20 sequential GETs of info).")
    L += (_targets_summary(results, runs_info) + _limits(results) + _requests_detail(results) + _details(results)
          + _noise(results))
    return "\n".join(L) + "\n"


def _targets_summary(results: list[report.Result], runs_info: dict[str, tuple[int, int, int]]) -> list[str]:
    L = ["", "## Targets (issues 13 and 20), aiovolume facade row", ""]
    for res in results:
        scen = res.scen
        aio = res.row(scen.primary)
        ts = res.row("tensorstore")
        if aio is None:
            continue
        t = _targets(scen, aio, ts, False, None, res.limit, res.row("cloud-volume"))
        if t:
            L.append(f"- {scen.id}: {t}")
        if scen.twice and "cutout" in scen.id:
            a2 = next((r for r in res.extra.get("second", []) if r.client == scen.primary), None)
            t2 = next((r for r in res.extra.get("second", []) if r.client == "tensorstore"), None)
            dr = runs_info.get(scen.id)
            if a2 is not None:
                L.append(f"- {scen.id} 2nd identical cutout: {_targets(scen, a2, t2, True, dr[2] if dr else None)} "
                         f"(aiovolume {_reqs(a2)} requests, tensorstore {_reqs(t2) if t2 else '·'})")
    return L


def _limits(results: list[report.Result]) -> list[str]:
    L = ["", "## Machine limits (measured in this run; benchmarks/shard_limits.py)", "",
         "assemble = allocate the output and copy every chunk's part in (writes: cut the array into chunk-ordered "
         "buffers); disk = page-cache read of the shard bytes the box needs (writes: write the shard files as new "
         "files), one thread; server = the latency server's CPU for the whole read, least over the clients' calls; "
         "latency = one round trip (whole shard files, indexes inside, need no index round trip first). limit s = max((assemble + disk + "
         "server) / cores, server) + latency. All seconds.", "",
         "| scenario | assemble s | disk s | server s | latency s | limit s | **limit MiB/s** | aiovolume fraction |",
         "|---|---|---|---|---|---|---|---|"]
    for res in results:
        lim, aio = res.limit, res.row(res.scen.primary)
        if lim is None:
            continue
        frac = f"{_out_bytes(res.scen) / 2**20 / aio.median / lim.mib_s:.2f}" if aio and aio.ok else ""  # type: ignore[operator]
        L.append(f"| {res.scen.id} | {lim.cpu_assemble_s:.3f} | {lim.disk_s:.3f} | {lim.server_s:.3f} "
                 f"| {lim.latency_s:.4f} | {lim.limit_s:.3f} | **{lim.mib_s:.0f}** | {frac} |")
    return L


def _requests_detail(results: list[report.Result]) -> list[str]:
    L = ["", "## Requests per read, by path (medians over the timed calls)", "",
         "| scenario | client | requests | shard files touched | other paths (info, ...) |", "|---|---|---|---|---|"]
    for res in results:
        if res.scen.latency_ms is None:
            continue
        for second, rows in ((False, res.rows), (True, res.extra.get("second", []))):
            for r in rows:
                det = getattr(r, "req_detail", [])
                if not det:
                    continue
                label = f"{res.scen.id}{' 2nd' if second else ''}"
                L.append(f"| {label} | {r.client} | {_reqs(r)} | {statistics.median(d['shard_files'] for d in det):g} "
                         f"| {statistics.median(d['other'] for d in det):g} |")
    return L


def _details(results: list[report.Result]) -> list[str]:
    L = ["", "## Details: per-run seconds (in run order)", "",
         "| scenario | client | median s | min–max s | runs | stored (writes) |", "|---|---|---|---|---|---|"]
    for res in results:
        for second, rows in ((False, res.rows), (True, res.extra.get("second", []))):
            for r in rows:
                label = f"{res.scen.id}{' 2nd' if second else ''}"
                if not r.times:
                    L.append(f"| {label} | {r.client} | {r.status} | | | |")
                    continue
                stored = ""
                if r.stored_bytes:
                    stored = f"{statistics.median(r.stored_bytes) / 2**20:.1f} MiB ({r.stored_files})"
                L.append(f"| {label} | {r.client} | {r.median:.3f} | {min(r.times):.3f}–{max(r.times):.3f} "
                         f"| {' '.join(f'{t:.3f}' for t in r.times)} | {stored} |")
    return L


def _noise(results: list[report.Result]) -> list[str]:
    L = ["", "## Run conditions per scenario", "",
         "Other processes' CPU = the machine's non-idle CPU minus this benchmark's, per second of the scenario, "
         "in cores; steal = vCPU time given to other guests.", "",
         "| scenario | wall s | other processes' CPU (cores) | steal (cores) |", "|---|---|---|---|"]
    for res in results:
        if res.rows:
            L.append(f"| {res.scen.id} | {res.noise[0]:.0f} | {res.noise[1]:.2f} | {res.noise[2]:.2f} |")
    return L


# ------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="512x512x128 (4 shards), 3 runs (development)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per client (default 5; --quick 3)")
    ap.add_argument("--scenarios", default="", help="comma-separated ids or prefixes (S6 = all; S6-read, "
                    "S6-cutout, S6-write, ...); bench.py ids (S1, S4, ...) select nothing here")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated, as bench.py")
    ap.add_argument("--baseline", default="", help="as bench.py: each aiovolume row again on that checkout's src/, "
                    "in the same round-robin, as '<client>@base'")
    ap.add_argument("--cutouts", type=int, default=None, help="bench.py's S8 option; accepted and ignored here")
    ap.add_argument("--no-gzip-study", action="store_true", help="bench.py's option; accepted and ignored here")
    args = ap.parse_args()
    args.runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    shape = (512, 512, 128) if args.quick else (1024, 1024, 128)
    from clients import FACTORIES

    wanted = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in FACTORIES]
    if unknown:
        ap.error(f"unknown client(s) {unknown}; choose from {list(FACTORIES)}")
    if args.baseline:
        if not (Path(args.baseline) / "src" / "aiovolume").is_dir():
            ap.error(f"--baseline {args.baseline}: no src/aiovolume there (e.g. git worktree add DIR COMMIT)")
        bench.BASELINE.append(str(Path(args.baseline).resolve()))
    all_scen = scenarios(shape)
    sel = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    chosen = [s for s in all_scen if not sel or any(s.id.upper() == p or s.id.upper().startswith(p + "-")
                                                    for p in sel)]
    if not chosen:  # e.g. `make bench BENCH_ARGS="--scenarios S1"`: nothing of S6 asked for
        log(f"bench_sharded: no S6 scenario matches {args.scenarios!r} (ids: {[s.id for s in all_scen]}); nothing to do")
        return 0

    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    env = report.environment(args, " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    t_start = time.perf_counter()
    bench.DATA_ROOT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_sharded-", dir=bench.DATA_ROOT))
    results: list[report.Result] = []
    runs_info: dict[str, tuple[int, int, int]] = {}
    try:
        b = ShardedBench(args, workdir)
        log(f"dataset {shape} in {workdir} ...")
        meta = b.make_sharded(shape)
        layer = b.layers[LAYER]
        for scen in chosen:
            if scen.twice and "cutout" in scen.id:
                runs_info[scen.id] = b.data_runs(scen.boxes[0])
            results.append(b.run(scen, bench.choose_clients(scen, wanted)))
        b.loop.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            bench.DATA_ROOT.rmdir()  # only if empty
        except OSError:
            pass
    env["wall_s"] = time.perf_counter() - t_start
    env["load_after"] = os.getloadavg()
    out = save_report(f"bench_sharded-{env['start']:%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}",
                      render(env, results, layer, meta, runs_info))
    log(f"written {out} (total {env['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
