"""``jpeg`` encoding: uint8, 1 or 3 channels, via imagecodecs' libjpeg-turbo.

Quality comes from the scale's ``jpeg_quality`` (CloudVolume's default 85). One channel is written
grayscale, three as RGB without chroma subsampling (4:4:4), as CloudVolume writes them.
Before decoding, the marker structure is checked: SOI first, a frame header whose size and component
count fit the chunk, and EOI last, so a truncated file is refused instead of decoded half grey.
Bit flips inside the entropy-coded data cannot be detected by any JPEG reader; only a checksum
(gzip transport, a store's hash) catches those.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require
from ._image import check_size, from_image, to_image

DEFAULT_QUALITY = 85
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT, JPG, DAC)
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}


@guard(EncodingError, "jpeg encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    ic = require("imagecodecs", "imagecodecs", "jpeg")
    img = to_image(array, fmt.np_dtype, (1, 3), "jpeg")
    quality = DEFAULT_QUALITY if fmt.quality is None else int(fmt.quality)
    if not 1 <= quality <= 100:
        raise EncodingError(f"jpeg quality must be 1..100, got {quality}")
    if img.ndim == 2:
        return bytes(ic.jpeg8_encode(img, level=quality))
    return bytes(ic.jpeg8_encode(img, level=quality, subsampling="444"))


@guard(DecodingError, "jpeg decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    ic = require("imagecodecs", "imagecodecs", "jpeg")
    height, width, components, precision = frame_header(data)
    check_size(width, height, shape, "jpeg")
    if components != fmt.num_channels or precision != 8:
        raise DecodingError(
            f"jpeg has {components} component(s) of {precision} bits; the layer has {fmt.num_channels} uint8 channel(s)"
        )
    if bytes(data[-2:]) != b"\xff\xd9":
        raise DecodingError("jpeg is truncated (no end-of-image marker)")
    return from_image(ic.jpeg8_decode(data), shape, fmt.num_channels, "jpeg")


@guard(DecodingError, "jpeg decoding")
def frame_header(data: bytes) -> tuple[int, int, int, int]:
    """``(height, width, components, precision)`` from the first SOF marker; raises on a broken layout."""
    buf = memoryview(data)
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        raise DecodingError("not a jpeg stream (no start-of-image marker)")
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            raise DecodingError(f"jpeg marker expected at byte {i}")
        while i < n and buf[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = buf[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA) or i + 2 > n:  # EOI or start of scan before any frame header
            break
        length = (buf[i] << 8) | buf[i + 1]
        if length < 2 or i + length > n:
            raise DecodingError(f"jpeg segment 0x{marker:02X} at byte {i - 2} runs past the end")
        if marker in _SOF:
            if length < 8:
                raise DecodingError("jpeg frame header is too short")
            precision = buf[i + 2]
            height = (buf[i + 3] << 8) | buf[i + 4]
            width = (buf[i + 5] << 8) | buf[i + 6]
            return height, width, buf[i + 7], precision
        i += length
    raise DecodingError("jpeg has no frame header (truncated or corrupt)")
