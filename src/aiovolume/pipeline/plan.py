"""Chunk plans: which stored chunks a region touches and how each maps onto the region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..format.chunks import chunk_grid, chunk_keys
from ..format.info import ScaleInfo
from ..geometry import Bbox

Ranges = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def _ranges(lo: np.ndarray, hi: np.ndarray) -> Ranges:
    return ((int(lo[0]), int(hi[0])), (int(lo[1]), int(hi[1])), (int(lo[2]), int(hi[2])))


@dataclass(frozen=True)
class ChunkPlan:
    """Chunks of ``scale`` intersecting ``region`` (clipped to the volume), x fastest."""

    keys: list[str]
    shapes: list[tuple[int, int, int]]  # stored (edge-clipped) chunk shapes
    in_chunk: list[Ranges]  # the intersection, relative to the chunk
    in_region: list[Ranges]  # the intersection, relative to region.minpt
    full: np.ndarray  # bool: the chunk lies wholly inside the region
    covers: bool = False  # the chunks tile the whole region (it lies inside the volume)

    def __len__(self) -> int:
        return len(self.keys)


def plan_chunks(scale: ScaleInfo, region: Bbox) -> ChunkPlan:
    """The plan, in plain integer arithmetic: numpy's per-call overhead was most of a small
    read's planning time (profiled on 32^3 cutouts); :func:`chunk_grid` stays the reference."""
    vmin = [int(v) for v in scale.voxel_offset]
    vmax = [a + int(s) for a, s in zip(vmin, scale.size)]
    chunk = [int(c) for c in scale.chunk_size]
    rmin = [int(v) for v in region.minpt.tolist()]  # tolist: numpy scalars are slow to convert
    rmax = [int(v) for v in region.maxpt.tolist()]
    axes = []  # per axis: [(chunk start, stop, part in chunk, part in region)]
    covers = True
    for a in range(3):
        lo, hi = max(rmin[a], vmin[a]), min(rmax[a], vmax[a])
        if hi <= lo:
            empty = any(rmax[b] <= rmin[b] for b in range(3))
            return ChunkPlan([], [], [], [], np.zeros(0, dtype=bool), empty)
        covers = covers and (lo, hi) == (rmin[a], rmax[a])
        first = vmin[a] + (lo - vmin[a]) // chunk[a] * chunk[a]
        spans = []
        for start in range(first, hi, chunk[a]):
            stop = min(start + chunk[a], vmax[a])
            a0, a1 = max(start, rmin[a]), min(stop, rmax[a])
            spans.append((start, stop, (a0 - start, a1 - start), (a0 - rmin[a], a1 - rmin[a])))
        axes.append(spans)
    keys, shapes, in_chunk, in_region, full = [], [], [], [], []
    prefix = scale.key + "/"
    for z0, z1, cz, rz in axes[2]:
        for y0, y1, cy, ry in axes[1]:
            for x0, x1, cx, rx in axes[0]:  # x fastest
                keys.append(f"{prefix}{x0}-{x1}_{y0}-{y1}_{z0}-{z1}")
                shapes.append((x1 - x0, y1 - y0, z1 - z0))
                in_chunk.append((cx, cy, cz))
                in_region.append((rx, ry, rz))
                full.append(cx == (0, x1 - x0) and cy == (0, y1 - y0) and cz == (0, z1 - z0))
    return ChunkPlan(keys, shapes, in_chunk, in_region, np.array(full, dtype=bool), covers)


def plan_chunks_reference(scale: ScaleInfo, region: Bbox) -> ChunkPlan:
    """The same plan from :func:`chunk_grid` (tests compare the two)."""
    grid = chunk_grid(region, scale.bounds, scale.chunk_size)  # (N, 2, 3)
    starts, stops = grid[:, 0, :], grid[:, 1, :]
    rmin = np.asarray(region.minpt, dtype=np.int64)
    rmax = np.asarray(region.maxpt, dtype=np.int64)
    lo = np.maximum(starts, rmin)
    hi = np.minimum(stops, rmax)
    full = np.all((lo == starts) & (hi == stops), axis=1)
    shapes = [tuple(int(v) for v in s) for s in (stops - starts)]
    in_chunk = [_ranges(a, b) for a, b in zip(lo - starts, hi - starts)]
    in_region = [_ranges(a, b) for a, b in zip(lo - rmin, hi - rmin)]
    covers = bool(region.empty() or scale.bounds.contains_bbox(region))
    return ChunkPlan(chunk_keys(scale.key, grid), shapes, in_chunk, in_region, full, covers)  # type: ignore[arg-type]
