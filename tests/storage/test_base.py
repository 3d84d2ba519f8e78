from __future__ import annotations

import asyncio

import pytest

from aiovolume.exceptions import InvalidKeyError
from hypothesis import given
from hypothesis import strategies as st

from aiovolume.exceptions import StorageError
from aiovolume.storage.base import bounded_map, check_range, join_key, normalize_key, slice_range


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
        with pytest.raises(ValueError):
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
    with pytest.raises(InvalidKeyError, match="climbs above the bucket root") as err:
        join_key("ds", "../../x")
    assert isinstance(err.value, ValueError)
    with pytest.raises(InvalidKeyError, match="storage keys are str, got bytes"):
        normalize_key(b"bytes")  # type: ignore[arg-type]


@given(st.text(alphabet="ab./_-\x00", max_size=12))
def test_normal_keys_fast_path_equals_normpath(key: str) -> None:
    """Chunk keys skip normpath when already normal; every key still gets normpath's answer."""
    import os
    import posixpath

    from aiovolume.storage.file import FileStore

    try:
        norm = normalize_key(key)
    except ValueError:
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
