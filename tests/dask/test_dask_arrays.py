"""aiovolume.dask.from_cloudvolume / to_cloudvolume and vol.to_dask, on a 2-process LocalCluster."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from aiovolume import CloudVolume  # noqa: E402
from aiovolume.daskarray import VolumeArray  # noqa: E402
from aiovolume.dask import from_cloudvolume, to_cloudvolume  # noqa: E402
from aiovolume.exceptions import AlignmentError, DimensionError  # noqa: E402
from dask_cluster import client  # noqa: E402,F401
from volume_helpers import make_info, random_volume  # noqa: E402

OFFSET = (100, 37, 5)


@pytest.fixture
def offset_layer(tmp_path):
    """A 2-channel uint16 layer with a non-zero voxel_offset and partial edge chunks."""
    url = "file://" + str(tmp_path / "src")
    data = random_volume((130, 100, 40, 2), "uint16", seed=3)
    info = make_info("uint16", channels=2, size=(130, 100, 40), offset=OFFSET, chunk=(64, 64, 16))
    with CloudVolume(url, info=info, progress=False) as cv:
        cv.commit_info()
        cv[cv.bounds.to_slices()] = data
    return url, data


def test_read_offset_layer_compute_write_and_compare_on_the_cluster(client, offset_layer, tmp_path):
    url, data = offset_layer
    arr = from_cloudvolume(url)
    assert arr.shape == (130, 100, 40, 2) and arr.dtype == np.uint16
    assert arr.chunks[:3] == ((64, 64, 2), (64, 36), (16, 16, 8)) and arr.chunks[3] == (2,)
    np.testing.assert_array_equal(arr.compute(), data)  # the distributed client is the default scheduler
    np.testing.assert_array_equal(arr[70:90, 10:80, 15:17, 1:].compute(), data[70:90, 10:80, 15:17, 1:])

    out = "file://" + str(tmp_path / "out")
    stored = to_cloudvolume(arr // 3 + 7, out, resolution=(4, 4, 40), voxel_offset=OFFSET,
                            layer_type="segmentation")
    assert stored is None
    with CloudVolume(out, progress=False) as cv:
        assert tuple(cv.voxel_offset) == OFFSET and tuple(cv.chunk_size) == (64, 64, 16)
        assert cv.layer_type == "segmentation" and cv.dtype == np.uint16 and cv.num_channels == 2
        np.testing.assert_array_equal(cv[cv.bounds.to_slices()], data // 3 + 7)
    with open(os.path.join(tmp_path, "out", "provenance")) as f:
        assert json.load(f)["processing"] == [{"method": "aiovolume.dask.to_cloudvolume"}]
    # both ran on the cluster's worker processes
    prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "from-cloudvolume" in prefixes and "store-map" in prefixes, prefixes


def test_to_dask_on_the_facade_and_the_async_volume(client, offset_layer):
    url, data = offset_layer
    with CloudVolume(url, progress=False) as cv:
        arr = cv.to_dask()
        assert arr.shape == (130, 100, 40, 2) and arr.chunksize == (64, 64, 16, 2)
        assert arr.name.startswith("to-dask-")
        np.testing.assert_array_equal(arr.sum(axis=(0, 1, 2)).compute(), data.sum(axis=(0, 1, 2), dtype=np.uint64))
        big = cv.to_dask(chunks=(128, 64, 40, 2), name="mine")
        assert big.name == "mine" and big.chunks[0] == (128, 2)
        np.testing.assert_array_equal(big.compute(scheduler="threads"), data)


def test_a_3d_array_is_written_as_one_channel_and_returned_stored(client, tmp_path):
    img = da.from_array(random_volume((96, 80, 24), "uint8", seed=5), chunks=(32, 40, 8))
    out = "file://" + str(tmp_path / "three")
    stored = to_cloudvolume(img, out, voxel_offset=(8, 0, 4), return_stored=True, compute=False)
    result = stored.compute()
    assert result.shape == (96, 80, 24)
    with CloudVolume(out, progress=False) as cv:
        assert cv.num_channels == 1 and cv.layer_type == "image" and tuple(cv.chunk_size) == (32, 40, 8)
        np.testing.assert_array_equal(cv[cv.bounds.to_slices()][..., 0], img.compute())


def test_a_process_codec_decodes_in_the_workers_threads(client, tmp_path):
    url = "file://" + str(tmp_path / "fpzip")
    data = random_volume((64, 64, 32), "float32", seed=7)
    info = make_info("float32", size=(64, 64, 32), chunk=(32, 32, 16), encoding="fpzip")
    with CloudVolume(url, info=info, progress=False) as cv:
        cv.commit_info()
        cv[:, :, :] = data
    arr = from_cloudvolume(url)
    np.testing.assert_array_equal(arr.compute()[..., 0], data)


def test_the_array_copy_decodes_in_threads_and_writes_only_whole_chunks(offset_layer):
    url, _ = offset_layer
    with CloudVolume(url, progress=False, parallel=2, non_aligned_writes=True) as cv:
        target = VolumeArray(cv._vol, 0)
    twin = pickle.loads(pickle.dumps(target))
    for v in (target._vol, twin._vol):
        assert v.options.decode_workers == 0 and not v.options.process_codecs and v.parallel == 1
        assert v.non_aligned_writes is False
    assert twin._vol._store is None  # no store crosses a pickle: each process opens its own


def test_unaligned_blocks_are_refused_before_anything_is_written(tmp_path):
    img = da.zeros((100, 100, 20), dtype=np.uint8, chunks=(64, 64, 16))
    out = tmp_path / "refused"
    irregular = img.rechunk(((30, 70), (64, 36), (16, 4)))  # storage chunks: the largest block, 70
    with pytest.raises(AlignmentError, match=r"rechunk\(\(70, 64, 16\)\)") as err:
        to_cloudvolume(irregular, "file://" + str(out))
    assert "boundary at 30 on axis x" in str(err.value)
    assert not (out / "info").exists()
    with pytest.raises(AlignmentError, match="storage chunks of \\(32, 32, 16\\)"):
        to_cloudvolume(img.rechunk((48, 64, 16)), "file://" + str(out), chunk_size=(32, 32, 16))
    four = da.zeros((64, 64, 16, 3), dtype=np.uint8, chunks=(64, 64, 16, 1))
    with pytest.raises(AlignmentError, match="all 3 channels"):
        to_cloudvolume(four, "file://" + str(out))
    with pytest.raises(DimensionError, match="2 dimensions"):
        to_cloudvolume(da.zeros((4, 4), chunks=2), "file://" + str(out))
    assert not (out / "info").exists()
    # blocks that are multiples of the storage chunk are fine
    to_cloudvolume(img.rechunk((64, 64, 16)), "file://" + str(out), chunk_size=(32, 32, 8))
    with CloudVolume("file://" + str(out), progress=False) as cv:
        assert tuple(cv.chunk_size) == (32, 32, 8)
        assert not cv[:, :, :].any()


@pytest.mark.interop
def test_cloudvolume_own_dask_breaks_on_the_offset_that_works_here(offset_layer):
    from cloudvolume import dask as cvdask
    from cloudvolume.exceptions import OutOfBoundsError

    url, data = offset_layer
    with pytest.raises(OutOfBoundsError):
        cvdask.from_cloudvolume(url).compute(scheduler="synchronous")
    np.testing.assert_array_equal(from_cloudvolume(url).compute(scheduler="synchronous"), data)


def test_a_process_keeps_only_the_recently_used_volumes_open(offset_layer, monkeypatch):
    from aiovolume import daskarray

    url, data = offset_layer
    monkeypatch.setattr(daskarray, "_MAX_LIVE", 2)
    before = set(daskarray._LIVE)
    arrays = [from_cloudvolume(url) for _ in range(4)]
    opened = {}
    for arr in arrays:
        np.testing.assert_array_equal(arr[:64, :64, :16].compute(scheduler="threads"), data[:64, :64, :16])
        opened.update({k: v[0] for k, v in daskarray._LIVE.items() if k not in before})
    mine = [k for k in daskarray._LIVE if k not in before]
    assert len(opened) == 4 and len(mine) == 2  # the two most recently used stay
    assert all(v._store is None for k, v in opened.items() if k not in mine)  # the others were closed
    assert all(opened[k]._store is not None for k in mine)
    assert arrays[0][:1, :1, :1].compute(scheduler="synchronous").shape == (1, 1, 1, 2)  # reopens
    assert len([k for k in daskarray._LIVE if k not in before]) == 2
    monkeypatch.setattr(daskarray, "_MAX_LIVE", 0)  # several idle ones go at once; the one in use stays
    arrays[1][:1, :1, :1].compute(scheduler="synchronous")
    assert len([k for k in daskarray._LIVE if k not in before]) == 1
