"""Mesh scenario: fused legacy meshes over HTTP with latency, aiovolume vs cloud-volume.

100 segments x 10 legacy fragments (1000 vertices each, gzipped, seams shared between
neighbouring fragments as chunked meshing makes them), served by
``aiovolume.testing.faultserver`` in a subprocess with +25 ms on every response. Each round
runs ``CloudVolume(url).mesh.get(segids)`` (fused, duplicate vertices merged) in both libraries,
alternating which goes first; the server's ``/__stats__`` counts the GETs of each call. Reports
medians and writes ``benchmarks/results/mesh-<time>.md``.

    python benchmarks/bench_mesh.py [--rounds 5] [--latency-ms 25] [--segments 100]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from aiovolume.testing.faultserver import FaultConfig, spawn_fault_server  # noqa: E402


def fragment(origin: np.ndarray, nx: int = 25, ny: int = 40, step: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """A wavy ``nx`` x ``ny`` vertex patch (1000 vertices) starting at ``origin``."""
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    x = origin[0] + i * step
    y = origin[1] + j * step
    z = origin[2] + 10 * np.sin(x / 37.0) * np.cos(y / 23.0)
    verts = np.stack([x, y, z], -1).reshape(-1, 3).astype(np.float32)
    a = (i[:-1, :-1] * ny + j[:-1, :-1]).ravel()
    faces = np.concatenate([np.stack([a, a + ny, a + 1], 1), np.stack([a + 1, a + ny, a + ny + 1], 1)])
    return verts, faces.astype(np.uint32)


def build(root: Path, segments: int, per_segment: int) -> list[int]:
    layer = root / "seg"
    (layer / "mesh").mkdir(parents=True)
    info = {"type": "segmentation", "data_type": "uint64", "num_channels": 1, "mesh": "mesh",
            "scales": [{"key": "4_4_40", "resolution": [4, 4, 40], "voxel_offset": [0, 0, 0],
                        "size": [4096, 4096, 256], "chunk_sizes": [[64, 64, 64]], "encoding": "raw"}]}
    (layer / "info").write_text(json.dumps(info))
    segids = [1000 + s for s in range(segments)]
    for s in segids:
        names = []
        for k in range(per_segment):
            # fragments side by side along x: the last column of one is the first of the next
            verts, faces = fragment(np.array([k * 24 * 4.0, (s % 10) * 200.0, (s // 10) * 50.0]))
            name = f"{s}:0:{k * 96}-{(k + 1) * 96}_0-160_0-40"
            names.append(name)
            blob = np.uint32(len(verts)).tobytes() + verts.tobytes() + faces.tobytes()
            (layer / "mesh" / (name + ".gz")).write_bytes(gzip.compress(blob, 6))
        (layer / "mesh" / f"{s}:0").write_text(json.dumps({"fragments": names}))
    return segids


def stats(base: str, reset: bool = False) -> int:
    req = urllib.request.Request(base + "/__stats__", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(req) as r:
        return 0 if reset else int(json.loads(r.read())["requests"])


def run_ours(url: str, segids: list[int]):
    import aiovolume

    vol = aiovolume.CloudVolume(url)
    try:
        vol.mesh.info  # the mesh info, as cloud-volume loads it in its constructor
        t0 = time.perf_counter()
        mesh = vol.mesh.get(segids)
        return time.perf_counter() - t0, mesh
    finally:
        vol.close()


def run_cv(url: str, segids: list[int]):
    import cloudvolume

    vol = cloudvolume.CloudVolume(url, progress=False)
    t0 = time.perf_counter()
    mesh = vol.mesh.get(segids)
    return time.perf_counter() - t0, mesh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--latency-ms", type=float, default=25.0)
    p.add_argument("--segments", type=int, default=100)
    p.add_argument("--fragments", type=int, default=10)
    args = p.parse_args()
    runners = {"aiovolume": run_ours, "cloud-volume": run_cv}
    times: dict[str, list[float]] = {k: [] for k in runners}
    gets: dict[str, list[int]] = {k: [] for k in runners}
    with tempfile.TemporaryDirectory() as tmp:
        segids = build(Path(tmp), args.segments, args.fragments)
        with spawn_fault_server(root=tmp, config=FaultConfig(latency_ms=args.latency_ms)) as (_, base):
            url = base + "/seg"
            results = {}
            for r in range(args.rounds):
                order = list(runners) if r % 2 == 0 else list(runners)[::-1]
                for name in order:
                    stats(base, reset=True)
                    seconds, mesh = runners[name](url, segids)
                    requests = stats(base)
                    times[name].append(seconds)
                    gets[name].append(requests)
                    results[name] = mesh
                    print(f"round {r} {name}: {seconds:.3f} s, {requests} requests (incl. info/mesh info)",
                          flush=True)
    ours, theirs = results["aiovolume"], results["cloud-volume"]
    identical = np.array_equal(ours.vertices, theirs.vertices) and np.array_equal(ours.faces, theirs.faces)
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["cloud-volume"] / med["aiovolume"]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    lines = [
        f"# Mesh benchmark {stamp} UTC",
        "",
        f"{args.segments} segments x {args.fragments} legacy fragments (1000 vertices each, gzip) over HTTP "
        f"(faultserver subprocess, +{args.latency_ms:g} ms per response), `CloudVolume(url).mesh.get(segids)` "
        f"fused; {args.rounds} rounds, alternating order; {os.cpu_count()} CPUs.",
        "",
        "| library | median s | all runs s | GETs per call (includes the info fetches of the constructor) |",
        "|---|---|---|---|",
    ]
    for k in runners:
        lines.append(f"| {k} | {med[k]:.3f} | {', '.join(f'{t:.3f}' for t in times[k])} | "
                     f"{sorted(set(gets[k]))} |")
    lines += ["", f"Speed-up (median): **{speedup:.1f}x**. Fused meshes identical (vertices and faces): "
              f"{identical}. Fused mesh: {len(ours.vertices)} vertices, {len(ours.faces)} faces.",
              f"Expected GETs: aiovolume {args.segments} manifests + {args.segments * args.fragments} fragments "
              "+ layer info + mesh info (404)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results" / f"mesh-{stamp}.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
