"""Transfer throughput (``make bench`` runs it after bench_sharded.py): ``transfer_to`` file -> file,
aiovolume's facade vs cloud-volume's, in the same run.

Run: ``.venv/bin/python benchmarks/bench_transfer.py [--quick] [--runs N] [--scenarios T1,T2]
[--clients aiovolume,cloud-volume]`` (other ``make bench`` flags are accepted and ignored).

* The source is ``img_gzip`` of bench.py (EM-like uint8, 64^3 chunks, gzip), written by
  cloud-volume: 1024x1024x128 (``--quick``: 512x512x128).
* Scenarios: T1 same encoding (chunks copied as stored), T2 re-encoded (raw -> png, lossless),
  T3 unsharded -> sharded (same encoding; cloud-volume holds every file of the region at once).
* Every timed transfer runs in a **fresh worker process** (``--worker``): the source is opened
  untimed, VmHWM is reset (``clear_refs``), the transfer is timed, then the worker's peak RSS
  (VmHWM, i.e. its baseline included) is read. Clients alternate round-robin, the order rotated
  each round; each destination is read back by aiovolume and compared with the source voxels
  (untimed) and deleted. Reported: median seconds, MiB/s of the region, max peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import clear_peak, cpu_model, git_commit, log, mem_total_gib, save_report, usable_cores, \
    versions, vm_kib  # noqa: E402

CLIENTS = ("aiovolume", "cloud-volume")
SCENARIOS = {
    "T1-same": ("same encoding (stored bytes)", {}),
    "T2-reencode": ("re-encoded raw -> png", {"encoding": "png"}),
    "T3-sharded": ("unsharded -> sharded", {"sharded": True}),
}


# -- the worker: one transfer in a fresh process ---------------------------------------------------
def worker(client: str, src: str, dst: str, kwargs: dict) -> None:
    if client == "aiovolume":
        from aiovolume import CloudVolume
    else:
        from cloudvolume import CloudVolume
    vol = CloudVolume(src, parallel=1, progress=False)
    bounds = vol.bounds
    clear_peak("self")
    t0 = time.perf_counter()
    vol.transfer_to(dst, bounds, **kwargs)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_mib": vm_kib("self") / 1024}), flush=True)


def run_worker(client: str, src: str, dst: str, kwargs: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", client, src, dst, json.dumps(kwargs)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{client} worker failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(dst: str, ref: np.ndarray) -> str:
    from aiovolume import CloudVolume

    got = np.asarray(CloudVolume(dst, progress=False)[:, :, :])[..., 0]
    return "ok" if np.array_equal(got, ref) else "WRONG"


# -- the driver ----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--scenarios", default="")
    ap.add_argument("--clients", default=",".join(CLIENTS))
    args, _ = ap.parse_known_args()
    runs = args.runs or (3 if args.quick else 5)
    shape = (512, 512, 128) if args.quick else (1024, 1024, 128)
    clients = [c for c in args.clients.split(",") if c in CLIENTS]
    wanted = [s for s in SCENARIOS if not args.scenarios or any(s.startswith(p) for p in args.scenarios.split(","))]

    from datasets import em_image, write_layer

    root = tempfile.mkdtemp(prefix="bench-transfer-", dir=HERE / "data" if (HERE / "data").is_dir() else None)
    start = time.strftime("%Y%m%d-%H%M%S")
    try:
        log(f"writing img_gzip {shape} with cloud-volume ...")
        data = em_image(shape)
        layer = write_layer(root, "img_gzip", data, "raw", None)
        src = "file://" + layer.path
        region_mib = data.nbytes / 2**20
        results: dict[str, dict[str, list[dict]]] = {s: {c: [] for c in clients} for s in wanted}
        status: dict[tuple[str, str], str] = {}
        for scenario in wanted:
            kwargs = SCENARIOS[scenario][1]
            for r in range(runs):
                order = clients[r % len(clients):] + clients[:r % len(clients)]
                for client in order:
                    dst = "file://" + os.path.join(root, f"dst-{client}")
                    res = run_worker(client, src, dst, kwargs)
                    results[scenario][client].append(res)
                    if r == 0:  # values checked on the first run of each
                        status[(scenario, client)] = check(dst, data)
                    shutil.rmtree(dst.removeprefix("file://"))
                    log(f"{scenario} {client} run {r + 1}: {res['seconds']:.2f} s, peak {res['peak_mib']:.0f} MiB")
        text = render(shape, layer, region_mib, runs, clients, wanted, results, status, start)
        save_report(f"transfer-{start}{'-quick' if args.quick else ''}", text)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def render(shape, layer, region_mib, runs, clients, wanted, results, status, start) -> str:
    v = versions()
    lines = [
        f"# transfer_to benchmark ({start})", "",
        f"`{shlex.join(sys.argv)}` — commit {git_commit(str(HERE.parent))}; {cpu_model()}, {usable_cores()} cores, "
        f"{mem_total_gib():.1f} GiB; aiovolume {v['aiovolume']}, cloud-volume {v['cloud-volume']}, "
        f"cloud-files {v['cloud-files']}, numpy {v['numpy']}.", "",
        f"Source: `img_gzip` {'x'.join(map(str, shape))} uint8 ({region_mib:.0f} MiB), 64^3 chunks, gzip "
        f"(written by cloud-volume: {layer.files} files, {layer.stored_bytes / 2**20:.1f} MiB). file:// -> file://, "
        f"the whole layer; each transfer in a fresh worker process, {runs} runs round-robin; median time, "
        "MiB/s of the decoded region, max peak RSS (VmHWM of the worker, its baseline included).", "",
        "| scenario | client | median s | MiB/s | peak RSS MiB | values | vs cloud-volume |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for scenario in wanted:
        medians = {c: statistics.median(r["seconds"] for r in results[scenario][c]) for c in clients}
        for client in clients:
            rs = results[scenario][client]
            med = medians[client]
            peak = max(r["peak_mib"] for r in rs)
            vs = ""
            if client != "cloud-volume" and "cloud-volume" in medians:
                cv_peak = max(r["peak_mib"] for r in results[scenario]["cloud-volume"])
                vs = f"{medians['cloud-volume'] / med:.2f}x faster, {peak / cv_peak:.2f}x the RSS"
            lines.append(f"| {scenario}: {SCENARIOS[scenario][0]} | {client} | {med:.2f} | {region_mib / med:.0f} | "
                         f"{peak:.0f} | {status.get((scenario, client), '?')} | {vs} |")
    lines += ["", "All times: " + "; ".join(
        f"{s} {c}: " + ", ".join(f"{r['seconds']:.2f}" for r in results[s][c]) for s in wanted for c in clients), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
    else:
        main()
