"""Skeletons: aiovolume vs cloud-volume 12.15.2 (osteoid) in the same run.

Run: ``.venv/bin/python benchmarks/bench_skeleton.py [--count 1000] [--vertices 10000] [--runs 3]``.
Writes ``benchmarks/results/bench_skeleton-<timestamp>.md``.

Data: ``--count`` random branching skeletons of ``--vertices`` vertices each (random-walk
branches, so lengths and branch counts are neuron-like), radius and vertex_types set.

* operations on ``OPS_SAMPLE`` of them, per skeleton: ``cable_length``, ``downsample(4)``,
  ``consolidate`` (our Skeleton vs osteoid.Skeleton on the same arrays; results checked equal);
* ``upload`` of all of them to a fresh ``file://`` layer, and ``get`` of all of them (one call
  each, a list of segment ids). cloud-volume is run with its defaults (``compress`` None: gzip,
  ``.gz`` files) and with ``compress=False``; aiovolume writes plain files on ``file://`` (so
  Neuroglancer can find them). Each client reads the layer it wrote; results are checked.
  Reference rows ("floor") write the already-encoded bytes with plain open()/write() in one
  thread, and with a temp file + rename in two threads (and read them back with open()/read() +
  decode, in one and in two threads): what moving these bytes costs at all on this disk.

One untimed warm-up per client and scenario, then ``--runs`` timed rounds, clients
round-robin inside each round; medians reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from common import cpu_model, git_commit, log, save_report, versions  # noqa: E402

OPS_SAMPLE = 20
FLOOR_1 = "floor, 1 thread: open/write (upload), open/read + decode (get)"
FLOOR_2 = "floor, 2 threads: temp file + rename (upload), open/read + decode (get)"


def make_skeletons(count: int, n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Neuron-like trees: mostly chains (a new vertex continues its parent's branch), with a
    branch every ~50 vertices; positions are random walks in nm."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        parents = np.arange(-1, n - 1)
        branch = rng.random(n) < 0.02
        branch[0] = False
        parents[branch] = (rng.random(branch.sum()) * np.flatnonzero(branch)).astype(np.int64)
        steps = rng.normal(0, 40, (n, 3))
        steps[0] = rng.random(3) * 1e5
        # positions: cumulative along each vertex's ancestry (parents come first)
        verts = np.empty((n, 3))
        verts[0] = steps[0]
        for start, stop in _runs(parents):
            verts[start:stop] = verts[parents[start]] + np.cumsum(steps[start:stop], axis=0)
        edges = np.stack([parents[1:], np.arange(1, n)], axis=1).astype(np.uint32)
        out.append((verts.astype(np.float32), edges, (rng.random(n) * 200).astype(np.float32),
                    rng.integers(0, 5, n).astype(np.uint8)))
    return out


def _runs(parents: np.ndarray) -> list[tuple[int, int]]:
    """Maximal index ranges [a, b) where every vertex after a is the child of the previous one."""
    starts = np.flatnonzero(parents[1:] != np.arange(0, len(parents) - 1)) + 1
    bounds = np.concatenate([[1], starts, [len(parents)]])
    bounds = np.unique(bounds)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--vertices", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    import cloudvolume
    import osteoid

    import aiovolume
    from aiovolume import Skeleton

    log(f"building {args.count} skeletons of {args.vertices} vertices")
    data = make_skeletons(args.count, args.vertices)
    mine = [Skeleton(v, e, r, t, segid=i + 1, space="physical") for i, (v, e, r, t) in enumerate(data)]
    theirs = [osteoid.Skeleton(v, e, r, t, segid=i + 1, space="physical") for i, (v, e, r, t) in enumerate(data)]

    results: dict[str, dict[str, list[float]]] = {}

    def record(scenario: str, client: str, seconds: float) -> None:
        results.setdefault(scenario, {}).setdefault(client, []).append(seconds)

    # -- operations --------------------------------------------------------------------------
    ops = {
        "cable_length": (lambda s: s.cable_length(), lambda s: s.cable_length()),
        "downsample(4)": (lambda s: s.downsample(4), lambda s: s.downsample(4)),
        "consolidate": (lambda s: s.consolidate(), lambda s: s.consolidate()),
    }
    sample_m, sample_t = mine[:OPS_SAMPLE], theirs[:OPS_SAMPLE]
    for name, (ours_op, their_op) in ops.items():
        for a, b in zip(sample_m[:3], sample_t[:3]):  # warm-up and checks
            x, y = ours_op(a), their_op(b)
            if name == "cable_length":
                assert abs(x - float(y)) <= 1e-4 * abs(x), (x, y)
            else:
                y = Skeleton(y.vertices, y.edges, np.asarray(y.radius).reshape(-1),
                             np.asarray(y.vertex_types).reshape(-1), segid=y.id)
                assert Skeleton.equivalent(x, y), name
        for run in range(args.runs + 2):
            record(name, "aiovolume", timed(lambda: [ours_op(s) for s in sample_m]) / OPS_SAMPLE)
            record(name, "osteoid", timed(lambda: [their_op(s) for s in sample_t]) / OPS_SAMPLE)
        log(f"{name}: done")

    # -- I/O -----------------------------------------------------------------------------------
    root = Path(tempfile.mkdtemp(prefix="bench-skel-"))
    info = aiovolume.CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [4, 4, 40], [0, 0, 0],
                                                 [1024, 1024, 1024])
    ids = [s.id for s in mine]
    counter = [0]

    def fresh(tag: str) -> str:
        counter[0] += 1
        path = root / f"{tag}-{counter[0]}"
        return f"file://{path}"

    def ours_upload() -> str:
        url = fresh("ours")
        with aiovolume.CloudVolume(url, info=info) as vol:
            vol.commit_info()
            vol.skeleton.upload(mine)
        return url

    def cv_upload(compress) -> str:
        url = fresh("cv")
        vol = cloudvolume.CloudVolume(url, info=dict(info, skeletons="skeletons"), compress=compress,
                                      progress=False)
        vol.commit_info()
        vol.skeleton.upload(theirs)
        return url

    def ours_get(url: str) -> list:
        with aiovolume.CloudVolume(url) as vol:
            return vol.skeleton.get(ids)

    def cv_get(url: str, compress) -> list:
        vol = cloudvolume.CloudVolume(url, compress=compress, progress=False)
        return vol.skeleton.get(ids)

    encoded = [s.to_precomputed() for s in mine]

    def floor_upload() -> str:
        """Not a client: open()/write() of already-encoded bytes, no encoding, no atomic rename."""
        url = fresh("floor")
        os.makedirs(url[len("file://"):] + "/skeletons")
        for s, data in zip(mine, encoded):
            with open(f"{url[len('file://'):]}/skeletons/{s.id}", "wb") as f:
                f.write(data)
        return url

    def floor_get(url: str) -> list:
        out = []
        for s in mine:
            with open(f"{url[len('file://'):]}/skeletons/{s.id}", "rb") as f:
                out.append(Skeleton.from_precomputed(f.read(), segid=s.id))
        return out

    pool = ThreadPoolExecutor(2)
    halves = [range(0, len(mine), 2), range(1, len(mine), 2)]

    def atomic_floor_upload() -> str:
        """Not a client: what an atomic writer must at least do, on both cores: each pre-encoded
        file written to a temp file and renamed into place, two threads."""
        path = fresh("floor2")[len("file://"):]
        os.makedirs(path + "/skeletons")

        def part(indices: range) -> None:
            for i in indices:
                tmp = f"{path}/skeletons/.tmp-{i}"
                with open(tmp, "wb") as f:
                    f.write(encoded[i])
                os.replace(tmp, f"{path}/skeletons/{mine[i].id}")

        list(pool.map(part, halves))
        return "file://" + path

    def atomic_floor_get(url: str) -> list:
        out: list = [None] * len(mine)

        def part(indices: range) -> None:
            for i in indices:
                with open(f"{url[len('file://'):]}/skeletons/{mine[i].id}", "rb") as f:
                    out[i] = Skeleton.from_precomputed(f.read(), segid=mine[i].id)

        list(pool.map(part, halves))
        return out

    clients = {
        "aiovolume": (ours_upload, ours_get),
        FLOOR_1: (floor_upload, floor_get),
        FLOOR_2: (atomic_floor_upload, atomic_floor_get),
        "cloud-volume (default, gzip)": (lambda: cv_upload(None), lambda u: cv_get(u, None)),
        "cloud-volume compress=False": (lambda: cv_upload(False), lambda u: cv_get(u, False)),
    }
    layers: dict[str, str] = {}
    for client, (up, get) in clients.items():  # warm-up and checks
        layers[client] = up()
        got = sorted(get(layers[client]), key=lambda s: s.id)
        assert len(got) == len(mine)
        for g, s in zip(got[:50], mine[:50]):
            assert g.vertices.tobytes() == s.vertices.tobytes() and np.array_equal(g.edges, s.edges)
            assert np.array_equal(np.asarray(g.radius).reshape(-1), s.radius)
    for run in range(args.runs):
        for client, (up, get) in clients.items():
            t = time.perf_counter()
            url = up()
            record(f"upload {args.count}", client, time.perf_counter() - t)
            shutil.rmtree(url[len("file://"):])
            record(f"get {args.count}", client, timed(lambda: get(layers[client])))
        log(f"I/O round {run + 1}: done")
    shutil.rmtree(root)
    pool.shutdown()

    # -- report --------------------------------------------------------------------------------
    ver = versions(("aiovolume", "numpy", "scipy", "cloud-volume", "osteoid", "cloud-files"))
    lines = [
        f"# Skeletons: aiovolume vs cloud-volume/osteoid ({datetime.now():%Y-%m-%d %H:%M})", "",
        f"{args.count} skeletons x {args.vertices} vertices; operations per skeleton over {OPS_SAMPLE} of them; "
        f"medians of {args.runs} (I/O) / {args.runs + 2} (operations) round-robin runs after a warm-up; file:// in "
        f"{tempfile.gettempdir()}.", "",
        f"CPU: {cpu_model()}; commit {git_commit(str(HERE.parent))}; " + ", ".join(f"{k} {v}" for k, v in ver.items()),
        "", "| scenario | client | median | speed-up of aiovolume |", "|---|---|---|---|",
    ]
    for scenario, per in results.items():
        base = statistics.median(per["aiovolume"])
        for client, times in per.items():
            med = statistics.median(times)
            unit = f"{med * 1e3:.2f} ms" if med < 1 else f"{med:.2f} s"
            speed = "" if client == "aiovolume" else f"{med / base:.1f}x"
            lines.append(f"| {scenario} | {client} | {unit} | {speed} |")
    lines += ["", "The floor rows are no clients: they only move pre-encoded bytes (no encoding; the 1-thread "
              "upload floor not even atomic), reading decodes with Skeleton.from_precomputed. An upload that "
              "never shows a partial file cannot beat the 2-thread temp-file-and-rename floor (file creation "
              "and page-cache writes, not Python, bound it: a second thread barely helps), so against "
              "cloud-volume with compress=False (which writes the same bytes) a 2x upload speed-up is out of "
              "reach unless cloud-volume is over 2x that floor; against cloud-volume's default (gzip) it is met.",
              "", "cloud-volume's default writes gzip-compressed `.gz` files (Neuroglancer cannot find them on "
              "a static file server); aiovolume writes plain files on file:// and gzip with Content-Encoding "
              "on s3/gs."]
    save_report(f"bench_skeleton-{datetime.now():%Y%m%d-%H%M%S}", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
