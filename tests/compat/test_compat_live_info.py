"""The info is live: ``vol.info`` / ``vol.scale`` edits change how the volume reads and writes."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import AlignmentError, DtypeError, InfoError, ScaleUnavailableError
from volume_helpers import make_info, random_volume

SIZE, CHUNK = (128, 128, 32), (64, 64, 16)


@pytest.fixture
def vol(layer_url):
    v = CloudVolume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), progress=False)
    v.commit_info()
    yield v
    v.close()


def test_info_and_scale_are_the_same_dicts_each_time(vol):
    assert vol.info is vol.info and vol.scale is vol.info["scales"][0]
    assert vol.scales is vol.info["scales"] and vol.mip_scale(0) is vol.scale


def test_data_type_edit_changes_writes_and_properties(vol, layer_url):
    big = np.full((64, 64, 16), 70000, np.uint32)
    with pytest.raises(DtypeError):
        vol[0:64, 0:64, 0:16] = big
    vol.info["data_type"] = "uint32"
    assert vol.dtype == np.uint32 and vol.data_type == "uint32" and vol.meta.dtype == np.uint32  # nothing stale
    vol.commit_info()
    vol[0:64, 0:64, 0:16] = big
    cut = vol[0:64, 0:64, 0:16]
    assert cut.dtype == np.uint32 and (np.asarray(cut) == 70000).all()
    with CloudVolume(layer_url) as again:
        assert again.dtype == np.uint32 and (np.asarray(again[0:64, 0:64, 0:16]) == 70000).all()


@pytest.mark.interop
def test_data_type_edit_is_read_back_by_cloudvolume(vol, layer_url):
    from cloudvolume import CloudVolume as CV

    vol.info["data_type"] = "uint32"
    vol.commit_info()
    data = random_volume((128, 128, 32, 1), "uint32", seed=1)
    vol[:, :, :] = data
    theirs = CV(layer_url, progress=False, parallel=1)
    assert theirs.dtype == np.uint32
    np.testing.assert_array_equal(np.asarray(theirs[:, :, :]), data)


def test_encoding_edit_writes_compressed_segmentation(vol, layer_url):
    vol.info["data_type"] = "uint32"
    vol.scale["encoding"] = "compressed_segmentation"
    vol.scale["compressed_segmentation_block_size"] = [4, 4, 4]
    vol.info["type"] = "segmentation"
    vol.commit_info()
    assert vol.encoding == "compressed_segmentation" and tuple(vol.compressed_segmentation_block_size) == (4, 4, 4)
    data = random_volume((128, 128, 32, 1), "uint32", seed=2) % 50
    vol[:, :, :] = data
    np.testing.assert_array_equal(np.asarray(vol[:, :, :]), data)
    import gzip
    import pathlib

    stored = pathlib.Path(vol._vol._path.path, "4_4_40", "0-64_0-64_0-16.gz").read_bytes()
    assert len(gzip.decompress(stored)) < 64 * 64 * 16 * 4  # compressed_segmentation, not raw uint32


@pytest.mark.interop
def test_encoding_edit_is_read_back_by_cloudvolume(vol, layer_url):
    from cloudvolume import CloudVolume as CV

    vol.info.update(data_type="uint64", type="segmentation")
    vol.scale.update(encoding="compressed_segmentation", compressed_segmentation_block_size=[8, 8, 8])
    vol.commit_info()
    data = random_volume((128, 128, 32, 1), "uint64", seed=4) % 1000
    vol[:, :, :] = data
    theirs = CV(layer_url, progress=False, parallel=1)
    assert theirs.encoding == "compressed_segmentation"
    np.testing.assert_array_equal(np.asarray(theirs[:, :, :]), data)


def test_an_info_left_invalid_by_one_edit_can_be_mended_through_vol_scale(vol):
    vol.info["data_type"] = "uint32"
    vol.scale["encoding"] = "compressed_segmentation"
    vol.info["data_type"] = "float32"  # cseg cannot store float32: invalid for now
    with pytest.raises(InfoError, match="compressed_segmentation"):
        vol.dtype
    vol.scale["encoding"] = "raw"  # vol.scale is not validated, so this mends it
    assert vol.mip_scale([4, 4, 40]) is vol.scale  # by resolution, unvalidated too
    assert vol.dtype == np.float32 and vol.encoding == "raw"
    vol.commit_info()
    vol[0:64, 0:64, 0:16] = np.full((64, 64, 16), 0.5, np.float32)
    assert (np.asarray(vol[0:64, 0:64, 0:16]) == 0.5).all()


def test_chunk_size_edit_changes_the_write_grid(vol):
    with pytest.raises(AlignmentError):
        vol[32:64, 0:32, 0:16] = np.zeros((32, 32, 16), np.uint8)
    vol.scale["chunk_sizes"] = [[32, 32, 16]]
    assert tuple(vol.chunk_size) == (32, 32, 16)
    vol[32:64, 0:32, 0:16] = np.full((32, 32, 16), 6, np.uint8)  # aligned on the new grid
    assert vol.exists(np.s_[32:64, 0:32, 0:16]) == {"4_4_40/32-64_0-32_0-16": True}
    assert (np.asarray(vol[32:64, 0:32, 0:16]) == 6).all()


def test_appended_scale_is_a_mip(vol):
    scale = dict(vol.scale, key="8_8_40", resolution=[8, 8, 40], size=[64, 64, 32])
    vol.info["scales"].append(scale)
    assert vol.available_mips == [0, 1] and vol.to_mip([8, 8, 40]) == 1
    vol[0:64, 0:64, 0:16] = np.ones((64, 64, 16), np.uint8)
    vol.upload(Bbox((0, 0, 16), (64, 64, 32)), np.full((64, 64, 16), 2, np.uint8), mip=1)
    assert (np.asarray(vol.download(np.s_[0:64, 0:64, 16:32], mip=1)) == 2).all()


def test_add_scale_commit_and_reset_scales_agree_with_cloudvolume(vol, layer_url):
    returned = vol.add_scale((2, 2, 1))
    assert returned is vol.info["scales"][1]  # as CloudVolume: the dict now in the info
    returned["chunk_sizes"] = [[16, 16, 16]]  # edit through it, then commit
    vol.commit_info()
    assert vol.available_mips == [0, 1] and tuple(vol.mip_chunk_size(1)) == (16, 16, 16)
    with CloudVolume(layer_url) as again:
        assert again.available_mips == [0, 1] and again.info["scales"][1]["chunk_sizes"] == [[16, 16, 16]]
    vol.mip = 1
    vol.reset_scales()  # CloudVolume's frontend commits the reset
    assert vol.mip == 0 and vol.available_mips == [0]
    with CloudVolume(layer_url) as again:
        assert again.available_mips == [0]


@pytest.mark.interop
def test_available_mips_after_add_scale_match_cloudvolume(vol, layer_url):
    from cloudvolume import CloudVolume as CV

    vol.add_scale((2, 2, 1))
    vol.add_scale((4, 4, 1))
    vol.commit_info()
    theirs = CV(layer_url, progress=False, parallel=1)
    assert vol.available_mips == list(theirs.available_mips) == [0, 1, 2]
    assert vol.info == theirs.info
    theirs.add_scale((8, 8, 2))
    theirs.commit_info()
    vol.refresh_info()
    assert vol.available_mips == [0, 1, 2, 3] and vol.mip_key(3) == theirs.mip_key(3)
    theirs.reset_scales()
    vol.refresh_info()
    assert vol.available_mips == [0]


def test_an_invalid_edit_is_refused_until_fixed(vol):
    vol[0:64, 0:64, 0:16] = np.full((64, 64, 16), 3, np.uint8)
    vol.info["data_type"] = "uint9"
    with pytest.raises(InfoError, match="data_type"):
        vol[0:64, 0:64, 0:16]
    with pytest.raises(InfoError, match="data_type"):
        vol[0:64, 0:64, 0:16] = 1
    with pytest.raises(InfoError, match="data_type"):
        vol.commit_info()
    assert vol.info["data_type"] == "uint9"  # the user's dict is left as they made it
    vol.info["data_type"] = "uint8"
    assert (np.asarray(vol[0:64, 0:64, 0:16]) == 3).all()


def test_removing_the_current_scale_is_a_scale_error(vol):
    vol.add_scale((2, 2, 1))
    vol.mip = 1
    del vol.info["scales"][1]
    with pytest.raises(ScaleUnavailableError, match="mip 1"):
        vol[0:8, 0:8, 0:8]


def test_info_setter_and_scale_setter(vol):
    new = make_info("uint16", 1, size=SIZE, chunk=(32, 32, 32))
    vol.info = new
    assert vol.info is new and vol.dtype == np.uint16 and tuple(vol.chunk_size) == (32, 32, 32)
    vol.scale = dict(new["scales"][0], chunk_sizes=[[64, 64, 32]])
    assert tuple(vol.chunk_size) == (64, 64, 32)


def test_given_info_is_copied_so_templates_stay_unchanged(tmp_path):
    template = make_info()
    with CloudVolume(f"file://{tmp_path}/a", info=template) as a:
        a.add_scale((2, 2, 1))
        a.info["data_type"] = "uint16"
    assert len(template["scales"]) == 1 and template["data_type"] == "uint8"


def test_the_lru_forgets_chunks_of_an_older_info(layer_url):
    with CloudVolume(layer_url, info=make_info(size=(64, 64, 16), chunk=(64, 64, 16)), lru_bytes=1 << 20) as vol:
        vol.commit_info()
        vol[:, :, :] = np.full((64, 64, 16), 200, np.uint8)
        assert vol[0:4, 0:4, 0:4].dtype == np.uint8 and len(vol.lru) == 1
        vol.info["data_type"] = "int8"  # the same bytes now mean -56
        assert len(vol.lru) == 1  # dropped at the next operation, not before
        cut = vol[0:4, 0:4, 0:4]
        assert cut.dtype == np.int8 and (np.asarray(cut) == -56).all()


async def test_volume_info_is_live_too(layer_url):
    async with Volume(layer_url, info=make_info(size=(64, 64, 16), chunk=(64, 64, 16))) as vol:
        vol.info["data_type"] = "uint16"
        await vol.commit_info()
        await vol.upload(np.s_[0:64, 0:64, 0:16], np.full((64, 64, 16), 1000, np.uint16))
        assert (np.asarray(await vol.download(np.s_[0:64, 0:64, 0:16])) == 1000).all()
        assert (await vol.refresh_info())["data_type"] == "uint16"
