"""Shared memory both ways with the real cloud-volume 12.15.2: what we put in /dev/shm its
``sharedmemory.ndarray`` (and its ``upload_from_shared_memory``) reads exactly, and what it puts
there we read exactly."""

from __future__ import annotations

import numpy as np
import pytest
from shm_helpers import SIZE, in_dev_shm, make_layer, no_leftover_locations, pattern, run_child  # noqa: F401

from aiovolume import Bbox

cloudvolume = pytest.importorskip("cloudvolume")
from cloudvolume import sharedmemory  # noqa: E402

pytestmark = pytest.mark.interop


@pytest.fixture
def layer(tmp_path):
    # raw: cloud-volume cannot encode multi-channel compressed_segmentation; the layout is codec-blind anyway
    vol, data = make_layer(tmp_path / "layer", dtype="uint32", channels=2, encoding="raw", compress="gzip")
    theirs = cloudvolume.CloudVolume(vol.cloudpath, parallel=1, progress=False)
    locations: list[str] = []
    yield vol, theirs, data, locations
    for loc in locations:
        sharedmemory.unlink(loc)
        assert not in_dev_shm(loc)


def test_cloudvolume_reads_what_we_put_in_shared_memory(layer):
    vol, theirs, data, locations = layer
    loc = vol.generate_shared_memory_location()
    locations.append(loc)
    vol.download_to_shared_memory(np.s_[13:77, -5:59, 7:39], location=loc)
    mm, arr = sharedmemory.ndarray((64, 64, 32, 2), np.uint32, loc, readonly=True)
    np.testing.assert_array_equal(arr, data[10:74, 0:64, 0:32])
    # and in another process, as a user of cloud-volume would
    out = run_child(f"""
import numpy as np
from cloudvolume import sharedmemory
mm, a = sharedmemory.ndarray((64, 64, 32, 2), np.uint32, '{loc}', readonly=True)
print(int(a.astype(np.int64).sum()), int(a[63, 1, 31, 1]))
""")
    assert out.split() == [str(int(data[10:74, 0:64, 0:32].astype(np.int64).sum())), str(int(data[73, 1, 31, 1]))]
    # CloudVolume uploads from our segment: the same voxels land in the layer
    theirs.upload_from_shared_memory(loc, cloudvolume.Bbox((35, -5, 7), (99, 59, 39)))
    np.testing.assert_array_equal(vol[35:99, -5:59, 7:39], data[10:74, 0:64, 0:32])


def test_we_read_what_cloudvolume_puts_in_shared_memory(layer):
    vol, theirs, data, locations = layer
    loc = vol.generate_shared_memory_location()
    locations.append(loc)
    arr = theirs.download_to_shared_memory(np.s_[3:67, -5:59, 7:39], location=loc)
    np.testing.assert_array_equal(arr, data[:64, :64, :32])
    # our upload reads their segment, from another region
    vol.upload_from_shared_memory(loc, cloudvolume.Bbox((35, -5, 7), (99, 59, 39)))  # their Bbox too
    np.testing.assert_array_equal(vol[35:99, -5:59, 7:39], data[:64, :64, :32])
    # their sharedmemory.ndarray written by hand, uploaded with a cutout
    loc2 = vol.generate_shared_memory_location()
    locations.append(loc2)
    want = pattern((*SIZE, 2), "uint32", seed=3)
    mm, theirs_arr = sharedmemory.ndarray(want.shape, np.uint32, loc2)
    theirs_arr[...] = want
    vol.upload_from_shared_memory(loc2, vol.bounds, cutout_bbox=Bbox((35, -5, 7), (67, 27, 23)))
    np.testing.assert_array_equal(vol[35:67, -5:27, 7:23], want[32:64, 0:32, 0:16])
    np.testing.assert_array_equal(vol[3:35, -5:27, 7:23], data[:32, :32, :16])


def test_our_download_overwrites_a_cloudvolume_segment_of_another_size(layer):
    vol, theirs, data, locations = layer
    loc = vol.generate_shared_memory_location()
    locations.append(loc)
    theirs.download_to_shared_memory(np.s_[:, :, :], location=loc)
    arr = vol.download_to_shared_memory(np.s_[3:35, -5:27, 7:23], location=loc)
    np.testing.assert_array_equal(arr, data[:32, :32, :16])
    mm, again = sharedmemory.ndarray((32, 32, 16, 2), np.uint32, loc, readonly=True)
    np.testing.assert_array_equal(again, data[:32, :32, :16])
