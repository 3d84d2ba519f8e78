"""Codec and transport-compression failures are typed: callers never see a library's bare errors."""

from __future__ import annotations

import bz2
import lzma

import numpy as np
import pytest

from aiovolume.codecs import ChunkFormat, codec_module, decode_chunk, supported_encodings
from aiovolume.codecs import compression
from aiovolume.codecs.compression import compress, decompress
from aiovolume.exceptions import (
    CompressionError, DecodingError, DecompressionError, DtypeError, EncodingError,
    UnsupportedCompressionType, UnsupportedFormatError,
)

PAYLOAD = bytes(range(256)) * 64
DTYPES = {"raw": "uint16", "jpeg": "uint8", "png": "uint8", "compressed_segmentation": "uint32",
          "fpzip": "float32", "kempressed": "float32", "compresso": "uint32", "crackle": "uint32"}


@pytest.mark.parametrize("method", ["gzip", "br", "zstd"])
def test_round_trip_and_corruption_per_method(method):
    packed = compress(PAYLOAD, method)
    assert bytes(decompress(packed, method)) == PAYLOAD
    for bad in (packed[: len(packed) // 2], b"\x00garbage" * 8):
        with pytest.raises(DecompressionError, match=f"{method}") as err:
            decompress(bad, method)
        assert isinstance(err.value, DecodingError)  # existing `except DecodingError` keeps working


@pytest.mark.parametrize("method,packer", [("xz", lzma.compress), ("bzip2", bz2.compress)])
def test_xz_and_bzip2_written_by_cloudvolume_are_readable(method, packer):
    packed = packer(PAYLOAD)
    assert bytes(decompress(packed, method)) == PAYLOAD
    with pytest.raises(DecompressionError, match=f"corrupt {method} stream"):
        decompress(packed[:-7], method)


def test_unknown_methods_are_unsupported_compression_types():
    with pytest.raises(UnsupportedCompressionType, match="'lz4'"):
        compress(PAYLOAD, "lz4")
    with pytest.raises(UnsupportedCompressionType, match="'deflate'.*readable: gzip"):
        decompress(PAYLOAD, "deflate")
    assert isinstance(UnsupportedCompressionType("x"), ValueError)  # CloudVolume's base


@pytest.mark.parametrize("method", ["gzip", "br", "zstd"])
def test_compression_failures_are_compression_errors(method):
    with pytest.raises(CompressionError, match=f"{method} compression failed"):
        compress(12345, method)  # type: ignore[arg-type]
    with pytest.raises(CompressionError):
        compress(PAYLOAD, method, level="high")  # type: ignore[arg-type]


def test_missing_imagecodecs_names_the_package_and_gzip_still_works(monkeypatch):
    monkeypatch.setattr(compression, "imagecodecs", None)
    monkeypatch.setattr(compression, "isal_zlib", None)
    for method in ("br", "zstd"):
        with pytest.raises(UnsupportedFormatError, match="pip install imagecodecs"):
            compress(PAYLOAD, method)
        with pytest.raises(UnsupportedFormatError, match="'imagecodecs'"):
            decompress(b"anything", method)
    packed = compress(PAYLOAD, "gzip")  # zlib stands in for ISA-L and libdeflate
    assert packed[:2] == b"\x1f\x8b" and bytes(decompress(packed, "gzip")) == PAYLOAD
    with pytest.raises(DecompressionError, match="gzip"):
        decompress(packed[:-4], "gzip")
    with pytest.raises(UnsupportedFormatError, match="pip install imagecodecs"):
        compress(PAYLOAD, "gzip", level=9)


@pytest.mark.parametrize("encoding", supported_encodings())
def test_codec_module_functions_raise_typed_errors_on_wrong_input(encoding):
    # Called directly (as worker code may), not only through decode_chunk/encode_chunk.
    fmt = ChunkFormat(encoding, DTYPES[encoding], 1, block_size=(8, 8, 8))
    module = codec_module(encoding)
    name = "(kempressed|fpzip)" if encoding == "kempressed" else encoding  # kempressed is fpzip inside
    with pytest.raises(DecodingError, match=f"{name} decoding"):
        module.decode(object(), fmt, (4, 4, 4))
    with pytest.raises(EncodingError, match=f"{name} encoding"):
        module.encode(object(), fmt)
    with pytest.raises(DecodingError):
        decode_chunk(object(), fmt, (4, 4, 4))  # type: ignore[arg-type]


def test_public_helpers_are_guarded_too():
    from aiovolume.codecs import cseg, jpeg, png

    with pytest.raises(DecodingError, match="png decoding"):
        png.ihdr(None)  # type: ignore[arg-type]
    with pytest.raises(DecodingError, match="jpeg decoding"):
        jpeg.frame_header("not bytes")  # type: ignore[arg-type]
    with pytest.raises(DecodingError, match="compressed_segmentation decoding"):
        cseg.validate(None, (8, 8, 8), 1, (8, 8, 8), 1)  # type: ignore[arg-type]
    with pytest.raises(DecodingError, match="runs past the end"):
        cseg.validate(b"\x01\x00\x00\x00", (8, 8, 8), 1, (8, 8, 8), 1)  # no block headers


def test_bad_chunk_format_dtype_is_a_dtype_error():
    with pytest.raises(DtypeError, match="'uint7'"):
        ChunkFormat("raw", "uint7").np_dtype  # noqa: B018
    with pytest.raises(DecodingError):
        decode_chunk(b"\x00" * 8, ChunkFormat("raw", "uint7"), (2, 2, 2))


def test_guard_keeps_aiovolume_errors_as_they_are():
    fmt = ChunkFormat("raw", "uint8")
    with pytest.raises(DecodingError, match="raw chunk has 3 bytes, expected 8"):
        codec_module("raw").decode(b"abc", fmt, (2, 2, 2))
    assert np.asarray(codec_module("raw").decode(bytes(8), fmt, (2, 2, 2))).shape == (2, 2, 2, 1)
