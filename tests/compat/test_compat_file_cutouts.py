"""``memory_cutout``, ``download_to_file`` / ``upload_from_file`` and exact casting of uploads.

Files written by our ``download_to_file`` are read by cloud-volume's ``upload_from_file`` and the
other way round (a raw Fortran-order x y z c buffer); ``memory_cutout`` is compared with
cloud-volume's; uploads whose values do not fit the layer's dtype are refused where cloud-volume
silently wraps them.
"""

from __future__ import annotations

import gc
import mmap

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import AlignmentError, DtypeError, EmptyVolumeException, SharedMemoryReadError
from aiovolume.storage.memory import MemoryStore

cloudvolume = pytest.importorskip("cloudvolume")

RES = (4, 4, 40)
OFFSET = (3, 5, 7)
SIZE = (70, 60, 20)
CHUNK = (32, 32, 8)


def _info(dtype="uint16", channels=2, layer_type="image"):
    return cloudvolume.CloudVolume.create_new_info(
        channels, layer_type, dtype, "raw", list(RES), list(OFFSET), list(SIZE), chunk_size=list(CHUNK))


@pytest.fixture
def layer(tmp_path):
    """(url, data) of a CloudVolume-written 2-channel uint16 image layer."""
    url = "file://" + str(tmp_path / "img")
    cv = cloudvolume.CloudVolume(url, info=_info(), parallel=1, progress=False)
    cv.commit_info()
    data = np.random.default_rng(3).integers(0, 2**16, size=(*SIZE, 2), dtype=np.uint16)
    cv[:, :, :] = data
    return url, data


def _empty(tmp_path, name, dtype="uint16", channels=2):
    url = "file://" + str(tmp_path / name)
    cv = cloudvolume.CloudVolume(url, info=_info(dtype, channels), parallel=1, progress=False, fill_missing=True)
    cv.commit_info()
    return url, cv


def _backed_by_a_file(array):
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def _crop(data, lo, hi):
    return data[tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, OFFSET))]


# -- download_to_file / upload_from_file ---------------------------------------------------------
@pytest.mark.interop
def test_our_file_is_cloudvolumes_file(layer, tmp_path):
    url, data = layer
    lo, hi = (10, 12, 9), (60, 50, 25)
    ours = CloudVolume(url).download_to_file(str(tmp_path / "ours.bin"), np.s_[10:60, 12:50, 9:25])
    cloudvolume.CloudVolume(url, parallel=1, progress=False).download_to_file(
        str(tmp_path / "theirs.bin"), np.s_[10:60, 12:50, 9:25])
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()
    assert (tmp_path / "ours.bin").read_bytes() == _crop(data, lo, hi).tobytes(order="F")
    assert ours.shape == (50, 38, 16, 2) and ours.dtype == np.uint16
    assert _backed_by_a_file(ours)
    np.testing.assert_array_equal(np.asarray(ours), _crop(data, lo, hi))
    assert ours.bounds == Bbox(lo, hi)


@pytest.mark.interop
def test_files_cross_between_the_libraries(layer, tmp_path):
    url, data = layer
    box = np.s_[3:67, 5:65, 7:23]  # chunk-aligned (its far x and y corners are the volume's)
    lo, hi = (3, 5, 7), (67, 65, 23)
    CloudVolume(url).download_to_file(str(tmp_path / "ours.bin"), box)
    their_dest_url, their_dest = _empty(tmp_path, "cv_dest")
    their_dest.upload_from_file(str(tmp_path / "ours.bin"), cloudvolume.Bbox(lo, hi))
    np.testing.assert_array_equal(np.asarray(their_dest[box]), _crop(data, lo, hi))

    cloudvolume.CloudVolume(url, parallel=1, progress=False).download_to_file(str(tmp_path / "theirs.bin"), box)
    our_url, _ = _empty(tmp_path, "our_dest")
    dest = CloudVolume(our_url, fill_missing=True)
    # only part of the array, placed at its volume coordinates
    dest.upload_from_file(str(tmp_path / "theirs.bin"), Bbox(lo, hi), cutout_bbox=Bbox((35, 37, 15), (67, 65, 23)))
    got = np.asarray(dest[3:67, 5:65, 7:23])
    np.testing.assert_array_equal(got[32:, 32:, 8:], _crop(data, (35, 37, 15), (67, 65, 23)))
    assert not got[:32].any() and not got[:, :32].any() and not got[:, :, :8].any()


def test_upload_from_file_refusals(layer, tmp_path):
    url, _ = layer
    vol = CloudVolume(url)
    path = tmp_path / "short.bin"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(SharedMemoryReadError, match="holds 100 bytes"):
        vol.upload_from_file(str(path), Bbox((3, 5, 7), (35, 37, 15)))
    with pytest.raises(SharedMemoryReadError, match="does not exist"):
        vol.upload_from_file(str(tmp_path / "none.bin"), Bbox((3, 5, 7), (35, 37, 15)))
    with pytest.raises(AlignmentError, match="not inside"):
        vol.upload_from_file(str(path), Bbox((3, 5, 7), (35, 37, 15)), cutout_bbox=Bbox((3, 5, 7), (36, 37, 15)))


# -- memory_cutout --------------------------------------------------------------------------
@pytest.mark.interop
def test_memory_cutout_holds_the_chunk_aligned_region(layer):
    url, data = layer
    theirs = cloudvolume.CloudVolume(url, parallel=1, progress=False).memory_cutout(
        cloudvolume.Bbox((10, 12, 9), (40, 40, 14)))
    mem = CloudVolume(url).memory_cutout(Bbox((10, 12, 9), (40, 40, 14)))
    assert isinstance(mem, CloudVolume) and mem.cloudpath.startswith("mem://")
    assert mem.info["scales"] == theirs.info["scales"]
    grown = np.s_[3:67, 5:65, 7:15]  # the request grown to whole chunks, clamped to the bounds
    np.testing.assert_array_equal(np.asarray(mem[grown]), np.asarray(theirs[grown]))
    np.testing.assert_array_equal(np.asarray(mem[grown]), _crop(data, (3, 5, 7), (67, 65, 15)))
    with pytest.raises(EmptyVolumeException):
        mem[3:35, 5:37, 15:23]  # outside the cutout: never written
    mem.close()


async def test_memory_cutout_reencodes_and_is_dropped(tmp_path):
    url = "file://" + str(tmp_path / "seg")
    info = _info("uint32", 1, "segmentation")
    data = np.random.default_rng(4).integers(0, 9, size=(*SIZE, 1), dtype=np.uint32)
    async with Volume(url, info=info) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        mem = await vol.memory_cutout(Bbox((3, 5, 7), (40, 40, 20)), encoding="compressed_segmentation")
        assert isinstance(mem, Volume) and mem.encoding == "compressed_segmentation"
        assert vol.encoding == "raw"  # the source's info is untouched
        got = await mem.download(Bbox((3, 5, 7), (67, 65, 23)))
        np.testing.assert_array_equal(np.asarray(got), _crop(data, (3, 5, 7), (67, 65, 23)))
        bucket = mem.cloudpath.split("/")[2]
        await mem.close()
    store = MemoryStore(bucket, "seg")
    assert await store.exists("info")
    del mem, got
    gc.collect()
    assert not await store.exists("info")  # its objects went with it
    await store.close()


# -- exact casting of uploads ------------------------------------------------------------------
@pytest.mark.interop
def test_other_dtypes_accepted_when_every_value_fits(tmp_path):
    data = np.zeros((32, 32, 8), dtype=np.int64)
    data[5, 6, 7] = 255
    their_url, theirs = _empty(tmp_path, "cv8", "uint8", 1)
    with pytest.raises(ValueError, match="must match the volume data type"):
        theirs[3:35, 5:37, 7:15] = data  # cloud-volume refuses any other dtype, even when values fit

    our_url, _ = _empty(tmp_path, "ours8", "uint8", 1)
    vol = CloudVolume(our_url, fill_missing=True)
    vol[3:35, 5:37, 7:15] = data
    assert vol[8, 11, 14][0, 0, 0, 0] == 255 and vol[3:35, 5:37, 7:15].dtype == np.uint8
    # and cloud-volume reads what we wrote
    read_back = cloudvolume.CloudVolume(our_url, progress=False)[3:35, 5:37, 7:15]
    np.testing.assert_array_equal(np.asarray(read_back)[..., 0], data)

    data[5, 6, 7] = 300  # would wrap to 44 in a plain cast
    with pytest.raises(DtypeError, match=r"value 300 at \(x, y, z, c\) = \(8, 11, 14, 0\)") as err:
        vol[3:35, 5:37, 7:15] = data
    assert isinstance(err.value, ValueError)  # what cloud-volume raises for a dtype mismatch
    assert "uint8" in str(err.value) and "nothing was written" in str(err.value)
    assert vol[8, 11, 14][0, 0, 0, 0] == 255  # the earlier write is intact
    vol.delete(np.s_[3:35, 5:37, 7:15])
    with pytest.raises(DtypeError):
        vol[3:35, 5:37, 7:15] = data
    assert not vol.exists(np.s_[3:35, 5:37, 7:15])["4_4_40/3-35_5-37_7-15"]


@pytest.mark.parametrize("bad, fragment", [
    (np.nan, "value nan"), (np.inf, "value inf"), (2.5, "value 2.5"), (-1.0, "value -1.0"), (256.0, "value 256.0"),
])
async def test_floats_to_an_integer_layer(tmp_path, bad, fragment):
    url, _ = _empty(tmp_path, "f", "uint8", 1)
    async with Volume(url, fill_missing=True) as vol:
        data = np.arange(32 * 32 * 8, dtype=np.float64).reshape(32, 32, 8) % 256
        data[31, 0, 2] = bad
        with pytest.raises(DtypeError, match=fr"{fragment} at \(x, y, z, c\) = \(34, 5, 9, 0\)"):
            await vol.upload(Bbox((3, 5, 7), (35, 37, 15)), data)
        assert not any((await vol.exists(Bbox((3, 5, 7), (35, 37, 15)))).values())
        data[31, 0, 2] = 255.0  # every value integral and in range: accepted, stored exactly
        await vol.upload(Bbox((3, 5, 7), (35, 37, 15)), data)
        got = await vol.download(Bbox((3, 5, 7), (35, 37, 15)))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(got)[..., 0], data.astype(np.uint8))


@pytest.mark.parametrize("layer_dtype, data", [
    ("uint16", np.array([0, 65535], dtype=np.int64)),
    ("int16", np.array([-32768, 32767], dtype=np.int64)),
    ("uint8", np.array([False, True])),
    ("float32", np.array([0.5, np.nan, -np.inf, 2.0**100], dtype=np.float64)),
    ("uint64", np.array([0, 2**62], dtype=np.int64)),
])
async def test_values_that_fit_are_accepted(tmp_path, layer_dtype, data):
    url, _ = _empty(tmp_path, "ok", layer_dtype, 1)
    block = np.resize(data, 32 * 32 * 8).reshape(32, 32, 8)
    async with Volume(url) as vol:
        await vol.upload(Bbox((3, 5, 7), (35, 37, 15)), block)
        got = await vol.download(Bbox((3, 5, 7), (35, 37, 15)))
    assert got.dtype == np.dtype(layer_dtype)
    np.testing.assert_array_equal(np.asarray(got)[..., 0], block.astype(layer_dtype))


@pytest.mark.parametrize("layer_dtype, value", [
    ("uint64", -1), ("int8", 128), ("uint32", 2**32), ("float32", 1e39), ("float32", 0.1), ("int32", 2**31),
])
async def test_values_that_would_change_are_refused(tmp_path, layer_dtype, value):
    url, _ = _empty(tmp_path, "no", layer_dtype, 1)
    src = np.float64 if isinstance(value, float) else np.int64
    block = np.zeros((32, 32, 8), dtype=src)
    block[0, 0, 0] = value
    async with Volume(url, fill_missing=True) as vol:
        with pytest.raises(DtypeError, match=r"\(x, y, z, c\) = \(3, 5, 7, 0\)"):
            await vol.upload(Bbox((3, 5, 7), (35, 37, 15)), block)
        assert not any((await vol.exists(Bbox((3, 5, 7), (35, 37, 15)))).values())


def test_download_to_file_with_a_channel_and_steps(layer, tmp_path):
    url, data = layer
    got = CloudVolume(url).download_to_file(str(tmp_path / "c.bin"), np.s_[3:35:2, 5:37, 7:15, 1:2])
    np.testing.assert_array_equal(np.asarray(got), data[0:32:2, 0:32, 0:8, 1:2])
    # the file holds the whole region, every channel
    assert (tmp_path / "c.bin").read_bytes() == data[0:32, 0:32, 0:8].tobytes(order="F")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 0.5, 256])
async def test_scalar_that_does_not_fit_is_refused(tmp_path, value):
    url, _ = _empty(tmp_path, "s", "uint8", 1)
    async with Volume(url, fill_missing=True) as vol:
        with pytest.raises(DtypeError, match="uint8"):
            await vol.upload(Bbox((3, 5, 7), (35, 37, 15)), value)
        assert not any((await vol.exists(Bbox((3, 5, 7), (35, 37, 15)))).values())
