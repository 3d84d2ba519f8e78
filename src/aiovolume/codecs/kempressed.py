"""``kempressed`` (CloudVolume's): fpzip around a transform, for float32/float64 chunks.

Encode: ``(x, y, z, c) -> (x, y, c, z)``, add 2.0, make it Fortran-contiguous, fpzip (lossless).
Decode: fpzip, ``(x, y, c, z) -> (x, y, z, c)``, subtract 2.0 — exactly what CloudVolume's reader
does, so each side decodes what the other writes. CloudVolume 12.15.2 skips the Fortran-contiguous
step and so stores voxels of C-ordered input in the wrong order; we follow the definition.
The +2.0/-2.0 round trip is not exact in floating point (CloudVolume's choice).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import fpzip_codec, guard

OFFSET = 2.0


@guard(EncodingError, "kempressed encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    fpzip_codec._check_dtype(array.dtype, fmt)
    shifted = np.swapaxes(array, 2, 3) + array.dtype.type(OFFSET)
    return fpzip_codec.compress(shifted, 0)


@guard(DecodingError, "kempressed decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    x, y, z = shape
    raw = fpzip_codec.decompress(data, fmt, (x, y, fmt.num_channels, z), 0)
    return np.swapaxes(raw, 2, 3) - raw.dtype.type(OFFSET)
