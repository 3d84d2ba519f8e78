from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovolume.exceptions import InvalidKeyError, InvalidRangeError, StorageError
from aiovolume.storage.base import bounded_map, check_range, join_key, normalize_key, slice_range
from aiovolume.storage.ranges import check_ranges, plan_reads


@given(
    size=st.integers(0, 300),
    start=st.integers(-400, 400),
    stop=st.one_of(st.none(), st.integers(0, 400)),
)
def test_byte_ranges_follow_python_slicing(size: int, start: int, stop: int | None) -> None:
    data = bytes(i % 251 for i in range(size))
    if start < 0:
        stop = None
    if stop is not None and stop < start:
        with pytest.raises(InvalidRangeError):
            check_range((start, stop))
        return
    rng = check_range((start, stop))
    assert rng is not None
    lo, hi = slice_range(size, rng)
    assert data[lo:hi] == (data[start:stop] if start >= 0 else data[start:])
    assert 0 <= lo <= hi <= size


def test_keys_normalise() -> None:
    assert normalize_key("a//b/./c/") == "a/b/c"
    assert normalize_key("../other/8_8_8") == "../other/8_8_8"
    assert join_key("ds/layer", "../other/8_8_8") == "ds/other/8_8_8"
    assert join_key("", "x/y") == "x/y"
    with pytest.raises(InvalidKeyError, match="climbs above"):
        join_key("ds", "../../x")
    with pytest.raises(InvalidKeyError):
        normalize_key(b"bytes")  # type: ignore[arg-type]


@given(st.text(alphabet="ab./_-\x00", max_size=12))
def test_normal_keys_fast_path_equals_normpath(key: str) -> None:
    """Chunk keys skip normpath when already normal; every key still gets normpath's answer."""
    import os
    import posixpath

    from aiovolume.storage.file import FileStore

    try:
        norm = normalize_key(key)
    except InvalidKeyError:
        assert not key or key.startswith("/") or "\x00" in key or posixpath.normpath(key) in (".", "..") \
            or posixpath.normpath(key).endswith("/..")
        return
    assert norm == posixpath.normpath(key)
    for root in ("/data/layer", "/"):
        store = FileStore(root)
        assert store._path(key) == os.path.normpath(os.path.join(store.root, norm))


async def test_bounded_map_keeps_order_and_limit() -> None:
    running = peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        return i * i

    assert await bounded_map(work, list(range(50)), 7) == [i * i for i in range(50)]
    assert peak == 7
    assert await bounded_map(work, [], 7) == []


async def test_bounded_map_raises_the_error_itself_and_cancels_the_rest() -> None:
    cancelled = 0

    async def work(i: int) -> int:
        nonlocal cancelled
        if i == 3:
            raise StorageError("chunk 3 unreadable")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return i

    with pytest.raises(StorageError, match="chunk 3"):  # not an ExceptionGroup
        await bounded_map(work, list(range(10)), 5)
    assert cancelled == 4


# -- coalescing plans ------------------------------------------------------------------------
def test_plan_reads_merges_within_the_gap_only() -> None:
    ranges = [(100, 200), (0, 10), (20, 30), (5, 5), (30, 30), (1000, 1010)]
    assert plan_reads(ranges, gap=16, cap=1 << 20) == [(0, 30, [1, 2]), (100, 200, [0]), (1000, 1010, [5])]
    assert plan_reads(ranges, gap=0, cap=1 << 20) == [(0, 10, [1]), (20, 30, [2]), (100, 200, [0]), (1000, 1010, [5])]
    assert plan_reads(ranges, gap=10_000, cap=1 << 20) == [(0, 1010, [1, 2, 0, 5])]
    assert plan_reads([], gap=16, cap=100) == []


def test_plan_reads_respects_the_cap() -> None:
    ranges = [(0, 60), (60, 120), (120, 130), (130, 500)]
    assert plan_reads(ranges, gap=16, cap=128) == [(0, 120, [0, 1]), (120, 130, [2]), (130, 500, [3])]


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 300)), max_size=40),
    st.integers(0, 600), st.integers(1, 1500),
)
def test_plan_reads_covers_every_range_once(pairs: list[tuple[int, int]], gap: int, cap: int) -> None:
    ranges = [(a, a + n) for a, n in pairs]
    spans = plan_reads(ranges, gap, cap)
    served = sorted(i for _, _, members in spans for i in members)
    assert served == [i for i, (a, b) in enumerate(ranges) if b > a]  # every non-empty range, once
    for s0, s1, members in spans:
        assert all(s0 <= ranges[i][0] and ranges[i][1] <= s1 for i in members)
        assert s1 - s0 <= cap or len(members) == 1  # only a lone long range exceeds the cap
    assert all(a[0] <= b[0] for a, b in zip(spans, spans[1:]))  # sorted by offset


def test_check_ranges() -> None:
    import numpy as np

    assert check_ranges([(0, 0), (np.uint64(3), np.int32(9))]) == [(0, 0), (3, 9)]
    assert type(check_ranges([(np.uint64(3), 4)])[0][0]) is int
    for bad in [[(2, 1)], [(-1, 0)], [(0, 1.0)], [(False, 1)], [(1,)], [None], 5]:
        with pytest.raises(InvalidRangeError):
            check_ranges(bad)
