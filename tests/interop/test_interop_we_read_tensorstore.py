"""aiovolume reads what TensorStore's ``neuroglancer_precomputed`` driver writes (raw encoding, file://).

TensorStore creates the info itself (``create: True`` with ``multiscale_metadata`` and
``scale_metadata``); its info differs from CloudVolume's (``@type`` is present, resolutions are
floats such as ``4.0``), and its chunks are plain files.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import aiovolume
from aiovolume import Bbox
from aiovolume.exceptions import EmptyVolumeException
from interop_helpers import make_data, assert_exact, grid_names, slices, local, ts_open

ts = pytest.importorskip("tensorstore")

pytestmark = pytest.mark.interop

DTYPES = ["uint8", "uint16", "uint64", "float32", "int16", "uint32"]

RES = (4, 4, 40)
OFFSET = (-37, 11, -5)
SIZE = (100, 90, 70)
CHUNK = (32, 32, 32)
RES1 = (8, 8, 40)
OFFSET1 = (-19, 5, -5)
SIZE1 = (50, 45, 70)
CHUNK1 = (64, 64, 16)   # a different chunk shape at mip 1
CUT0 = ((-30, 41), (17, 88), (-2, 61))
CUT1 = ((-17, 24), (7, 49), (1, 62))


# -- helpers ---------------------------------------------------------------------------------
def ts_create_scale(layer, dtype, channels, res, offset, size, chunk):
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(layer)},
        "create": True,
        "open": True,
        # given again for the second scale: it must match the existing info (tensorstore would
        # otherwise infer "segmentation" for 1-channel uint64 and refuse)
        "multiscale_metadata": {"type": "image", "data_type": dtype, "num_channels": channels},
        "scale_metadata": {"size": list(size), "voxel_offset": list(offset), "chunk_size": list(chunk),
                           "resolution": list(res), "encoding": "raw"},
    }
    return ts.open(spec).result()


def write_with_tensorstore(layer, dtype, channels, seed=71):
    data0 = make_data((*SIZE, channels), dtype, seed, nonzero=True)
    data1 = make_data((*SIZE1, channels), dtype, seed + 1, nonzero=True)
    s0 = ts_create_scale(layer, dtype, channels, RES, OFFSET, SIZE, CHUNK)
    s0.write(data0).result()
    s1 = ts_create_scale(layer, dtype, channels, RES1, OFFSET1, SIZE1, CHUNK1)
    assert tuple(s1.domain.inclusive_min) == (*OFFSET1, 0)  # tensorstore added a second scale
    s1.write(data1).result()
    # what tensorstore put on disk: its own info and plain chunk files
    info = json.loads((layer / "info").read_text())
    assert info["@type"] == "neuroglancer_multiscale_volume"
    assert [s["key"] for s in info["scales"]] == ["4_4_40", "8_8_40"]
    assert set(os.listdir(layer / "4_4_40")) == grid_names(OFFSET, SIZE, CHUNK)
    assert set(os.listdir(layer / "8_8_40")) == grid_names(OFFSET1, SIZE1, CHUNK1)
    return data0, data1


@pytest.fixture(scope="module")
def ts_written(tmp_path_factory):
    cache = {}

    def get(dtype, channels):
        if (dtype, channels) not in cache:
            layer = tmp_path_factory.mktemp("ts_written") / "layer"
            cache[dtype, channels] = (layer, *write_with_tensorstore(layer, dtype, channels))
        return cache[dtype, channels]

    return get


# -- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cloudvolume_facade_reads_tensorstore_volume(ts_written, dtype, channels):
    layer, data0, data1 = ts_written(dtype, channels)
    with aiovolume.CloudVolume(f"file://{layer}") as vol:
        assert vol.dtype == np.dtype(dtype)
        assert vol.num_channels == channels
        assert vol.layer_type == "image"
        assert vol.available_mips == [0, 1]
        for mip, off, size, res, chunk in ((0, OFFSET, SIZE, RES, CHUNK), (1, OFFSET1, SIZE1, RES1, CHUNK1)):
            assert list(vol.mip_bounds(mip).minpt) == list(off)
            assert list(vol.mip_bounds(mip).maxpt) == [o + s for o, s in zip(off, size)]
            assert list(vol.mip_resolution(mip)) == list(res)
            assert list(vol.mip_chunk_size(mip)) == list(chunk)
        assert_exact(vol[slices(OFFSET, SIZE)], data0)
        assert_exact(vol[tuple(slice(a, b) for a, b in CUT0)], local(data0, OFFSET, CUT0))
        assert_exact(vol.download(slices(OFFSET1, SIZE1), mip=1), data1)
    # mip chosen by (float) resolution, as in CloudVolume
    with aiovolume.CloudVolume(f"file://{layer}", mip=[8, 8, 40]) as vol1:
        assert vol1.mip == 1
        assert_exact(vol1[tuple(slice(a, b) for a, b in CUT1)], local(data1, OFFSET1, CUT1))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
async def test_async_volume_reads_tensorstore_volume(ts_written, dtype, channels):
    layer, data0, data1 = ts_written(dtype, channels)
    async with aiovolume.Volume(f"file://{layer}") as vol:
        assert_exact(await vol.download(Bbox(OFFSET, [o + s for o, s in zip(OFFSET, SIZE)])), data0)
        assert_exact(await vol.download(Bbox(*zip(*CUT0))), local(data0, OFFSET, CUT0))
        assert_exact(await vol.download(Bbox(*zip(*CUT1)), mip=1), local(data1, OFFSET1, CUT1))


async def test_tensorstore_skips_fill_value_chunks_and_we_need_fill_missing(tmp_path):
    """TensorStore does not store chunks equal to the fill value (0): a missing chunk is zeros only
    with fill_missing=True; without it aiovolume raises EmptyVolumeException, as CloudVolume does."""
    layer = tmp_path / "layer"
    data = make_data((*SIZE, 1), "uint16", 81, nonzero=True)
    data[0:32, 0:32, 0:32] = 0   # exactly the first chunk, [-37,-5) x [11,43) x [-5,27)
    store = ts_create_scale(layer, "uint16", 1, RES, OFFSET, SIZE, CHUNK)
    store.write(data).result()
    first = "-37--5_11-43_-5-27"
    assert first not in os.listdir(layer / "4_4_40")
    assert set(os.listdir(layer / "4_4_40")) == grid_names(OFFSET, SIZE, CHUNK) - {first}

    async with aiovolume.Volume(f"file://{layer}", fill_missing=True) as vol:
        assert_exact(await vol.download(Bbox(OFFSET, [o + s for o, s in zip(OFFSET, SIZE)])), data)
    async with aiovolume.Volume(f"file://{layer}") as vol:
        # a region avoiding the missing chunk reads fine; one touching it raises
        assert_exact(await vol.download(np.s_[-5:63, 11:101, -5:65]), data[32:])
        with pytest.raises(EmptyVolumeException):
            await vol.download(np.s_[-37:-30, 11:20, -5:0])


def test_our_non_aligned_write_into_tensorstore_volume_reads_back_in_tensorstore(tmp_path):
    """aiovolume read-modify-writes TensorStore's edge chunks (compress=False); TensorStore sees the patch."""
    layer = tmp_path / "layer"
    data0, _ = write_with_tensorstore(layer, "float32", 3, seed=91)
    patch = make_data((*(b - a for a, b in CUT0), 3), "float32", seed=93, nonzero=True)
    with aiovolume.CloudVolume(f"file://{layer}", non_aligned_writes=True, compress=False) as vol:
        vol[tuple(slice(a, b) for a, b in CUT0)] = patch
    expected = data0.copy()
    expected[tuple(slice(a - o, b - o) for (a, b), o in zip(CUT0, OFFSET))] = patch
    assert set(os.listdir(layer / "4_4_40")) == grid_names(OFFSET, SIZE, CHUNK)  # still plain, same names
    assert_exact(ts_open(layer, 0).read().result(), expected)


def test_tensorstore_reads_scale_we_add_to_its_volume(tmp_path):
    """add_scale + commit_info on a TensorStore-made info keeps it valid for TensorStore (``@type`` kept)."""
    layer = tmp_path / "layer"
    data0, data1 = write_with_tensorstore(layer, "uint16", 1, seed=95)
    data2 = make_data((25, 23, 70, 1), "uint16", seed=97, nonzero=True)
    cloudvolume = pytest.importorskip("cloudvolume")
    theirs = cloudvolume.CloudVolume(f"file://{layer}", progress=False).add_scale((4, 4, 1))
    with aiovolume.CloudVolume(f"file://{layer}", compress=False) as vol:
        new = vol.add_scale((4, 4, 1))
        # tensorstore writes float resolutions (4.0), so, as in CloudVolume, the new key is "16.0_16.0_40.0"
        assert new == json.loads(json.dumps(theirs))
        assert (new["voxel_offset"], new["size"], new["key"]) == ([-10, 2, -5], [25, 23, 70], "16.0_16.0_40.0")
        vol.commit_info()
        vol.upload(np.s_[-10:15, 2:25, -5:65], data2, mip=2)
    info = json.loads((layer / "info").read_text())
    assert info["@type"] == "neuroglancer_multiscale_volume"
    assert [s["key"] for s in info["scales"]] == ["4_4_40", "8_8_40", "16.0_16.0_40.0"]
    for mip, data in enumerate((data0, data1, data2)):
        assert_exact(ts_open(layer, mip).read().result(), data)
