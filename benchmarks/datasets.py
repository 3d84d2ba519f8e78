"""Synthetic datasets of the benchmarks and the geometry of the chunks a read touches.

* ``em_image``: EM-like uint8 texture = smooth multi-octave field (linearly interpolated
  random grids at 64, 16 and 4 voxels) + Gaussian noise (sigma 4.5). Its gzip ratio at
  level 9 on 64^3 chunks is ~1.28 (real EM imagery: 1.25-1.3).
  ``aiovolume.demo.synthetic_em`` (block-repeated grids, sigma 6) compresses only ~1.18x,
  so it is not used here.
* ``voronoi_labels``: uint64 "supervoxels" = nearest seed of a jittered grid (one seed per
  32x32x8 cell, anisotropic like 4x4x40 nm EM), random 50-bit ids, ~5% of the cells
  background (0). 512x512x128 gives ~5,000 segments.
* ``write_layer``: a layer written by cloud-volume (so on disk in CloudFiles' ``file://``
  layout: gzip chunks are ``<key>.gz``).
* ``write_sharded_layer``: a sharded layer (``sharding_spec``) written by tensorstore.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

RESOLUTION = (4, 4, 40)
SCALE_KEY = "4_4_40"


# ------------------------------------------------------------------------------------------
# content
# ------------------------------------------------------------------------------------------
def _interp_weights(n: int, cell: int) -> tuple[np.ndarray, np.ndarray]:
    pos = (np.arange(n, dtype=np.float32) + 0.5) / cell
    i0 = np.floor(pos).astype(np.intp)
    return i0, pos - i0


def em_image(shape: tuple[int, int, int], seed: int = 0, noise: float = 4.5) -> np.ndarray:
    """EM-like uint8 texture (x, y, z), Fortran order. Deterministic for a given seed.

    Each octave is a random grid linearly interpolated along z and y first (small arrays),
    then along x slab by slab into the output, so no full-size float temporaries are made.
    """
    rng = np.random.default_rng(seed)
    octaves = []
    for cell, weight in ((64, 40.0), (16, 25.0), (4, 12.0)):
        g = rng.standard_normal([s // cell + 2 for s in shape], dtype=np.float32) * np.float32(weight)
        for ax in (2, 1):
            i0, f = _interp_weights(shape[ax], cell)
            f = f.reshape([-1 if a == ax else 1 for a in range(3)])
            g = np.take(g, i0, axis=ax) * (1 - f) + np.take(g, i0 + 1, axis=ax) * f
        octaves.append((cell, g))
    out = np.empty(shape, np.uint8, order="F")
    slab = 32
    for x0 in range(0, shape[0], slab):
        x1 = min(x0 + slab, shape[0])
        acc = rng.standard_normal((x1 - x0, *shape[1:]), dtype=np.float32)
        acc *= np.float32(noise)
        acc += 128
        for cell, g in octaves:
            i0, f = _interp_weights(shape[0], cell)
            i0, f = i0[x0:x1], f[x0:x1, None, None]
            acc += g[i0] * (1 - f) + g[i0 + 1] * f
        np.clip(acc, 0, 255, out=acc)
        out[x0:x1] = acc
    return out


def voronoi_labels(shape: tuple[int, int, int], cell: tuple[int, int, int] = (32, 32, 8), seed: int = 0,
                   background: float = 0.05) -> np.ndarray:
    """Blob-shaped uint64 segments (x, y, z), Fortran order: nearest seed of a jittered grid."""
    rng = np.random.default_rng(seed)
    grid = [-(-s // c) + 2 for s, c in zip(shape, cell)]  # one cell of margin each side
    idx = np.stack(np.meshgrid(*[np.arange(g, dtype=np.float32) - 1 for g in grid], indexing="ij"), -1)
    seeds = (idx + rng.random((*grid, 3), dtype=np.float32)) * np.asarray(cell, np.float32)
    n = math.prod(grid)
    ids = rng.choice(2**50 - 1, size=n, replace=False).astype(np.uint64) + 1
    ids[rng.random(n) < background] = 0
    ids = ids.reshape(grid)
    out = np.empty(shape, np.uint64, order="F")
    x = np.arange(shape[0], dtype=np.float32)[:, None]
    y = np.arange(shape[1], dtype=np.float32)[None, :]
    cxx, cyy = np.broadcast_arrays((np.arange(shape[0]) // cell[0] + 1)[:, None],
                                   (np.arange(shape[1]) // cell[1] + 1)[None, :])
    best = np.empty(shape[:2], np.float32)
    d = np.empty_like(best)
    closer = np.empty(shape[:2], bool)
    lab = np.empty(shape[:2], np.uint64)
    for cz in range(1, -(-shape[2] // cell[2]) + 1):
        # the 27 candidate seeds of every (x, y) column in this slab of cells
        cand = []
        for dx, dy, dz in itertools.product((-1, 0, 1), repeat=3):
            s = seeds[cxx + dx, cyy + dy, cz + dz]
            cand.append(((s[..., 0] - x) ** 2 + (s[..., 1] - y) ** 2, s[..., 2], ids[cxx + dx, cyy + dy, cz + dz]))
        for z in range((cz - 1) * cell[2], min(cz * cell[2], shape[2])):
            best.fill(np.inf)
            for dxy, sz, cid in cand:
                np.subtract(sz, np.float32(z), out=d)
                np.multiply(d, d, out=d)
                d += dxy
                np.less(d, best, out=closer)
                np.copyto(best, d, where=closer)
                np.copyto(lab, cid, where=closer)
            out[..., z] = lab
    return out


# ------------------------------------------------------------------------------------------
# layers
# ------------------------------------------------------------------------------------------
@dataclass
class Layer:
    name: str            # e.g. "img_gzip"
    path: str            # directory (file:// path); served over HTTP as <root>/ds/<name>
    shape: tuple[int, int, int]
    dtype: str
    encoding: str        # "raw" or "compressed_segmentation"
    compression: str | None  # "gzip" or None (how the chunks are stored)
    chunk: tuple[int, int, int]
    ref_c: str           # reference voxels (x, y, z), .npy, C order
    ref_f: str           # the same, Fortran order (fast comparison with F-order reads)
    stored_bytes: int = 0
    files: int = 0
    write_s: float = 0.0

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def url(self, base: str | None = None) -> str:
        return f"{base}/ds/{self.name}" if base else "file://" + self.path

    def info(self) -> dict[str, Any]:
        import json

        with open(os.path.join(self.path, "info")) as f:
            return json.load(f)

    def chunk_file(self, lo: tuple[int, int, int]) -> str:
        hi = [min(a + c, s) for a, c, s in zip(lo, self.chunk, self.shape)]
        key = "_".join(f"{a}-{b}" for a, b in zip(lo, hi))
        return os.path.join(self.path, SCALE_KEY, key + (".gz" if self.compression == "gzip" else ""))


def write_layer(root: str, name: str, data: np.ndarray, encoding: str, compress: bool | None,
                chunk: tuple[int, int, int] = (64, 64, 64)) -> Layer:
    """Write ``data`` with cloud-volume (parallel=1) into ``root/ds/name``; save the references."""
    import time

    import cloudvolume

    path = os.path.join(root, "ds", name)
    layer_type = "segmentation" if encoding == "compressed_segmentation" else "image"
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type=layer_type, data_type=str(data.dtype), encoding=encoding,
        resolution=list(RESOLUTION), voxel_offset=[0, 0, 0], chunk_size=list(chunk), volume_size=list(data.shape),
    )
    vol = cloudvolume.CloudVolume("file://" + path, info=info, compress=compress, parallel=1, cache=False,
                                  lru_bytes=0, progress=False)
    vol.commit_info()
    t0 = time.perf_counter()
    vol[:, :, :] = data
    write_s = time.perf_counter() - t0
    refs = os.path.join(root, "refs")
    os.makedirs(refs, exist_ok=True)
    ref_c, ref_f = os.path.join(refs, name + "_C.npy"), os.path.join(refs, name + "_F.npy")
    np.save(ref_c, np.ascontiguousarray(data))
    np.save(ref_f, np.asfortranarray(data))
    files = [os.path.join(path, SCALE_KEY, n) for n in os.listdir(os.path.join(path, SCALE_KEY))]
    gz = sum(f.endswith(".gz") for f in files)
    if gz not in (0, len(files)):
        raise RuntimeError(f"{name}: {gz} of {len(files)} chunks gzipped")
    return Layer(name, path, tuple(data.shape), str(data.dtype), encoding, "gzip" if gz else None, chunk,
                 ref_c, ref_f, sum(os.path.getsize(f) for f in files), len(files), write_s)


def sharding_spec(shape: tuple[int, int, int], chunk: tuple[int, int, int], preshift_bits: int = 3,
                  minishard_bits: int = 2) -> dict[str, Any]:
    """``neuroglancer_uint64_sharded_v1``, identity hash: shards of 2**(preshift + minishard)
    chunks (5 bits on a 64^3-chunked volume 128 deep: 4x4x2 chunks), as many shard bits as the
    remaining Morton bits need; gzip minishard indexes, raw data."""
    from aiovolume.format.sharding import morton_bit_axes

    grid = [-(-s // c) for s, c in zip(shape, chunk)]
    bits = len(morton_bit_axes(grid))
    return {"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": preshift_bits,
            "minishard_bits": minishard_bits, "shard_bits": max(0, bits - preshift_bits - minishard_bits),
            "minishard_index_encoding": "gzip", "data_encoding": "raw"}


def write_sharded_layer(root: str, name: str, data: np.ndarray, sharding: dict[str, Any],
                        chunk: tuple[int, int, int] = (64, 64, 64)) -> Layer:
    """Write ``data`` (uint8 image, raw encoding) as a sharded layer with **tensorstore** (a
    neutral writer) into ``root/ds/name``; save the references as ``write_layer`` does."""
    import time

    import tensorstore as ts

    path = os.path.join(root, "ds", name)
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": path + "/"},
        "multiscale_metadata": {"type": "image", "data_type": str(data.dtype), "num_channels": 1},
        "scale_metadata": {"size": list(data.shape), "encoding": "raw", "chunk_size": list(chunk),
                           "resolution": list(RESOLUTION), "voxel_offset": [0, 0, 0], "sharding": sharding},
        "create": True,
    }
    t0 = time.perf_counter()
    vol = ts.open(spec, context=ts.Context({"cache_pool": {"total_bytes_limit": 0}})).result()
    vol.write(data[..., np.newaxis]).result()
    write_s = time.perf_counter() - t0
    del vol
    refs = os.path.join(root, "refs")
    os.makedirs(refs, exist_ok=True)
    ref_c, ref_f = os.path.join(refs, name + "_C.npy"), os.path.join(refs, name + "_F.npy")
    np.save(ref_c, np.ascontiguousarray(data))
    np.save(ref_f, np.asfortranarray(data))
    nbytes, nfiles, _ = dir_stats(path)
    return Layer(name, path, tuple(data.shape), str(data.dtype), "raw", None, chunk, ref_c, ref_f,  # type: ignore[arg-type]
                 nbytes, nfiles, write_s)


def dir_stats(path: str) -> tuple[int, int, int]:
    """(bytes, files, .gz files) of the chunk files under ``path`` (info and provenance excluded)."""
    total = files = gz = 0
    for root, _, names in os.walk(path):
        for n in names:
            if root == path and n in ("info", "provenance"):
                continue
            total += os.path.getsize(os.path.join(root, n))
            files += 1
            gz += n.endswith(".gz")
    return total, files, gz


# ------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------
Box = tuple[tuple[int, int, int], tuple[int, int, int]]  # (lo, hi), hi exclusive


def box_shape(box: Box) -> tuple[int, int, int]:
    return tuple(b - a for a, b in zip(*box))  # type: ignore[return-value]


def chunks_of(box: Box, chunk: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
    """Lower corners of the chunks that ``box`` touches."""
    lo, hi = box
    ranges = [range((a // c) * c, b, c) for a, b, c in zip(lo, hi, chunk)]
    return itertools.product(*ranges)  # type: ignore[return-value]


def random_cutouts(shape: tuple[int, int, int], n: int, size: int = 32, seed: int = 5) -> list[Box]:
    """``n`` boxes of size^3 at random (non-aligned) positions inside the volume (fixed seed)."""
    rng = np.random.default_rng(seed)
    lo = np.stack([rng.integers(0, s - size + 1, n) for s in shape], axis=1)
    return [(tuple(int(v) for v in p), tuple(int(v) + size for v in p)) for p in lo]  # type: ignore[misc]
