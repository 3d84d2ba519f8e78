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

from aiovolume.exceptions import (
    IntegrityError, InvalidKeyError, InvalidRangeError, StorageError, UnsupportedCompressionType,
    UnsupportedFeatureError,
)
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
        with pytest.raises(InvalidRangeError, match="stop < start"):
            await store.get("r", (5, 2))
        with pytest.raises(InvalidRangeError, match="suffix"):
            await store.get("r", (-3, 10))
        with pytest.raises(InvalidRangeError):
            await store.get("r", (0.5, 2))  # type: ignore[arg-type]

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

    async def test_get_buffer_matches_get(self, store: Store, writer: Store) -> None:
        """get_buffer may hand back a view of memory the store filled (big bodies over the
        network): the same bytes, encoding and version as get, whatever their size."""
        big = os.urandom((5 << 20) + 7)
        gz = gzip.compress(big, compresslevel=1)  # random bytes: still over 5 MiB
        await writer.put("big", big)
        await writer.put("gz", gz, content_encoding="gzip")
        await writer.put("small", big[:10])
        for key, data, encoding in (("big", big, None), ("gz", gz, "gzip"), ("small", big[:10], None)):
            plain, buffered = await store.get(key), await store.get_buffer(key)
            assert plain is not None and buffered is not None
            assert bytes(buffered.data) == data == plain.data, key
            assert (buffered.encoding, buffered.version) == (encoding, plain.version), key
        assert await store.get_buffer("missing") is None

    async def test_concurrent_gets(self, store: Store, writer: Store) -> None:
        payloads = {f"c/{i:03d}": os.urandom(64 + i) for i in range(200)}
        for key, data in payloads.items():
            await writer.put(key, data)
        gets = await asyncio.gather(*(store.get(k) for k in payloads), store.get("c/missing"))
        assert [b.data if b else None for b in gets] == [*payloads.values(), None]

    # -- get_ranges ----------------------------------------------------------------------------
    async def test_get_ranges_match_get(self, store: Store, writer: Store) -> None:
        data = os.urandom(60_000)
        await writer.put("shard", data)
        rnd = random.Random(1)
        ranges = []
        for _ in range(300):
            start = rnd.randrange(0, len(data) + 1)
            ranges.append((start, min(len(data), start + rnd.choice([0, 1, 16, 200, 5000, 20000]))))
        got = await store.get_ranges("shard", ranges)
        assert got == [data[a:b] for a, b in ranges]
        assert all(type(piece) is bytes for piece in got)
        for a, b in ranges[:5]:  # the same bytes as a ranged get
            blob = await store.get("shard", (a, b))
            assert blob is not None and blob.data == got[ranges.index((a, b))]

    #: whether the store reports versions (mem:// does not: its objects change only in-process)
    versioned = True

    async def test_get_ranges_versioned_tells_a_rewrite(self, store: Store, writer: Store) -> None:
        """A shard reader's cached index is checked against the version of the bytes it reads:
        equal for reads of one stored object, different once it was replaced (same size too)."""
        await writer.put("shard", b"a" * 5000)
        first = await store.get_ranges_versioned("shard", [(0, 10), (4000, 5000)])
        again = await store.get_ranges_versioned("shard", [(5, 6)])
        whole = await store.get("shard")
        # past the file system's coarse timestamps: a generic HTTP server's ETag is mtime+size
        await asyncio.sleep(0.02)
        await writer.put("shard", b"b" * 5000)
        later = await store.get_ranges_versioned("shard", [(0, 10)])
        assert first is not None and again is not None and whole is not None and later is not None
        assert first[0] == [b"a" * 10, b"a" * 1000] and later[0] == [b"b" * 10]
        if not self.versioned:
            assert first[1] is None and later[1] is None
            return
        assert first[1] is not None and first[1] == again[1] == whole.version
        assert later[1] != first[1]
        assert await store.get_ranges_versioned("missing-shard", [(0, 1)]) is None

    async def test_get_ranges_coalescing_shapes(self, store: Store, writer: Store) -> None:
        data = bytes(range(256)) * 40
        await writer.put("shard", data)
        ranges = [
            (100, 200), (200, 300),          # adjacent
            (150, 250),                       # overlapping both
            (100, 200),                       # duplicate
            (10, 20), (0, 5),                 # out of order, a small gap
            (42, 42), (0, 0), (len(data), len(data)),   # empty: start, middle, end
            (0, len(data)),                   # the whole object
            (9000, 9001), (len(data) - 1, len(data)),  # far away, and the last byte
        ]
        assert await store.get_ranges("shard", ranges) == [data[a:b] for a, b in ranges]
        assert await store.get_ranges("shard", []) == []
        assert await store.get_ranges("shard", [(0, 0), (0, 0)]) == [b"", b""]
        assert await store.get_ranges("shard", ((3, 7),)) == [data[3:7]]  # any sequence

    async def test_get_ranges_numpy_offsets(self, store: Store, writer: Store) -> None:
        import numpy as np

        await writer.put("shard", b"0123456789")
        index = np.array([2, 5], dtype=np.uint64)  # as decoded from a shard index
        assert await store.get_ranges("shard", [(index[0], index[1])]) == [b"234"]

    async def test_get_ranges_past_the_end_is_corruption(self, store: Store, writer: Store) -> None:
        await writer.put("shard", b"x" * 100)
        for bad in [(90, 101), (0, 1000), (100, 101), (150, 160), (101, 101)]:
            with pytest.raises(IntegrityError, match=rf"shard: byte range \[{bad[0]}, {bad[1]}\).*\(100 bytes\)"):
                await store.get_ranges("shard", [(0, 10), bad])
        await writer.put("empty", b"")
        assert await store.get_ranges("empty", [(0, 0)]) == [b""]
        with pytest.raises(IntegrityError, match="0 bytes"):
            await store.get_ranges("empty", [(0, 1)])

    async def test_get_ranges_invalid(self, store: Store, writer: Store) -> None:
        await writer.put("shard", b"0123456789")
        bad_lists = [[(5, 2)], [(-1, 3)], [(0.5, 2)], [(1, 2, 3)], ["ab"], [(True, 3)], [(0, None)], 7]
        for bad in bad_lists:
            with pytest.raises(InvalidRangeError):
                await store.get_ranges("shard", bad)  # type: ignore[arg-type]
            with pytest.raises(InvalidRangeError):  # before any I/O: a missing object cannot answer first
                await store.get_ranges("missing", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError):
            await store.get_ranges("/abs", [(0, 1)])

    async def test_get_ranges_missing_object(self, store: Store) -> None:
        assert await store.get_ranges("no/such.shard", [(0, 16), (100, 200)]) is None
        assert await store.get_ranges("no/such.shard", [(0, 0)]) is None
        assert await store.get_ranges("no/such.shard", []) is None

    async def test_get_ranges_refuses_transport_encoding(self, store: Store, writer: Store) -> None:
        gz = gzip.compress(os.urandom(3000))
        await writer.put("shard", gz, content_encoding="gzip")
        for ranges in ([(0, 10)], [(0, 0)], [(5, 5)], [], [(0, 10), (len(gz) - 8, len(gz))]):
            with pytest.raises(UnsupportedFeatureError, match="Content-Encoding gzip"):
                await store.get_ranges("shard", ranges)

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
        for bad in ["", "/abs/key", ".", "a/..", "..", "a\x00b"]:
            with pytest.raises(InvalidKeyError):
                await store.get(bad)
        with pytest.raises(InvalidKeyError, match="str"):
            await store.get(b"bytes")  # type: ignore[arg-type]

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
        with pytest.raises(UnsupportedCompressionType, match="content_encoding"):
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
            with pytest.raises(InvalidKeyError):
                await store.put(bad, b"x")
        with pytest.raises(InvalidKeyError):
            await keys_of(store, "/abs")
        with pytest.raises(InvalidKeyError):
            await keys_of(store, 7)  # type: ignore[arg-type]

    # -- identity and lifecycle -------------------------------------------------------------
    async def test_writable(self, store: Store) -> None:
        assert store.read_only is False

    async def test_closed_store_rejects_writes(self, store: Store) -> None:
        await store.close()
        with pytest.raises(StorageError, match="closed"):
            await store.put("k", b"v")

    # -- conditional writes (read-merge-write of shards) ------------------------------------------
    async def test_conditional_writes(self, store: Store) -> None:
        assert await store.get_versioned("d/0.shard") == (None, None)
        assert await store.put_if("d/0.shard", b"first", None)
        assert not await store.put_if("d/0.shard", b"again", None)  # exists now: create-only fails
        blob, v1 = await store.get_versioned("d/0.shard")
        assert blob == Blob(b"first", None) and v1 is not None
        assert await store.put_if("d/0.shard", b"second", v1)
        assert not await store.put_if("d/0.shard", b"stale", v1)  # v1 is gone
        blob, v2 = await store.get_versioned("d/0.shard")
        assert blob == Blob(b"second", None) and v2 != v1
        await store.put("d/0.shard", b"plain put")  # an unconditional write changes the version too
        assert not await store.put_if("d/0.shard", b"stale", v2)
        assert (await store.get("d/0.shard")).data == b"plain put"

    async def test_racing_conditional_writers_never_both_win(self, store: Store) -> None:
        await store.put("d/1.shard", b"base")
        _, version = await store.get_versioned("d/1.shard")
        won = await asyncio.gather(*(store.put_if("d/1.shard", f"w{i}".encode(), version) for i in range(4)))
        assert sum(won) == 1
        assert (await store.get("d/1.shard")).data == f"w{won.index(True)}".encode()
