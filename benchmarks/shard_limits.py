"""The machine's limit for the sharded scenarios (S6), in bench.py's terms (limits.py):

    limit_s = max((cpu_1core + disk_1core + server_1core) / cores, server_1core) + latency

* reads (raw data: no decode): cpu = assembling the requested voxels into a fresh array
  (limits.assemble_s); disk = page-cache read of the shard files' bytes the box needs, one
  thread (file:// only); over HTTP, server = the latency server's CPU for the whole read, the
  least over the clients' calls, and latency = the round trips a reader with no index must
  wait for one after another: shard index, then minishard index, then data (3) for a cutout;
  one for a read of whole shards (each shard file in one GET, its indexes inside).
* writes: cpu = cutting the array into chunk-ordered buffers (limits.split_chunks: the same
  bytes a shard holds, copied once); disk = writing the layer's shard files (their stored
  bytes) as new files, one thread.
"""

from __future__ import annotations

import os
import time

import numpy as np

import limits
from datasets import SCALE_KEY, Box, Layer

CUTOUT_TRIPS = 3  # shard index -> minishard index -> data
WHOLE_SHARD_TRIPS = 1  # the whole file, indexes included


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


def write_limit(layer: Layer, ref: np.ndarray, cores: int, scratch: str) -> limits.Limit:
    lim = limits.Limit(out_bytes=layer.nbytes, cores=cores, decoder="none (raw shards)")
    _, _, lim.cpu_assemble_s = limits.split_chunks(layer, ref)
    blobs = []
    for p in shard_files(layer):
        with open(p, "rb") as f:
            blobs.append(f.read())
    lim.disk_s = limits.disk_write_s(layer, blobs, scratch, ".shard")
    return lim


def with_http_terms(lim: limits.Limit, rtt_s: float, server_s: float, whole_shards: bool) -> limits.Limit:
    lim.latency_s = (WHOLE_SHARD_TRIPS if whole_shards else CUTOUT_TRIPS) * rtt_s
    lim.server_s = server_s
    return lim
