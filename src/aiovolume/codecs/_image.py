"""The 2-D tiling shared by the image encodings (precomputed-format.md §4.2).

A chunk ``(X, Y, Z, C)`` is one image of width X and height Y*Z: image row ``y + Y*z``, column ``x``.
Concatenating the rows gives the Fortran ``[x, y, z]`` order, and channels are interleaved pixels.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError


def to_image(array: np.ndarray, dtype: np.dtype, channels: tuple[int, ...], encoding: str) -> np.ndarray:
    """``(X, Y, Z, C)`` -> C-contiguous ``(Y*Z, X)`` for one channel, else ``(Y*Z, X, C)``."""
    if array.ndim != 4 or array.shape[3] not in channels:
        raise EncodingError(f"{encoding} takes (x, y, z, c) chunks with c in {channels}, got shape {array.shape}")
    if array.dtype != dtype:
        raise EncodingError(f"{encoding} cannot store {array.dtype} voxels (layer data_type is {dtype})")
    x, y, z, c = array.shape
    img = np.ascontiguousarray(array.transpose(2, 1, 0, 3)).reshape(z * y, x, c)
    return img[..., 0] if c == 1 else img


def from_image(img: np.ndarray, shape: tuple[int, int, int], channels: int, encoding: str) -> np.ndarray:
    """The decoded image -> ``(X, Y, Z, C)`` view; any image width whose rows concatenate right is accepted."""
    x, y, z = shape
    got = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim not in (2, 3) or got != channels or img.size != x * y * z * channels:
        raise DecodingError(
            f"{encoding} image {'x'.join(map(str, img.shape))} does not hold a {x}x{y}x{z} chunk "
            f"of {channels} channel(s)"
        )
    return img.reshape(z, y, x, channels).transpose(2, 1, 0, 3)


def check_size(width: int, height: int, shape: tuple[int, int, int], encoding: str) -> None:
    """Refuse an image of the wrong size before decoding it (no giant allocations from a bad header)."""
    x, y, z = shape
    if width * height != x * y * z or width == 0:
        raise DecodingError(f"{encoding} image is {width}x{height} pixels; a {x}x{y}x{z} chunk needs {x * y * z}")
