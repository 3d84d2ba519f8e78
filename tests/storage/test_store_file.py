from __future__ import annotations

import asyncio
import errno
import gzip
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from contract import StoreContract, keys_of
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import (
    IntegrityError, ReadOnlyException, StorageError, UnsupportedCompressionType, UnsupportedFeatureError,
)
from aiovolume.options import Options
from aiovolume.storage import Blob, PutItem, open_store
from aiovolume.storage.file import TMP_PREFIX, FileStore


class TestFileStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[FileStore]:
        s = FileStore(str(tmp_path / "ds" / "layer"))  # the root does not exist yet
        yield s
        await s.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FileStore]:
    s = FileStore(str(tmp_path / "layer"))
    yield s
    await s.close()


def on_disk(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(TMP_PREFIX + "*")]


# -- interop with the real CloudFiles ----------------------------------------------------------
@pytest.mark.interop
async def test_reads_gz_sibling_written_by_cloudfiles(tmp_path: Path) -> None:
    from cloudfiles import CloudFiles

    layer = tmp_path / "layer"
    data = b"x" * 1000
    CloudFiles("file://" + str(layer)).put("a", data, compress="gzip")
    assert on_disk(layer) == ["a.gz"]
    async with FileStore(str(layer)) as s:
        blob = await s.get("a")
        assert blob is not None and blob.encoding == "gzip"
        assert gzip.decompress(blob.data) == data
        assert await keys_of(s) == ["a"]
        assert await s.exists("a")


@pytest.mark.interop
async def test_cloudfiles_reads_what_we_put(tmp_path: Path) -> None:
    from cloudfiles import CloudFiles

    layer = tmp_path / "layer"
    async with FileStore(str(layer)) as s:
        await s.put("z", gzip.compress(b"zipped" * 100), content_encoding="gzip")
        await s.put("sub/plain", b"plain bytes")
    assert on_disk(layer) == ["sub/plain", "z.gz"]
    cf = CloudFiles("file://" + str(layer))
    assert cf.get("z") == b"zipped" * 100
    assert cf.get("sub/plain") == b"plain bytes"
    assert sorted(cf.list()) == ["sub/plain", "z"]


# -- the .gz sibling convention ---------------------------------------------------------------
async def test_probe_order_and_encodings(store: FileStore) -> None:
    root = Path(store.root)
    root.mkdir(parents=True)
    for suffix, encoding in [(".zstd", "zstd"), (".br", "br"), (".gz", "gzip"), ("", None)]:
        (root / f"k{suffix}").write_bytes(suffix.encode() or b"plain")
        blob = await store.get("k")
        assert blob == Blob(suffix.encode() or b"plain", encoding)  # the earliest spelling wins
    for suffix, encoding in [(".xz", "xz"), (".bz2", "bzip2")]:
        (root / f"only{suffix}").write_bytes(b"c")
        assert await store.get("only") == Blob(b"c", encoding)
        (root / f"only{suffix}").unlink()
    assert await keys_of(store) == ["k"]  # four spellings, one key
    assert await store.size("k") == len(b"plain")


async def test_put_removes_stale_siblings(store: FileStore) -> None:
    root = Path(store.root)
    await store.put("k", b"plain")
    (root / "k.br").write_bytes(b"stale brotli")
    (root / "k.zstd").write_bytes(b"stale zstd")
    await store.put("k", gzip.compress(b"new"), content_encoding="gzip")
    assert on_disk(root) == ["k.gz"]
    await store.put("k", b"plain again")
    assert on_disk(root) == ["k"]
    assert await store.get("k") == Blob(b"plain again", None)


async def test_delete_removes_every_sibling(store: FileStore) -> None:
    root = Path(store.root)
    root.mkdir(parents=True)
    for suffix in ["", ".gz", ".br", ".zstd"]:
        (root / f"k{suffix}").write_bytes(b"x")
    (root / "other").write_bytes(b"keep")
    await store.delete("k")
    assert on_disk(root) == ["other"]
    assert not await store.exists("k")


async def test_list_skips_temp_files_and_dedupes(store: FileStore) -> None:
    root = Path(store.root)
    (root / "a").mkdir(parents=True)
    (root / "a" / f"{TMP_PREFIX}deadbeef").write_bytes(b"half written")
    (root / "a" / "x").write_bytes(b"1")
    (root / "a" / "x.gz").write_bytes(b"2")
    (root / "a" / "y.br").write_bytes(b"3")
    assert await keys_of(store) == ["a/x", "a/y"]
    assert await keys_of(store, "a/x") == ["a/x"]


# -- atomicity ----------------------------------------------------------------------------------
async def test_failed_replace_keeps_old_object(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.put("k", b"old content")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "I/O error", dst)

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match=r"cannot write .*layer/k"):
        await store.put("k", b"new content")
    monkeypatch.undo()
    assert await store.get("k") == Blob(b"old content", None)
    assert temp_files(Path(store.root)) == []


async def test_write_failing_midway_keeps_old_object(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("k", b"old content")
    real_write = os.write
    calls = []

    def disk_full_after_some_bytes(fd: int, data: bytes) -> int:
        if calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        calls.append(fd)
        return real_write(fd, bytes(data[:1000]))  # a short write, then the disk is full

    monkeypatch.setattr(os, "write", disk_full_after_some_bytes)
    with pytest.raises(StorageError, match="No space left on device"):
        await store.put("k", b"n" * 100_000)
    monkeypatch.undo()
    assert calls, "the write path was not exercised"
    assert await store.get("k") == Blob(b"old content", None)
    assert temp_files(Path(store.root)) == []


async def test_non_os_error_midway_propagates_and_cleans_up(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("d/k", b"old")

    def exploding_write(fd: int, data: bytes) -> int:
        raise RuntimeError("boom while writing")

    monkeypatch.setattr(os, "write", exploding_write)
    with pytest.raises(RuntimeError, match="boom"):
        await store.put("d/k", b"new")
    monkeypatch.undo()
    assert await store.get("d/k") == Blob(b"old", None)
    assert temp_files(Path(store.root)) == []


async def test_no_temp_files_after_many_writes(store: FileStore) -> None:
    await store.put_many([PutItem(f"t/{i}", b"x" * i) for i in range(100)])
    await store.put_many([PutItem(f"t/{i}", b"y", content_encoding="gzip") for i in range(100)])
    assert temp_files(Path(store.root)) == []
    assert len(on_disk(Path(store.root))) == 100


async def test_new_files_honour_umask(store: FileStore) -> None:
    await store.put("perm", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (Path(store.root) / "perm").stat().st_mode & 0o777 == 0o666 & ~umask


async def test_put_many_repeated_key_last_wins(store: FileStore) -> None:
    items = [PutItem("dup", b"first"), PutItem("other", b"o"), PutItem("dup", b"last", content_encoding="gzip")]
    await store.put_many(items)
    assert await store.get("dup") == Blob(b"last", "gzip")
    assert on_disk(Path(store.root)) == ["dup.gz", "other"]


async def test_put_many_validates_before_writing(store: FileStore) -> None:
    with pytest.raises(UnsupportedCompressionType):
        await store.put_many([PutItem("ok", b"x"), PutItem("bad", b"y", content_encoding="lzma")])
    assert await store.get("ok") is None


# -- durability ------------------------------------------------------------------------------
@pytest.mark.parametrize("fsync", [True, False])
async def test_fsync_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    async with FileStore(str(tmp_path / "l"), Options(fsync=fsync)) as s:
        await s.put("a/b", b"durable")
        after_put = len(synced)
        await s.put("a/b", b"zipped", content_encoding="gzip")
        await s.delete("a/b")
        assert await s.get("a/b") is None
    if fsync:
        assert after_put >= 2  # the file and its directory
        assert len(synced) > after_put
    else:
        assert synced == []


# -- errors ---------------------------------------------------------------------------------
async def test_directory_where_an_object_should_be(store: FileStore) -> None:
    root = Path(store.root)
    (root / "k").mkdir(parents=True)
    (root / "k" / "inside").write_bytes(b"i")
    with pytest.raises(StorageError, match=r"cannot read .*layer/k\b.*[Dd]irectory") as info:
        await store.get("k")
    assert "None" not in str(info.value)
    with pytest.raises(StorageError, match=r"layer/k"):
        await store.size("k")
    with pytest.raises(StorageError, match=r"cannot write .*layer/k"):
        await store.put("k", b"x")
    assert temp_files(root) == []
    assert not await store.exists("k")  # a directory is not an object
    assert await store.get("k/inside") == Blob(b"i", None)


async def test_file_where_a_directory_should_be(store: FileStore) -> None:
    await store.put("f", b"a file")
    assert await store.get("f/below") is None  # cannot exist: missing, not an error
    assert not await store.exists("f/below")
    with pytest.raises(StorageError, match=r"layer/f"):
        await store.put("f/below", b"x")
    assert await store.get("f") == Blob(b"a file", None)


async def test_unreadable_tree_is_an_error_not_missing(tmp_path: Path) -> None:
    # We run as root, so chmod cannot produce EACCES; a dangling-but-looping symlink gives ELOOP.
    root = tmp_path / "layer"
    root.mkdir()
    os.symlink("loop", root / "loop")
    async with FileStore(str(root)) as s:
        with pytest.raises(StorageError, match=r"layer/loop"):
            await s.get("loop")


async def test_list_follows_os_walk_for_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "layer"
    (root / "real").mkdir(parents=True)
    (root / "real" / "chunk").write_bytes(b"c")
    (root / "info").write_bytes(b"{}")
    os.symlink(root / "real", root / "linked_dir")  # listed nowhere: links are not descended
    os.symlink(root / "info", root / "info_link")  # a file: listed
    async with FileStore(str(root)) as s:
        assert await keys_of(s) == ["info", "info_link", "real/chunk"]
        assert await keys_of(s, "real/") == ["real/chunk"]
        assert await keys_of(s, "linked_dir/") == ["linked_dir/chunk"]  # a prefix starts below the link


# -- read-only, batching, lifecycle -------------------------------------------------------------
async def test_read_only(tmp_path: Path) -> None:
    async with FileStore(str(tmp_path)) as rw:
        await rw.put("k", b"v")
    async with FileStore(str(tmp_path), read_only=True) as ro:
        assert await ro.get("k") == Blob(b"v", None)
        for attempt in (ro.put("k", b"w"), ro.delete("k"), ro.put_many([PutItem("k", b"w")]), ro.delete_many(["k"])):
            with pytest.raises(ReadOnlyException, match="read-only"):
                await attempt
    assert (tmp_path / "k").read_bytes() == b"v"


async def test_batches_use_few_executor_hops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with FileStore(str(tmp_path), Options(io_threads=4)) as s:
        pool = s._pool()
        hops: list[object] = []
        real_submit = pool.submit

        def counting_submit(fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            hops.append(fn)
            return real_submit(fn, *args, **kwargs)

        monkeypatch.setattr(pool, "submit", counting_submit)
        keys = [f"b/{i}" for i in range(40)]
        await s.put_many([PutItem(k, k.encode()) for k in keys])
        assert len(hops) == 4
        blobs = await s.get_many(keys)
        assert [b.data for b in blobs if b] == [k.encode() for k in keys]
        assert len(hops) == 8
        assert await s.exists_many(keys) == [True] * 40
        await s.delete_many(keys)
        assert len(hops) == 16
        await s.put("b/0", b"v")  # one hop: the atomic write
        assert len(hops) == 17
        # single objects go through aiofiles (open, read, close) on the store's one small-object
        # thread, not the chunk pool
        small = s._small_pool()
        small_hops: list[object] = []
        real_small = small.submit
        monkeypatch.setattr(small, "submit", lambda fn, /, *a, **k: small_hops.append(fn) or real_small(fn, *a, **k))
        assert (await s.get("b/0")).data == b"v"
        assert len(hops) == 17 and len(small_hops) == 3
        # a big batch is split into hops of at most 32 files
        await s.exists_many([f"x/{i}" for i in range(1000)])
        assert len(hops) == 17 + 1000 // 32 + 1


async def test_close_shuts_the_executor_down(tmp_path: Path) -> None:
    s = FileStore(str(tmp_path))
    await s.put("k", b"v")
    pool = s._pool()
    await s.close()
    with pytest.raises(RuntimeError):
        pool.submit(print)
    await s.close()


async def test_open_store_maps_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url in [f"file://{tmp_path}/layer", f"precomputed://file://{tmp_path}/layer/", str(tmp_path / "layer"), "file://layer", "layer"]:
        s = open_store(url)
        try:
            assert isinstance(s, FileStore)
            assert s.root == str(tmp_path / "layer")
            assert s.url == f"file://{tmp_path}/layer"
        finally:
            await s.close()
    async with open_store(str(tmp_path / "layer"), read_only=True) as ro:
        assert ro.read_only


async def test_blocking_reader_matches_get(tmp_path):
    """The read pipeline's fast path (a per-thread buffer) returns what get() returns."""
    from aiovolume.exceptions import StorageError
    from aiovolume.storage.file import FileStore

    async with FileStore(str(tmp_path)) as store:
        await store.put("a/plain", b"x" * 300_000)
        await store.put("a/zipped", b"gz-bytes", content_encoding="gzip")
        await store.put("a/empty", b"")
        (tmp_path / "a" / "dir").mkdir()
        read = store.blocking_reader()
        for key in ("a/plain", "a/zipped", "a/empty"):
            blob, ref = read(key), await store.get(key)
            assert (bytes(blob.data), blob.encoding) == (ref.data, ref.encoding)
        assert read("a/missing") is None
        assert read("nothing/here") is None
        with pytest.raises(StorageError, match="Is a directory") as info:
            read("a/dir")
        assert str(info.value).count("cannot read") == 1
        first = read("a/plain")
        assert len(first.data) == 300_000


async def test_blocking_reader_window_reads_part_of_plain_objects_of_the_expected_size(tmp_path):
    """window=(size, start, stop): only a plain object of exactly ``size`` bytes is read in part;
    anything else (encoded, another size: corrupt, or not what the caller thinks) comes whole."""
    from aiovolume.storage.file import FileStore

    payload = bytes(range(256)) * 40  # 10240 bytes
    async with FileStore(str(tmp_path)) as store:
        await store.put("plain", payload)
        await store.put("zipped", payload, content_encoding="gzip")
        await store.put("short", payload[:4096])
        read = store.blocking_reader()
        part = read("plain", (10240, 1024, 4096))
        assert part.span == (1024, 4096) and bytes(part.data) == payload[1024:4096]
        whole = read("plain", (9999, 1024, 4096))  # not the size the caller expects
        assert whole.span is None and bytes(whole.data) == payload
        zipped = read("zipped", (10240, 1024, 4096))
        assert zipped.span is None and zipped.encoding == "gzip" and bytes(zipped.data) == payload
        short = read("short", (10240, 0, 4096))  # truncated to exactly the window: still whole
        assert short.span is None and bytes(short.data) == payload[:4096]
        assert read("missing", (10240, 0, 4096)) is None


@pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="RWF_NOWAIT is Linux-only")
async def test_blocking_reader_nowait_refuses_bytes_not_in_the_page_cache(tmp_path):
    from aiovolume.storage.file import FileStore

    async with FileStore(str(tmp_path)) as store:
        await store.put("cold", b"c" * 200_000)
        read = store.blocking_reader()
        fd = os.open(tmp_path / "cold", os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
                pytest.skip("this filesystem keeps evicted pages (tmpfs?)")
            except BlockingIOError:
                pass
        finally:
            os.close(fd)
        with pytest.raises(BlockingIOError):
            read("cold", None, True)
        assert bytes(read("cold").data) == b"c" * 200_000  # a blocking read brings it in
        assert bytes(read("cold", None, True).data) == b"c" * 200_000


# -- get_ranges: one open, one executor hop, one pread per merged range --------------------------
async def test_get_ranges_coalesces_preads(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(100_000)
    await store.put("0.shard", data)
    reads: list[tuple[int, int]] = []
    opens: list[str] = []
    real_pread, real_open = os.pread, os.open

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        reads.append((offset, offset + n))
        return real_pread(fd, n, offset)

    def counting_open(path, *args, **kwargs):  # noqa: ANN001, ANN202
        opens.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "pread", counting_pread)
    monkeypatch.setattr(os, "open", counting_open)
    hops = 0
    real_run = store._run

    async def counting_run(fn, *args):  # noqa: ANN001, ANN202
        nonlocal hops
        hops += 1
        return await real_run(fn, *args)

    monkeypatch.setattr(store, "_run", counting_run)
    near = [(300, 400), (0, 100), (100, 200), (150, 250), (0, 100), (700, 700), (800, 900)]
    assert await store.get_ranges("0.shard", near) == [data[a:b] for a, b in near]
    assert reads == [(0, 900)] and hops == 1 and len(opens) == 1  # gaps <= range_gap (512)
    reads.clear()
    far = [(50_000, 50_010), (0, 10), (2_000, 2_010)]
    assert await store.get_ranges("0.shard", far) == [data[a:b] for a, b in far]
    assert reads == [(0, 10), (2_000, 2_010), (50_000, 50_010)] and hops == 2 and len(opens) == 2
    reads.clear()
    with pytest.raises(IntegrityError, match=r"\[99000, 100001\).*100000 bytes"):
        await store.get_ranges("0.shard", [(0, 10), (99_000, 100_001)])
    assert reads == []  # fstat already said it is too short: nothing read


async def test_get_ranges_gz_sibling_only(store: FileStore) -> None:
    root = Path(store.root)
    root.mkdir(parents=True)
    (root / "0.shard.gz").write_bytes(gzip.compress(b"x" * 100))
    with pytest.raises(UnsupportedFeatureError, match=r"0\.shard\.gz"):
        await store.get_ranges("0.shard", [(0, 10)])
    (root / "0.shard").write_bytes(b"y" * 100)  # the plain spelling wins, as for get
    assert await store.get_ranges("0.shard", [(0, 3)]) == [b"yyy"]


async def test_get_ranges_directory_is_an_error(store: FileStore) -> None:
    (Path(store.root) / "0.shard").mkdir(parents=True)
    with pytest.raises(StorageError, match="directory"):
        await store.get_ranges("0.shard", [(0, 1)])


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), ranges=st.lists(st.tuples(st.integers(0, 3100), st.integers(0, 400)), max_size=30))
def test_get_ranges_property(data: bytes, ranges: list[tuple[int, int]]) -> None:
    """Whatever the ranges: the exact slices, or IntegrityError when one passes the end."""
    pairs = [(a, a + n) for a, n in ranges]

    async def check(root: str) -> None:
        async with FileStore(root) as s:
            await s.put("obj", data)
            if all(b <= len(data) for _, b in pairs):
                assert await s.get_ranges("obj", pairs) == [data[a:b] for a, b in pairs]
            else:
                with pytest.raises(IntegrityError, match=f"{len(data)} bytes"):
                    await s.get_ranges("obj", pairs)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(check(tmp))


async def test_blocking_writer_takes_an_object_in_pieces(tmp_path: Path) -> None:
    """A list of buffers is one object, its pieces in order (writev, more than IOV_MAX pieces,
    empty and multi-dimensional ones too), written atomically like any other."""
    import numpy as np

    store = FileStore(str(tmp_path))
    rng = np.random.default_rng(3)
    pieces = [rng.integers(0, 255, rng.integers(0, 40), dtype=np.uint8).data for _ in range(3000)]
    pieces += [np.zeros((0, 3), np.float32).data, np.arange(12, dtype="<f4").reshape(4, 3).data, b"tail"]
    write = store.blocking_writer()
    await asyncio.to_thread(write, [PutItem("obj", pieces)])  # type: ignore[list-item]
    expected = b"".join(bytes(p) for p in pieces)
    blob = await store.get("obj")
    assert blob is not None and blob.data == expected
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TMP_PREFIX)]
    await store.close()
