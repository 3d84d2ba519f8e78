"""Casting uploaded data to the layer's dtype: exact or refused, never wrapped.

CloudVolume casts silently (``astype``), so 300 written to a uint8 layer is stored as 44 and
1.5 to an integer layer as 1. Here an upload whose dtype differs from the layer's is accepted
when every value fits the layer's dtype exactly, and refused otherwise with the first offending
value and where it is. Pure numpy.

    >>> cast_exactly(np.array([1, 2], dtype=np.int64), np.dtype(np.uint8)).dtype
    dtype('uint8')
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .exceptions import DtypeError


def cast_exactly(array: np.ndarray, dtype: np.dtype, origin: Sequence[int] | None = None) -> np.ndarray:
    """``array`` as ``dtype`` if every value survives the cast unchanged, else :class:`DtypeError`.

    A safe cast (uint8 -> uint16, ...) costs one ``astype``: no value can change. Otherwise integer
    to integer is one min/max check; anything else is cast, cast back and compared (that covers
    NaN, inf, fractions and out-of-range values alike). ``origin`` (x, y, z) turns the array index
    of the first offending value into volume coordinates in the message.
    """
    dtype = np.dtype(dtype)
    src = array.dtype
    if src == dtype:
        return array
    if np.can_cast(src, dtype, casting="safe"):
        return array.astype(dtype)
    if src.kind not in "biuf" or dtype.kind not in "biuf":
        raise DtypeError(f"{src} data cannot be written to a {dtype} layer; nothing was written")
    if array.size == 0:
        return array.astype(dtype)
    if src.kind in "iu" and dtype.kind in "iu":
        lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
        if lo <= int(array.min()) and int(array.max()) <= hi:
            return array.astype(dtype)
        bad = (array < lo) | (array > hi)
        _refuse(array, bad, dtype, origin)
    with np.errstate(all="ignore"):  # NaN, inf and overflow are what is being looked for
        cast = array.astype(dtype)
        back = cast.astype(src)
    bad = back != array
    if src.kind == "f" and dtype.kind == "f":
        bad &= ~np.isnan(array)  # NaN is a value every float layer holds
    if bad.any():
        _refuse(array, bad, dtype, origin)
    return cast


def _refuse(array: np.ndarray, bad: np.ndarray, dtype: np.dtype, origin: Sequence[int] | None) -> None:
    # the first offending voxel in storage order (x fastest), as chunks are laid out
    flat = int(np.argmax(bad.ravel(order="F")))
    index = tuple(int(i) for i in np.unravel_index(flat, bad.shape, order="F"))
    value = array[index].item()
    where = f"array index {index}"
    if origin is not None and len(index) == 4:
        xyz = tuple(int(o) + i for o, i in zip(origin, index[:3]))
        where = f"(x, y, z, c) = {(*xyz, index[3])} ({where})"
    count = int(np.count_nonzero(bad))
    raise DtypeError(
        f"value {value!r} at {where} does not fit the layer's {dtype} exactly "
        f"({count} value{'s' if count != 1 else ''} would change in a cast from {array.dtype}); "
        "nothing was written. Clip or round the data first, or write it to a layer of a wider dtype"
    )


def cast_scalar(value: Any, dtype: np.dtype) -> Any:
    """A scalar written to a whole region (``vol[...] = 5``) as the layer's dtype, exactly or DtypeError."""
    arr = np.asarray(value)
    if arr.dtype.kind in "biu" and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= int(value) <= info.max:
            raise DtypeError(f"value {value!r} does not fit the layer's {dtype}")
    elif arr.dtype.kind == "f" and dtype.kind in "iu":
        if not np.isfinite(value) or float(value) != int(value) or \
                not np.iinfo(dtype).min <= int(value) <= np.iinfo(dtype).max:
            raise DtypeError(f"value {value!r} cannot be stored exactly in the layer's {dtype}")
    elif arr.dtype.kind not in "biuf":
        raise DtypeError(f"value {value!r} of type {type(value).__name__} cannot be written to a {dtype} layer")
    return dtype.type(value)
