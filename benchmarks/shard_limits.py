"""The machine's limit for the sharded scenarios (S6), in bench.py's terms (limits.py):

    limit_s = max((cpu_1core + disk_1core + server_1core) / cores, server_1core) + latency

* reads (raw data: no decode): cpu = assembling the requested voxels into a fresh array
  (limits.assemble_s); disk = page-cache read of the shard files' bytes the box needs, one
  thread (file:// only); over HTTP, server = the latency server's CPU for the whole read, the
  least over the clients' calls, and latency = one round trip (see below).
* writes: cpu = laying the array out as shards: each chunk copied once into its place in a
  fresh shard-sized buffer (allocation included); disk = writing the layer's shard files
  (their stored bytes) as new files, one thread.

Both read limits take one round trip: a reader that knows the layout can fetch whole shard
files (indexes inside) without asking for an index first; aiovolume does so for a cutout when
the bytes it does not need cost less than the index round trips (``whole_shard_slack``). With
three dependent trips the S6 cutout measured 1.08 of "the limit".
"""

from __future__ import annotations

import os
import time

import numpy as np

import limits
from datasets import SCALE_KEY, Box, Layer, chunks_of

TRIPS = 1  # whole shard files, indexes inside


def shard_files(layer: Layer) -> list[str]:
    d = os.path.join(layer.path, SCALE_KEY)
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".shard"))


def _read_all_s(paths: list[str]) -> float:
    best = float("inf")
    for _ in range(limits.PASSES):
        t0 = time.perf_counter()
        for p in paths:
            with open(p, "rb") as f:
                f.read()
        best = min(best, time.perf_counter() - t0)
    return best


def read_limit(layer: Layer, ref: np.ndarray, boxes: list[Box], cores: int, over_http: bool) -> limits.Limit:
    out_bytes = sum(int(np.prod([b - a for a, b in zip(*box)])) for box in boxes) * np.dtype(layer.dtype).itemsize
    lim = limits.Limit(out_bytes=out_bytes, cores=cores)
    lim.cpu_assemble_s = limits.assemble_s(layer, ref, boxes)
    if not over_http:
        paths = shard_files(layer)
        whole = sum(os.path.getsize(p) for p in paths)
        lim.disk_s = _read_all_s(paths) * min(1.0, out_bytes / whole)  # the share of the bytes the boxes need
    return lim


def _layout_s(layer: Layer, ref: np.ndarray, shard_bytes: list[int]) -> float:
    """Best of 3: every chunk copied once into a fresh buffer per shard (chunks in file order
    do not matter for the cost: each lands in a contiguous F-order slot)."""
    chunks = list(chunks_of(((0, 0, 0), layer.shape), layer.chunk))
    per = -(-len(chunks) // max(1, len(shard_bytes)))
    groups = [chunks[i:i + per] for i in range(0, len(chunks), per)]
    isz = ref.dtype.itemsize

    def run() -> None:
        for group in groups:
            sizes = [int(np.prod([min(c, s - a) for a, c, s in zip(k, layer.chunk, layer.shape)])) * isz for k in group]
            buf = np.empty(sum(sizes), np.uint8)
            at = 0
            for k, n in zip(group, sizes):
                hi = [min(a + c, s) for a, c, s in zip(k, layer.chunk, layer.shape)]
                shape = tuple(b - a for a, b in zip(k, hi))
                slot = buf[at:at + n].view(ref.dtype).reshape(shape, order="F")
                np.copyto(slot, ref[k[0]:hi[0], k[1]:hi[1], k[2]:hi[2]])
                at += n
            del buf

    return min(limits._timed(run) for _ in range(limits.PASSES))


def write_limit(layer: Layer, ref: np.ndarray, cores: int, scratch: str) -> limits.Limit:
    lim = limits.Limit(out_bytes=layer.nbytes, cores=cores, decoder="none (raw shards)")
    paths = shard_files(layer)
    lim.cpu_assemble_s = _layout_s(layer, ref, [os.path.getsize(p) for p in paths])
    blobs = []
    for p in paths:
        with open(p, "rb") as f:
            blobs.append(f.read())
    lim.disk_s = limits.disk_write_s(layer, blobs, scratch, ".shard")
    return lim


def with_http_terms(lim: limits.Limit, rtt_s: float, server_s: float) -> limits.Limit:
    lim.latency_s = TRIPS * rtt_s
    lim.server_s = server_s
    return lim
