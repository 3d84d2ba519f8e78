"""Every CloudVolume rule a user relies on, each with a test that fails without it."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from aiovolume import Bbox, Options, Volume
from aiovolume.exceptions import (
    AiovolumeError, AlignmentError, DecodingError, DtypeError, EmptyVolumeException, InfoError,
    InfoUnavailableError, OutOfBoundsError, ShapeMismatchError,
)
from volume_helpers import make_info, random_volume

SIZE = (128, 128, 32)
CHUNK = (64, 64, 16)


@pytest.fixture
async def vol(layer_url):
    async with Volume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK)) as v:
        await v.commit_info()
        yield v


def chunk_files(url):
    root = url[len("file://"):]
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs if f != "info")


# -- bounds ----------------------------------------------------------------------------------
async def test_bounded_read_outside_raises(vol):
    with pytest.raises(OutOfBoundsError, match="outside the volume bounds"):
        await vol.download(Bbox((-1, 0, 0), (10, 10, 10)))


async def test_bounded_write_outside_raises_and_writes_nothing(vol, layer_url):
    with pytest.raises(OutOfBoundsError):
        await vol.upload(Bbox((64, 64, 16), (192, 128, 32)), np.ones((128, 64, 16), np.uint8))
    assert chunk_files(layer_url) == []


async def test_unbounded_read_fills_outside_with_background(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    data = random_volume((*SIZE, 1), "uint8")
    async with Volume(layer_url, info=info, bounded=False, background_color=7) as v:
        await v.upload(v.bounds, data)
        cut = np.asarray(await v.download(Bbox((-5, 120, 30), (3, 136, 40))))
    assert cut.shape == (8, 16, 10, 1)
    np.testing.assert_array_equal(cut[5:, :8, :2], data[0:3, 120:128, 30:32])
    assert np.all(cut[:5] == 7) and np.all(cut[:, 8:] == 7) and np.all(cut[:, :, 2:] == 7)


async def test_autocrop_crops_reads_and_writes(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, autocrop=True, fill_missing=True) as v:
        await v.upload(Bbox((64, 64, 16), (200, 200, 40)), np.full((136, 136, 24), 3, np.uint8))
        cut = await v.download(Bbox((100, 100, 0), (300, 300, 100)))
        assert cut.shape == (28, 28, 32, 1)
        assert cut.bounds == Bbox((100, 100, 0), (128, 128, 32))
        whole = np.asarray(await v.download(Bbox((64, 64, 16), (128, 128, 32))))
        assert np.all(whole == 3)


# -- missing chunks ----------------------------------------------------------------------------
async def test_missing_chunk_raises_without_fill_missing(vol):
    with pytest.raises(EmptyVolumeException, match="fill_missing=True"):
        await vol.download(Bbox((0, 0, 0), (64, 64, 16)))


async def test_fill_missing_fills_only_missing_chunks(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    data = np.full((64, 64, 16, 1), 9, np.uint8)
    async with Volume(layer_url, info=info, fill_missing=True) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), data)
        cut = np.asarray(await v.download(Bbox((0, 0, 0), (128, 64, 16))))
    assert np.all(cut[:64] == 9) and np.all(cut[64:] == 0)


@pytest.mark.parametrize("executor", ["thread", "inline", "process"])
@pytest.mark.parametrize("background", [0, 7])
async def test_missing_chunks_read_as_background_not_stale_memory(layer_url, executor, background):
    # Outputs the chunks cover are allocated uninitialised; a missing chunk's part must be filled.
    info = make_info("uint16", 1, size=SIZE, chunk=CHUNK)
    options = Options(codec_executor=executor)
    async with Volume(layer_url, info=info, fill_missing=True, background_color=background,
                      compress=False, options=options) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), np.full((64, 64, 16), 9, np.uint16))
        for _ in range(3):
            junk = np.full((128, 64, 16, 1), 0xABCD, np.uint16, order="F")  # freed: memory to reuse
            del junk
            cut = np.asarray(await v.download(Bbox((0, 0, 0), (128, 64, 16))))
            assert np.all(cut[:64] == 9) and np.all(cut[64:] == background)


@pytest.mark.parametrize("channels", [1, 2])
async def test_uncompressed_reads_of_part_of_the_chunks_depth(layer_url, channels):
    # plain raw chunks are read only over the z-planes a region needs
    info = make_info("uint16", channels, size=SIZE, chunk=CHUNK)
    data = random_volume((*SIZE, channels), "uint16")
    async with Volume(layer_url, info=info, compress=False) as v:
        await v.upload(v.bounds, data)
        for lo, hi in [((0, 0, 3), (128, 128, 29)), ((5, 70, 15), (66, 71, 17)), ((1, 2, 0), (3, 4, 16)),
                       ((60, 60, 16), (70, 70, 32))]:
            cut = np.asarray(await v.download(Bbox(lo, hi)))
            np.testing.assert_array_equal(cut, data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])


async def test_a_truncated_uncompressed_chunk_is_an_error_in_part_reads(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, compress=False, fill_missing=True) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), random_volume((64, 64, 16), "uint8"))
        path = os.path.join(layer_url[7:], "4_4_40", "0-64_0-64_0-16")
        os.truncate(path, 64 * 64 * 4)  # exactly the four z-planes read below
        with pytest.raises(DecodingError, match="0-64_0-64_0-16"):
            await v.download(Bbox((0, 0, 0), (64, 64, 4)))


async def test_fill_missing_never_hides_a_corrupt_chunk(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, fill_missing=True) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), random_volume((64, 64, 16), "uint8"))
        path = os.path.join(layer_url[7:], "4_4_40", "0-64_0-64_0-16.gz")
        with open(path, "r+b") as f:  # flip bits in the middle of the gzip stream
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 0xFF]))
        with pytest.raises(DecodingError, match="0-64_0-64_0-16"):
            await v.download(Bbox((0, 0, 0), (64, 64, 16)))


async def test_wrong_size_raw_chunk_is_a_decoding_error(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, compress=False) as v:
        await v.commit_info()
        await v.store.put("4_4_40/0-64_0-64_0-16", b"\x01" * 100)
        with pytest.raises(DecodingError, match=r"0-64_0-64_0-16.*100 bytes"):
            await v.download(Bbox((0, 0, 0), (64, 64, 16)))


# -- alignment --------------------------------------------------------------------------------
async def test_non_aligned_write_raises_with_help(vol, layer_url):
    with pytest.raises(AlignmentError) as err:
        await vol.upload(Bbox((10, 0, 0), (64, 64, 16)), np.ones((54, 64, 16), np.uint8))
    msg = str(err.value)
    assert "non_aligned_writes=True" in msg and "Bbox([0, 0, 0],[64, 64, 16]" in msg
    assert chunk_files(layer_url) == []


async def test_write_ending_at_volume_edge_is_aligned(layer_url):
    info = make_info("uint8", 1, size=(100, 70, 20), chunk=CHUNK)  # edge chunks are clipped
    data = random_volume((36, 6, 4, 1), "uint8")
    async with Volume(layer_url, info=info) as v:
        await v.upload(Bbox((64, 64, 16), (100, 70, 20)), data)
        np.testing.assert_array_equal(np.asarray(await v.download(Bbox((64, 64, 16), (100, 70, 20)))), data)


async def test_non_aligned_write_keeps_neighbouring_voxels(layer_url):
    info = make_info("uint16", 1, size=SIZE, chunk=CHUNK)
    base = random_volume((*SIZE, 1), "uint16", seed=1)
    patch = random_volume((50, 37, 9, 1), "uint16", seed=2)
    async with Volume(layer_url, info=info, non_aligned_writes=True) as v:
        await v.upload(v.bounds, base)
        await v.upload(Bbox((40, 50, 10), (90, 87, 19)), patch)
        got = np.asarray(await v.download(v.bounds))
    expected = base.copy()
    expected[40:90, 50:87, 10:19] = patch
    np.testing.assert_array_equal(got, expected)


async def test_non_aligned_write_into_missing_chunks_uses_background(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, non_aligned_writes=True, fill_missing=True) as v:
        await v.upload(Bbox((5, 5, 5), (10, 10, 10)), 200)
        got = np.asarray(await v.download(Bbox((0, 0, 0), (64, 64, 16))))
    assert np.all(got[5:10, 5:10, 5:10] == 200)
    assert int(got.sum()) == 200 * 125


# -- input validation: nothing written when refused ---------------------------------------------
async def test_shape_mismatch_names_both_shapes(vol, layer_url):
    with pytest.raises(ShapeMismatchError) as err:
        await vol.upload(Bbox((0, 0, 0), (64, 64, 16)), np.zeros((64, 64, 15), np.uint8))
    assert "(64, 64, 15)" in str(err.value) and "(64, 64, 16, 1)" in str(err.value)
    assert isinstance(err.value, AlignmentError)  # CloudVolume's exception for this case
    assert chunk_files(layer_url) == []


async def test_unsafe_dtype_raises_and_safe_cast_works(layer_url):
    info = make_info("uint16", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info) as v:
        # unsafe dtypes are accepted only when every value fits exactly (tests/compat/test_compat_casting.py)
        with pytest.raises(DtypeError, match="float64"):
            await v.upload(Bbox((0, 0, 0), (64, 64, 16)), np.full((64, 64, 16), 0.5, np.float64))
        with pytest.raises(DtypeError):
            await v.upload(Bbox((0, 0, 0), (64, 64, 16)), np.full((64, 64, 16), 70000, np.int32))
        with pytest.raises(DtypeError):
            await v.upload(Bbox((0, 0, 0), (64, 64, 16)), 70000)  # does not fit uint16
        with pytest.raises(DtypeError):
            await v.upload(Bbox((0, 0, 0), (64, 64, 16)), -1)
        assert chunk_files(layer_url) == []
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), np.full((64, 64, 16), 250, np.uint8))  # safe
        got = await v.download(Bbox((0, 0, 0), (64, 64, 16)))
    assert got.dtype == np.uint16 and np.all(np.asarray(got) == 250)


async def test_scalar_and_3d_and_4d_writes(layer_url):
    info = make_info("float32", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, fill_missing=True) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), 1.5)
        await v.upload(Bbox((64, 0, 0), (128, 64, 16)), np.full((64, 64, 16), 2.5, np.float32))
        await v.upload(Bbox((0, 64, 0), (64, 128, 16)), np.full((64, 64, 16, 1), 3.5, np.float32))
        got = np.asarray(await v.download(Bbox((0, 0, 0), (128, 128, 16))))
    assert np.all(got[:64, :64] == 1.5) and np.all(got[64:, :64] == 2.5) and np.all(got[:64, 64:] == 3.5)


# -- info --------------------------------------------------------------------------------------
async def test_missing_info_names_the_path(tmp_path):
    url = "file://" + str(tmp_path / "nothing")
    with pytest.raises(InfoUnavailableError, match=str(tmp_path / "nothing") + "/info"):
        await Volume.open(url)


async def test_malformed_info_names_the_path(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "info").write_text("{not json")
    with pytest.raises(InfoError, match="bad/info"):
        await Volume.open("file://" + str(tmp_path / "bad"))
    (tmp_path / "bad" / "info").write_text(json.dumps({"type": "image", "data_type": "uint7", "num_channels": 1, "scales": []}))
    with pytest.raises(InfoError, match="bad/info"):
        await Volume.open("file://" + str(tmp_path / "bad"))


async def test_gzipped_info_is_read(tmp_path):
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "info.gz").write_bytes(gzip.compress(json.dumps(make_info()).encode()))
    async with Volume("file://" + str(tmp_path / "z")) as v:
        assert v.dtype == np.uint8


async def test_every_error_is_an_aiovolume_error(vol):
    with pytest.raises(AiovolumeError):
        await vol.download(Bbox((0, 0, 0), (64, 64, 16)))


# -- exists / delete ----------------------------------------------------------------------------
async def test_exists_and_delete(vol, layer_url):
    await vol.upload(Bbox((0, 0, 0), (64, 64, 16)), 1)
    ex = await vol.exists(Bbox((0, 0, 0), (128, 64, 16)))
    assert ex == {"4_4_40/0-64_0-64_0-16": True, "4_4_40/64-128_0-64_0-16": False}
    with pytest.raises(AlignmentError):
        await vol.delete(Bbox((0, 0, 0), (32, 64, 16)))
    assert (await vol.exists(Bbox((0, 0, 0), (64, 64, 16))))["4_4_40/0-64_0-64_0-16"]
    await vol.delete(Bbox((0, 0, 0), (64, 64, 16)))
    assert chunk_files(layer_url) == []


async def test_delete_black_uploads(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    async with Volume(layer_url, info=info, delete_black_uploads=True) as v:
        await v.upload(Bbox((0, 0, 0), (64, 64, 16)), 5)
        await v.upload(Bbox((0, 0, 0), (128, 64, 16)), 0)
    assert chunk_files(layer_url) == []
