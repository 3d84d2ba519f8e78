"""Small reads of plain raw chunks on local disk run in the event loop thread, but only from
the page cache: anything that would wait for the disk, or needs decoding, goes to a thread."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from aiovolume import Bbox, Volume, VolumeCutout
from aiovolume.pipeline import read as read_mod
from aiovolume.pipeline import source as source_mod
from aiovolume.pipeline.source import UnshardedSource
from volume_helpers import make_info, random_volume

SIZE, CHUNK = (128, 128, 64), (64, 64, 32)

needs_nowait = pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="RWF_NOWAIT is Linux-only")


def _resident_pages(fd: int, size: int) -> int:
    """How many of the file's pages are in the page cache (mincore; reads nothing)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap failed")
    try:
        pages = -(-size // mmap.PAGESIZE)
        vec = ctypes.create_string_buffer(pages)
        if libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return sum(b & 1 for b in vec.raw)
    finally:
        libc.munmap(ctypes.c_void_p(addr), size)


def _evict(path: str) -> bool:
    """Drop a file's pages from the page cache; False where the filesystem keeps them.

    Checked with mincore, not with a RWF_NOWAIT read: a missed non-blocking read starts
    readahead, which brought the pages back before the test's own read (a flaky failure)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return _resident_pages(fd, os.fstat(fd).st_size) == 0
    finally:
        os.close(fd)


def _chunk_files(url: str) -> list[str]:
    root = os.path.join(url[len("file://"):], "4_4_40")
    return sorted(os.path.join(root, f) for f in os.listdir(root))


@pytest.fixture
def calls(monkeypatch):
    """(thread is the loop's, nowait, keys) of every blocking chunk read (UnshardedSource.fetch_now)."""
    seen: list[tuple[bool, bool, list[str]]] = []
    real = UnshardedSource.fetch_now
    loop_thread = threading.get_ident()

    def spy(self, tasks, budget, consume, windows=None):
        if budget.fetch and (budget.wait or self.reads_now):  # it reads (else it returns at once)
            seen.append((threading.get_ident() == loop_thread, not budget.wait, [t.key for t in tasks]))
        return real(self, tasks, budget, consume, windows)

    monkeypatch.setattr(UnshardedSource, "fetch_now", spy)
    # The now-read's time budget is not what these tests check (one test sets it itself): on a
    # busy machine it ran out and left page-cached chunks to the threads, and tests failed.
    monkeypatch.setattr(read_mod, "NOW_SECONDS_PER_CHUNK", 10.0)
    return seen


@needs_nowait
async def test_cached_small_raw_read_happens_in_the_loop(layer_url, calls):
    data = random_volume((*SIZE, 1), "uint16")
    async with Volume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        cut = await v.download(Bbox((50, 60, 20), (70, 70, 40)))
    np.testing.assert_array_equal(np.asarray(cut), data[50:70, 60:70, 20:40])
    assert [(here, nowait) for here, nowait, _ in calls] == [(True, True)]


@needs_nowait
async def test_chunks_not_in_the_page_cache_are_read_in_a_thread(layer_url, calls):
    data = random_volume((*SIZE, 1), "uint16")
    async with Volume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        cold = [p for p in _chunk_files(layer_url) if os.path.basename(p).startswith("0-64_0-64_")]
        if not all(_evict(p) for p in cold):
            pytest.skip("this filesystem keeps evicted pages (tmpfs?)")
        cut = await v.download(Bbox((50, 60, 20), (70, 70, 40)))
    np.testing.assert_array_equal(np.asarray(cut), data[50:70, 60:70, 20:40])
    first, second = calls
    assert first[:2] == (True, True) and len(first[2]) == 8
    assert second[:2] == (False, False)  # the evicted chunks, in a codec thread
    assert sorted(second[2]) == sorted(k for k in first[2] if os.path.basename(k).startswith("0-64_0-64_"))


async def test_compressed_chunks_go_to_threads_and_stop_further_tries(layer_url, calls):
    data = random_volume((*SIZE, 1), "uint8")
    async with Volume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), compress="gzip") as v:
        await v.upload(v.bounds, data)
        for _ in range(2):
            cut = await v.download(Bbox((1, 2, 3), (9, 9, 9)))
            np.testing.assert_array_equal(np.asarray(cut), data[1:9, 2:9, 3:9])
        assert not v._source(0).offers_now_reads
    tried = [(here, nowait) for here, nowait, _ in calls]
    if hasattr(os, "RWF_NOWAIT"):
        assert tried == [(True, True), (False, False), (False, False)]  # tried once, then threads


async def test_large_reads_and_decoded_encodings_never_run_in_the_loop(layer_url, calls):
    data = random_volume((*SIZE, 1), "uint16")
    async with Volume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        await v.download(v.bounds)  # 2 MiB: more than INLINE_BYTES
    assert SIZE[0] * SIZE[1] * SIZE[2] * 2 > read_mod.INLINE_BYTES
    assert calls and not any(here for here, _, _ in calls)
    calls.clear()
    async with Volume(layer_url + "2", info=make_info("uint16", 1, size=SIZE, chunk=CHUNK, encoding="png"),
                      compress=False) as v:
        await v.upload(v.bounds, data)
        np.testing.assert_array_equal(np.asarray(await v.download(Bbox((0, 0, 0), (8, 8, 8)))), data[:8, :8, :8])
    assert calls and not any(here for here, _, _ in calls)


async def test_a_store_whose_reads_here_are_slow_stops_reading_in_the_loop(layer_url, calls, monkeypatch):
    monkeypatch.setattr(read_mod, "NOW_SECONDS_PER_CHUNK", 0.0)  # every read "slow", as over a network
    data = random_volume((*SIZE, 1), "uint8")
    async with Volume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        for _ in range(source_mod.SLOW_LIMIT + 2):
            cut = await v.download(Bbox((1, 2, 3), (9, 9, 9)))
            np.testing.assert_array_equal(np.asarray(cut), data[1:9, 2:9, 3:9])
    here = [h for h, _, _ in calls]
    if hasattr(os, "RWF_NOWAIT"):
        assert here == [True] * source_mod.SLOW_LIMIT + [False, False]


async def test_stores_that_cannot_refuse_to_wait_are_never_read_in_the_loop(layer_url, calls, monkeypatch):
    from aiovolume.storage.file import FileStore

    monkeypatch.setattr(FileStore, "reads_without_waiting", False)  # as off Linux: no RWF_NOWAIT
    data = random_volume((*SIZE, 1), "uint8")
    async with Volume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        cut = await v.download(Bbox((1, 2, 3), (9, 9, 9)))
        assert not isinstance(v.download_here(Bbox((1, 2, 3), (9, 9, 9))), VolumeCutout)
    np.testing.assert_array_equal(np.asarray(cut), data[1:9, 2:9, 3:9])
    assert [(here, nowait) for here, nowait, _ in calls] == [(False, False)]


@needs_nowait
def test_the_facade_finishes_what_its_thread_left_without_reading_any_chunk_twice(layer_url, calls):
    """16 chunks, 4 evicted: the caller's thread reads 12 from the page cache, codec threads the
    other 4, and no chunk is read twice (the old fast path re-read all 16 on the async path)."""
    from aiovolume import CloudVolume

    size = (128, 128, 128)
    data = random_volume((*size, 1), "uint8")
    with CloudVolume(layer_url, info=make_info("uint8", 1, size=size, chunk=(32, 64, 64)), compress=False) as vol:
        vol[:, :, :] = data
        cold = [p for p in _chunk_files(layer_url) if os.path.basename(p).startswith("0-32_")]
        if not all(_evict(p) for p in cold):
            pytest.skip("this filesystem keeps evicted pages (tmpfs?)")
        calls.clear()
        np.testing.assert_array_equal(np.asarray(vol[:, :, :]), data)
    caller = [keys for here, nowait, keys in calls if nowait]
    threads = [k for here, nowait, keys in calls if not nowait for k in keys]
    assert len(caller) == 1 and len(caller[0]) == 16
    # Only the evicted chunks are left to the threads, each read once. (Usually all 4; on a busy
    # machine a page dropped by fadvise can come back before the read, and the caller then has it.)
    assert threads and set(threads) <= {"4_4_40/" + os.path.basename(p) for p in cold}
    assert len(threads) == len(set(threads))
