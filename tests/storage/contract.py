"""The storage contract every backend passes.

Two halves:

* :class:`ReadContract`: every test reads through ``store`` and writes its fixtures
  through ``writer`` (by default ``store`` itself). A read-only backend (HTTP) runs this half
  with ``writer`` overridden to a writable store over the same objects (a FileStore on the
  directory its server serves).
* :class:`StoreContract`: the read half plus everything about writing, deleting and listing.
  A writable backend's test module subclasses it and overrides the ``store`` fixture: an
  open, writable Store on a fresh, empty root that sits at least one level below its bucket
  (so ``../sibling`` keys resolve inside it).

Nothing here may depend on one backend; backend specifics belong in that backend's own test
module.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
from collections.abc import AsyncIterator

import pytest

from aiovolume.exceptions import IntegrityError, InvalidRangeError, StorageError, UnsupportedFeatureError
from aiovolume.storage import Blob, PutItem, Store


async def keys_of(store: Store, prefix: str = "") -> list[str]:
    return [key async for key in store.list(prefix)]


class ReadContract:
    """Reads through ``store``; fixtures are written through ``writer``."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        raise NotImplementedError("backend test classes override the `store` fixture")
        yield  # pragma: no cover

    @pytest.fixture
    def writer(self, store: Store) -> Store:
        """Where the read tests put their objects: the store itself unless it is read-only."""
        return store

    # -- get ---------------------------------------------------------------------------------
    async def test_put_get_round_trip(self, store: Store, writer: Store) -> None:
        data = bytes(range(256)) * 4
        await writer.put("a", data)
        blob = await store.get("a")
        assert blob == Blob(data, None)
        assert type(blob.data) is bytes

    async def test_missing_is_none(self, store: Store) -> None:
        assert await store.get("nope") is None
        assert await store.get("deep/er/nope") is None
        assert await store.get("nope", (0, 10)) is None

    async def test_byte_ranges(self, store: Store, writer: Store) -> None:
        data = bytes(range(100))
        await writer.put("r", data)

        async def rng(r: tuple[int, int | None]) -> bytes:
            blob = await store.get("r", r)
            assert blob is not None and blob.encoding is None
            return blob.data

        assert await rng((10, 20)) == data[10:20]
        assert await rng((90, None)) == data[90:]
        assert await rng((-5, None)) == data[-5:]
        assert await rng((0, 0)) == b""
        assert await rng((95, 200)) == data[95:]  # clipped at the end
        assert await rng((150, None)) == b""  # starts past the end
        assert await rng((-500, None)) == data  # suffix longer than the object

    async def test_invalid_byte_ranges_raise(self, store: Store, writer: Store) -> None:
        await writer.put("r", b"0123456789")
        with pytest.raises(ValueError):
            await store.get("r", (5, 2))
        with pytest.raises(ValueError):
            await store.get("r", (-3, 10))

    async def test_get_many_keeps_order_with_missing(self, store: Store, writer: Store) -> None:
        await writer.put("x/1", b"one")
        await writer.put("x/3", b"three")
        blobs = await store.get_many(["x/3", "x/2", "x/1", "missing", "x/3"])
        assert [b.data if b else None for b in blobs] == [b"three", None, b"one", None, b"three"]
        assert await store.get_many([]) == []

    async def test_overwrite(self, store: Store, writer: Store) -> None:
        await writer.put("o", b"first version, longer")
        await writer.put("o", b"second")
        assert await store.get("o") == Blob(b"second", None)
        assert await store.size("o") == 6

    async def test_empty_object(self, store: Store, writer: Store) -> None:
        await writer.put("empty", b"")
        assert await store.get("empty") == Blob(b"", None)
        assert await store.exists("empty")
        assert await store.size("empty") == 0

    async def test_large_object(self, store: Store, writer: Store) -> None:
        data = os.urandom(8 << 20)
        await writer.put("big", data)
        blob = await store.get("big")
        assert blob is not None and blob.data == data
        part = await store.get("big", (5 << 20, (5 << 20) + 4096))
        assert part is not None and part.data == data[5 << 20 : (5 << 20) + 4096]
        assert await store.size("big") == 8 << 20

    async def test_concurrent_gets(self, store: Store, writer: Store) -> None:
        payloads = {f"c/{i:03d}": os.urandom(64 + i) for i in range(200)}
        for key, data in payloads.items():
            await writer.put(key, data)
        gets = await asyncio.gather(*(store.get(k) for k in payloads), store.get("c/missing"))
        assert [b.data if b else None for b in gets] == [*payloads.values(), None]

    # -- content-encoding --------------------------------------------------------------------
    async def test_content_encoding_round_trip(self, store: Store, writer: Store) -> None:
        payload = b"precomputed " * 1000
        gz = gzip.compress(payload)
        await writer.put("enc", gz, content_encoding="gzip", content_type="application/json")
        blob = await store.get("enc")
        assert blob == Blob(gz, "gzip")
        assert gzip.decompress(blob.data) == payload
        assert await store.size("enc") == len(gz)
        part = await store.get("enc", (0, 2))
        assert part == Blob(gz[:2], "gzip")  # ranges apply to the stored bytes

        await writer.put("enc", payload)  # re-encoding replaces the object entirely
        assert await store.get("enc") == Blob(payload, None)
        await writer.put("enc", b"not really brotli", content_encoding="br")
        assert await store.get("enc") == Blob(b"not really brotli", "br")
        await writer.put("enc", b"zst", content_encoding="zstd")
        assert await store.get("enc") == Blob(b"zst", "zstd")

    # -- exists / size -----------------------------------------------------------------------
    async def test_exists_and_exists_many(self, store: Store, writer: Store) -> None:
        await writer.put("e/1", b"1")
        await writer.put("e/2", gzip.compress(b"2"), content_encoding="gzip")
        assert await store.exists("e/1")
        assert await store.exists("e/2")
        assert not await store.exists("e/3")
        assert not await store.exists("e")  # a "directory" is not an object
        assert await store.exists_many(["e/3", "e/2", "e/1", "nope"]) == [False, True, True, False]
        assert await store.exists_many([]) == []

    async def test_size(self, store: Store, writer: Store) -> None:
        await writer.put("s", b"12345")
        assert await store.size("s") == 5
        assert await store.size("s-missing") is None

    # -- keys --------------------------------------------------------------------------------
    async def test_dotdot_keys(self, store: Store, writer: Store) -> None:
        await writer.put("a/../b", b"via dotdot")
        assert await store.get("b") == Blob(b"via dotdot", None)
        assert await store.get("x/../b") == Blob(b"via dotdot", None)
        await writer.put("../sibling_layer/8_8_8", b"outside the root")
        assert await store.get("../sibling_layer/8_8_8") == Blob(b"outside the root", None)
        assert await store.get("8_8_8") is None
        assert await store.get("sub/../../sibling_layer/8_8_8") == Blob(b"outside the root", None)

    async def test_invalid_keys(self, store: Store) -> None:
        for bad in ["", "/abs/key", ".", "a/..", ".."]:
            with pytest.raises(ValueError):
                await store.get(bad)

    # -- identity and lifecycle -------------------------------------------------------------
    async def test_url_scheme_repr(self, store: Store) -> None:
        assert store.url.startswith(store.scheme + "://")
        assert store.url in repr(store)

    async def test_close_is_idempotent(self, store: Store, writer: Store) -> None:
        await writer.put("k", b"v")
        assert await store.get("k") == Blob(b"v", None)
        await store.close()
        await store.close()
        with pytest.raises(StorageError, match="closed"):
            await store.get("k")
        with pytest.raises(StorageError, match="closed"):
            await store.exists("k")

    async def test_async_context_manager(self, store: Store, writer: Store) -> None:
        await writer.put("k", b"v")
        async with store as entered:
            assert entered is store
            assert await store.get("k") == Blob(b"v", None)
        with pytest.raises(StorageError, match="closed"):
            await store.exists("k")


    # -- get_ranges ----------------------------------------------------------------------------
    async def test_get_ranges_exact_bytes_in_request_order(self, store: Store, writer: Store) -> None:
        data = os.urandom(200_000)
        await writer.put("shard", data)
        rng = random.Random(5)
        ranges = [(a, a + rng.randrange(0, 5000)) for a in (rng.randrange(0, 190_000) for _ in range(60))]
        ranges += [(0, 0), (10, 10), (0, 16), (0, 16), (100, 300), (150, 250), (199_990, 200_000), (5, 5)]
        rng.shuffle(ranges)
        got = await store.get_ranges("shard", ranges)
        assert got == [data[a:b] for a, b in ranges]
        assert all(type(g) is bytes for g in got)
        assert await store.get_ranges("shard", []) == []

    async def test_get_ranges_coalesces_near_ranges_only(self, store: Store, writer: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        data = os.urandom(300_000)
        await writer.put("shard", data)
        reads = count_range_reads(store, monkeypatch)
        gap = store.range_gap
        near = [(1000, 1100), (1100 + gap // 2, 1200 + gap // 2), (1050, 1150), (1000, 1100)]  # overlap, dup, gap/2
        assert await store.get_ranges("shard", near) == [data[a:b] for a, b in near]
        assert reads() == 1
        far = [(0, 10), (10 + 3 * gap, 20 + 3 * gap), (200_000, 200_010)]
        assert await store.get_ranges("shard", far) == [data[a:b] for a, b in far]
        assert reads() == 1 + 3

    async def test_get_ranges_missing_object_is_none(self, store: Store) -> None:
        assert await store.get_ranges("no.shard", [(0, 16), (100, 200)]) is None
        assert await store.get_ranges("no.shard", [(0, 0)]) is None
        assert await store.get_ranges("no.shard", []) is None

    async def test_get_ranges_past_the_end_is_an_integrity_error(self, store: Store, writer: Store) -> None:
        await writer.put("shard", bytes(1000))
        for bad in ([(990, 1001)], [(0, 10), (2000, 2010)], [(1000, 1001)]):
            with pytest.raises(IntegrityError, match=r"shard: byte range \[\d+, \d+\) reaches past its end") as err:
                await store.get_ranges("shard", bad)
            assert "1000 bytes" in str(err.value)
        assert await store.get_ranges("shard", [(1000, 1000), (990, 1000)]) == [b"", bytes(10)]

    async def test_get_ranges_invalid_ranges_raise_before_io(self, store: Store) -> None:
        for bad in ([(5, 2)], [(-1, 3)], [(0.0, 3)], [(True, 3)], [(1, 2, 3)], [None]):
            with pytest.raises(InvalidRangeError):
                await store.get_ranges("no.shard", bad)  # type: ignore[arg-type]
        assert issubclass(InvalidRangeError, ValueError)

    async def test_get_ranges_of_a_transport_encoded_object_is_refused(self, store: Store, writer: Store) -> None:
        await writer.put("gz.shard", gzip.compress(bytes(5000)), content_encoding="gzip")
        with pytest.raises(UnsupportedFeatureError, match="transport encoding 'gzip'"):
            await store.get_ranges("gz.shard", [(0, 10)])


def count_range_reads(store: Store, monkeypatch: pytest.MonkeyPatch):
    """How many reads ``get_ranges`` issued: ranged ``get``s, or preads for file:// (both pass through)."""
    from aiovolume.storage import fileranges

    n = [0]
    real_get, real_pread = store.get, fileranges.os.pread

    async def get(key, byte_range=None):
        n[0] += 1
        return await real_get(key, byte_range)

    def pread(fd, size, offset):
        n[0] += 1
        return real_pread(fd, size, offset)

    monkeypatch.setattr(store, "get", get)
    monkeypatch.setattr(fileranges.os, "pread", pread)
    return lambda: n[0]


class StoreContract(ReadContract):
    """The read half plus writing, deleting and listing, on one writable ``store``."""

    # -- put ---------------------------------------------------------------------------------
    async def test_put_many(self, store: Store) -> None:
        items = [PutItem(f"pm/{i}", bytes([i]) * (i + 1)) for i in range(50)]
        items.append(PutItem("pm/gz", gzip.compress(b"zz"), content_encoding="gzip"))
        await store.put_many(items)
        blobs = await store.get_many([it.key for it in items])
        assert [b.data for b in blobs if b] == [it.data for it in items]
        assert blobs[-1] is not None and blobs[-1].encoding == "gzip"
        assert blobs[0] is not None and blobs[0].encoding is None

    async def test_bytes_like_data_is_copied(self, store: Store) -> None:
        buf = bytearray(b"abcdef")
        await store.put("ba", buf)
        buf[:] = b"XXXXXX"
        blob = await store.get("ba")
        assert blob is not None and blob.data == b"abcdef"
        with pytest.raises(TypeError):
            await store.put("s", "text is not bytes")  # type: ignore[arg-type]

    async def test_empty_object_is_listed(self, store: Store) -> None:
        await store.put("empty", b"")
        assert "empty" in await keys_of(store)

    async def test_concurrent_puts_and_gets(self, store: Store) -> None:
        payloads = {f"c/{i:03d}": os.urandom(64 + i) for i in range(200)}
        async with asyncio.TaskGroup() as tg:
            for key, data in payloads.items():
                tg.create_task(store.put(key, data))
        gets = await asyncio.gather(*(store.get(k) for k in payloads))
        assert [b.data if b else None for b in gets] == list(payloads.values())
        # interleaved writers and readers of different keys
        more = {f"d/{i:03d}": os.urandom(32) for i in range(200)}
        async with asyncio.TaskGroup() as tg:
            writes = [tg.create_task(store.put(k, v)) for k, v in more.items()]
            reads = [tg.create_task(store.get(k)) for k in payloads]
        assert all(w.result() is None for w in writes)
        assert [r.result().data for r in reads] == list(payloads.values())  # type: ignore[union-attr]
        assert await keys_of(store, "d/") == sorted(more)

    # -- content-encoding --------------------------------------------------------------------
    async def test_reencoding_leaves_one_key(self, store: Store) -> None:
        await store.put("enc", gzip.compress(b"x" * 100), content_encoding="gzip")
        await store.put("enc", b"plain")
        await store.put("enc", b"not really brotli", content_encoding="br")
        await store.put("enc", b"zst", content_encoding="zstd")
        assert await keys_of(store) == ["enc"]
        assert await store.get("enc") == Blob(b"zst", "zstd")

    async def test_unknown_encoding_rejected(self, store: Store) -> None:
        with pytest.raises(ValueError, match="content_encoding"):
            await store.put("u", b"x", content_encoding="lz4-ish")
        assert await store.get("u") is None

    # -- delete ------------------------------------------------------------------------------
    async def test_delete(self, store: Store) -> None:
        await store.put("d1", b"x")
        await store.delete("d1")
        assert await store.get("d1") is None
        assert not await store.exists("d1")
        await store.delete("d1")  # missing is fine
        await store.delete("never/was")

    async def test_delete_encoded(self, store: Store) -> None:
        await store.put("dz", gzip.compress(b"x"), content_encoding="gzip")
        await store.delete("dz")
        assert await store.get("dz") is None
        assert await keys_of(store) == []

    async def test_delete_many(self, store: Store) -> None:
        await store.put_many([PutItem(f"dm/{i}", b"x") for i in range(20)])
        await store.delete_many([f"dm/{i}" for i in range(0, 20, 2)] + ["dm/missing"])
        assert await keys_of(store, "dm/") == sorted(f"dm/{i}" for i in range(1, 20, 2))
        await store.delete_many([])

    # -- list ------------------------------------------------------------------------------
    async def test_list(self, store: Store) -> None:
        keys = [
            "info",
            "8_8_8/64-128_0-64_0-64",
            "8_8_8/0-64_0-64_0-64",
            "8_8_8_extra/x",
            "16_16_16/0-32_0-32_0-32",
            "mesh/a/b/c/deep",
            "provenance",
        ]
        for key in keys:
            await store.put(key, b"v")
        await store.put("8_8_8/gz", gzip.compress(b"v"), content_encoding="gzip")
        everything = sorted([*keys, "8_8_8/gz"])
        assert await keys_of(store) == everything  # recursive, sorted, exactly what was put
        assert await keys_of(store, "8_8_8/") == [
            "8_8_8/0-64_0-64_0-64",
            "8_8_8/64-128_0-64_0-64",
            "8_8_8/gz",
        ]
        assert await keys_of(store, "8_8_8") == [k for k in everything if k.startswith("8_8_8")]
        assert await keys_of(store, "8_8_8/0-") == ["8_8_8/0-64_0-64_0-64"]
        assert await keys_of(store, "mesh/a/") == ["mesh/a/b/c/deep"]
        assert await keys_of(store, "in") == ["info"]
        assert await keys_of(store, "nothing") == []

    async def test_list_empty(self, store: Store) -> None:
        assert await keys_of(store) == []
        assert await keys_of(store, "a/b/") == []

    # -- keys --------------------------------------------------------------------------------
    async def test_dotdot_keys_list_and_delete(self, store: Store) -> None:
        await store.put("a/../b", b"via dotdot")
        await store.put("../sibling_layer/8_8_8", b"outside the root")
        assert await keys_of(store) == ["b"]  # list covers the root only
        await store.delete("../sibling_layer/8_8_8")
        assert not await store.exists("../sibling_layer/8_8_8")

    async def test_invalid_keys_for_writes(self, store: Store) -> None:
        for bad in ["", "/abs/key", ".", "a/..", ".."]:
            with pytest.raises(ValueError):
                await store.put(bad, b"x")
        with pytest.raises(ValueError):
            await keys_of(store, "/abs")

    # -- identity and lifecycle -------------------------------------------------------------
    async def test_writable(self, store: Store) -> None:
        assert store.read_only is False

    async def test_closed_store_rejects_writes(self, store: Store) -> None:
        await store.close()
        with pytest.raises(StorageError, match="closed"):
            await store.put("k", b"v")
