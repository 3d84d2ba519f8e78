"""Volumes pickle: ``multiprocessing.Pool`` (spawn and fork) and ``ProcessPoolExecutor`` over them.

The state carries the path, options, mip and info (so the receiving side reads no info), never
the store, its threads or sessions, a loop, a lock or an executor; the receiving process opens a
fresh store on first use, inside the loop that uses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import itertools
import json
import multiprocessing
import pickle
import threading
from concurrent.futures import Executor

import numpy as np
import pytest

import compat_pickle_workers as workers
from aiovolume import Bbox, CloudVolume, Options, Volume
from aiovolume.exceptions import InfoUnavailableError, VolumeClosedError
from aiovolume.pipeline.chunkcache import ChunkCache
from aiovolume.storage.base import Store
from volume_helpers import make_info, random_volume

SIZE, CHUNK = (64, 64, 16), (32, 32, 8)
CHUNKS = [  # the eight chunks of mip 0, as (lo, hi)
    ((x, y, z), (x + 32, y + 32, z + 8)) for x, y, z in itertools.product((0, 32), (0, 32), (0, 8))
]
FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"  # Python >= 3.12


@pytest.fixture
def layer(tmp_path):
    """A written uint8 layer with mips 0 and 1: ``(url, data at mip 0)``."""
    url = f"file://{tmp_path / 'layer'}"
    data = random_volume(SIZE, "uint8", seed=11)
    with CloudVolume(url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK)) as vol:
        vol.add_scale((2, 2, 1))
        vol.commit_info()
        vol[...] = data
    with CloudVolume(url, mip=1) as vol:
        vol[...] = random_volume((32, 32, 16), "uint8", seed=12)
    return url, data


class _Recorder(pickle.Pickler):
    """Records the type of every object the pickler reduces."""

    def __init__(self, file):
        super().__init__(file)
        self.types: set[type] = set()

    def reducer_override(self, obj):
        self.types.add(type(obj))
        return NotImplemented


FORBIDDEN = (
    type(threading.Lock()), type(threading.RLock()), threading.Thread, asyncio.AbstractEventLoop, Store,
    Executor, ChunkCache,
)


def pickled_types(obj) -> set[type]:
    recorder = _Recorder(io.BytesIO())
    recorder.dump(obj)
    return recorder.types


# -- state round trips ----------------------------------------------------------------------------
def test_cloudvolume_round_trip_keeps_info_and_options(layer):
    url, _ = layer
    opts = Options(io_threads=3)
    with CloudVolume(url, mip=1, fill_missing=True, bounded=False, lru_bytes=10_000_000, options=opts,
                     non_aligned_writes=True, background_color=7) as vol:
        vol[0:32, 0:32, 0:8]  # fills the chunk cache and opens the store
        assert len(vol.lru) > 0
        types = pickled_types(vol)
        assert not [t for t in types if issubclass(t, FORBIDDEN)], types
        copy = pickle.loads(pickle.dumps(vol))
        assert copy.info == vol.info and copy.mip == 1
        assert (copy.fill_missing, copy.bounded, copy.non_aligned_writes, copy.background_color) == (
            True, False, True, 7)
        assert copy.options == opts and copy.lru.max_bytes == 10_000_000 and len(copy.lru) == 0
        assert copy._vol._store is None  # nothing opened until it is used
        np.testing.assert_array_equal(np.asarray(copy[0:32, 0:32, 0:16]), np.asarray(vol[0:32, 0:32, 0:16]))
        # bounded=False travelled: outside the bounds is background, not an error
        assert np.asarray(copy[-4:0, 0:1, 0:1]).tolist() == [[[[7]]]] * 4
        copy.close()


async def test_volume_round_trip_reads_without_rereading_the_info(layer, tmp_path):
    url, data = layer
    async with Volume(url, mip=0) as vol:
        vol.mip = 1
        blob = pickle.dumps(vol)
    (tmp_path / "layer" / "info").unlink()  # a re-read would now fail
    copy = pickle.loads(blob)
    assert copy.mip == 1 and copy.info == vol.info
    async with copy:
        assert (await copy.download(Bbox((0, 0, 0), (32, 32, 16)))).shape == (32, 32, 16, 1)
        np.testing.assert_array_equal(np.asarray(await copy.download(np.s_[0:64, 0:64, 0:16], mip=0))[..., 0], data)
    with pytest.raises(VolumeClosedError):  # closed is closed, as for any Volume
        await copy.download(Bbox((0, 0, 0), (8, 8, 8)))


def test_volume_unpickled_outside_a_loop_opens_its_store_in_the_loop_that_uses_it(layer):
    url, data = layer

    async def make():
        async with Volume(url) as vol:
            return pickle.dumps(vol)

    copy = pickle.loads(asyncio.run(make()))
    assert copy._store is None

    async def use():
        img = await copy.download(np.s_[0:32, 0:32, 0:8])  # no `async with`: opened on first use
        loop_of_first_use = asyncio.get_running_loop()
        await copy.close()
        return img, loop_of_first_use

    img, loop = asyncio.run(use())
    np.testing.assert_array_equal(np.asarray(img)[..., 0], data[0:32, 0:32, 0:8])
    assert loop.is_closed()


def test_closed_volumes_pickle_and_their_copies_open_on_use(layer):
    url, data = layer
    vol = CloudVolume(url, mip=1)
    vol.close()
    copy = pickle.loads(pickle.dumps(vol))
    assert copy.mip == 1
    with pytest.raises(VolumeClosedError):
        vol[0:8, 0:8, 0:8]
    np.testing.assert_array_equal(np.asarray(copy.download(np.s_[0:64, 0:64, 0:16], mip=0))[..., 0], data)
    copy.close()


async def test_volumes_that_failed_or_never_opened_pickle(layer, tmp_path):
    url, data = layer
    missing = Volume(f"file://{tmp_path / 'nothing'}")
    with pytest.raises(InfoUnavailableError):
        await missing._open()
    copy = pickle.loads(pickle.dumps(missing))
    with pytest.raises(InfoUnavailableError):  # no info travelled: opening reads it, and fails again
        async with copy:
            pass
    unopened = pickle.loads(pickle.dumps(Volume(url, fill_missing=True)))
    with pytest.raises(VolumeClosedError):  # a volume never opened is not opened behind your back
        unopened.store
    async with unopened:
        assert unopened.fill_missing
        np.testing.assert_array_equal(np.asarray(await unopened.download(np.s_[0:8, 0:8, 0:8]))[..., 0], data[:8, :8, :8])


def test_options_pickle():
    opts = Options(io_threads=2, concurrency={"file": 4})
    copy = pickle.loads(pickle.dumps(opts))
    assert copy == opts and copy.concurrency_for("file") == 4
    with pytest.raises(TypeError):
        copy.concurrency["file"] = 5  # still read-only on the other side


# -- process pools ------------------------------------------------------------------------------
def _reads_and_writes(pool_map, url, data):
    """Children read four chunks, then write four others; the parent checks both."""
    with CloudVolume(url) as vol:
        results = pool_map(workers.read_region, [(vol, lo, hi) for lo, hi in CHUNKS[:4]])
        pids = {pid for pid, _ in results}
        for (lo, hi), (_, img) in zip(CHUNKS[:4], results):
            np.testing.assert_array_equal(img[..., 0], data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
        pids |= set(pool_map(workers.write_region, [(vol, lo, hi, 5) for lo, hi in CHUNKS[4:]]))
        whole = np.asarray(vol[...])[..., 0]
    for lo, hi in CHUNKS[4:]:
        shape = tuple(b - a for a, b in zip(lo, hi))
        np.testing.assert_array_equal(whole[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], workers.pattern(lo, shape, 5))
    for lo, hi in CHUNKS[:4]:  # untouched
        np.testing.assert_array_equal(whole[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
    return pids


@pytest.mark.parametrize(
    "method", ["spawn", pytest.param("fork", marks=pytest.mark.filterwarnings(FORK_WARNING))]
)
def test_multiprocessing_pool(layer, method):
    url, data = layer
    with multiprocessing.get_context(method).Pool(2) as pool:
        pids = _reads_and_writes(lambda fn, args: pool.starmap(fn, args, chunksize=1), url, data)
    assert len(pids) >= 1 and multiprocessing.current_process().pid not in pids


@pytest.mark.parametrize(
    "method", ["spawn", pytest.param("fork", marks=pytest.mark.filterwarnings(FORK_WARNING))]
)
def test_process_pool_executor(layer, method):
    url, data = layer
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        pids = _reads_and_writes(lambda fn, args: list(pool.map(fn, *zip(*args))), url, data)
    assert multiprocessing.current_process().pid not in pids


def test_state_seen_by_a_child(layer):
    url, _ = layer
    with CloudVolume(url, mip=1, fill_missing=True, bounded=False, lru_bytes=1 << 20) as vol:
        expected = int(np.asarray(vol[0:8, 0:8, 0:4]).sum())
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            state = pool.apply(workers.state_of, (vol,))
        assert state == {"pid": state["pid"], "store_was_closed": True, "mip": 1, "fill_missing": True,
                         "bounded": False, "lru_bytes": 1 << 20, "info": vol.info, "sum": expected}


@pytest.mark.filterwarnings(FORK_WARNING)
def test_forked_children_use_an_inherited_open_volume(layer):
    """A volume opened in the parent and reached through a global (not pickled) works in a fork:
    the child drops the parent's store, pools and loop thread and starts its own."""
    url, data = layer
    with CloudVolume(url) as vol:
        vol[0:64, 0:64, 0:16]  # the store's threads, the codec pool and the loop all run now
        workers.INHERITED["vol"] = vol
        try:
            with multiprocessing.get_context("fork").Pool(2) as pool:
                results = pool.starmap(workers.read_inherited, CHUNKS, chunksize=1)
        finally:
            workers.INHERITED.clear()
        for (lo, hi), (_, img) in zip(CHUNKS, results):
            np.testing.assert_array_equal(img[..., 0], data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
        np.testing.assert_array_equal(np.asarray(vol[...])[..., 0], data)  # the parent's store still works


def test_a_redirected_volume_reads_the_target_after_unpickling(layer, tmp_path):
    url, data = layer
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    with CloudVolume(url) as target:
        (pointer / "info").write_text(json.dumps({**target.info, "redirect": url}))
    with CloudVolume(f"file://{pointer}") as vol:
        assert vol.read_only
        copy = pickle.loads(pickle.dumps(vol))
    assert copy.read_only and copy.cloudpath == f"file://{pointer}"
    np.testing.assert_array_equal(np.asarray(copy[0:64, 0:64, 0:16])[..., 0], data)  # chunks of the target
    copy.close()
