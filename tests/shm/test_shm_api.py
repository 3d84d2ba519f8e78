"""CloudVolume's shared-memory API: download_to_shared_memory, upload_from_shared_memory,
unlink_shared_memory, shared_memory_id, generate_shared_memory_location; and the async
Volume.download(out=) / Volume.upload(source=)."""

from __future__ import annotations

import os
import re
from multiprocessing import shared_memory

import numpy as np
import pytest
from shm_helpers import in_dev_shm, make_layer, no_leftover_locations, pattern, run_child  # noqa: F401

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import (
    AlignmentError, DtypeError, ResourceLimitError, ShapeMismatchError, SharedMemoryReadError,
)
from aiovolume.format.info import create_new_info
from aiovolume.sharedmem import unlink


@pytest.fixture
def layer(tmp_path):
    vol, data = make_layer(tmp_path / "layer")
    yield vol, data
    assert not in_dev_shm(vol.shared_memory_id), "a test left the volume's segment behind"


def test_location_names_are_cloudvolumes(layer):
    vol, _ = layer
    pat = r"precomputed-shm-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(pat, vol.shared_memory_id)
    assert vol.shared_memory_id == vol.shared_memory_id  # made once per volume
    other = vol.generate_shared_memory_location()
    assert re.fullmatch(pat, other) and other != vol.shared_memory_id
    assert vol.image.shared_memory_id == vol.shared_memory_id
    vol.shared_memory_id = "my-segment"
    assert vol.shared_memory_id == "my-segment" and vol.image.shared_memory_id == "my-segment"


def test_download_to_shared_memory_is_the_array_in_dev_shm(layer):
    vol, data = layer
    arr = vol.download_to_shared_memory(np.s_[10:90, 0:60, 10:45])
    try:
        want = data[7:87, 5:65, 3:38]
        assert arr.shape == (80, 60, 35, 2) and arr.dtype == np.uint16 and arr.flags.f_contiguous
        np.testing.assert_array_equal(arr, want)
        # the file is exactly the array's bytes, Fortran order
        with open("/dev/shm/" + vol.shared_memory_id, "rb") as f:
            raw = f.read()
        assert raw == want.tobytes(order="F")
    finally:
        assert vol.unlink_shared_memory() is True
    assert vol.unlink_shared_memory() is False
    np.testing.assert_array_equal(arr, data[7:87, 5:65, 3:38])  # the mapping outlives the name


def test_another_process_attaches_by_name(layer):
    vol, data = layer
    loc = vol.generate_shared_memory_location()
    vol.download_to_shared_memory(Bbox((3, -5, 7), (103, 85, 47)), location=loc)
    try:
        out = run_child(f"""
import mmap, numpy as np
with open('/dev/shm/{loc}', 'r+b') as f:
    mm = mmap.mmap(f.fileno(), 0)
a = np.ndarray((100, 90, 40, 2), dtype=np.uint16, buffer=mm, order='F')
print(int(a.astype(np.int64).sum()), int(a[5, 6, 7, 1]), int(a[99, 0, 39, 0]))
""")
    finally:
        assert vol.unlink_shared_memory() is False  # the default location was not used
        assert unlink(loc) is True
    assert out.split() == [str(int(data.astype(np.int64).sum())), str(int(data[5, 6, 7, 1])), str(int(data[99, 0, 39, 0]))]


def test_a_child_writes_then_we_upload_from_it(layer):
    vol, data = layer
    loc = vol.generate_shared_memory_location()
    run_child(f"""
import numpy as np
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name='{loc}', create=True, size=64 * 32 * 16 * 2 * 2)
a = np.ndarray((64, 32, 16, 2), dtype=np.uint16, buffer=shm.buf, order='F')
a[...] = np.arange(a.size, dtype=np.uint16).reshape(a.shape, order='F')
del a
shm.close()
resource_tracker.unregister(shm._name, 'shared_memory')  # outlive this process: the parent owns it now
""")
    try:
        want = np.arange(64 * 32 * 16 * 2, dtype=np.uint16).reshape((64, 32, 16, 2), order="F")
        vol.upload_from_shared_memory(loc, Bbox((35, 27, 23), (99, 59, 39)))
        np.testing.assert_array_equal(vol[35:99, 27:59, 23:39], want)
        np.testing.assert_array_equal(vol[3:35, -5:27, 7:23], data[:32, :32, :16])  # neighbours untouched
        # cutout_bbox: only part of the shared array, in volume coordinates
        vol.upload_from_shared_memory(loc, Bbox((3, -5, 7), (67, 27, 23)), cutout_bbox=Bbox((35, -5, 7), (67, 27, 23)))
        np.testing.assert_array_equal(vol[35:67, -5:27, 7:23], want[32:64, 0:32, 0:16])
        np.testing.assert_array_equal(vol[3:35, -5:27, 7:23], data[:32, :32, :16])
        assert in_dev_shm(loc)  # only read, never unlinked
    finally:
        shared_memory.SharedMemory(name=loc).unlink()


def test_upload_from_shared_memory_order_c(layer, tmp_path):
    vol, _ = layer
    loc = vol.shared_memory_id
    want = pattern((32, 32, 16, 2), "uint16", seed=4)
    with open("/dev/shm/" + loc, "wb") as f:
        f.write(want.tobytes(order="C"))
    try:
        vol.upload_from_shared_memory(loc, np.s_[35:67, 27:59, 23:39], order="C")
        np.testing.assert_array_equal(vol[35:67, 27:59, 23:39], want)
    finally:
        assert vol.unlink_shared_memory()


def test_upload_from_shared_memory_errors(layer):
    vol, data = layer
    with pytest.raises(SharedMemoryReadError, match="does not exist"):
        vol.upload_from_shared_memory(vol.shared_memory_id, Bbox((35, 27, 23), (67, 59, 39)))
    with open("/dev/shm/" + vol.shared_memory_id, "wb") as f:
        f.write(b"\0" * 100)
    try:
        with pytest.raises(SharedMemoryReadError, match="holds 100 bytes"):
            vol.upload_from_shared_memory(vol.shared_memory_id, Bbox((35, 27, 23), (67, 59, 39)))
        with pytest.raises(AlignmentError, match="not inside"):
            vol.upload_from_shared_memory(vol.shared_memory_id, Bbox((35, 27, 23), (67, 59, 39)),
                                          cutout_bbox=Bbox((3, 27, 23), (67, 59, 39)))
    finally:
        vol.unlink_shared_memory()
    np.testing.assert_array_equal(vol[:, :, :], data)  # nothing was written


def test_strided_and_channel_requests_return_views_of_the_whole_region(layer):
    vol, data = layer
    arr = vol.download_to_shared_memory(np.s_[3:43:2, -5:35, 7:27, 1])
    try:
        np.testing.assert_array_equal(arr, data[0:40:2, 0:40, 0:20, 1:2])
        assert os.path.getsize("/dev/shm/" + vol.shared_memory_id) == 40 * 40 * 20 * 2 * 2
    finally:
        vol.unlink_shared_memory()


def test_reused_location_is_resized_and_refilled(layer):
    vol, data = layer
    try:
        big = vol.download_to_shared_memory(np.s_[:, :, :])
        np.testing.assert_array_equal(big, data)
        small = vol.download_to_shared_memory(np.s_[3:19, -5:11, 7:15])
        np.testing.assert_array_equal(small, data[:16, :16, :8])
        assert os.path.getsize("/dev/shm/" + vol.shared_memory_id) == 16 * 16 * 8 * 2 * 2
    finally:
        vol.unlink_shared_memory()


def test_missing_chunks_and_outside_bounds_are_background_in_a_reused_segment(tmp_path):
    info = create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 32], chunk_size=[32, 32, 16])
    vol = CloudVolume("file://" + str(tmp_path / "l"), info=info, progress=False, fill_missing=True, bounded=False,
                      background_color=3)
    vol.commit_info()
    vol[0:32, 0:32, 0:16] = np.full((32, 32, 16), 9, np.uint8)
    with open("/dev/shm/" + vol.shared_memory_id, "wb") as f:
        f.write(b"\xff" * (48 * 48 * 20))  # stale contents of the same size
    try:
        arr = vol.download_to_shared_memory(np.s_[-16:32, 0:48, 0:20])
        assert arr.shape == (48, 48, 20, 1)
        assert (arr[16:48, 0:32, 0:16] == 9).all()
        assert (arr[:16] == 3).all() and (arr[:, 32:] == 3).all() and (arr[:, :, 16:] == 3).all()
    finally:
        vol.unlink_shared_memory()


def test_resource_limit_error_before_anything_is_allocated(tmp_path):
    free = os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize
    side = int(round((free // 8 + 1) ** (1 / 3))) + 16  # a uint64 region larger than what is free
    info = create_new_info(1, "image", "uint64", "raw", [1, 1, 1], [0, 0, 0], [side, side, side],
                           chunk_size=[64, 64, 64])
    vol = CloudVolume("file://" + str(tmp_path / "huge"), info=info, progress=False, fill_missing=True)
    with pytest.raises(ResourceLimitError, match=r"needs [\d,]+ bytes .* --shm-size"):
        vol.download_to_shared_memory(np.s_[:, :, :])
    assert not in_dev_shm(vol.shared_memory_id)
    assert isinstance(ResourceLimitError("x"), MemoryError)  # CloudVolume users catch MemoryError-like errors


def test_a_failed_download_removes_the_segment_it_made(layer, tmp_path):
    vol, _ = layer
    vol.delete(np.s_[3:35, -5:27, 7:23])
    with pytest.raises(Exception, match="missing"):
        vol.download_to_shared_memory(np.s_[3:35, -5:27, 7:23])
    assert not in_dev_shm(vol.shared_memory_id)


def test_image_view_use_shared_memory(layer):
    vol, data = layer
    arr = vol.image.download(Bbox((3, -5, 7), (35, 27, 23)), mip=0, use_shared_memory=True, retain=True)
    try:
        np.testing.assert_array_equal(arr, data[:32, :32, :16])
        assert in_dev_shm(vol.shared_memory_id)
    finally:
        vol.unlink_shared_memory()
    arr = vol.image.download(Bbox((3, -5, 7), (35, 27, 23)), mip=0, use_shared_memory=True)  # retain=False
    assert not in_dev_shm(vol.shared_memory_id)
    np.testing.assert_array_equal(arr, data[:32, :32, :16])
    # upload: image is the cutout of the array at location_bbox
    loc = vol.generate_shared_memory_location()
    want = pattern((64, 64, 32, 2), "uint16", seed=9)
    with open("/dev/shm/" + loc, "wb") as f:
        f.write(want.tobytes(order="F"))
    try:
        vol.image.upload(want[32:64, 0:32, 16:32], (35, -5, 23), mip=0, use_shared_memory=True, location=loc,
                         location_bbox=Bbox((3, -5, 7), (67, 59, 39)))
        np.testing.assert_array_equal(vol[35:67, -5:27, 23:39], want[32:64, 0:32, 16:32])
    finally:
        os.unlink("/dev/shm/" + loc)


async def test_async_download_out_ndarray_and_shared_memory(layer):
    vol, data = layer
    async with Volume(vol.cloudpath) as av:
        out = np.zeros((32, 32, 16, 2), np.uint16, order="F")
        cut = await av.download(np.s_[35:67, 27:59, 23:39], out=out)
        np.testing.assert_array_equal(out, data[32:64, 32:64, 16:32])
        assert np.shares_memory(cut, out) and tuple(cut.bounds.minpt) == (35, 27, 23)
        c_order = np.zeros((32, 32, 16, 2), np.uint16, order="C")  # any layout for an ndarray
        await av.download(np.s_[35:67, 27:59, 23:39], out=c_order)
        np.testing.assert_array_equal(c_order, data[32:64, 32:64, 16:32])
        shm = shared_memory.SharedMemory(create=True, size=32 * 32 * 16 * 2 * 2)
        try:
            cut = await av.download(np.s_[35:67, 27:59, 23:39], out=shm)
            view = np.ndarray((32, 32, 16, 2), np.uint16, buffer=shm.buf, order="F")
            np.testing.assert_array_equal(view, data[32:64, 32:64, 16:32])
            del cut, view
        finally:
            shm.close()
            shm.unlink()
        with pytest.raises(ShapeMismatchError, match=r"region is \(32, 32, 16, 2\)"):
            await av.download(np.s_[35:67, 27:59, 23:39], out=np.zeros((32, 32, 16), np.uint16))
        with pytest.raises(DtypeError, match="uint16"):
            await av.download(np.s_[35:67, 27:59, 23:39], out=np.zeros((32, 32, 16, 2), np.uint8))
        small = shared_memory.SharedMemory(create=True, size=100)
        try:
            with pytest.raises(ShapeMismatchError, match="holds"):
                await av.download(np.s_[35:67, 27:59, 23:39], out=small)
        finally:
            small.close()
            small.unlink()


async def test_async_upload_source_shared_memory(layer):
    vol, data = layer
    want = pattern((32, 32, 16, 2), "uint16", seed=5)
    shm = shared_memory.SharedMemory(create=True, size=want.nbytes)
    try:
        np.ndarray(want.shape, want.dtype, buffer=shm.buf, order="F")[...] = want
        async with Volume(vol.cloudpath) as av:
            await av.upload(np.s_[35:67, 27:59, 23:39], source=shm)
            np.testing.assert_array_equal(await av.download(np.s_[35:67, 27:59, 23:39]), want)
            with pytest.raises(Exception, match="not both"):
                await av.upload(np.s_[35:67, 27:59, 23:39], want, source=shm)
    finally:
        shm.close()
        shm.unlink()


def test_sharded_layers_go_to_shared_memory_too(tmp_path):
    # CloudVolume 12.15 returns an ordinary array for sharded layers and writes nothing to /dev/shm
    info = create_new_info(1, "segmentation", "uint32", "compressed_segmentation", [4, 4, 40], [0, 0, 0],
                           [100, 70, 40], chunk_size=[16, 16, 16])
    info["scales"][0]["sharding"] = {
        "@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "identity", "minishard_bits": 2,
        "shard_bits": 5, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}
    vol = CloudVolume("file://" + str(tmp_path / "sharded"), info=info, progress=False, parallel=2)
    vol.commit_info()
    data = pattern((100, 70, 40, 1), "uint32", seed=2)
    vol[:, :, :] = data
    try:
        arr = vol.download_to_shared_memory(np.s_[5:95, 3:61, 1:39])
        np.testing.assert_array_equal(arr, data[5:95, 3:61, 1:39])
        with open("/dev/shm/" + vol.shared_memory_id, "rb") as f:
            assert f.read() == data[5:95, 3:61, 1:39].tobytes(order="F")
    finally:
        assert vol.unlink_shared_memory()
