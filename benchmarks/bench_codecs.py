"""Encode/decode throughput per encoding through the whole read/write path on ``file://``.

Run: ``.venv/bin/python benchmarks/bench_codecs.py [--runs N] [--shape X Y Z] [--only ENC ...]``.
Writes ``benchmarks/results/bench_codecs-<timestamp>.md``.

Per encoding a 512x512x64 volume (64^3 chunks: 64 chunks) of realistic content: EM-like texture
(``datasets.em_image``) for raw+gzip, jpeg and png; jittered-grid Voronoi labels for the
segmentation encodings; a smooth float field for fpzip and kempressed. Clients:

* ``aiovolume/process``  facade, ``Options(codec_executor="process")`` (2 forkserver workers + shared memory)
* ``aiovolume/thread``   facade, ``Options(codec_executor="thread")``
* ``cloud-volume``       ``cloudvolume.CloudVolume(path, parallel=1, cache=False, progress=False)``

Reads are of one layer written beforehand (by aiovolume: byte-compatible with cloud-volume) and every
result is checked. Each write goes to a fresh layer holding only the info. One untimed warm-up per
client and scenario, then N timed calls round-robin; medians reported, with MiB/s of decoded voxels.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
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
from common import log  # noqa: E402
from datasets import em_image, voronoi_labels  # noqa: E402

CHUNK = (64, 64, 64)
# name -> (encoding, dtype, compress, content)
CASES = {
    "raw+gzip": ("raw", "uint8", None, "em"),
    "jpeg": ("jpeg", "uint8", None, "em"),
    "png": ("png", "uint8", None, "em"),
    "cseg-u32": ("compressed_segmentation", "uint32", None, "labels"),
    "cseg-u64": ("compressed_segmentation", "uint64", None, "labels"),
    "fpzip": ("fpzip", "float32", None, "field"),
    "kempressed": ("kempressed", "float32", None, "field"),
    "compresso": ("compresso", "uint64", None, "labels"),
    "crackle": ("crackle", "uint64", None, "labels"),
}
CLIENTS = ("aiovolume/process", "aiovolume/thread", "cloud-volume")


# -- content -----------------------------------------------------------------------------------
def smooth_field(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(0, 1, s, dtype=np.float32) for s in shape], indexing="ij", sparse=True)
    f = np.zeros(shape, np.float32)
    for _ in range(6):
        k = rng.uniform(1, 8, 3)
        f += np.sin(2 * np.pi * (k[0] * x + rng.random())) * np.cos(2 * np.pi * (k[1] * y + rng.random())) \
            * np.cos(2 * np.pi * (k[2] * z + rng.random()))
    return np.asfortranarray(100 * f + rng.normal(0, 0.01, shape).astype(np.float32))


def content(kind, dtype, shape) -> np.ndarray:
    if kind == "em":
        return np.asfortranarray(em_image(shape)[..., None])
    if kind == "labels":
        lab = voronoi_labels(shape, background=0.0)
        return np.asfortranarray((lab % (2**32 - 1) if dtype == "uint32" else lab).astype(dtype)[..., None])
    return smooth_field(shape)[..., None]


# -- clients -------------------------------------------------------------------------------------
def open_client(client, path, info=None, compress=None):
    if client == "cloud-volume":
        import cloudvolume
        return cloudvolume.CloudVolume(path, info=info, parallel=1, cache=False, progress=False, compress=compress)
    import aiovolume
    opts = aiovolume.Options(codec_executor=client.split("/")[1])
    return aiovolume.CloudVolume(path, info=info, compress=compress, options=opts)


def expected(encoding, data, reference):
    if encoding == "jpeg":
        return reference  # lossy: what aiovolume decoded from the same bytes
    if encoding == "kempressed":
        return (data + np.float32(2)) - np.float32(2)
    return data


def bench_case(name, shape, runs, root) -> list[dict]:
    import aiovolume

    encoding, dtype, compress, kind = CASES[name]
    data = content(kind, dtype, shape)
    info = aiovolume.CloudVolume.create_new_info(1, "image", dtype, encoding, [4, 4, 40], [0, 0, 0], list(shape),
                                                 chunk_size=list(CHUNK))
    src = f"file://{root}/{name}-src"
    with aiovolume.CloudVolume(src, info=info, compress=compress) as vol:
        vol.commit_info()
        vol[:, :, :] = data
        reference = np.asarray(vol[:, :, :])
    stored = sum(f.stat().st_size for f in (root / f"{name}-src").rglob("*") if f.is_file())
    want = expected(encoding, data, reference)
    rows = []
    for scenario in ("read", "write"):
        times: dict[str, list[float]] = {c: [] for c in CLIENTS}
        errors: dict[str, str] = {}
        readers = {}
        for rnd in range(runs + 1):
            order = CLIENTS[rnd % 3:] + CLIENTS[: rnd % 3]
            for client in order:
                if client in errors:
                    continue
                try:
                    if scenario == "read":
                        if client not in readers:
                            readers[client] = open_client(client, src)
                        t0 = time.perf_counter()
                        got = np.asarray(readers[client][:, :, :])
                        dt = time.perf_counter() - t0
                        if client != "cloud-volume" or encoding not in ("jpeg", "png") or got.shape[3] == 1:
                            if got.tobytes() != want.tobytes():
                                raise AssertionError("WRONG result")
                    else:
                        dst = root / f"{name}-w"
                        shutil.rmtree(dst, ignore_errors=True)
                        vol = open_client(client, f"file://{dst}", info=info, compress=compress)
                        vol.commit_info()
                        t0 = time.perf_counter()
                        vol[:, :, :] = data
                        dt = time.perf_counter() - t0
                        with aiovolume.CloudVolume(f"file://{dst}") as check:
                            back = np.asarray(check[:, :, :])
                        if encoding != "jpeg" and back.tobytes() != want.tobytes():
                            raise AssertionError("WRONG result")
                        os.sync()
                    if rnd:
                        times[client].append(dt)
                except Exception as exc:  # e.g. a codec package cloud-volume lacks here
                    errors[client] = f"{type(exc).__name__}: {str(exc)[:60]}"
                    log(f"  {name} {scenario} {client}: {errors[client]}")
        for client in CLIENTS:
            med = statistics.median(times[client]) if times[client] else None
            rows.append(dict(case=name, scenario=scenario, client=client, median=med,
                             spread=(min(times[client]), max(times[client])) if times[client] else None,
                             mib=data.nbytes / 2**20, chunks=int(np.prod([-(-s // c) for s, c in zip(shape, CHUNK)])),
                             ratio=stored / data.nbytes, error=errors.get(client)))
            log(f"  {name:10s} {scenario:5s} {client:18s} {'-' if med is None else f'{data.nbytes / 2**20 / med:8.1f} MiB/s'}")
        for r in readers.values():
            if hasattr(r, "close"):
                r.close()
    return rows


def report(rows, shape, runs) -> str:
    def mibs(r):
        return r["mib"] / r["median"] if r["median"] else None

    by = {(r["case"], r["scenario"], r["client"]): r for r in rows}
    lines = [
        f"# bench_codecs — {datetime.now():%Y-%m-%d %H:%M}", "",
        f"Volume {shape[0]}x{shape[1]}x{shape[2]}, chunks {CHUNK[0]}^3, file://, median of {runs} runs after a warm-up.",
        f"Python {platform.python_version()}, {os.cpu_count()} cores; numpy {np.__version__}, "
        + ", ".join(f"{p} {importlib.metadata.version(p)}" for p in
                    ("imagecodecs", "compressed-segmentation", "fpzip", "compresso", "crackle-codec", "cloud-volume")),
        "", "MiB/s of decoded voxels (higher is better); x = aiovolume/process relative to cloud-volume.", "",
        "| encoding | stored/raw | read process | read thread | read cloud-volume | x | "
        "write process | write thread | write cloud-volume | x |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        cells = [case, f"{by[case, 'read', CLIENTS[0]]['ratio']:.3f}"]
        for scenario in ("read", "write"):
            vals = [mibs(by[case, scenario, c]) for c in CLIENTS]
            cells += [f"{v:.1f}" if v else "n/a" for v in vals]
            cells.append(f"{vals[0] / vals[2]:.2f}" if vals[0] and vals[2] else "—")
        lines.append("| " + " | ".join(cells) + " |")
    notes = sorted({f"- {r['case']} {r['scenario']} {r['client']}: {r['error']}" for r in rows if r["error"]})
    if notes:
        lines += ["", "Not measured:", *notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 64))
    ap.add_argument("--only", nargs="*", choices=list(CASES))
    args = ap.parse_args()
    shape = tuple(args.shape)
    (HERE / "data").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench_codecs-", dir=HERE / "data"))
    rows = []
    try:
        for name in args.only or CASES:
            log(f"{name} ...")
            rows += bench_case(name, shape, args.runs, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = report(rows, shape, args.runs)
    out = HERE / "results" / f"bench_codecs-{datetime.now():%Y%m%d-%H%M%S}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
