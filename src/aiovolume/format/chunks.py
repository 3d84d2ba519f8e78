"""The chunk grid of a scale and its unsharded chunk names (precomputed-format.md §3).

Pure functions, no I/O. The grid starts at the scale's ``voxel_offset`` (``volume.minpt``); the
last chunk on each axis is clipped at the volume's upper edge, never padded.

>>> vol = Bbox((-10, 4, 0), (120, 54, 20))
>>> [chunk_name(Bbox(*c)) for c in chunk_grid(vol, vol, (64, 64, 16))][:2]
['-10-54_4-54_0-16', '54-118_4-54_0-16']
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

from aiovolume.exceptions import DimensionError, DtypeError, SpecViolation
from aiovolume.geometry import Bbox

__all__ = [
    "chunk_name", "chunk_key", "chunk_keys", "parse_chunk_name", "chunk_grid", "chunk_count",
    "is_aligned", "expand_to_grid", "shrink_to_grid", "grid_chunk_key", "pad_to_grid", "alignment_message",
]

# re.ASCII: \d must not accept other scripts' digits (int() parses them); fullmatch, not
# match, because $ also matches before a trailing newline.
_NAME_RE = re.compile(r"^(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)$", re.ASCII)


def _corners(box: Bbox, what: str) -> tuple[np.ndarray, np.ndarray]:
    """int64 (minpt, maxpt) of a 3-D box holding whole voxel coordinates."""
    if box.ndim != 3:
        raise DimensionError(f"{what} must be 3-D, got {box}")
    lo, hi = np.asarray(box.minpt), np.asarray(box.maxpt)
    if lo.dtype.kind == "f" and (np.any(lo % 1 != 0) or np.any(hi % 1 != 0)):
        raise DtypeError(f"{what} must hold whole voxel coordinates, got {box}")
    return lo.astype(np.int64), hi.astype(np.int64)


def _grid(volume: Bbox, chunk_size: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vmin, vmax = _corners(volume, "volume")
    chunk = np.asarray(chunk_size)
    if chunk.shape != (3,) or chunk.dtype.kind not in "iu" or np.any(chunk < 1):
        raise DimensionError(f"chunk_size must be three positive integers, got {chunk_size!r}")
    return vmin, vmax, chunk.astype(np.int64)


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -((-a) // b)


def chunk_name(bbox: Bbox) -> str:
    """``x0-x1_y0-y1_z0-z1``, e.g. ``-10-54_4-54_0-16``."""
    lo, hi = _corners(bbox, "a chunk")
    return "_".join(f"{a}-{b}" for a, b in zip(lo.tolist(), hi.tolist()))


def chunk_key(scale_key: str, bbox: Bbox) -> str:
    """The storage key of one chunk: ``<scale key>/<chunk name>``."""
    return f"{scale_key}/{chunk_name(bbox)}"


def chunk_keys(scale_key: str, grid: np.ndarray) -> list[str]:
    """Keys of every chunk of a ``chunk_grid`` result, in the same order."""
    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.shape[1:] != (2, 3) or grid.dtype.kind not in "iu":
        raise DimensionError(f"chunk_keys takes an (N, 2, 3) integer grid, got shape {grid.shape} {grid.dtype}")
    return [
        f"{scale_key}/{x0}-{x1}_{y0}-{y1}_{z0}-{z1}"
        for (x0, y0, z0), (x1, y1, z1) in np.asarray(grid, dtype=np.int64).tolist()
    ]


def parse_chunk_name(name: str) -> Bbox:
    """Inverse of :func:`chunk_name`; :class:`SpecViolation` (a ValueError) for anything else."""
    match = _NAME_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise SpecViolation(f"{name!r} is not a chunk name of the form x0-x1_y0-y1_z0-z1")
    v = [int(g) for g in match.groups()]
    lo, hi = v[0::2], v[1::2]
    if any(b < a for a, b in zip(lo, hi)):
        raise SpecViolation(f"chunk name {name!r} has an end before its start")
    return Bbox(lo, hi)


def _grid_span(
    request: Bbox, volume: Bbox, chunk_size: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """First and past-last chunk index per axis touched by request ∩ volume, or None."""
    vmin, vmax, chunk = _grid(volume, chunk_size)
    rmin, rmax = _corners(request, "request")
    lo, hi = np.maximum(rmin, vmin), np.minimum(rmax, vmax)
    if np.any(hi <= lo):
        return None
    return (lo - vmin) // chunk, _ceil_div(hi - vmin, chunk), vmin, vmax, chunk


def chunk_grid(request: Bbox, volume: Bbox, chunk_size: Sequence[int]) -> np.ndarray:
    """``(N, 2, 3)`` int64 ``[start, stop)`` of every chunk meeting ``request ∩ volume``.

    Chunks are clipped at the volume's upper edge and ordered x fastest, then y, then z.
    """
    span = _grid_span(request, volume, chunk_size)
    if span is None:
        return np.empty((0, 2, 3), dtype=np.int64)
    g0, g1, vmin, vmax, chunk = span
    starts = [vmin[i] + np.arange(g0[i], g1[i], dtype=np.int64) * chunk[i] for i in range(3)]
    out = np.empty((len(starts[2]), len(starts[1]), len(starts[0]), 2, 3), dtype=np.int64)
    for i, shape in enumerate(((1, 1, -1), (1, -1, 1), (-1, 1, 1))):  # x varies along the last axis
        out[..., 0, i] = starts[i].reshape(shape)
        out[..., 1, i] = np.minimum(starts[i] + chunk[i], vmax[i]).reshape(shape)
    return out.reshape(-1, 2, 3)


def chunk_count(request: Bbox, volume: Bbox, chunk_size: Sequence[int]) -> int:
    """``len(chunk_grid(request, volume, chunk_size))`` without building the grid."""
    span = _grid_span(request, volume, chunk_size)
    return 0 if span is None else math.prod((span[1] - span[0]).tolist())  # Python ints: no wrap-around


def is_aligned(bbox: Bbox, volume: Bbox, chunk_size: Sequence[int]) -> bool:
    """Whether every face of ``bbox`` lies on the grid; a max face on the volume's edge counts."""
    vmin, vmax, chunk = _grid(volume, chunk_size)
    lo, hi = _corners(bbox, "bbox")
    on_lo = (lo - vmin) % chunk == 0
    on_hi = ((hi - vmin) % chunk == 0) | (hi == vmax)
    return bool(np.all(on_lo & on_hi))


def expand_to_grid(bbox: Bbox, volume: Bbox, chunk_size: Sequence[int]) -> Bbox:
    """The chunks touching ``bbox ∩ volume``, as one box (empty when there are none).

    That is ``bbox`` grown outward to chunk boundaries and clipped to the volume.
    """
    vmin, vmax, chunk = _grid(volume, chunk_size)
    lo, hi = _corners(bbox, "bbox")
    lo, hi = np.clip(lo, vmin, vmax), np.clip(hi, vmin, vmax)
    if np.any(hi <= lo):  # no voxel: growing would invent a whole chunk
        return Bbox(lo, np.maximum(hi, lo))
    lo = vmin + (lo - vmin) // chunk * chunk
    hi = np.minimum(vmin + _ceil_div(hi - vmin, chunk) * chunk, vmax)
    return Bbox(lo, hi)


def shrink_to_grid(bbox: Bbox, volume: Bbox, chunk_size: Sequence[int]) -> Bbox:
    """The chunks lying wholly inside ``bbox ∩ volume``, as one box (empty when there are none).

    A max face on the volume's edge stays there: the clipped last chunk is a whole chunk.
    """
    vmin, vmax, chunk = _grid(volume, chunk_size)
    lo, hi = _corners(bbox, "bbox")
    lo, hi = np.clip(lo, vmin, vmax), np.clip(hi, vmin, vmax)
    lo = np.minimum(vmin + _ceil_div(lo - vmin, chunk) * chunk, vmax)
    hi = np.where(hi == vmax, hi, vmin + (hi - vmin) // chunk * chunk)
    # Bbox() sorts its corners, so an inverted axis must be collapsed by hand.
    return Bbox(lo, np.maximum(hi, lo))


def grid_chunk_key(scale_key: str, x0: int, x1: int, y0: int, y1: int, z0: int, z1: int) -> str:
    """:func:`chunk_key` from plain ints: the read planner names every chunk through this."""
    return f"{scale_key}/{x0}-{x1}_{y0}-{y1}_{z0}-{z1}"


def pad_to_grid(region: Bbox, array: np.ndarray, scale: Any, background: Any) -> tuple[Bbox, np.ndarray]:
    """``region`` grown to whole chunks (clamped to the bounds), with ``array`` placed in a
    ``background``-filled array of that size: CloudVolume's ``overwrite_partial_chunks``."""
    grown = expand_to_grid(region, scale.bounds, scale.chunk_size)
    out = np.full((*(int(s) for s in grown.size3()), array.shape[3]), background, dtype=array.dtype, order="F")
    lo = region.minpt - grown.minpt
    hi = lo + region.size3()
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :] = array
    return grown, out


def alignment_message(region: Bbox, scale: Any, mip: int, verb: str = "write") -> str:
    """Why a write or delete of ``region`` is refused, with the aligned regions nearby (``scale``:
    a ScaleInfo: bounds, chunk_size, voxel_offset)."""
    grown = expand_to_grid(region, scale.bounds, scale.chunk_size)
    shrunk = shrink_to_grid(region, scale.bounds, scale.chunk_size)
    return (
        f"{verb} region {region} is not aligned to the chunk grid (chunk size {list(scale.chunk_size)}, "
        f"offset {list(scale.voxel_offset)}) at mip {mip}. Aligned regions nearby: {grown} (grown) or "
        f"{shrunk} (shrunk). "
        + ("Pass non_aligned_writes=True to read-modify-write the edge chunks." if verb == "write" else
           "Deleting part of a chunk would lose its other voxels.")
    )
