"""``parallel=N``: crash-prone codecs (and png) decode and encode in N worker processes into shared
memory; reads and writes stay exact (CloudVolume's parallel=2 misplaces voxels on this machine)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from shm_helpers import make_layer, no_leftover_locations  # noqa: F401

from aiovolume import CloudVolume, Options
from aiovolume.pipeline.schedule import choose_mode
from aiovolume.cvargs import PARALLEL_PROCESS_CODECS

LAYERS = {  # name: (encoding, dtype, layer_type, compress)
    "raw": ("raw", "uint16", "image", None),
    "gzip": ("raw", "uint16", "image", "gzip"),
    "compressed_segmentation": ("compressed_segmentation", "uint32", "segmentation", None),
    "fpzip": ("fpzip", "float32", "image", None),
    "png": ("png", "uint8", "image", None),
}
IN_PROCESSES = {"fpzip", "png"}  # where parallel=2 decodes


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parallel_2_reads_and_writes_exactly(tmp_path, name):
    encoding, dtype, layer_type, compress = LAYERS[name]
    channels = 1 if name == "png" else 2
    vol, data = make_layer(tmp_path / name, dtype=dtype, channels=channels, encoding=encoding,
                           layer_type=layer_type, compress=compress, parallel=2)  # written with parallel=2
    inner = vol._vol
    fmt = inner._format(0)
    assert inner._engine.decode_workers == 2
    assert choose_mode(inner._engine, fmt, data.nbytes) == ("process" if name in IN_PROCESSES else "thread")
    np.testing.assert_array_equal(vol[:, :, :], data)
    np.testing.assert_array_equal(vol[20:77, -3:61, 9:44], data[17:74, 2:66, 2:37])  # not chunk-aligned
    # the same bytes read with parallel=1 (threads for png) and by a fresh volume
    np.testing.assert_array_equal(CloudVolume(vol.cloudpath, parallel=1)[:, :, :], data)
    # a partial write (read-modify-write of the edge chunks) in the worker processes
    vol.non_aligned_writes = True
    patch = np.full((40, 30, 20, channels), 7, dtype=dtype)
    vol[10:50, 0:30, 12:32] = patch
    want = data.copy()
    want[7:47, 5:35, 5:25] = 7
    np.testing.assert_array_equal(CloudVolume(vol.cloudpath, parallel=1)[:, :, :], want)


def test_parallel_1_leaves_the_engine_as_it_is(tmp_path):
    vol, _ = make_layer(tmp_path / "l")
    assert vol.parallel == 1 and vol._vol._engine is vol.options
    for enc in ("raw", "png", "jpeg", "compressed_segmentation"):
        assert enc not in vol.options.process_codecs
    vol.parallel = 2
    assert vol._vol._engine.decode_workers == 2 and vol._vol._engine.process_codecs == PARALLEL_PROCESS_CODECS
    vol.parallel = 1
    assert vol._vol._engine is vol.options
    vol.parallel = True
    assert vol.parallel == len(os.sched_getaffinity(0)) or vol.parallel == os.cpu_count()


def test_explicit_options_win_over_parallel(tmp_path):
    vol, data = make_layer(tmp_path / "l", encoding="fpzip", dtype="float32", channels=1,
                           parallel=2, options=Options(decode_workers=0))
    fmt = vol._vol._format(0)
    assert choose_mode(vol._vol._engine, fmt, data.nbytes) == "thread"
    np.testing.assert_array_equal(vol[:, :, :], data)
    vol.options = Options(decode_workers=3)
    assert vol._vol._engine.decode_workers == 3 and choose_mode(vol._vol._engine, fmt, data.nbytes) == "process"


def test_parallel_download_to_shared_memory_decodes_straight_into_the_segment(tmp_path):
    vol, data = make_layer(tmp_path / "l", encoding="fpzip", dtype="float32", channels=2, parallel=2)
    try:
        arr = vol.download_to_shared_memory(np.s_[:, :, :])
        np.testing.assert_array_equal(arr, data)
        arr = vol.download_to_shared_memory(np.s_[20:77, -3:61, 9:44])
        np.testing.assert_array_equal(arr, data[17:74, 2:66, 2:37])
    finally:
        assert vol.unlink_shared_memory()


async def test_parallel_download_out_in_worker_processes(tmp_path):
    from multiprocessing import shared_memory

    from aiovolume import Volume

    vol, data = make_layer(tmp_path / "l", encoding="fpzip", dtype="float32", channels=2)
    async with Volume(vol.cloudpath, parallel=2) as av:
        assert choose_mode(av._engine, av._format(0), data.nbytes) == "process"
        out = np.full(data.shape, -1, np.float32, order="F")  # an ndarray: a private segment, then one copy
        await av.download(np.s_[:, :, :], out=out)
        np.testing.assert_array_equal(out, data)
        shm = shared_memory.SharedMemory(create=True, size=data.nbytes)  # workers decode straight into it
        try:
            await av.download(np.s_[:, :, :], out=shm)
            np.testing.assert_array_equal(np.ndarray(data.shape, np.float32, buffer=shm.buf, order="F"), data)
            np.ndarray(data.shape, np.float32, buffer=shm.buf, order="F")[...] = data[::-1]
            await av.upload(np.s_[:, :, :], source=shm)  # and encode from it
        finally:
            shm.close()
            shm.unlink()
        np.testing.assert_array_equal(await av.download(np.s_[:, :, :]), data[::-1])
