from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from contract import StoreContract, keys_of
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import IntegrityError, InvalidKeyError, ReadOnlyException, UnsupportedProtocolError
from aiovolume.options import Options
from aiovolume.storage import Blob, open_store
from aiovolume.storage.memory import MemoryStore


@pytest.fixture(autouse=True)
def fresh_buckets() -> Iterator[None]:
    MemoryStore.clear_all()
    yield
    MemoryStore.clear_all()


class TestMemoryStore(StoreContract):
    versioned = False
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        s = open_store("mem://contract/ds/layer")
        assert isinstance(s, MemoryStore)
        yield s
        await s.close()


async def test_stores_on_one_url_share_objects() -> None:
    async with open_store("mem://shared/ds/img") as a, open_store("mem://shared/ds/img/") as b:
        await a.put("info", b"{}", content_encoding="gzip")
        assert await b.get("info") == Blob(b"{}", "gzip")
        await b.delete("info")
        assert await a.get("info") is None


async def test_buckets_and_roots_are_isolated() -> None:
    async with (
        open_store("mem://one/ds/layer") as one,
        open_store("mem://two/ds/layer") as two,
        open_store("mem://one/ds/layer2") as layer2,
        open_store("mem://one/ds") as parent,
    ):
        await one.put("k", b"1")
        assert await two.get("k") is None
        assert await layer2.get("k") is None
        assert await keys_of(layer2) == []  # "layer" is not a prefix match of "layer2"
        assert await parent.get("layer/k") == Blob(b"1", None)
        assert await keys_of(parent) == ["layer/k"]
        assert await layer2.get("../layer/k") == Blob(b"1", None)


async def test_clear_all_forgets_everything() -> None:
    async with open_store("mem://gone/x") as s:
        await s.put("k", b"v")
        MemoryStore.clear_all()
        assert await s.get("k") is None


async def test_dotdot_above_bucket_rejected() -> None:
    async with open_store("mem://b/layer") as s:
        with pytest.raises(InvalidKeyError, match="above the bucket"):
            await s.put("../../escape", b"x")


async def test_read_only() -> None:
    async with open_store("mem://ro/layer") as rw:
        await rw.put("k", b"v")
    async with open_store("mem://ro/layer", read_only=True) as ro:
        assert ro.read_only
        assert await ro.get("k") == Blob(b"v", None)
        with pytest.raises(ReadOnlyException):
            await ro.put("k", b"w")
        with pytest.raises(ReadOnlyException):
            await ro.delete("k")
        with pytest.raises(ReadOnlyException):
            await ro.delete_many(["k"])
        assert await ro.get("k") == Blob(b"v", None)


async def test_options_are_kept() -> None:
    opts = Options(io_threads=3)
    async with open_store("mem://o/l", opts) as s:
        assert s.options is opts
        assert s.url == "mem://o/l"


def test_bad_bucket_name() -> None:
    with pytest.raises(UnsupportedProtocolError, match="bucket"):
        MemoryStore("")
    with pytest.raises(UnsupportedProtocolError, match="bucket"):
        MemoryStore("a/b")


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=3000), ranges=st.lists(st.tuples(st.integers(0, 3100), st.integers(0, 400)), max_size=30))
def test_get_ranges_property(data: bytes, ranges: list[tuple[int, int]]) -> None:
    """Whatever the ranges: the exact slices, or IntegrityError when one passes the end."""
    pairs = [(a, a + n) for a, n in ranges]

    async def check() -> None:
        async with open_store("mem://prop/layer") as s:
            await s.put("obj", data)
            if all(b <= len(data) for _, b in pairs):
                assert await s.get_ranges("obj", pairs) == [data[a:b] for a, b in pairs]
            else:
                with pytest.raises(IntegrityError, match=f"{len(data)} bytes"):
                    await s.get_ranges("obj", pairs)

    asyncio.run(check())
