"""The blocking CloudVolume facade: thin sync tests, parity with the async Volume, threads, loops."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading

import numpy as np
import pytest

import aiovolume
from aiovolume import Bbox, CloudVolume, Vec, Volume
from aiovolume.exceptions import AlignmentError, EmptyVolumeException, OutOfBoundsError
from volume_helpers import make_info, random_volume

SIZE = (128, 128, 32)


@pytest.fixture
def cv(layer_url):
    vol = CloudVolume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=(64, 64, 16)))
    vol.commit_info()
    yield vol
    vol.close()


def test_slicing_round_trip(cv, layer_url):
    data = random_volume((*SIZE, 1), "uint8")
    cv[:, :, :] = data
    again = CloudVolume(layer_url)
    cut = again[0:128, 0:128, 0:32]
    assert cut.shape == (128, 128, 32, 1)
    np.testing.assert_array_equal(np.asarray(cut), data)
    np.testing.assert_array_equal(np.asarray(again[5, 6, 7]), data[5:6, 6:7, 7:8])
    np.testing.assert_array_equal(np.asarray(again.download(Bbox((1, 2, 3), (9, 9, 9)))), data[1:9, 2:9, 3:9])
    again.close()


def test_properties_match_cloudvolume_conventions(cv, layer_url):
    assert cv.mip == 0 and cv.available_mips == [0]
    assert cv.layer_type == "image" and cv.dtype == np.uint8 and cv.num_channels == 1
    assert cv.encoding == "raw" and cv.key == "4_4_40"
    assert isinstance(cv.shape, Vec) and tuple(cv.shape) == (128, 128, 32, 1)
    assert tuple(cv.volume_size) == SIZE and tuple(cv.chunk_size) == (64, 64, 16)
    assert tuple(cv.underlying) == (64, 64, 16)
    assert tuple(cv.resolution) == (4, 4, 40) and tuple(cv.downsample_ratio) == (1, 1, 1)
    assert cv.bounds == Bbox((0, 0, 0), SIZE)
    assert cv.layer == "layer" and cv.layer_cloudpath == layer_url
    assert cv.info_cloudpath == layer_url + "/info"
    assert cv.base_cloudpath == layer_url.rsplit("/", 1)[0]
    assert cv.scale["key"] == "4_4_40" and cv.scales[0]["size"] == list(SIZE)
    assert tuple(cv.mip_volume_size(0)) == SIZE and cv.mip_bounds(0) == cv.bounds
    cv.fill_missing = True
    assert cv.fill_missing is True and np.all(np.asarray(cv[0:8, 0:8, 0:8]) == 0)


def test_add_scale_and_commit(cv, layer_url):
    cv.add_scale((2, 2, 1))
    cv.commit_info()
    again = CloudVolume(layer_url, mip=1)
    assert tuple(again.volume_size) == (64, 64, 32) and tuple(again.resolution) == (8, 8, 40)
    assert again.bbox_to_mip(Bbox((0, 0, 0), (64, 64, 32)), 0, 1) == Bbox((0, 0, 0), (32, 32, 32))
    again.close()


def test_errors_are_cloudvolume_types(cv):
    with pytest.raises(EmptyVolumeException):
        cv[0:64, 0:64, 0:16]
    with pytest.raises(OutOfBoundsError):
        cv[0:200, 0:64, 0:16]
    with pytest.raises(ValueError):  # CloudVolume scripts catch ValueError for alignment too
        cv[0:10, 0:64, 0:16] = 1
    with pytest.raises(AlignmentError):
        cv[0:64, 0:64, 0:16] = np.zeros((3, 3, 3), np.uint8)


def test_exists_delete_and_context_manager(layer_url):
    with CloudVolume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=(64, 64, 16))) as vol:
        vol[0:64, 0:64, 0:16] = 1
        assert vol.exists(np.s_[0:64, 0:64, 0:16]) == {"4_4_40/0-64_0-64_0-16": True}
        vol.delete(np.s_[0:64, 0:64, 0:16])
        assert vol.exists(np.s_[0:64, 0:64, 0:16]) == {"4_4_40/0-64_0-64_0-16": False}


def test_every_facade_method_has_an_async_twin(cv):
    io_methods = {"download", "download_point", "upload", "exists", "delete", "commit_info", "refresh_info", "close"}
    twins = {"__getitem__": "download", "__setitem__": "upload"}
    public = [n for n, f in inspect.getmembers(CloudVolume, callable) if not n.startswith("_") or n in twins]
    assert io_methods <= set(public)
    for name in public:
        twin = getattr(Volume, twins.get(name, name), None)
        assert twin is not None, f"CloudVolume.{name} has no Volume twin"
        if twins.get(name, name) in io_methods:
            assert inspect.iscoroutinefunction(twin), f"Volume.{name} must be async"
    mip_helpers = [n for n in dir(Volume) if n.startswith("mip_")]
    assert len(mip_helpers) >= 10
    for name in mip_helpers:  # metadata helpers reach the facade too
        assert repr(getattr(cv, name)(0)) == repr(getattr(cv._vol, name)(0))


def test_facade_from_many_threads(cv):
    cv[:, :, :] = random_volume((*SIZE, 1), "uint8", seed=3)
    expected = np.asarray(cv[:, :, :])
    errors, results = [], []

    def reader():
        try:
            results.append(np.array_equal(np.asarray(cv[0:128, 0:128, 0:32]), expected))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == [] and results == [True] * 6


def test_facade_inside_a_running_event_loop(cv):
    """A Jupyter cell: blocking calls while the caller's own loop runs must not deadlock."""
    cv[0:64, 0:64, 0:16] = 4

    async def cell():
        return np.asarray(cv[0:64, 0:64, 0:16])

    got = asyncio.run(asyncio.wait_for(cell(), 60))
    assert np.all(got == 4)


def test_public_names():
    assert {"CloudVolume", "Volume", "Bbox", "Vec", "VolumeCutout", "Options"} <= set(aiovolume.__all__)
    assert CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 64])["scales"][0]["key"] == "4_4_40"


@pytest.fixture
def fetch_threads(monkeypatch):
    """The thread of every blocking chunk read (``UnshardedSource.fetch_now``) that reads anything."""
    from aiovolume.pipeline.source import UnshardedSource

    seen: list[int] = []
    real = UnshardedSource.fetch_now

    def spy(self, tasks, budget, *args, **kwargs):
        if budget.fetch and (budget.wait or self.reads_now):
            seen.append(threading.get_ident())
        return real(self, tasks, budget, *args, **kwargs)

    monkeypatch.setattr(UnshardedSource, "fetch_now", spy)
    return seen


needs_nowait = pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="reads in the caller need RWF_NOWAIT (Linux)")


@needs_nowait
def test_local_raw_reads_run_in_the_calling_thread(layer_url, fetch_threads):
    data = random_volume((*SIZE, 1), "uint16")
    vol = CloudVolume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=(64, 64, 16)), compress=False,
                      fill_missing=True, background_color=5)
    vol[:, :, 0:16] = data[:, :, 0:16]  # the z 16-32 chunks stay missing
    fetch_threads.clear()
    cut = vol[3:100, 7:90, 2:30]
    vol.close()
    np.testing.assert_array_equal(np.asarray(cut)[:, :, :14], data[3:100, 7:90, 2:16])
    assert np.all(np.asarray(cut)[:, :, 14:] == 5)
    assert cut.bounds == Bbox((3, 7, 2), (100, 90, 30)) and cut.flags.f_contiguous
    assert fetch_threads == [threading.get_ident()]


@needs_nowait
def test_reads_the_calling_thread_cannot_finish_take_the_async_path(layer_url, fetch_threads):
    data = random_volume((*SIZE, 1), "uint8")
    info = make_info("uint8", 1, size=SIZE, chunk=(64, 64, 16))
    with CloudVolume(layer_url, info=info, compress=False) as vol:
        vol[:, :, 0:16] = data[:, :, 0:16]
        fetch_threads.clear()
        with pytest.raises(EmptyVolumeException, match="fill_missing=True"):  # a missing chunk
            vol[0:10, 0:10, 10:20]
        assert fetch_threads == [threading.get_ident()]  # found missing here: not read again
    with CloudVolume(layer_url + "gz", info=info, compress="gzip") as vol:  # compressed: decoding work
        vol[:, :, :] = data
        fetch_threads.clear()
        np.testing.assert_array_equal(np.asarray(vol[1:9, 2:9, 3:9]), data[1:9, 2:9, 3:9])
        np.testing.assert_array_equal(np.asarray(vol[1:9, 2:9, 3:9]), data[1:9, 2:9, 3:9])
        assert fetch_threads[0] == threading.get_ident()  # tried once here ...
        assert threading.get_ident() not in fetch_threads[1:]  # ... then never again


def test_metadata_helpers_answer_like_cloudvolume(layer_url):
    info = make_info("uint8", 1, size=SIZE, chunk=(64, 64, 16))
    with CloudVolume(layer_url, info=info) as cv:
        cv.add_scale((2, 2, 1))
        cv.commit_info()
    with CloudVolume(layer_url, mip=1) as cv:
        assert repr(cv) == f"CloudVolume({layer_url!r}, mip=1)"
        assert cv.to_mip([8, 8, 40]) == 1 and cv.to_mip(None) == 1
        assert tuple(cv.point_to_mip((10, 20, 3), 0, 1)) == (5, 10, 3)
        assert [tuple(r) for r in cv.available_resolutions] == [(4, 4, 40), (8, 8, 40)]
        # Neuroglancer (mip 0) coordinates <-> this mip
        assert cv.slices_from_global_coords(np.s_[0:64, 10:20, 0:8]) == (slice(0, 32), slice(5, 10), slice(0, 8))
        assert cv.slices_to_global_coords(np.s_[0:32, 5:10, 0:8]) == (slice(0, 64), slice(10, 20), slice(0, 8))
        cv.reset_scales()
        assert cv.mip == 0 and cv.available_mips == [0]
