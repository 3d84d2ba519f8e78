"""file:// atomic writes through unnamed temp files (``O_TMPFILE`` linked into place), their
fallback to named temp files, sibling removal without failed unlinks, and kill -9 safety."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiovolume.exceptions import StorageError
from aiovolume.storage import Blob, PutItem
from aiovolume.storage import fileio
from aiovolume.storage.file import TMP_PREFIX, FileStore

needs_unnamed = pytest.mark.skipif(not fileio.UNNAMED_TEMPS, reason="no O_TMPFILE / /proc here")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FileStore]:
    s = FileStore(str(tmp_path / "layer"))
    yield s
    await s.close()


def names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def spy(monkeypatch: pytest.MonkeyPatch, name: str, fail: object = None) -> list[tuple]:
    """Record calls to ``os.<name>``; ``fail(args)`` may return an OSError to raise instead."""
    real = getattr(os, name)
    calls: list[tuple] = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        exc = fail(args) if fail else None
        if exc is not None:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, wrapper)
    return calls


@needs_unnamed
async def test_new_objects_are_unnamed_temps_linked_into_place(store, monkeypatch):
    os.makedirs(os.path.join(store.root, "d"))  # (a first write into a missing directory makes it, then asks again)
    opens = spy(monkeypatch, "open")
    await store.put_many([PutItem(f"d/{i}", bytes([i]) * 1000) for i in range(20)])
    monkeypatch.undo()
    tmpfile = [a for a in opens if len(a) > 1 and a[1] & os.O_TMPFILE == os.O_TMPFILE]
    assert len(tmpfile) == 20
    assert names(Path(store.root)) == sorted(f"d/{i}" for i in range(20))
    for i in range(20):
        assert await store.get(f"d/{i}") == Blob(bytes([i]) * 1000, None)


async def test_replacing_an_object_never_changes_the_old_file(store):
    await store.put("k", b"old" * 1000)
    path = Path(store.root) / "k"
    with open(path, "rb") as reader:  # a reader that opened the old object
        inode = os.fstat(reader.fileno()).st_ino
        await store.put("k", b"new" * 2000)
        assert reader.read() == b"old" * 1000
    assert path.stat().st_ino != inode
    assert path.read_bytes() == b"new" * 2000
    assert names(Path(store.root)) == ["k"]


@needs_unnamed
async def test_without_unnamed_temps_named_ones_are_used_and_asked_for_once(store, monkeypatch):
    def refuse(args):
        if len(args) > 1 and args[1] & os.O_TMPFILE == os.O_TMPFILE:
            return OSError(errno.EOPNOTSUPP, "Operation not supported")
        return None

    os.makedirs(os.path.join(store.root, "a"))
    opens = spy(monkeypatch, "open", refuse)
    await store.put("a/x", b"1")
    await store.put_many([PutItem(f"a/{i}", b"v" * i) for i in range(10)])
    await store.put("a/x", b"2")  # a replace, through a named temp + rename
    monkeypatch.undo()
    assert sum(1 for a in opens if len(a) > 1 and a[1] & os.O_TMPFILE == os.O_TMPFILE) == 1
    assert any(os.path.basename(a[0]).startswith(TMP_PREFIX) for a in opens)
    assert await store.get("a/x") == Blob(b"2", None)
    assert await store.get("a/7") == Blob(b"v" * 7, None)
    assert names(Path(store.root)) == sorted(["a/x"] + [f"a/{i}" for i in range(10)])


@needs_unnamed
@pytest.mark.parametrize("existing", [False, True])
async def test_where_unnamed_files_cannot_be_linked_named_temps_are_used(store, monkeypatch, existing):
    os.makedirs(store.root)
    if existing:
        (Path(store.root) / "k").write_bytes(b"old")
    links = spy(monkeypatch, "link", lambda args: OSError(errno.EXDEV, "Invalid cross-device link"))
    await store.put("k", b"new")
    await store.put("j", b"other")
    monkeypatch.undo()
    assert len(links) == 1  # asked once, then the store stopped trying
    assert await store.get("k") == Blob(b"new", None) and await store.get("j") == Blob(b"other", None)
    assert names(Path(store.root)) == ["j", "k"]


@pytest.mark.parametrize("existing", [False, True])
async def test_a_failed_link_or_rename_leaves_the_old_object_and_nothing_else(store, monkeypatch, existing):
    if existing:
        await store.put("k", b"old")
    spy(monkeypatch, "link", lambda args: OSError(errno.EIO, "I/O error", args[1]))
    spy(monkeypatch, "replace", lambda args: OSError(errno.EIO, "I/O error", args[1]))
    with pytest.raises(StorageError, match=r"cannot write .*layer/k"):
        await store.put("k", b"new")
    monkeypatch.undo()
    assert await store.get("k") == (Blob(b"old", None) if existing else None)
    assert names(Path(store.root)) == (["k"] if existing else [])


async def test_siblings_are_looked_up_not_unlinked(store, monkeypatch):
    unlinks = spy(monkeypatch, "unlink")
    await store.put_many([PutItem(f"c/{i}", b"raw") for i in range(10)])
    await store.put_many([PutItem(f"g/{i}", b"zipped", content_encoding="gzip") for i in range(10)])
    assert unlinks == []  # nothing to remove: no unlink at all (each used to make five that failed)
    await store.put("c/3", b"now gzip", content_encoding="gzip")
    await store.delete("g/4")
    monkeypatch.undo()
    assert sorted(os.path.relpath(a[0], store.root) for a in unlinks) == ["c/3", "g/4.gz"]
    assert "c/3.gz" in names(Path(store.root)) and "c/3" not in names(Path(store.root))


WRITER = textwrap.dedent("""
    import asyncio, sys
    from aiovolume.storage import PutItem
    from aiovolume.storage.file import FileStore

    async def main(root):
        async with FileStore(root) as store:
            n = 0
            while True:  # until killed
                n += 1
                big = bytes([n % 251]) * (4 << 20)
                await store.put_many([PutItem("big", big)] + [PutItem(f"c/{i}", bytes([n % 251]) * 65536,
                                     content_encoding="gzip" if n % 2 else None) for i in range(16)])
                print(n, flush=True)

    asyncio.run(main(sys.argv[1]))
""")


async def test_kill_9_mid_write_leaves_only_whole_objects(tmp_path):
    root = tmp_path / "layer"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    rng = random.Random(5)
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        proc.stdout.readline()  # one whole round is on disk
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        async with FileStore(str(root)) as store:
            keys = [k async for k in store.list()]  # temp files (named ones, mid-replace) are not objects
            assert set(keys) == {"big"} | {f"c/{i}" for i in range(16)}
            big = await store.get("big")
            assert big is not None and len(big.data) == 4 << 20 and len(set(big.data)) == 1
            for i in range(16):
                chunk = await store.get(f"c/{i}")
                assert chunk is not None
                data = bytes(chunk.data)  # stored as given (the store does not compress)
                assert len(data) == 65536 and len(set(data)) == 1
