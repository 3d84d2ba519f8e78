"""Transport compression of stored chunks (Content-Encoding, or CloudVolume's ``.gz`` suffix).

Errors: a corrupt or truncated stream raises :class:`DecompressionError`, a failed compression
:class:`CompressionError`, an unknown method :class:`UnsupportedCompressionType`, and a missing
library :class:`UnsupportedFormatError` naming the pip package.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from types import ModuleType

from ..exceptions import (
    AiovolumeError, CompressionError, DecompressionError, UnsupportedCompressionType, UnsupportedFormatError,
)

try:
    import imagecodecs
except ImportError:  # a hard dependency, but say what to install rather than fail at import
    imagecodecs = None
try:
    from isal import isal_zlib
except ImportError:
    isal_zlib = None

# CloudVolume gzips these encodings by default; image codecs are already compressed.
_GZIP_BY_DEFAULT = frozenset({"raw", "compressed_segmentation", "compresso", "crackle"})
SUPPORTED = ("gzip", "br", "zstd")
#: BOSS's cutout bodies: blosc, byte-shuffled at the voxel size, which a writer names as
#: ``"blosc-<itemsize>"`` (``compress``); stored/received bytes are reported as ``"blosc"``.
#: Internal to the BOSS source: not a ``compress=`` choice for Precomputed layers.
BLOSC = "blosc"


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


def _imagecodecs(method: str) -> ModuleType:
    if imagecodecs is None:
        raise UnsupportedFormatError(f"{method} transport compression needs the 'imagecodecs' package: "
                                     "pip install imagecodecs")
    return imagecodecs


def compress(data: bytes, method: str | None, level: int | None = None) -> bytes:
    """Apply transport compression; ``level`` None is each method's fast default."""
    if method is None:
        return data
    if method.startswith(BLOSC):
        return _blosc(data, method, level)
    if method not in SUPPORTED:
        raise UnsupportedCompressionType(f"unknown transport compression {method!r}; use one of {SUPPORTED}")
    try:
        return _compress(data, method, level)
    except AiovolumeError:
        raise
    except Exception as exc:  # the libraries raise TypeError, ValueError, RuntimeError subclasses...
        raise CompressionError(f"{method} compression failed: {type(exc).__name__}: {exc}") from None


def _compress(data: bytes, method: str, level: int | None) -> bytes:
    if method == "gzip":
        if level is None:
            # ISA-L level 1: within 1% of level 9's size on EM and label data, ~7x faster
            # than level 9 (benchmarks/ gzip level study); releases the GIL
            if isal_zlib is None:
                c = zlib.compressobj(1, zlib.DEFLATED, 31)
                return c.compress(data) + c.flush()
            return isal_zlib.compress(data, level=1, wbits=31)
        # an explicit zlib-scale level (CloudVolume's compress_level) is honoured as such
        return _imagecodecs(method).gzip_encode(data, level=level)
    if method == "br":
        return _imagecodecs(method).brotli_encode(data, level=5 if level is None else level)
    return _imagecodecs(method).zstd_encode(data, level=3 if level is None else level)


def _blosc(data: bytes, method: str, level: int | None) -> bytes:
    _, _, typesize = method.partition("-")
    try:
        size = int(typesize) if typesize else 1
        return _imagecodecs("blosc").blosc_encode(
            data, level=5 if level is None else min(max(int(level), 0), 9), compressor="lz4",
            typesize=size, shuffle=1, numthreads=1,
        )
    except AiovolumeError:
        raise
    except Exception as exc:
        raise CompressionError(f"blosc compression failed: {type(exc).__name__}: {exc}") from None


def check_blosc(data: bytes | memoryview) -> None:
    """Raise DecompressionError unless ``data`` is a whole blosc (c-blosc 1) stream: its length
    is the header's ``cbytes`` and the block offsets point inside it.

    c-blosc trusts the header and reads past the end of a truncated stream: measured here, half
    a 4 MiB cutout segfaulted ``imagecodecs.blosc_decode`` or returned garbage without an error.
    Damage after the offsets table did not crash it (1,800 random byte changes); blosc 1 has no
    checksum, so such damage can go unnoticed, as in an uncompressed chunk.
    """
    n = len(data)
    if n < 16:
        raise DecompressionError(f"blosc stream of {n} bytes is shorter than its 16-byte header")
    version, _, flags, _, nbytes, blocksize, cbytes = struct.unpack_from("<BBBBIII", data)
    if cbytes != n:
        raise DecompressionError(f"blosc stream of {n} bytes, its header says {cbytes} (truncated or damaged)")
    if version not in (1, 2):
        raise DecompressionError(f"blosc format version {version} is not c-blosc 1's (1 or 2)")
    if flags & 0x02:  # stored without compression: header + the bytes
        if cbytes != nbytes + 16:
            raise DecompressionError(f"uncompressed blosc stream of {cbytes} bytes for {nbytes} bytes of data")
        return
    if nbytes == 0:
        return
    if blocksize == 0:
        raise DecompressionError("blosc header with a block size of 0")
    blocks = -(-nbytes // blocksize)
    table = 16 + 4 * blocks
    if table > n:
        raise DecompressionError(f"blosc stream of {n} bytes cannot hold the offsets of its {blocks} blocks")
    starts = struct.unpack_from(f"<{blocks}i", data, 16)
    if min(starts) < table or max(starts) >= n:
        raise DecompressionError("blosc block offsets point outside the stream (damaged)")


def decompress(data: bytes, method: str | None, scratch: bytearray | None = None) -> bytes | memoryview:
    """Undo transport compression; a corrupt or truncated stream raises DecompressionError.

    With ``scratch``, gzip output that fits goes there and a view of it is returned (valid
    until the scratch is reused): no fresh allocation per chunk, whose page faults and
    unmapping made decoding threads wait on each other (profiled: 2 threads ran at the speed of 1).
    """
    if method is None or method == "identity":
        return data
    try:
        if method == "gzip":
            if imagecodecs is None:
                return _gunzip(data)
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
            return _imagecodecs(method).brotli_decode(data)
        if method == "zstd":
            return _imagecodecs(method).zstd_decode(data)
        if method.startswith(BLOSC):  # "blosc", or a writer's "blosc-<itemsize>"
            check_blosc(data)
            return _imagecodecs(method).blosc_decode(data, numthreads=1)
        # CloudVolume can write these on file:// and mem:// (.xz, .bz2); the stdlib reads them
        if method == "xz":
            return lzma.decompress(data)
        if method == "bzip2":
            return bz2.decompress(data)
    except AiovolumeError:
        raise
    except Exception as exc:  # MemoryError included: a stream claiming a giant size is corrupt here
        raise DecompressionError(f"corrupt {method} stream: {type(exc).__name__}: {exc}") from None
    raise UnsupportedCompressionType(
        f"unknown content encoding {method!r}; readable: gzip, br, zstd, xz, bzip2"
    )


def _gunzip(data: bytes) -> bytes:
    # zlib checks the gzip trailer (CRC32 + length), so truncation and bit flips are caught;
    # wbits=47 also accepts a zlib header, which some writers emit for "gzip".
    d = zlib.decompressobj(47)
    try:
        out = d.decompress(data)
    except zlib.error as exc:
        raise DecompressionError(f"corrupt gzip stream: {exc}") from None
    if not d.eof:
        raise DecompressionError("truncated gzip stream")
    if d.unused_data:
        # concatenated members are legal gzip
        return out + gzip.decompress(d.unused_data)
    return out
