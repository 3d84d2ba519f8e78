"""gzip for writes: the fast default level, and explicit levels honoured."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aiovolume import Options
from aiovolume.codecs.compression import compress, decompress
from aiovolume.demo import synthetic_em


@pytest.fixture(scope="module")
def em_chunk() -> bytes:
    return synthetic_em((64, 64, 64)).tobytes(order="F")


def test_default_gzip_is_standard_gzip_and_close_to_level_9(em_chunk):
    assert Options().gzip_level is None
    fast = compress(em_chunk, "gzip")
    assert fast[:2] == b"\x1f\x8b"
    assert gzip.decompress(fast) == em_chunk
    assert decompress(fast, "gzip") == em_chunk
    level9 = compress(em_chunk, "gzip", 9)
    assert len(fast) <= 1.05 * len(level9)


def test_default_gzip_is_deterministic(em_chunk):
    # same voxels, same bytes: no timestamp in the header, so re-uploads are byte-identical
    assert compress(em_chunk, "gzip") == compress(em_chunk, "gzip")


@pytest.mark.parametrize("level", [1, 6, 9])
def test_explicit_level_is_zlib_scale(em_chunk, level):
    import imagecodecs

    out = compress(em_chunk, "gzip", level)
    assert out == imagecodecs.gzip_encode(em_chunk, level=level)
    assert gzip.decompress(out) == em_chunk


def test_compress_level_reaches_the_store(tmp_path):
    import aiovolume

    img = synthetic_em((64, 64, 64))
    info = aiovolume.CloudVolume.create_new_info(
        1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 64], chunk_size=[64, 64, 64]
    )
    sizes = {}
    for level in (None, 9):
        path = tmp_path / f"l{level}"
        vol = aiovolume.CloudVolume(f"file://{path}", info=info, compress_level=level)
        vol.commit_info()
        vol[:, :, :] = img
        (stored,) = [p for p in (path / "4_4_40").iterdir()]
        assert stored.name.endswith(".gz")
        data = stored.read_bytes()
        assert gzip.decompress(data) == img.tobytes(order="F")
        sizes[level] = len(data)
        np.testing.assert_array_equal(aiovolume.CloudVolume(f"file://{path}")[:, :, :][..., 0], img)
    assert sizes[9] == len(compress(img.tobytes(order="F"), "gzip", 9))
    assert sizes[None] == len(compress(img.tobytes(order="F"), "gzip"))


@pytest.mark.parametrize("scratch_size", [0, 100, 64**3, 2 * 64**3])
def test_decompress_into_scratch_any_size(em_chunk, scratch_size):
    from aiovolume.exceptions import DecompressionError

    payload = compress(em_chunk, "gzip")
    scratch = bytearray(scratch_size)
    assert bytes(decompress(payload, "gzip", scratch)) == em_chunk
    # corrupt and truncated streams are still refused, whatever the scratch
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x40
    for bad in (bytes(flipped), payload[:-9]):
        with pytest.raises(DecompressionError, match="gzip"):
            decompress(bad, "gzip", scratch)
