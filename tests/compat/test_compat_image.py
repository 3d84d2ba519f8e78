"""``vol.image``: PrecomputedImageSource's names, a thin view over the volume's own I/O."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import UnsupportedFeatureError
from volume_helpers import make_info, random_volume

SIZE, CHUNK = (128, 64, 32), (64, 64, 16)


@pytest.fixture
def vol(layer_url):
    v = CloudVolume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=CHUNK, max_mip=1), progress=False)
    v.commit_info()
    yield v
    v.close()


def test_download_and_upload_take_cloudvolumes_argument_order(vol):
    data = random_volume((64, 64, 16, 1), "uint16", seed=3)
    vol.image.upload(data, (64, 0, 16), 0)  # image, offset, mip
    np.testing.assert_array_equal(np.asarray(vol[64:128, 0:64, 16:32]), data)
    cut = vol.image.download(Bbox((64, 0, 16), (128, 64, 32)), 0)
    np.testing.assert_array_equal(np.asarray(cut), data)
    assert cut.dtype == np.uint16 and cut.shape == (64, 64, 16, 1)
    small = data[:, :32, :, 0]
    vol.image.upload(small, offset=(0, 0, 16), mip=1)  # 3-D image, mip 1 (64x32x32 voxels)
    np.testing.assert_array_equal(np.asarray(vol.image.download(np.s_[0:64, 0:32, 16:32], mip=1))[..., 0], small)
    from aiovolume.imageview import ImageView

    assert list(inspect.signature(ImageView.upload).parameters)[1:4] == ["image", "offset", "mip"]
    assert list(inspect.signature(ImageView.download).parameters)[1:3] == ["bbox", "mip"]


def test_exists_delete_and_has_data(vol):
    assert vol.image.has_data(0) is False and vol.image.has_data(1) is False
    assert set(vol.image.exists(Bbox((0, 0, 0), (128, 64, 16)), 0).values()) == {False}
    vol[0:64, 0:64, 0:16] = np.ones((64, 64, 16), np.uint16)
    assert vol.image.has_data(0) is True and vol.image.has_data(1) is False
    assert vol.image.exists(Bbox((0, 0, 0), (128, 64, 16)), 0) == {"4_4_40/0-64_0-64_0-16": True,
                                                                   "4_4_40/64-128_0-64_0-16": False}
    vol.image.delete(Bbox((0, 0, 0), (64, 64, 16)), 0)
    assert vol.image.has_data(0) is False


def test_has_data_does_not_match_a_longer_key(vol, tmp_path):
    # CloudVolume lists the bare key prefix, so "4_4_40" also matched "4_4_400/..."; we list "4_4_40/"
    other = tmp_path / "layer" / "4_4_400"
    other.mkdir(parents=True)
    (other / "0-64_0-64_0-16").write_bytes(b"x")
    assert vol.image.has_data(0) is False


@pytest.mark.interop
def test_has_data_and_exists_agree_with_cloudvolume(vol):
    from cloudvolume import CloudVolume as CV

    vol[0:64, 0:64, 16:32] = np.full((64, 64, 16), 9, np.uint16)
    theirs = CV(vol.cloudpath, progress=False, parallel=1)
    for mip in (0, 1):
        assert vol.image.has_data(mip) == theirs.image.has_data(mip)
    box = np.s_[0:128, 0:64, 0:32]
    assert vol.image.exists(box, 0) == theirs.image.exists(box, 0)
    vol.fill_missing = theirs.fill_missing = True
    np.testing.assert_array_equal(np.asarray(vol.image.download(Bbox((0, 0, 0), SIZE), 0)),
                                  np.asarray(theirs[0:128, 0:64, 0:32]))


def test_options_are_the_volumes_own(vol):
    for name, value in (("fill_missing", True), ("bounded", False), ("autocrop", True), ("non_aligned_writes", True),
                        ("delete_black_uploads", True), ("background_color", 5), ("overwrite_partial_chunks", True)):
        setattr(vol.image, name, value)
        assert getattr(vol, name) == value and getattr(vol._vol, name) == value, name
    vol.fill_missing = False
    assert vol.image.fill_missing is False
    assert vol.image.readonly is False and type(vol.image.meta) is type(vol.meta)  # blocking on the facade
    assert vol.image.meta.info is vol.info
    assert vol.image.lru is None and vol.image.lru_bytes == 0 and vol.image.lru_encoding == "same"


def test_lru_reached_through_the_image(layer_url):
    with CloudVolume(layer_url, info=make_info(size=(64, 64, 16), chunk=(64, 64, 16)), lru_bytes=1 << 20,
                     lru_encoding="raw") as vol:
        vol.commit_info()
        vol[:, :, :] = np.ones((64, 64, 16), np.uint8)
        vol[0:8, 0:8, 0:8]
        assert vol.image.lru is vol.lru and len(vol.image.lru) == 1
        assert vol.image.lru_bytes == 1 << 20 and vol.image.lru_encoding == "raw"


async def test_image_io_on_volume_is_async(layer_url):
    async with Volume(layer_url, info=make_info(size=(64, 64, 16), chunk=(64, 64, 16))) as vol:
        for name in ("download", "upload", "exists", "delete", "has_data", "download_points", "unique",
                     "download_files", "transfer_to"):
            assert inspect.iscoroutinefunction(getattr(vol.image, name)), name
        await vol.commit_info()
        await vol.image.upload(np.full((64, 64, 16), 4, np.uint8), (0, 0, 0), 0)
        assert await vol.image.has_data(0)
        assert (np.asarray(await vol.image.download(np.s_[0:64, 0:64, 0:16], 0)) == 4).all()


def test_files_are_pending(vol):
    with pytest.raises(UnsupportedFeatureError, match="use_file"):
        vol.image.download(vol.bounds, 0, use_file=True)
    with pytest.raises(UnsupportedFeatureError, match="use_file"):
        vol.image.upload(np.zeros((64, 64, 16), np.uint16), (0, 0, 0), 0, use_file=True)


@pytest.mark.interop
def test_unique_and_download_points_match_cloudvolume(vol):
    from cloudvolume import CloudVolume as CV

    data = random_volume((128, 64, 32, 1), "uint16", seed=9) % 7
    vol[:, :, :] = data
    theirs = CV(vol.cloudpath, progress=False, parallel=1)
    box = Bbox((0, 0, 0), (100, 50, 30))
    assert set(vol.image.unique(box, 0)) == set(theirs.image.unique(np.s_[0:100, 0:50, 0:30], 0))
    pts = [(0, 0, 0), (5, 6, 7), (127, 63, 31)]
    assert vol.image.download_points(pts, 0) == theirs.image.download_points(pts, 0)
