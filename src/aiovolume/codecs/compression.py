"""Transport compression of stored chunks (Content-Encoding, or CloudVolume's ``.gz`` suffix)."""

from __future__ import annotations

import gzip
import zlib

import imagecodecs
from isal import isal_zlib

from ..exceptions import DecodingError, UnsupportedCompressionType

# CloudVolume gzips these encodings by default; image codecs are already compressed.
_GZIP_BY_DEFAULT = frozenset({"raw", "compressed_segmentation", "compresso", "crackle"})
SUPPORTED = ("gzip", "br", "zstd")


def resolve_compress(compress: object, encoding: str) -> str | None:
    """CloudVolume's rule for the ``compress=`` option -> transport encoding or None."""
    if compress is None:
        return "gzip" if encoding in _GZIP_BY_DEFAULT else None
    if compress is True:
        return "gzip"
    if compress is False or compress == "":
        return None
    if isinstance(compress, str) and compress.lower() in SUPPORTED:
        return compress.lower()
    raise UnsupportedCompressionType(
        f"compress={compress!r} is not supported; use None, True, False or one of {SUPPORTED}"
    )


def compress(data: bytes, method: str | None, level: int | None = None) -> bytes:
    if method is None:
        return data
    if method == "gzip":
        if level is None:
            # ISA-L level 1: within 1% of level 9's size on EM and label data, ~7x faster
            # than level 9 (benchmarks/ gzip level study); releases the GIL
            return isal_zlib.compress(data, level=1, wbits=31)
        # an explicit zlib-scale level (CloudVolume's compress_level) is honoured as such
        return imagecodecs.gzip_encode(data, level=level)
    if method == "br":
        return imagecodecs.brotli_encode(data, level=5 if level is None else level)
    if method == "zstd":
        return imagecodecs.zstd_encode(data, level=3 if level is None else level)
    raise UnsupportedCompressionType(f"unknown transport compression {method!r}")


def decompress(data: bytes, method: str | None, scratch: bytearray | None = None) -> bytes | memoryview:
    """Undo transport compression; a corrupt or truncated stream raises DecodingError.

    With ``scratch``, gzip output that fits goes there and a view of it is returned (valid
    until the scratch is reused): no fresh allocation per chunk, whose page faults and
    unmapping made decoding threads wait on each other (profiled: 2 threads ran at the speed of 1).
    """
    if method is None or method == "identity":
        return data
    try:
        if method == "gzip":
            if scratch is not None:
                try:
                    return imagecodecs.gzip_decode(data, out=scratch)
                except Exception:
                    pass  # too big for the scratch, multi-member, or corrupt: decided below
            try:
                # libdeflate: ~2.3x zlib here; it checks the CRC and length trailer
                return imagecodecs.gzip_decode(data)
            except Exception:
                # multi-member streams, or a real error that zlib describes better
                return _gunzip(data)
        if method == "br":
            return imagecodecs.brotli_decode(data)
        if method == "zstd":
            return imagecodecs.zstd_decode(data)
    except DecodingError:
        raise
    except Exception as exc:
        raise DecodingError(f"corrupt {method} stream: {exc}") from None
    raise DecodingError(f"unknown content encoding {method!r}")


def _gunzip(data: bytes) -> bytes:
    # zlib checks the gzip trailer (CRC32 + length), so truncation and bit flips are caught;
    # wbits=47 also accepts a zlib header, which some writers emit for "gzip".
    d = zlib.decompressobj(47)
    try:
        out = d.decompress(data)
    except zlib.error as exc:
        raise DecodingError(f"corrupt gzip stream: {exc}") from None
    if not d.eof:
        raise DecodingError("truncated gzip stream")
    if d.unused_data:
        # concatenated members are legal gzip
        return out + gzip.decompress(d.unused_data)
    return out
