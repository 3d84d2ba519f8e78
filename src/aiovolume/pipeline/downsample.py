"""Downsampling an ``(x, y, z[, c])`` array by an integer factor per axis: pure numpy, no I/O.

- :func:`downsample_average` (images): the mean of each block, in the input dtype. Integers are
  truncated toward zero, as tinybrain (what igneous uses) does; the mean is computed exactly for
  every integer dtype, uint64 and int64 included (no float rounding, no overflow).
- :func:`downsample_mode` (segmentation): the most frequent value of each block; ties go to the
  smallest value. Exact for any dtype (uint64 ids above 2**53 included): values are only sorted
  and compared, never converted.

A block at the far edge that is smaller than the factor (odd sizes) is reduced over the voxels
it has, so the output is ``ceil(size / factor)`` per axis, the size CloudVolume's ``add_scale``
gives a new scale.

Why not tinybrain: 1.7.0 returns uninitialised memory for the edge of odd-sized images in
``downsample_with_averaging(img, (2, 2, 1))`` (e.g. a 5x4x1 float32 image), overflows uint64
means, averages other factors in float32, and replaces the mode by striding for factors that are
not powers of two. This module is a few vectorised numpy passes instead; speed matters little
here (it runs once per mip when a layer is built from an array).

>>> import numpy as np
>>> downsample_average(np.array([[[1], [2]], [[2], [2]]], np.uint8), (2, 2, 1))[..., 0].tolist()
[[1]]
>>> downsample_mode(np.array([[[7], [5]], [[5], [7]]], np.uint64), (2, 2, 1))[..., 0].tolist()
[[5]]
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DtypeError, OptionError

__all__ = ["downsample", "downsample_average", "downsample_mode", "pyramid"]

# input voxels reduced at once: bounds the temporaries (uint64 copies, sorted rows) to tens of MiB
# whatever the array's size
_SLAB_VOXELS = 1 << 22
_LOW32 = np.uint64(0xFFFFFFFF)
_SIGN64 = np.uint64(1 << 63)


def downsample(img: Any, factor: Sequence[int], layer_type: str = "image") -> np.ndarray:
    """Average for ``layer_type="image"``, mode for anything else (segmentation)."""
    if layer_type == "image":
        return downsample_average(img, factor)
    return downsample_mode(img, factor)


def downsample_average(img: Any, factor: Sequence[int], sparse: bool = False) -> np.ndarray:
    """The mean of each ``factor``-sized block, in ``img``'s dtype (integers truncated toward zero).
    ``sparse=True``: the mean of the block's non-zero voxels (0 where all are zero), as igneous'
    sparse downsampling; 64-bit integers cannot be averaged sparsely."""
    arr, f, squeeze = _as_4d(img, factor)
    if arr.dtype.kind not in "iuf":
        raise DtypeError(f"cannot average {arr.dtype} data; cast to an integer or float dtype first")
    if sparse:
        if arr.dtype.kind in "iu" and arr.dtype.itemsize > 4:
            raise DtypeError(f"sparse averaging of {arr.dtype} data is not supported; use sparse=False or mode")
        return _apply(arr, f, _sparse_mean, squeeze)
    return _apply(arr, f, _integer_mean if arr.dtype.kind in "iu" else _float_mean, squeeze)


def downsample_mode(img: Any, factor: Sequence[int], sparse: bool = False) -> np.ndarray:
    """The most frequent value of each ``factor``-sized block (ties: the smallest value).
    ``sparse=True``: zero (background) wins only where the block holds nothing else."""
    arr, f, squeeze = _as_4d(img, factor)
    if arr.dtype.kind not in "biuf":
        raise DtypeError(f"cannot take the mode of {arr.dtype} data")
    return _apply(arr, f, functools.partial(_mode, sparse=sparse), squeeze)


def pyramid(img: Any, factor: Sequence[int], num_mips: int, method: str = "average",
            sparse: bool = False) -> list[np.ndarray]:
    """Mips 1..``num_mips`` of ``img``, mip ``j`` reduced from ``img`` itself over ``factor**j``
    blocks: no rounding or tie-breaking compounds from one mip to the next (what tinybrain's
    ``num_mips`` averaging does). ``method``: "average" or "mode".

    Averages of uint8/uint16 images with factors of 1 or 2 whose size is a multiple of
    ``factor**num_mips`` go through tinybrain when it is installed (about 20x faster here, and
    identical: tests/dask/test_pyramid.py checks it); everything else through this module.

    >>> [m.shape for m in pyramid(np.zeros((8, 8, 2), np.uint8), (2, 2, 1), 2)]
    [(4, 4, 2), (2, 2, 2)]
    """
    arr, f, _ = _as_4d(img, factor)
    if method not in ("average", "mode"):
        raise OptionError(f"downsampling method must be 'average' or 'mode', got {method!r}")
    squeeze = np.asarray(img).ndim == 3
    fast = _tinybrain_average(arr, f, num_mips) if method == "average" and not sparse else None
    if fast is None:
        reduce = downsample_average if method == "average" else downsample_mode
        fast = [reduce(arr, tuple(x ** j for x in f), sparse) for j in range(1, num_mips + 1)]
    return [m[..., 0] if squeeze else m for m in fast]


def _tinybrain_average(arr: np.ndarray, factor: tuple[int, int, int], num_mips: int) -> list[np.ndarray] | None:
    """tinybrain's accumulated averages where they are exact (see :func:`pyramid`), else None."""
    if arr.dtype not in (np.uint8, np.uint16) or any(f not in (1, 2) for f in factor) or any(
            n % (f ** num_mips) for n, f in zip(arr.shape[:3], factor)):
        return None
    try:
        import tinybrain
    except ImportError:
        return None
    return [np.asfortranarray(m) for m in tinybrain.downsample_with_averaging(np.asfortranarray(arr), factor, num_mips)]


# -- plumbing ----------------------------------------------------------------------------------------
def _as_4d(img: Any, factor: Sequence[int]) -> tuple[np.ndarray, tuple[int, int, int], bool]:
    arr = np.asarray(img)
    if arr.ndim not in (3, 4):
        raise DimensionError(f"expected an (x, y, z) or (x, y, z, c) array, got {arr.ndim} dimensions")
    try:
        f = tuple(int(x) for x in factor)
        exact = all(int(x) == x for x in factor)
    except (TypeError, ValueError):
        f, exact = (), False
    if len(f) == 4 and f[3] == 1:
        f = f[:3]
    if len(f) != 3 or not exact or min(f) < 1 or f[0] * f[1] * f[2] >= 2**31:  # the sums' headroom
        raise DimensionError(f"downsampling factor must be 3 positive integers (x, y, z), got {factor!r}")
    squeeze = arr.ndim == 3
    return (arr[..., np.newaxis] if squeeze else arr), f, squeeze  # type: ignore[return-value]


def _regions(shape: Sequence[int], factor: Sequence[int]) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...], tuple[int, ...]]]:
    """Split the array into at most 8 parts, each tiled exactly by one block shape: the whole blocks,
    and per axis the partial block at the far edge. Yields (input slices, output slices, block)."""
    per_axis = []
    for n, f in zip(shape, factor):
        whole = n // f
        parts = []
        if whole:
            parts.append((slice(0, whole * f), slice(0, whole), f))
        if n % f:
            parts.append((slice(whole * f, n), slice(whole, whole + 1), n % f))
        per_axis.append(parts)
    for combo in itertools.product(*per_axis):
        yield tuple(c[0] for c in combo), tuple(c[1] for c in combo), tuple(c[2] for c in combo)


def _apply(arr: np.ndarray, factor: tuple[int, int, int], reduce: Any, squeeze: bool) -> np.ndarray:
    sx, sy, sz, nc = arr.shape
    out = np.empty((*(-(-s // f) for s, f in zip((sx, sy, sz), factor)), nc), dtype=arr.dtype, order="F")
    for src, dst, (bx, by, bz) in _regions((sx, sy, sz), factor):
        ox, oy, oz = (s.stop - s.start for s in dst)
        step = max(1, _SLAB_VOXELS // (ox * bx * oy * by * bz * nc))  # output z planes per slab
        for z in range(0, oz, step):
            n = min(step, oz - z)
            part = arr[src[0], src[1], src[2].start + z * bz:src[2].start + (z + n) * bz]
            # (bx, ox, by, oy, bz, oz, c) in Fortran order: x = i_bx + bx * i_ox, so each block's
            # voxels are on axes 0, 2, 4 (a view, no copy, when the input is Fortran-ordered)
            blocks = part.reshape(bx, ox, by, oy, bz, n, nc, order="F")
            out[dst[0], dst[1], dst[2].start + z:dst[2].start + z + n] = reduce(blocks, bx * by * bz)
    return out[..., 0] if squeeze else out


# -- reductions over axes (0, 2, 4) of a block view ------------------------------------------------
def _float_mean(blocks: np.ndarray, k: int) -> np.ndarray:
    acc = np.float64 if blocks.dtype.itemsize <= 8 else blocks.dtype  # float16/32 summed in double
    return (blocks.sum(axis=(0, 2, 4), dtype=acc) / k).astype(blocks.dtype)


def _integer_mean(blocks: np.ndarray, k: int) -> np.ndarray:
    """Exact mean truncated toward zero, for every integer dtype up to 64 bits.

    For 64-bit values, they are mapped monotonically onto uint64 (signed ones biased by 2**63) and split into
    32-bit halves whose sums cannot overflow; the floor of the biased mean is then exact, and
    the signed result is moved toward zero where the division left a remainder.
    """
    signed = blocks.dtype.kind == "i"
    if blocks.dtype.itemsize <= 4:  # an int64 sum is exact (k < 2**31 values under 2**32)
        total = blocks.sum(axis=(0, 2, 4), dtype=np.int64)
        if signed:
            return (np.sign(total) * (np.abs(total) // k)).astype(blocks.dtype)
        return (total // k).astype(blocks.dtype)
    u = blocks.astype(np.int64).view(np.uint64) ^ _SIGN64 if signed else blocks.astype(np.uint64)
    n = np.uint64(k)
    hi = (u >> np.uint64(32)).sum(axis=(0, 2, 4), dtype=np.uint64)
    lo = (u & _LOW32).sum(axis=(0, 2, 4), dtype=np.uint64)
    q_hi, r_hi = np.divmod(hi, n)
    q_lo, rem = np.divmod((r_hi << np.uint64(32)) + lo, n)  # < k * 2**33: fits while k < 2**31
    mean = (q_hi << np.uint64(32)) + q_lo
    if not signed:
        return mean.astype(blocks.dtype)
    floor = (mean ^ _SIGN64).view(np.int64)
    return (floor + ((floor < 0) & (rem != 0))).astype(blocks.dtype)


def _sparse_mean(blocks: np.ndarray, k: int) -> np.ndarray:
    """Mean of the non-zero values of each block (integers of up to 32 bits and floats)."""
    count = np.count_nonzero(blocks, axis=(0, 2, 4))
    if blocks.dtype.kind == "f":
        total = blocks.sum(axis=(0, 2, 4), dtype=np.float64 if blocks.dtype.itemsize <= 8 else blocks.dtype)
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0).astype(blocks.dtype)
    total = blocks.sum(axis=(0, 2, 4), dtype=np.int64)
    mean = np.sign(total) * (np.abs(total) // np.maximum(count, 1))  # toward zero, as the dense mean
    return mean.astype(blocks.dtype)


def _mode(blocks: np.ndarray, k: int, sparse: bool = False) -> np.ndarray:
    _, ox, _, oy, _, oz, nc = blocks.shape
    # one row per output voxel, holding its block's k values
    rows = blocks.transpose(1, 3, 5, 6, 0, 2, 4).reshape(-1, k)
    if k == 1:
        return rows[:, 0].reshape(ox, oy, oz, nc)
    s = np.sort(rows, axis=1)
    steps = np.arange(k)
    new_run = np.ones(s.shape, dtype=bool)
    new_run[:, 1:] = s[:, 1:] != s[:, :-1]
    # length - 1 of the run of equal values ending at each position
    run = steps - np.maximum.accumulate(np.where(new_run, steps, 0), axis=1)
    if sparse:  # zero loses to any other value; a block of zeros still gives 0 (first position)
        run = np.where(s == 0, -1, run)
    # argmax takes the first longest run, i.e. the smallest of the most frequent values
    return s[np.arange(s.shape[0]), run.argmax(axis=1)].reshape(ox, oy, oz, nc)
