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

    def __len__(self) -> int:
        return len(self.keys)


def plan_chunks(scale: ScaleInfo, region: Bbox) -> ChunkPlan:
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
    return ChunkPlan(chunk_keys(scale.key, grid), shapes, in_chunk, in_region, full)  # type: ignore[arg-type]
