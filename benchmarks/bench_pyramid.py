"""Pyramid building: 3 mips (factor 2,2,1) of a 1024x1024x128 uint8 layer on file://.

Run: ``.venv/bin/python benchmarks/bench_pyramid.py [--runs 3] [--size 1024,1024,128]``.
Writes ``benchmarks/results/bench_pyramid-<timestamp>.md``.

Rows (same layer, chunks 128x128x64, gzip, the scales removed before each run):

* ``aiovolume, LocalCluster 2x1``: ``aiovolume.dask.downsample(..., client=Client(LocalCluster(
  n_workers=2, threads_per_worker=1, processes=True)))`` on 127.0.0.1; the cluster is started
  once, before the timed runs (its start-up time is reported on its own).
* ``aiovolume, dask threads``: the same call without a client (dask's default threaded scheduler).
* ``aiovolume, single process``: the same call under ``dask.config.set(scheduler="synchronous")``:
  one block after the other in the calling thread (the engine's own I/O concurrency still applies).
* ``igneous-style, cloud-volume``: what igneous' DownsampleTask does, emulated (igneous itself is not
  installed: it pulls in a task-queue stack this benchmark does not need): the scales are added with
  cloud-volume's ``add_scale`` + ``commit_info``, then serial tasks of 1024x1024x64 voxels (chunk x
  2**num_mips in x and y, one chunk in z: igneous' shape for this layer under its memory target)
  each do ``CloudVolume(mip=0)[bbox]`` -> ``tinybrain.downsample_with_averaging(img, (2,2,1), 3)``
  -> ``CloudVolume(mip=m)[bbox_m] = mips[m-1]``.

Every row's mips are checked equal to tinybrain's on the whole volume (on the warm-up run).
One untimed warm-up per row, then ``--runs`` rounds, rows round-robin inside each; medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from common import cpu_model, git_commit, log, save_report, versions  # noqa: E402

CHUNK = (128, 128, 64)
FACTOR = (2, 2, 1)
NUM_MIPS = 3


def make_layer(root: Path, size: tuple[int, int, int]) -> tuple[str, np.ndarray]:
    """A smooth-ish uint8 image (so gzip has something to do) written by aiovolume."""
    from aiovolume import CloudVolume

    rng = np.random.default_rng(0)
    x, y, z = np.ogrid[: size[0], : size[1], : size[2]]
    data = ((x // 3 + y // 5 + z * 2) % 200).astype(np.uint8) + rng.integers(0, 40, size, dtype=np.uint8)
    data = np.asfortranarray(data)
    url = f"file://{root / 'img'}"
    CloudVolume.from_numpy(data, url, resolution=(4, 4, 40), chunk_size=CHUNK, compress="gzip").close()
    return url, data


def reset(root: Path, url: str) -> None:
    """Back to mip 0 only: remove the other scales from the info and their directories."""
    import json

    info_path = root / "img" / "info"
    info = json.loads(info_path.read_text())
    for scale in info["scales"][1:]:
        shutil.rmtree(root / "img" / scale["key"], ignore_errors=True)
    info["scales"] = info["scales"][:1]
    info_path.write_text(json.dumps(info))


def ours(url: str, client=None, scheduler: str | None = None) -> None:
    import dask

    from aiovolume.dask import downsample

    if scheduler:
        with dask.config.set(scheduler=scheduler):
            downsample(url, num_mips=NUM_MIPS, factor=FACTOR)
    else:
        downsample(url, num_mips=NUM_MIPS, factor=FACTOR, client=client)


def igneous_style(url: str) -> None:
    import tinybrain
    from cloudvolume import CloudVolume

    vol = CloudVolume(url, progress=False)
    for j in range(1, NUM_MIPS + 1):
        vol.add_scale([f ** j for f in FACTOR], chunk_size=CHUNK)
    vol.commit_info()
    bounds = vol.meta.bounds(0)
    shape = (CHUNK[0] * FACTOR[0] ** NUM_MIPS, CHUNK[1] * FACTOR[1] ** NUM_MIPS, CHUNK[2])
    lo, hi = [int(v) for v in bounds.minpt], [int(v) for v in bounds.maxpt]
    for z in range(lo[2], hi[2], shape[2]):  # serial tasks, as igneous' LocalTaskQueue(parallel=1)
        for y in range(lo[1], hi[1], shape[1]):
            for x in range(lo[0], hi[0], shape[0]):
                start = (x, y, z)
                stop = [min(s + e, h) for s, e, h in zip(start, shape, hi)]
                src = CloudVolume(url, mip=0, progress=False, fill_missing=True)
                img = src[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
                mips = tinybrain.downsample_with_averaging(img, FACTOR, num_mips=NUM_MIPS)
                for j, m in enumerate(mips, 1):
                    f = [k ** j for k in FACTOR]
                    a = [s // k for s, k in zip(start, f)]
                    dst = CloudVolume(url, mip=j, progress=False)
                    dst[a[0]:a[0] + m.shape[0], a[1]:a[1] + m.shape[1], a[2]:a[2] + m.shape[2]] = m


def check(url: str, reference: list[np.ndarray], name: str) -> None:
    from aiovolume import CloudVolume

    for j, ref in enumerate(reference, 1):
        with CloudVolume(url, mip=j, progress=False) as cv:
            got = cv[cv.bounds.to_slices()]
        if not np.array_equal(np.asarray(got), ref):
            raise SystemExit(f"{name}: mip {j} differs from tinybrain's")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1024,1024,128")
    ap.add_argument("--quick", action="store_true", help="one timed run")
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
    size = tuple(int(v) for v in args.size.split(","))

    import tinybrain
    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="bench-pyramid-"))
    try:
        log(f"writing a {size} uint8 layer")
        url, data = make_layer(root, size)
        reference = tinybrain.downsample_with_averaging(data[..., np.newaxis], FACTOR, num_mips=NUM_MIPS)
        t0 = time.perf_counter()
        cluster = LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        startup = time.perf_counter() - t0
        rows = {
            "aiovolume, LocalCluster 2x1": lambda: ours(url, client=client),
            "aiovolume, dask threads": lambda: ours(url),
            "aiovolume, single process": lambda: ours(url, scheduler="synchronous"),
            "igneous-style, cloud-volume": lambda: igneous_style(url),
        }
        times: dict[str, list[float]] = {k: [] for k in rows}
        try:
            for name, fn in rows.items():  # warm-up and correctness
                reset(root, url)
                fn()
                check(url, reference, name)
                log(f"{name}: checked")
            for r in range(args.runs):
                for name, fn in rows.items():
                    reset(root, url)
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
                log(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        finally:
            client.close()
            cluster.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = statistics.median(times["igneous-style, cloud-volume"])
    mib = np.prod(size) / 2**20
    lines = [
        f"# Pyramid: {NUM_MIPS} mips of a {'x'.join(map(str, size))} uint8 layer ({mib:.0f} MiB, chunks "
        f"{'x'.join(map(str, CHUNK))}, gzip, file://)",
        "",
        f"{datetime.now():%Y-%m-%d %H:%M}, commit {git_commit(str(HERE.parent))}, {cpu_model()}, " + ", ".join(
            f"{k} {v}" for k, v in versions(("numpy", "cloud-volume", "dask", "distributed", "tinybrain")).items()),
        f"Medians of {args.runs} runs (after a warm-up); LocalCluster start-up (not in the rows): {startup:.1f} s.",
        "Every row's mips were checked equal to tinybrain's on the whole volume.",
        "",
        "| how | median s | MiB/s of mip 0 | vs igneous-style |",
        "|---|---:|---:|---:|",
    ]
    for name, values in times.items():
        m = statistics.median(values)
        lines.append(f"| {name} | {m:.2f} | {mib / m:.0f} | {base / m:.2f}x |")
    save_report(f"bench_pyramid-{datetime.now():%Y%m%d-%H%M%S}", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
