"""CloudVolume's spatial index files (pure): ``<bbox>.spatial`` JSON ``{segid: [x0,y0,z0,x1,y1,z1]}``
under the mesh (or skeleton) directory, one per ``spatial_index.chunk_size`` cell of the layer's
physical bounds (nm), named ``x0-x1_y0-y1_z0-z1`` (numbers with the resolution's decimals).

>>> index_filenames((0, 0, 0), (1500, 1000, 40), (0, 0, 0), (2048, 2048, 40), (1024, 1024, 40), 0)
['0-1024_0-1024_0-40.spatial', '1024-2048_0-1024_0-40.spatial']
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Sequence

import numpy as np

from aiovolume.exceptions import SpecViolation


def precision_of(resolution: Sequence[float]) -> int:
    """Decimals the names use: the most of any resolution value as Python prints it (CloudVolume's
    rule: an integer resolution gives 0, ``4.0`` in the info gives 1)."""
    return max(len(str(r).split(".")[1]) if "." in str(r) else 0 for r in resolution)


def render(x: float, precision: int) -> str:
    if precision:
        return f"{round(float(x), precision):.{precision}f}"
    return str(int(x))


def index_filenames(lo: Sequence[float], hi: Sequence[float], bounds_lo: Sequence[float], bounds_hi: Sequence[float],
                    chunk_size: Sequence[float], precision: int) -> list[str]:
    """Names of the index files whose cells meet ``[lo, hi)`` (physical units), x fastest as
    CloudVolume lists them."""
    chunk = np.asarray(chunk_size, dtype=np.float64)
    origin = np.asarray(bounds_lo, dtype=np.float64)
    top = np.asarray(bounds_hi, dtype=np.float64)
    if np.any(chunk <= 0):
        raise SpecViolation(f"spatial_index.chunk_size must be positive, got {list(chunk_size)}")
    start = np.floor((np.asarray(lo, dtype=np.float64) - origin) / chunk.astype(np.float32)) * chunk + origin
    stop = np.ceil((np.asarray(hi, dtype=np.float64) - origin) / chunk.astype(np.float32)) * chunk + origin
    if np.any(stop <= start):
        return []
    axes = [np.arange(a, b, c) for a, b, c in zip(start, stop, chunk)]
    names = []
    for z, y, x in itertools.product(axes[2], axes[1], axes[0]):
        p = np.array([x, y, z])
        q = np.minimum(p + chunk, top)
        names.append("_".join(f"{render(a, precision)}-{render(b, precision)}" for a, b in zip(p, q)) + ".spatial")
    return names


def parse_index(data: bytes, what: str = "spatial index file") -> dict[int, list[Any]]:
    """``{segid: [x0, y0, z0, x1, y1, z1]}`` of one index file."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SpecViolation(f"{what}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise SpecViolation(f"{what}: expected an object of segid -> bbox")
    return {int(k): v for k, v in doc.items()}


def intersects(box: Sequence[float], lo: np.ndarray, hi: np.ndarray) -> bool:
    """Whether ``[x0,y0,z0,x1,y1,z1]`` meets ``[lo, hi)`` (open on both sides, as CloudVolume)."""
    b = np.asarray(box, dtype=np.float64)
    return bool(np.all(b[:3] < hi) and np.all(b[3:] > lo))


__all__ = ["precision_of", "render", "index_filenames", "parse_index", "intersects"]
