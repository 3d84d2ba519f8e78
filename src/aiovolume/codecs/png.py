"""``png`` encoding: uint8 or uint16, 1 to 4 channels (gray, gray+alpha, RGB, RGBA), via imagecodecs.

16-bit samples are big-endian inside the file, as the PNG standard says; numpy arrays stay native.
Unlike CloudVolume 12.15.2 we write uint16 PNG too. The level is the scale's ``png_level``
(default 6: CloudVolume's 9 is several times slower for a few percent). PNG carries a CRC per
chunk and an Adler-32 over the pixels, which libpng checks, so corruption is always detected;
the IHDR header is checked first so a bad one cannot make us allocate a huge image.
"""

from __future__ import annotations

import struct

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require
from ._image import check_size, from_image, to_image

DEFAULT_LEVEL = 6
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4, 3: None}  # 3 = palette: 3 or 4 channels after expansion


@guard(EncodingError, "png encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    ic = require("imagecodecs", "imagecodecs", "png")
    img = to_image(array, fmt.np_dtype, (1, 2, 3, 4), "png")
    level = DEFAULT_LEVEL if fmt.level is None else int(fmt.level)
    if not 0 <= level <= 9:
        raise EncodingError(f"png level must be 0..9, got {level}")
    # imagecodecs underestimates the output of small, incompressible images ("output stream too
    # small"); give it deflate's worst case: stored blocks plus PNG chunk overhead.
    raw = img.nbytes + img.shape[0]
    return bytes(ic.png_encode(img, level=level, out=raw + raw // 64 + 1024))


@guard(DecodingError, "png decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    ic = require("imagecodecs", "imagecodecs", "png")
    width, height, depth, color = ihdr(data)
    check_size(width, height, shape, "png")
    dtype = fmt.np_dtype
    if depth > dtype.itemsize * 8 or color not in _COLOR_CHANNELS:
        raise DecodingError(f"png of {depth}-bit samples (color type {color}) cannot fill a {dtype.name} layer")
    channels = _COLOR_CHANNELS[color]
    if channels is not None and channels != fmt.num_channels:
        raise DecodingError(f"png has {channels} channel(s); the layer has {fmt.num_channels}")
    img = ic.png_decode(data)
    if img.dtype != dtype:
        img = img.astype(dtype)  # 8-bit (or palette) images in a uint16 layer widen exactly
    return from_image(img, shape, fmt.num_channels, "png")


@guard(DecodingError, "png decoding")
def ihdr(data: bytes) -> tuple[int, int, int, int]:
    """``(width, height, bit depth, color type)`` of a PNG stream."""
    if len(data) < 33 or bytes(data[:8]) != _SIGNATURE or bytes(data[12:16]) != b"IHDR":
        raise DecodingError("not a png stream (bad signature or no IHDR chunk)")
    width, height, depth, color = struct.unpack(">IIBB", bytes(data[16:26]))
    return width, height, depth, color
