"""The markdown scoreboard of bench.py."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common import Row, cpu_model, git_commit, log, mem_total_gib, usable_cores, versions
from limits import Limit

READ_TARGET = 0.85          # aiovolume's fraction of the limit, reads (issue 20)
WRITE_TARGET = 0.75         # aiovolume's fraction of the limit, writes (issue 20)
PARALLEL_SLACK = 1.05       # parallel=2 "never slower than parallel=1": within 5 % (noise)
S8_TARGET = 5.0             # aiovolume / cloud-volume, many small reads
RSS_SLOPE, RSS_BASE_MB = 1.3, 200  # full reads: peak RSS <= 1.3 x output + 200 MB


@dataclass
class Result:
    scen: Any                       # bench.Scenario
    rows: list[Row] = field(default_factory=list)
    limit: Limit | None = None
    noise: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.client == name), None)

    @property
    def out_bytes(self) -> int:
        return self.limit.out_bytes if self.limit else 0

    @property
    def n_chunks(self) -> int:
        return self.limit.n_requests if self.limit else 0


def environment(args: Any, cmdline: str) -> dict[str, Any]:
    from aiovolume import Options

    here = os.path.dirname(os.path.abspath(__file__))
    o = Options()
    return {
        "start": datetime.now(), "cmdline": cmdline, "args": args, "load_before": os.getloadavg(),
        "versions": versions(), "commit": git_commit(os.path.dirname(here)),
        "gzip_level": o.gzip_level, "concurrency": {s: o.concurrency_for(s) for s in ("file", "http")},
    }


def _mibs(nbytes: int, s: float | None) -> float | None:
    return nbytes / 2**20 / s if s else None


def _f(v: float | None, nd: int = 0) -> str:
    if v is None:
        return ""
    if nd == 0 and abs(v) < 10:
        return f"{v:.1f}"
    return f"{v:.{nd}f}"


def _ratio(a: Row | None, b: Row | None) -> str:
    if a is None or b is None:
        return ""
    if not a.ok:
        return ""
    if b.note:
        return "n/c"
    if not b.ok:
        return "n/a" if b.status.startswith(("n/a", "WRONG", "error")) else ""
    assert a.median and b.median
    return f"{b.median / a.median:.2f}"


def _cell(res: Result, r: Row | None, frac: bool = False) -> str:
    if r is None:
        return "·"
    if not r.ok:
        return f"**{r.status}**" if r.status.startswith("WRONG") else r.status
    v = _mibs(res.out_bytes, r.median)
    s = _f(v)
    if frac and res.limit:
        s += f" ({v / res.limit.mib_s:.2f})"
    if r.note:
        s += f" ({r.note})"
    if r.wrong_runs:
        s += f" **{r.wrong_runs} WRONG run(s)**"
    return s


def _rss_target_mib(res: Result) -> float:
    return (RSS_SLOPE * res.out_bytes + RSS_BASE_MB * 1e6) / 2**20


def _status(res: Result, name: str) -> str:
    scen = res.scen
    parts = []
    aio = res.row(name)
    if aio is not None and aio.ok and res.limit:
        frac = _mibs(res.out_bytes, aio.median) / res.limit.mib_s  # type: ignore[operator]
        if scen.kind in ("read", "write"):
            target = READ_TARGET if scen.kind == "read" else WRITE_TARGET
            parts.append(f"{'✓' if frac >= target else '✗'} ≥{target} of limit")
            for peer, short in (("cloud-volume", "cv"), ("tensorstore", "ts")):
                p = res.row(peer)
                if p is not None and p.ok and p.median and "n/c" not in p.note:  # n/c: not the same job
                    parts.append(f"{'✓' if aio.median < p.median else '✗'} faster than {short}")  # type: ignore[operator]
            par = res.row("aiovolume-parallel2")
            if par is not None and par.ok and par.median:
                ok = par.median <= aio.median * PARALLEL_SLACK  # type: ignore[operator]
                parts.append(f"{'✓' if ok else '✗'} parallel=2 not slower")
        if scen.full_read and aio.peak_rss_mib is not None:
            ok = aio.peak_rss_mib <= _rss_target_mib(res)
            parts.append(f"{'✓' if ok else '✗'} RSS ≤ {_rss_target_mib(res):.0f}")
        cv = res.row("cloud-volume")
        if scen.kind == "cutouts" and cv is not None and cv.ok:
            x = cv.median / aio.median  # type: ignore[operator]
            parts.append(f"{'✓' if x >= S8_TARGET else '✗'} ≥{S8_TARGET:.0f}× cv")
    for r in res.rows:
        if r.wrong_runs or r.status.startswith("WRONG"):
            parts.append(f"{r.client} WRONG")
        elif r.status.startswith("error"):
            parts.append(f"{r.client} error")
    return "; ".join(parts) or "ok"


def _rss(r: Row | None) -> str:
    if r is None or r.peak_rss_mib is None:
        return "·"
    return f"{r.peak_rss_mib:.0f}"


def log_scenario(res: Result, memcpy_gib_s: float = 0.0) -> None:
    lim = res.limit
    if lim is None:
        return
    log(f"  limit {res.scen.id}: cpu {lim.cpu_s:.3f} s (decode {lim.cpu_decode_s:.3f} [{lim.decoder}] + "
        f"assemble {lim.cpu_assemble_s:.3f}) + disk {lim.disk_s:.3f} + server {lim.server_s:.3f} / {lim.cores} cores, "
        f"latency {lim.latency_s * 1e3:.1f} ms, latency-bound {lim.latency_bound_s:.3f} s "
        f"-> {lim.limit_s:.3f} s = {lim.mib_s:.0f} MiB/s; decode x {lim.cores} cores "
        f"{_f(lim.decode_bound_mib_s) or 'inf'} MiB/s; concurrency x chunk / latency {_f(lim.latency_bound_mib_s) or '-'} "
        f"MiB/s; memcpy {memcpy_gib_s:.1f} GiB/s")
    for r in res.rows:
        v = _mibs(res.out_bytes, r.median)
        txt = f"{v:.0f} MiB/s ({v / lim.mib_s:.2f} of limit), median {r.median:.3f} s" if r.ok else r.status
        log(f"    {r.client:18s} {txt}; peak RSS {_rss(r)} MiB")


def render(env: dict[str, Any], results: list[Result]) -> str:
    args = env["args"]
    v = env["versions"]
    lb, la = env["load_before"], env["load_after"]
    L = [
        f"# aiovolume benchmark scoreboard ({'quick' if args.quick else 'full'} run)",
        "",
        f"- date: {env['start']:%Y-%m-%d %H:%M:%S}; total wall time {env['wall_s']:.0f} s",
        f"- command: `{env['cmdline']}`",
        f"- aiovolume commit {env['commit']}; python {platform.python_version()}; "
        + ", ".join(f"{k} {val}" for k, val in v.items() if k != "aiovolume"),
        f"- machine: {cpu_model()}, {usable_cores()} usable cores, {mem_total_gib():.1f} GiB RAM, {platform.platform()}",
        f"- memcpy (np.copyto 256 MiB, one core, best of 3): **{env['memcpy_gib_s']:.1f} GiB/s**",
        f"- load average before {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}, after {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} "
        "(other processes' CPU per scenario: last table)",
        f"- aiovolume defaults: gzip write level {env['gzip_level']}"
        f"{' (= the library default encoder; see the gzip study)' if env['gzip_level'] is None else ''}, concurrency file {env['concurrency']['file']} / "
        f"http {env['concurrency']['http']}",
    ]
    busy = [f"{r.scen.id} {r.noise[1]:.2f}" for r in results if r.rows and r.noise[1] > 0.15]
    if busy:
        L.append(f"- **WARNING: other processes used CPU during: {', '.join(busy)} (cores); those timings are noisy.**")
    L += _datasets(env), ""
    L += [
        f"Method: every client in its own worker process; handles opened untimed; one untimed warm-up per client, "
        f"then ≥ {args.runs} timed calls round-robin with the order rotated each round (up to 10 while a "
        "client has < 1 s of timed calls); medians. MiB/s = decoded voxels requested / median s. "
        "limit = max((cpu_1core + disk_1core + server_1core) / cores, server_1core) + latency, and at least "
        "n_requests × latency / concurrency (details below); fraction = aiovolume / limit. ×cv, ×ts = "
        "aiovolume's throughput ÷ cloud-volume's / tensorstore's (>1: aiovolume faster). Peak RSS = max over the "
        "timed calls of VmHWM (reset before each call via /proc/PID/clear_refs) of the worker + its "
        "descendants (aiovolume's decode pool), an upper bound: shared-memory pages count in both. "
        f"Targets (issue 20): reads ≥ {READ_TARGET} and writes ≥ {WRITE_TARGET} of the limit, faster than "
        f"cloud-volume and tensorstore (where they can do the job); `parallel=2` (aiovolume-parallel2) "
        f"no slower than the default (within {PARALLEL_SLACK - 1:.0%}, noise); full reads peak RSS ≤ "
        f"{RSS_SLOPE} × output + {RSS_BASE_MB} MB; S8 ≥ {S8_TARGET:.0f}× cloud-volume. "
        "WRONG = wrong voxels (never timed).",
        "",
        "| scenario | limit MiB/s | aiovolume MiB/s (fraction of limit) | cloud-volume | tensorstore | ×cv | ×ts "
        "| chunks/s (aiovolume) | peak RSS MiB aio / cv / ts | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        scen = res.scen
        if scen.kind == "skip":
            L.append(f"| {scen.id} | | {scen.note} | | | | | | | skipped |")
            continue
        cv, ts = res.row("cloud-volume"), res.row("tensorstore")
        aio_names = [scen.primary] + [r.client for r in res.rows
                                      if r.client.startswith("aiovolume") and r.client != scen.primary]
        for i, name in enumerate(aio_names):
            aio = res.row(name)
            if aio is None:
                continue
            label = f"{scen.id} {scen.title}" if i == 0 else f"{scen.id} · {name}"
            if i == 0 and name != "aiovolume":
                label += f" ({name})"
            cps = _f(res.n_chunks / aio.median) if aio.ok else ""
            L.append(
                f"| {label} | {_f(res.limit.mib_s) if res.limit else ''} | {_cell(res, aio, frac=True)} "
                f"| {_cell(res, cv) if i == 0 else ''} | {_cell(res, ts) if i == 0 else ''} "
                f"| {_ratio(aio, cv)} | {_ratio(aio, ts)} | {cps} "
                f"| {_rss(aio)} / {_rss(cv) if i == 0 else ''} / {_rss(ts) if i == 0 else ''} "
                f"| {_status(res, name) if i == 0 else ''} |")
    notes = [f"- {r.scen.id}: {r.scen.note}" for r in results if r.scen.note and r.scen.kind != "skip"]
    if notes:
        L += ["", *notes]
    L += _s8(results) + _limits(results) + _rss_table(results) + _study(env) + _details(results) + _noise(results)
    return "\n".join(L) + "\n"


def _datasets(env: dict[str, Any]) -> str:
    layers = env.get("layers", {})
    meta = env.get("datasets", {})
    parts = []
    for lay in layers.values():
        s = (f"{lay.name} {'x'.join(map(str, lay.shape))} {lay.dtype} {lay.encoding}"
             f"{' + gzip (.gz files, cloud-volume level 9)' if lay.compression else ', stored uncompressed'}, "
             f"{lay.chunk[0]}^3 chunks, {lay.files} files, {lay.stored_bytes / 2**20:.1f} MiB stored "
             f"({lay.nbytes / lay.stored_bytes:.2f}x)")
        if lay.encoding == "compressed_segmentation" and "segments" in meta:
            s += f", {meta['segments']} segments, {100 * meta['background']:.1f}% background"
        parts.append(s)
    return ("- datasets (written by cloud-volume 12.15.2 into benchmarks/data/, deleted at the end; image = "
            "smooth multi-octave field + Gaussian noise, labels = jittered-grid Voronoi with random 50-bit ids): "
            + "; ".join(parts))


def _s8(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.scen.kind == "cutouts" and r.rows]
    if not rows:
        return []
    L = ["", "## Many small reads (S8)", "",
         "| scenario | client | cutouts/s | MiB/s | chunk reads/s | median s | ×cv |", "|---|---|---|---|---|---|---|"]
    for res in rows:
        cv = res.row("cloud-volume")
        n = len(res.scen.boxes)
        for r in res.rows:
            if not r.ok:
                L.append(f"| {res.scen.id} | {r.client} | {r.status} | | | | |")
                continue
            L.append(f"| {res.scen.id} | {r.client} | {n / r.median:.0f} | {_f(_mibs(res.out_bytes, r.median))} "
                     f"| {res.n_chunks / r.median:.0f} | {r.median:.3f} | "
                     f"{_ratio(r, cv) if r.client != 'cloud-volume' else ''} |")
    res0 = rows[0]
    per = res0.n_chunks / max(1, len(res0.scen.boxes))
    L += ["", f"A 32^3 cutout at a random offset touches {per:.2f} chunks of 64^3 on average (every client "
          "reads and decodes each touched chunk again: no client has a chunk cache here)."]
    return L


def _limits(results: list[Result]) -> list[str]:
    L = ["", "## Machine limits (measured in this run)", "",
         "cpu = decode (best single-core decoder in bold, with every candidate's MiB/s of decoded chunk bytes on "
         "one core; imagecodecs.deflate_decode = libdeflate on the raw stream with the output size given; "
         "cseg = compressed_segmentation) + assemble "
         "(allocate the output and copy every chunk's part in; writes: cut the array into chunk buffers); "
         "disk = page-cache read (writes: write of new files) of the stored bytes, one thread; server = latency-"
         "server CPU for the whole read (least over the clients' calls and a minimal aiohttp fetch of every "
         "chunk), HTTP only (it includes the server's file reads); latency = one round trip; lat-bound = "
         "n_requests × latency / aiovolume's HTTP concurrency. All seconds.",
         "",
         "| scenario | decoder (1-core MiB/s) | decode s | assemble s | disk s | server s | latency s | lat-bound s "
         "| limit s | **limit MiB/s** | decode × cores MiB/s | concurrency × chunk / latency MiB/s | aiovolume fraction |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        lim = res.limit
        if lim is None:
            continue
        rates = lim.decoder
        if lim.decode_rates and lim.decoder not in lim.decode_rates:  # a cache took the decodes away
            rates = f"**{lim.decoder}**" + "".join(f"; {k} {val:.0f}" for k, val in lim.decode_rates.items())
        elif lim.decode_rates:
            rates = f"**{lim.decoder} {lim.decode_rates[lim.decoder]:.0f}**" + "".join(
                f"; {k} {val:.0f}" for k, val in lim.decode_rates.items() if k != lim.decoder)
        aio = res.row(res.scen.primary)
        frac = f"{_mibs(lim.out_bytes, aio.median) / lim.mib_s:.2f}" if aio and aio.ok else ""
        lat = f"{lim.latency_s:.4f}" if res.scen.latency_ms is not None else "0"
        lb = f"{lim.latency_bound_s:.3f} ({lim.n_requests}×/{lim.concurrency})" if lim.concurrency else "0"
        L.append(f"| {res.scen.id} | {rates} | {lim.cpu_decode_s:.3f} | {lim.cpu_assemble_s:.3f} | {lim.disk_s:.3f} "
                 f"| {lim.server_s:.3f} | {lat} | {lb} | {lim.limit_s:.3f} | **{lim.mib_s:.0f}** "
                 f"| {_f(lim.decode_bound_mib_s) or '∞ (no decode)'} | {_f(lim.latency_bound_mib_s) or '·'} | {frac} |")
        if lim.alt_encode_s is not None:
            cv = res.row("cloud-volume")
            cvf = f"; cloud-volume's fraction of it {_mibs(lim.out_bytes, cv.median) / lim.alt_mib_s:.2f}" \
                if cv and cv.ok and lim.alt_mib_s else ""
            L.append(f"| {res.scen.id} at level 9 | {lim.alt_label} | {lim.alt_encode_s:.3f} | {lim.cpu_assemble_s:.3f} "
                     f"| {lim.disk_s:.3f} | 0 | 0 | 0 | {lim.seconds(lim.alt_encode_s + lim.cpu_assemble_s):.3f} "
                     f"| {lim.alt_mib_s:.0f} | {lim.out_bytes / 2**20 / (lim.alt_encode_s / lim.cores):.0f} | · "
                     f"| {cvf.lstrip('; ')} |")
    for res in results:
        if res.limit is not None and res.limit.notes:
            L.append(f"\n{res.scen.id}: " + "; ".join(res.limit.notes) + ".")
        if "fetch_cpu_s" in res.extra:
            cpus = ", ".join(f"{r.client} {min(r.server_cpu_s):.3f}" for r in res.rows if r.server_cpu_s)
            L.append(f"\n{res.scen.id}: server CPU per whole read — minimal aiohttp fetch {res.extra['fetch_cpu_s']:.3f} s; "
                     f"least per client: {cpus}; round trip {1e3 * res.extra['rtt_s']:.2f} ms.")
    return L


def _rss_table(results: list[Result]) -> list[str]:
    L = ["", "## Peak RSS per client (MiB; worker itself + its descendants, max over the timed calls)", "",
         "| scenario | output MiB | target (aiovolume, full reads) | " + " | ".join(
             ["client: self + descendants"] * 1) + " |", "|---|---|---|---|"]
    for res in results:
        if not res.rows:
            continue
        cells = []
        for r in res.rows:
            if r.rss_self_mib:
                i = max(range(len(r.rss_self_mib)), key=lambda j: r.rss_self_mib[j] + r.rss_kids_mib[j])
                cells.append(f"{r.client} {r.rss_self_mib[i]:.0f} + {r.rss_kids_mib[i]:.0f}")
        target = f"{_rss_target_mib(res):.0f}" if res.scen.full_read else ""
        L.append(f"| {res.scen.id} | {res.out_bytes / 2**20:.0f} | {target} | {'; '.join(cells)} |")
    methods = {r.rss_method for res in results for r in res.rows if r.rss_method}
    L.append(f"\nPeak measured as: {', '.join(sorted(methods)) or 'n/a'}. Descendants that exit during a call "
             "are not counted; shared-memory (/dev/shm) pages touched by both are counted twice.")
    return L


def _study(env: dict[str, Any]) -> list[str]:
    from limits import AIOVOLUME_DEFAULT

    if "study" not in env:
        return []
    study, notes, nbytes, cv_bytes, wall = env["study"]
    ref_key = ("deflate.gzip_compress", 9) if ("deflate.gzip_compress", 9) in study else ("imagecodecs.gzip_encode", 9)
    ref_s, ref_b = study[ref_key]
    L = ["", "## gzip level study (write default)", "",
         f"Every chunk of img_gzip ({nbytes / 2**20:.0f} MiB) encoded once, one thread. Size ratio = stored bytes ÷ "
         f"those of {ref_key[0]} level 9 (cloud-volume's encoder; its layer on disk: {cv_bytes / 2**20:.1f} MiB). "
         f"Speed × = encode MiB/s ÷ that of the level-9 reference. (study took {wall:.0f} s)", "",
         "| encoder | level | stored MiB | size ratio to level 9 | compression ratio | encode MiB/s | speed × |",
         "|---|---|---|---|---|---|---|"]
    for (name, lv), (s, b) in study.items():
        shown = f"**{name}**" if name == AIOVOLUME_DEFAULT else name
        L.append(f"| {shown} | {lv if name != AIOVOLUME_DEFAULT else env['gzip_level']} | {b / 2**20:.1f} "
                 f"| {b / ref_b:.3f} | {nbytes / b:.3f} | {nbytes / 2**20 / s:.0f} | {ref_s / s:.2f} |")
    cur = study.get((AIOVOLUME_DEFAULT, 0))
    if cur:
        twins = [f"{k[0]} level {k[1]}" for k, val in study.items() if k[0] != AIOVOLUME_DEFAULT and val[1] == cur[1]]
        size_ok, speed_ok = cur[1] / ref_b <= 1.05, ref_s / cur[0] >= 3
        L.append(f"\naiovolume's default write (`Options().gzip_level` = {env['gzip_level']}"
                 f"{'; same output size as ' + ', '.join(twins) if twins else ''}): size {cur[1] / ref_b:.3f}× "
                 f"level 9 ({'✓' if size_ok else '✗'} within 5%), encode {ref_s / cur[0]:.2f}× faster "
                 f"({'✓' if speed_ok else '✗'} ≥ 3×) → **{'meets' if size_ok and speed_ok else 'does NOT meet'}** "
                 "the criterion (size within 5% of level 9 and ≥ 3× faster encode).")
    ok = [k for k, val in study.items() if k[0] != AIOVOLUME_DEFAULT and val[1] / ref_b <= 1.05 and ref_s / val[0] >= 3]
    if ok:
        L.append("Meeting both here: " + ", ".join(f"{k[0]} level {k[1]}" for k in ok) + ".")
    else:
        within = [k for k in study if study[k][1] / ref_b <= 1.05 and k[0] != AIOVOLUME_DEFAULT]
        if within:
            best = max(within, key=lambda k: ref_s / study[k][0])
            L.append(f"No encoder/level here meets both; the fastest within 5% of level 9's size is {best[0]} "
                     f"level {best[1]} ({ref_s / study[best][0]:.2f}× faster).")
    L += [f"- {n}" for n in notes]
    return L


def _details(results: list[Result]) -> list[str]:
    L = ["", "## Details: per-run seconds (in run order)", "",
         "| scenario | client | median s | min–max s | MiB/s | runs | stored (writes) |", "|---|---|---|---|---|---|---|"]
    for res in results:
        for r in res.rows:
            if not r.times:
                L.append(f"| {res.scen.id} | {r.client} | {r.status} | | | | |")
                continue
            stored = ""
            if r.stored_bytes:
                stored = f"{statistics.median(r.stored_bytes) / 2**20:.1f} MiB ({r.stored_files})"
            L.append(f"| {res.scen.id} | {r.client}{' (' + r.note + ')' if r.note else ''} | {r.median:.3f} "
                     f"| {min(r.times):.3f}–{max(r.times):.3f} | {_f(_mibs(res.out_bytes, r.median))} "
                     f"| {' '.join(f'{t:.3f}' for t in r.times)} | {stored} |")
    return L


def _noise(results: list[Result]) -> list[str]:
    L = ["", "## Run conditions per scenario", "",
         "Other processes' CPU = the machine's non-idle CPU time minus this benchmark's (driver, workers, their "
         "pools, the latency server), per second of the scenario's wall time, in cores; steal = vCPU time the "
         "hypervisor gave to other guests. Write scenarios include the kernel's writeback of our own files.", "",
         "| scenario | wall s | other processes' CPU (cores) | steal (cores) |", "|---|---|---|---|"]
    for res in results:
        if res.rows:
            L.append(f"| {res.scen.id} | {res.noise[0]:.0f} | {res.noise[1]:.2f} | {res.noise[2]:.2f} |")
    return L
