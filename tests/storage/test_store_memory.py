from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from contract import StoreContract, keys_of

from aiovolume.exceptions import ReadOnlyException
from aiovolume.options import Options
from aiovolume.storage import Blob, open_store
from aiovolume.storage.memory import MemoryStore


@pytest.fixture(autouse=True)
def fresh_buckets() -> Iterator[None]:
    MemoryStore.clear_all()
    yield
    MemoryStore.clear_all()


class TestMemoryStore(StoreContract):
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
        with pytest.raises(ValueError, match="above the bucket"):
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
    with pytest.raises(ValueError):
        MemoryStore("")
    with pytest.raises(ValueError):
        MemoryStore("a/b")
