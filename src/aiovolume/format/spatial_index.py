"""CloudVolume/igneous spatial index of mesh and skeleton directories: pure naming and parsing.

A layer whose mesh or skeleton ``info`` has ``"spatial_index": {"chunk_size": [sx, sy, sz]}``
(physical units, optionally ``"resolution"``) stores, per grid cell of the layer's physical
bounds, ``<x0>-<x1>_<y0>-<y1>_<z0>-<z1>.spatial``: JSON ``{"segid": [x0, y0, z0, x1, y1, z1]}``
(the segment's physical bounding box). Cells are clipped to the bounds; numbers are written
with as many decimals as the resolution has (none for integer resolutions).

>>> cells = index_filenames((0, 0, 0), (100, 100, 40), (50, 100, 40), (10, 10, 10), (60, 20, 20), 0)
>>> cells
['0-50_0-100_0-40.spatial', '50-100_0-100_0-40.spatial']
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Mapping, Sequence

import numpy as np

from aiovolume.exceptions import DecodingError, InfoError

__all__ = ["precision_of", "index_filenames", "parse_index_file", "segids_in"]


def precision_of(resolution: Sequence[Any]) -> int:
    """Decimals used in file names: the most any resolution value has as written (``4`` -> 0,
    ``4.0`` -> 1, ``3.25`` -> 2), as CloudVolume derives it."""
    digits = 0
    for r in resolution:
        text = str(r)
        digits = max(digits, len(text.split(".")[1]) if "." in text else 0)
    return digits


def _render(x: float, precision: int, floats: bool) -> str:
    if precision:
        return f"{round(float(x), precision):.{precision}f}"
    return repr(float(x)) if floats else str(int(x))


def index_filenames(bounds_min: Sequence[float], bounds_max: Sequence[float], chunk_size: Sequence[float],
                    query_min: Sequence[float], query_max: Sequence[float], precision: int) -> list[str]:
    """The ``.spatial`` files covering the query box (physical units, clipped to the bounds).
    With an integer resolution, names are integers unless ``chunk_size`` holds floats
    (``260.0``): CloudVolume and igneous name cells by the numbers' Python types."""
    floats = any(isinstance(c, (float, np.floating)) for c in chunk_size)
    lo, hi = np.asarray(bounds_min, np.float64), np.asarray(bounds_max, np.float64)
    chunk = np.asarray(chunk_size, np.float64)
    if np.any(chunk <= 0):
        raise InfoError(f"spatial_index.chunk_size must be positive, got {list(chunk_size)}")
    qlo = np.maximum(np.asarray(query_min, np.float64), lo)
    qhi = np.minimum(np.asarray(query_max, np.float64), hi)
    if np.any(qhi <= qlo):
        return []
    start = np.floor((qlo - lo) / chunk) * chunk + lo
    stop = np.ceil((qhi - lo) / chunk) * chunk + lo
    axes = [np.arange(a, b, c) for a, b, c in zip(start, stop, chunk)]
    names = []
    for pt in itertools.product(*axes):
        p = np.asarray(pt)
        q = np.minimum(p + chunk, hi)
        names.append("_".join(f"{_render(a, precision, floats)}-{_render(b, precision, floats)}"
                              for a, b in zip(p, q)) + ".spatial")
    return names


def parse_index_file(data: bytes, what: str = "spatial index file") -> dict[int, np.ndarray]:
    """``{segid: [x0, y0, z0, x1, y1, z1]}`` of one ``.spatial`` file."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise DecodingError(f"{what}: not JSON ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise DecodingError(f"{what}: expected a JSON object of segment id -> bounding box")
    try:
        return {int(k): np.asarray(v, np.float64).reshape(6) for k, v in raw.items()}
    except (TypeError, ValueError) as exc:
        raise DecodingError(f"{what}: bad entry ({exc})") from exc


def segids_in(entries: Mapping[int, np.ndarray], query_min: Sequence[float], query_max: Sequence[float]) -> set[int]:
    """Segment ids whose box overlaps the query box (strictly: touching is not overlapping, as
    CloudVolume's ``Bbox.intersects``)."""
    if not entries:
        return set()
    ids = np.fromiter(entries.keys(), dtype=np.uint64, count=len(entries))
    boxes = np.stack(list(entries.values()))
    lo, hi = np.asarray(query_min, np.float64), np.asarray(query_max, np.float64)
    hit = np.all((boxes[:, :3] < hi) & (boxes[:, 3:] > lo), axis=1)
    return set(ids[hit].tolist())
