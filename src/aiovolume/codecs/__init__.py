"""Chunk codecs: pure ``encode(array, fmt) -> bytes`` and ``decode(bytes, fmt, shape) -> array``.

Arrays are 4-D ``(x, y, z, channel)`` in Fortran order. Codec modules hold no state and
import no asyncio, so they run unchanged in worker processes and threads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..exceptions import DecodingError, EncodingError, UnsupportedFormatError

# encoding name -> module below this package; imported on first use
_MODULES = {"raw": "raw"}


@dataclass(frozen=True, slots=True)
class ChunkFormat:
    """What a codec needs to know about a layer's chunks; small and picklable."""

    encoding: str
    dtype: str
    num_channels: int = 1
    block_size: tuple[int, int, int] | None = None  # compressed_segmentation
    quality: int | None = None  # jpeg
    level: int | None = None  # png

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype).newbyteorder("<")


def codec_module(encoding: str) -> ModuleType:
    try:
        name = _MODULES[encoding]
    except KeyError:
        raise UnsupportedFormatError(
            f"encoding {encoding!r} is not supported yet (supported: {', '.join(sorted(_MODULES))})"
        ) from None
    return importlib.import_module(f"{__name__}.{name}")


def decode_chunk(data: bytes, fmt: ChunkFormat, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode one chunk's (transport-decompressed) bytes to an ``(x, y, z, c)`` array."""
    try:
        return codec_module(fmt.encoding).decode(data, fmt, shape)
    except (DecodingError, UnsupportedFormatError):
        raise
    except Exception as exc:  # codec libraries raise anything on bad input
        raise DecodingError(f"{fmt.encoding} chunk could not be decoded: {exc}") from None


def encode_chunk(array: np.ndarray, fmt: ChunkFormat) -> bytes:
    try:
        return codec_module(fmt.encoding).encode(array, fmt)
    except (EncodingError, UnsupportedFormatError):
        raise
    except Exception as exc:
        raise EncodingError(f"{fmt.encoding} chunk could not be encoded: {exc}") from None


def supported_encodings() -> tuple[str, ...]:
    return tuple(sorted(_MODULES))
