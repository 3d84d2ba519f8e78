"""Async Volume round trips: dtypes, channels, offsets, edge chunks, mips, codec executors."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import Bbox, Options, Volume
from aiovolume.cutout import VolumeCutout
from volume_helpers import make_info, random_volume

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int16", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3])
async def test_full_round_trip(layer_url, dtype, channels):
    size = (130, 100, 40)  # not a multiple of the 64x64x16 chunk: edge chunks everywhere
    info = make_info(dtype, channels, size=size, offset=(-70, 5, -16))
    data = random_volume((*size, channels), dtype)
    async with Volume(layer_url, info=info) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    async with Volume(layer_url) as vol:
        cut = await vol.download(vol.bounds)
    assert isinstance(cut, VolumeCutout)
    assert cut.shape == (*size, channels)
    assert cut.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(cut), data)


@pytest.mark.parametrize("executor", ["process", "thread", "inline"])
@pytest.mark.parametrize("compress", [None, False])
async def test_executors_agree(layer_url, executor, compress):
    info = make_info("uint16", 1, size=(100, 70, 33), offset=(3, -9, 1), chunk=(32, 32, 8))
    data = random_volume((100, 70, 33, 1), "uint16", seed=4)
    opts = Options(codec_executor=executor)
    async with Volume(layer_url, info=info, compress=compress, options=opts) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        box = Bbox((10, -3, 4), (77, 50, 30))  # non-aligned read
        cut = await vol.download(box)
    lo = np.array([10, -3, 4]) - np.array([3, -9, 1])
    np.testing.assert_array_equal(np.asarray(cut), data[lo[0]:lo[0] + 67, lo[1]:lo[1] + 53, lo[2]:lo[2] + 26])


async def test_several_mips(layer_url):
    info = make_info("uint8", 1, size=(128, 128, 32), chunk=(32, 32, 16))
    async with Volume(layer_url, info=info) as vol:
        vol.add_scale((2, 2, 1))
        vol.add_scale((4, 4, 1))
        await vol.commit_info()
        datas = {}
        for mip in (0, 1, 2):
            bounds = vol.mip_bounds(mip)
            datas[mip] = random_volume((*bounds.size3(), 1), "uint8", seed=mip)
            await vol.upload(bounds, datas[mip], mip=mip)
    for mip in (0, 1, 2):
        async with Volume(layer_url, mip=mip) as vol:
            assert vol.mip == mip
            cut = await vol.download(vol.bounds)
            assert cut.mip == mip
            np.testing.assert_array_equal(np.asarray(cut), datas[mip])
    async with Volume(layer_url, mip=[16, 16, 40]) as vol:  # mip by resolution
        assert vol.mip == 2


async def test_slices_steps_and_channels(layer_url):
    info = make_info("uint8", 3, size=(64, 64, 16))
    data = random_volume((64, 64, 16, 3), "uint8")
    async with Volume(layer_url, info=info) as vol:
        await vol.upload(np.s_[:, :, :], data)
        cut = await vol.download(np.s_[0:64:2, 5, ::4, 1])
    # ints keep their axis; results are always 4-D like CloudVolume
    np.testing.assert_array_equal(np.asarray(cut), data[0:64:2, 5:6, ::4, 1:2])


async def test_negative_coordinates_are_real(layer_url):
    info = make_info("uint8", 1, size=(64, 64, 16), offset=(-64, -32, -16))
    data = random_volume((64, 64, 16, 1), "uint8")
    async with Volume(layer_url, info=info) as vol:
        await vol.upload(vol.bounds, data)
        cut = await vol.download(np.s_[-10:-2, -32:-30, -1])
    # -10 is voxel x=-10 (index 54 from the offset), never "10 from the end"
    np.testing.assert_array_equal(np.asarray(cut), data[54:62, 0:2, 15:16])


async def test_cutout_metadata(layer_url):
    info = make_info("uint8", 1, size=(64, 64, 16))
    async with Volume(layer_url, info=info, fill_missing=True) as vol:
        cut = await vol.download(Bbox((1, 2, 3), (9, 10, 11)))
        assert cut.bounds == Bbox((1, 2, 3), (9, 10, 11))
        assert cut.layer == "layer"
        assert cut.layer_type == "image"
        assert cut.mip == 0
        assert cut.num_channels == 1
        assert cut.dataset_name == vol.dataset_name
