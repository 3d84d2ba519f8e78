"""``fpzip`` encoding (CloudVolume's): float32/float64, any channels; lossless unless ``fpzip_precision``.

The stream holds the chunk ``(x, y, z, c)`` in Fortran order. fpzip has no checksum and its decoder
trusts the stream: a truncated or bit-flipped chunk segfaults it (almost always) or decodes to garbage
without an error. So fpzip chunks are decoded in worker processes (a crash becomes a DecodingError),
and every decoded chunk is *verified*: fpzip is deterministic, so re-encoding the decoded values with
the same precision must give back the stored bytes exactly; anything else is corruption.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require

_FLOATS = ("float32", "float64")


@guard(EncodingError, "fpzip encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    _check_dtype(array.dtype, fmt)
    return compress(array, fmt.precision or 0)


@guard(DecodingError, "fpzip decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    return decompress(data, fmt, (*shape, fmt.num_channels), fmt.precision or 0)


@guard(EncodingError, "fpzip encoding")
def compress(array: np.ndarray, precision: int) -> bytes:
    fpzip = require("fpzip", "fpzip", "fpzip")
    if not 0 <= precision <= 64:
        raise EncodingError(f"fpzip precision must be 0..64 bits, got {precision}")
    # order="F" only tells fpzip how to read memory: the array must really be Fortran-contiguous
    return bytes(fpzip.compress(np.asfortranarray(array), precision=precision, order="F"))


@guard(DecodingError, "fpzip decoding")
def decompress(data: bytes, fmt, expected: tuple[int, ...], precision: int) -> np.ndarray:
    """Decode a stream that must hold an array of ``expected`` shape; verified by re-encoding."""
    fpzip = require("fpzip", "fpzip", "fpzip")
    dtype = fmt.np_dtype
    data = bytes(data)
    if len(data) < 16:
        raise DecodingError(f"fpzip stream of {len(data)} bytes is too short for a header (truncated)")
    try:
        out = fpzip.decompress(data, order="F")
    except (fpzip.FpzipError, ValueError, MemoryError) as exc:
        raise DecodingError(f"not a valid fpzip stream: {exc}") from None
    if out.dtype != dtype or out.shape != tuple(expected):
        raise DecodingError(
            f"fpzip stream holds {out.dtype} {out.shape}; the chunk is {dtype.name} {tuple(expected)}"
        )
    if compress(out, precision) != data:
        raise DecodingError(
            "fpzip stream failed verification (corrupt or truncated; or written with a precision other "
            f"than the scale's fpzip_precision={precision})"
        )
    return out


def _check_dtype(dtype: np.dtype, fmt) -> None:
    if fmt.np_dtype.name not in _FLOATS or np.dtype(dtype) != fmt.np_dtype:
        raise EncodingError(f"{fmt.encoding} stores float32 or float64, got {np.dtype(dtype).name}")
