"""``raw`` encoding: the chunk's bytes in Fortran order, little-endian, no header."""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard


@guard(DecodingError, "raw decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    dtype = fmt.np_dtype
    full = (*shape, fmt.num_channels)
    expected = math.prod(full) * dtype.itemsize
    if len(data) != expected:
        # a truncated or padded chunk would silently shift voxels; refuse it
        raise DecodingError(
            f"raw chunk has {len(data)} bytes, expected {expected} for shape {full} {dtype.name}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(full, order="F")


@guard(EncodingError, "raw encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    if array.flags.f_contiguous and array.dtype == fmt.np_dtype:
        return array.tobytes(order="F")
    # numpy's assignment releases the GIL; tobytes(order="F") of a C-ordered block does not
    # (profiled: half of a raw write's CPU, serialising the codec threads)
    chunk = np.empty(array.shape, dtype=fmt.np_dtype, order="F")
    chunk[...] = array
    return chunk.tobytes(order="F")
