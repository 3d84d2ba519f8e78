"""Chunk codecs: pure ``encode(array, fmt) -> bytes`` and ``decode(bytes, fmt, shape) -> array``.

Arrays are 4-D ``(x, y, z, channel)`` in Fortran order. Codec modules hold no state and
import no asyncio, so they run unchanged in worker processes and threads. Every decoder
checks its input's size and header against the chunk shape before the codec library sees it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from ..exceptions import AiovolumeError, DecodingError, DtypeError, EncodingError, UnsupportedFormatError

F = TypeVar("F", bound=Callable[..., Any])

# encoding name -> module below this package; imported on first use
_MODULES = {
    "raw": "raw",
    "jpeg": "jpeg",
    "png": "png",
    "compressed_segmentation": "cseg",
    "fpzip": "fpzip_codec",
    "kempressed": "kempressed",
    "compresso": "compresso_codec",
    "crackle": "crackle_codec",
}

# Encodings whose C decoders crash the process (SIGSEGV, or glibc aborts on heap corruption) on
# some corrupt input, or hold the GIL: decoded in worker processes unless the user asks for threads.
# Measured on 2.3.3 / 1.2.5 / 3.3.3 / 0.55: see tests/codecs/test_codec_corrupt.py.
CRASH_PRONE = frozenset({"compressed_segmentation", "fpzip", "kempressed", "compresso", "crackle"})
# ...except those whose every input is validated first: cseg.validate bounds each word the decoder
# reads (fuzzed in tests/codecs/test_cseg_fuzz.py and test_cseg_into.py); the compiled kernel
# (cseg_kernel.py) drops the GIL, and the C decoder it replaces held it only ~0.4 ms per 64^3
# chunk. In threads, with an ordinary (huge-page) output, uint64 segmentation read 1.4x
# faster than in processes writing into /dev/shm, whose 4 KiB pages cost 3x more to create.
VALIDATED = frozenset({"compressed_segmentation"})


@dataclass(frozen=True, slots=True)
class ChunkFormat:
    """What a codec needs to know about a layer's chunks; small and picklable."""

    encoding: str
    dtype: str
    num_channels: int = 1
    block_size: tuple[int, int, int] | None = None  # compressed_segmentation
    quality: int | None = None  # jpeg (scale's jpeg_quality)
    level: int | None = None  # png (scale's png_level)
    precision: int | None = None  # fpzip (scale's fpzip_precision; 0 = lossless)

    @property
    def np_dtype(self) -> np.dtype:
        return _little_endian(self.dtype)


@functools.lru_cache(maxsize=None)
def _little_endian(dtype: str) -> np.dtype:
    try:
        return np.dtype(dtype).newbyteorder("<")
    except (TypeError, ValueError):
        raise DtypeError(f"chunk format data type {dtype!r} is not a numpy dtype name") from None


def guard(error: type[AiovolumeError], what: str) -> Callable[[F], F]:
    """Decorate a public codec function: whatever its library raises leaves as ``error``.

    Codec libraries raise ValueError, RuntimeError, their own classes (even MemoryError on a bad
    header); callers get one typed error naming the codec instead. aiovolume errors pass through.
    """
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AiovolumeError:
                raise
            except Exception as exc:
                raise error(f"{what}: {type(exc).__name__}: {exc}") from None
        return guarded  # type: ignore[return-value]
    return wrap


@functools.lru_cache(maxsize=None)  # per-chunk lookups: import_module costs microseconds each
def codec_module(encoding: str) -> ModuleType:
    try:
        name = _MODULES[encoding]
    except KeyError:
        raise UnsupportedFormatError(
            f"encoding {encoding!r} is not supported yet (supported: {', '.join(sorted(_MODULES))})"
        ) from None
    return importlib.import_module(f"{__name__}.{name}")


def require(module: str, pip_name: str, encoding: str) -> ModuleType:
    """Import an optional codec library, or say which pip package provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnsupportedFormatError(
            f"the {encoding!r} encoding needs the {pip_name!r} package: pip install {pip_name}"
        ) from None


def needs_isolation(encoding: str) -> bool:
    """Whether a corrupt chunk of this encoding can crash the decoding process."""
    return encoding in CRASH_PRONE


def prefers_processes(encoding: str) -> bool:
    """Whether "auto" decodes this encoding in worker processes."""
    return encoding in CRASH_PRONE and encoding not in VALIDATED


@functools.lru_cache(maxsize=None)
def _bare(encoding: str, name: str) -> Callable[..., Any]:
    """A codec's function without its ``guard`` wrapper: decode_chunk/encode_chunk translate
    errors themselves, and the wrapper's frame was paid once per chunk on the hot path."""
    fn = getattr(codec_module(encoding), name)
    return getattr(fn, "__wrapped__", fn)


def decode_chunk(data: bytes, fmt: ChunkFormat, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode one chunk's (transport-decompressed) bytes to an ``(x, y, z, c)`` array."""
    try:
        return _bare(fmt.encoding, "decode")(data, fmt, tuple(map(int, shape)))
    except (DecodingError, UnsupportedFormatError):
        raise
    except Exception as exc:  # codec libraries raise anything on bad input
        raise _undecodable(fmt, exc) from None


def _undecodable(fmt: ChunkFormat, exc: Exception) -> DecodingError:
    return DecodingError(f"{fmt.encoding} chunk could not be decoded: {type(exc).__name__}: {exc}")


# Encodings with ``decode_into(data, fmt, shape, dst, part) -> bool``: decode straight into part
# of an output instead of returning a chunk to copy (compressed_segmentation: cseg_kernel).
DECODES_INTO = frozenset({"compressed_segmentation"})


def decode_chunk_into(data: Any, fmt: ChunkFormat, shape: tuple[int, int, int], dst: np.ndarray,
                      part: tuple) -> bool:
    """Decode voxels ``part`` (((x0, x1), (y0, y1), (z0, z1)) of the chunk) into ``dst``.

    Only for ``fmt.encoding in DECODES_INTO``. False: nothing was done (the codec cannot right
    now); decode the whole chunk with :func:`decode_chunk` instead.
    """
    try:
        return _bare(fmt.encoding, "decode_into")(data, fmt, tuple(map(int, shape)), dst, part)
    except (DecodingError, UnsupportedFormatError):
        raise
    except Exception as exc:
        raise _undecodable(fmt, exc) from None


def prepare(encoding: str) -> None:
    """Start loading what a codec's fast path needs, in the background (returns at once):
    a volume calls it when it opens a scale, so the fast path is ready by the reads."""
    if encoding in DECODES_INTO:
        codec_module(encoding).prepare()


def encode_chunk(array: np.ndarray, fmt: ChunkFormat) -> bytes:
    try:
        return _bare(fmt.encoding, "encode")(array, fmt)
    except (EncodingError, UnsupportedFormatError):
        raise
    except Exception as exc:
        raise EncodingError(f"{fmt.encoding} chunk could not be encoded: {type(exc).__name__}: {exc}") from None


def supported_encodings() -> tuple[str, ...]:
    return tuple(sorted(_MODULES))
