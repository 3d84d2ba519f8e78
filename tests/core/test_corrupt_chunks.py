"""Corrupt chunks of every encoding through the CloudVolume facade: a typed error naming the chunk,
the process alive, the next read right, nothing hidden by fill_missing, no shared memory left behind.

Truncated and garbage chunks are caught by the codecs' own checks (or, for fpzip, by the worker
process dying and being replaced). Bit flips are caught by a checksum: gzip's CRC-32 (CloudVolume's
default transport for raw and the segmentation encodings), PNG's chunk CRCs, crackle's and fpzip's
verification. JPEG has no checksum, so its flips are tested under gzip transport.
"""

from __future__ import annotations

import asyncio
import glob
import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Options, Volume
from aiovolume.exceptions import DecodingError

SIZE, CHUNK = (64, 64, 16), (32, 32, 16)
KEY = "0-32_0-32_0-16"
ENCODINGS = [
    ("raw", "uint16"), ("jpeg", "uint8"), ("png", "uint16"), ("compressed_segmentation", "uint32"),
    ("compressed_segmentation", "uint64"), ("fpzip", "float32"), ("kempressed", "float32"),
    ("compresso", "uint64"), ("crackle", "uint32"),
]


def volume_data(encoding: str, dtype: str) -> np.ndarray:
    rng = np.random.default_rng(3)
    x, y, z = np.meshgrid(*[np.arange(s) for s in SIZE], indexing="ij")
    if np.dtype(dtype).kind == "f":
        return np.cumsum(rng.normal(0, 1, SIZE), axis=0).astype(dtype)
    if encoding in ("compressed_segmentation", "compresso", "crackle"):
        return (1 + x // 7 + 10 * (y // 9) + 100 * (z // 5)).astype(dtype)
    return (60 + x + y + 2 * z + rng.integers(0, 3, SIZE)).astype(dtype)


def build(tmp_path, encoding, dtype, compress=None):
    path = "file://" + str(tmp_path / "layer")
    info = CloudVolume.create_new_info(1, "image", dtype, encoding, [4, 4, 40], [0, 0, 0], list(SIZE),
                                       chunk_size=list(CHUNK))
    data = volume_data(encoding, dtype)
    with CloudVolume(path, info=info, compress=compress) as vol:
        vol.commit_info()
        vol[:, :, :] = data
    (chunk_file,) = glob.glob(str(tmp_path / "layer" / "4_4_40" / (KEY + "*")))
    return path, data, chunk_file


def corrupt(chunk_file: str, how: str) -> bytes:
    with open(chunk_file, "rb") as f:
        good = f.read()
    rng = np.random.default_rng(11)
    if how == "truncated":
        bad = good[: len(good) // 2]
    elif how == "garbage":
        bad = rng.integers(0, 256, len(good), dtype=np.uint8).tobytes()
    else:
        b = bytearray(good)
        b[len(b) * 3 // 5] ^= 0x08
        bad = bytes(b)
    with open(chunk_file, "wb") as f:
        f.write(bad)
    return good


def assert_decoded(encoding, got, data):
    if encoding == "jpeg":
        assert np.abs(got.astype(int) - data).mean() < 3
    elif encoding == "kempressed":  # CloudVolume's +2.0/-2.0 is not exact in floating point
        np.testing.assert_array_equal(got, (data + np.float32(2)) - np.float32(2))
    else:
        np.testing.assert_array_equal(got, data)


def expect_typed_error(path, data, options=None):
    with CloudVolume(path, options=options) as vol:
        with pytest.raises(DecodingError, match=KEY):
            vol[:, :, :]
        # the process is alive and the same volume reads its innocent chunks, exactly
        cut = np.asarray(vol[32:64, 0:64, 0:16])[..., 0]
        assert_decoded(vol.encoding, cut, data[32:64])
    with CloudVolume(path, fill_missing=True, options=options) as vol:
        with pytest.raises(DecodingError, match=KEY):  # fill_missing never hides corruption
            vol[0:32, 0:32, 0:16]


@pytest.mark.parametrize("how", ["truncated", "garbage", "flipped"])
@pytest.mark.parametrize("encoding,dtype", ENCODINGS)
def test_corrupt_chunk_is_a_typed_error_and_the_next_read_works(tmp_path, encoding, dtype, how):
    compress = "gzip" if (encoding == "jpeg" and how == "flipped") else None
    path, data, chunk_file = build(tmp_path, encoding, dtype, compress)
    good = corrupt(chunk_file, how)
    expect_typed_error(path, data)
    with open(chunk_file, "wb") as f:  # repaired: everything reads again
        f.write(good)
    with CloudVolume(path) as vol:
        assert_decoded(encoding, np.asarray(vol[:, :, :])[..., 0], data)


# In threads only validation guards the process. fpzip's decoder segfaults on truncated or flipped
# streams whatever is checked first, so those cases are left to the (default) process path.
THREAD_CASES = [(e, d, h) for e, d in ENCODINGS for h in ("truncated", "garbage", "flipped")
                if not (e in ("fpzip", "kempressed") and h != "garbage")]


@pytest.mark.parametrize("encoding,dtype,how", THREAD_CASES)
def test_corrupt_chunk_in_thread_mode_is_caught_by_validation(tmp_path, encoding, dtype, how):
    compress = "gzip" if (encoding == "jpeg" and how == "flipped") else None
    path, data, chunk_file = build(tmp_path, encoding, dtype, compress)
    corrupt(chunk_file, how)
    expect_typed_error(path, data, Options(decode_workers=0))


@pytest.mark.parametrize("encoding", ["compressed_segmentation", "compresso", "crackle"])
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_plain_segmentation_chunks_are_validated_without_gzip(tmp_path, encoding, how):
    """Without transport compression there is no CRC: the codec's own checks must find the damage."""
    path, data, chunk_file = build(tmp_path, encoding, "uint64", compress=False)
    assert not chunk_file.endswith(".gz")
    corrupt(chunk_file, how)
    expect_typed_error(path, data, Options(decode_workers=0))
    expect_typed_error(path, data)


async def test_a_crashing_decoder_spares_concurrent_innocent_reads(tmp_path):
    """A truncated fpzip chunk segfaults its worker: the pool is rebuilt, concurrent reads still succeed."""
    path, data, chunk_file = build(tmp_path, "fpzip", "float32")
    corrupt(chunk_file, "truncated")
    async with Volume(path, options=Options(decode_workers=2)) as vol:
        guilty = vol.download(Bbox((0, 0, 0), (64, 64, 16)))
        innocents = [vol.download(Bbox((32, y, 0), (64, y + 32, 16))) for y in (0, 32)] * 3
        results = await asyncio.gather(guilty, *innocents, return_exceptions=True)
        assert isinstance(results[0], DecodingError) and KEY in str(results[0])
        for y, cut in zip([0, 32] * 3, results[1:]):
            np.testing.assert_array_equal(np.asarray(cut)[..., 0], data[32:64, y:y + 32])
        again = await vol.download(Bbox((32, 0, 0), (64, 64, 16)))
        np.testing.assert_array_equal(np.asarray(again)[..., 0], data[32:64])
    assert os.getpid()  # still us
