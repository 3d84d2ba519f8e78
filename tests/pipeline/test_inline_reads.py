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


def _make_cold(monkeypatch, paths: list[str]) -> None:
    """Reads of ``paths`` that may not wait fail as if their pages were on disk only.

    The page cache itself is not under test, and evicting pages for real was flaky on a busy
    machine (they came back before the read: readahead, writeback)."""
    from aiovolume.storage import file as file_mod

    cold = set(paths)
    real = file_mod.read_object_reusing

    def reader(path, window=None, nowait=False):
        if nowait and path in cold:
            raise BlockingIOError(11, "not in the page cache (test)", path)
        return real(path, window, nowait)

    monkeypatch.setattr(file_mod, "read_object_reusing", reader)


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
async def test_chunks_not_in_the_page_cache_are_read_in_a_thread(layer_url, calls, monkeypatch):
    data = random_volume((*SIZE, 1), "uint16")
    async with Volume(layer_url, info=make_info("uint16", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)
        cold = [p for p in _chunk_files(layer_url) if os.path.basename(p).startswith("0-64_0-64_")]
        _make_cold(monkeypatch, cold)
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


@needs_nowait
async def test_occasional_slow_reads_do_not_stop_reads_in_the_loop_and_a_slow_store_is_retried(
        layer_url, calls, monkeypatch):
    """Hiccups (a busy machine) are forgiven by the reads within budget around them; a store that
    stopped is tried again after SLOW_RETRY_S, and keeps its loop reads when they are fast again."""
    data = random_volume((*SIZE, 1), "uint8")
    box = Bbox((1, 2, 3), (9, 9, 9))
    async with Volume(layer_url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), compress=False) as v:
        await v.upload(v.bounds, data)

        async def reads(n: int, seconds_per_chunk: float) -> None:
            monkeypatch.setattr(read_mod, "NOW_SECONDS_PER_CHUNK", seconds_per_chunk)
            for _ in range(n):
                np.testing.assert_array_equal(np.asarray(await v.download(box)), data[1:9, 2:9, 3:9])

        for _ in range(3):  # 2 slow reads, then 8 within budget: 6 slow in all, more than SLOW_LIMIT
            await reads(2, 0.0)
            await reads(8, 10.0)
        assert [h for h, _, _ in calls] == [True] * 30
        calls.clear()
        await reads(source_mod.SLOW_LIMIT + 1, 0.0)  # a store slow every time: it stops
        assert [h for h, _, _ in calls] == [True] * source_mod.SLOW_LIMIT + [False]
        calls.clear()
        v._source(0)._retry_at = 0.0  # as if SLOW_RETRY_S had passed
        await reads(3, 10.0)
        assert [h for h, _, _ in calls] == [True] * 3


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
def test_the_facade_finishes_what_its_thread_left_without_reading_any_chunk_twice(layer_url, calls, monkeypatch):
    """16 chunks, 4 not in the page cache: the caller's thread reads 12 from the page cache, codec threads the
    other 4, and no chunk is read twice (the old fast path re-read all 16 on the async path)."""
    from aiovolume import CloudVolume

    size = (128, 128, 128)
    data = random_volume((*size, 1), "uint8")
    with CloudVolume(layer_url, info=make_info("uint8", 1, size=size, chunk=(32, 64, 64)), compress=False) as vol:
        vol[:, :, :] = data
        cold = [p for p in _chunk_files(layer_url) if os.path.basename(p).startswith("0-32_")]
        _make_cold(monkeypatch, cold)
        calls.clear()
        np.testing.assert_array_equal(np.asarray(vol[:, :, :]), data)
    caller = [keys for here, nowait, keys in calls if nowait]
    threads = [k for here, nowait, keys in calls if not nowait for k in keys]
    assert len(caller) == 1 and len(caller[0]) == 16
    assert sorted(threads) == sorted("4_4_40/" + os.path.basename(p) for p in cold)
    assert len(threads) == len(set(threads)) == 4
