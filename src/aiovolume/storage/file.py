"""``file://``: a directory tree on a local (or mounted) filesystem.

Blocking calls run on one ThreadPoolExecutor per store: one hop per file for single
operations, one hop per group of files for the ``*_many`` operations (field notes §5:
aiofiles per file measured 1.2-3.6x slower than this).

CloudVolume's local convention for Content-Encoding is a filename suffix: a gzip-encoded
object ``key`` lives in ``key.gz`` (``.br``, ``.zstd``, ``.xz``, ``.bz2`` likewise). Reads
probe ``key``, ``key.gz``, ``key.br``, ``key.zstd``, ``key.xz``, ``key.bz2`` in that order;
a write replaces the object atomically (temp file + ``os.replace``) and then removes the
siblings with other suffixes, so only one spelling survives. ``content_type`` and
``cache_control`` mean nothing on a filesystem and are ignored, as in CloudFiles.

Example::

    async with FileStore("/data/ds/image") as store:
        await store.put("info", b"{}")
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..exceptions import StorageError
from ..options import Options
from .base import (
    Blob,
    ByteRange,
    PutItem,
    Store,
    as_bytes,
    bounded_map,
    check_encoding,
    check_prefix,
    check_range,
    normalize_key,
    slice_range,
)

T = TypeVar("T")
R = TypeVar("R")

#: (filename suffix, content-encoding) in probe order. The plain name comes first: it is
#: what Neuroglancer and TensorStore read, and what we write by default.
SIBLINGS: tuple[tuple[str, str | None], ...] = (
    ("", None),
    (".gz", "gzip"),
    (".br", "br"),
    (".zstd", "zstd"),
    (".xz", "xz"),
    (".bz2", "bzip2"),
)
_SUFFIX: dict[str | None, str] = {enc: suffix for suffix, enc in SIBLINGS}
_ENCODED_SUFFIXES = tuple(suffix for suffix, _ in SIBLINGS if suffix)

#: Temp files of in-progress writes; ``list`` skips them. A crash can leave one behind.
TMP_PREFIX = ".tmp-aiovolume-"
#: Most files handled by one executor hop of a ``*_many`` call (keeps cancellation prompt).
MAX_FILES_PER_HOP = 32
_LOCK_STRIPES = 64

# Errors meaning "no such object": the file is absent, or a parent is a file, not a directory.
_MISSING = (FileNotFoundError, NotADirectoryError)


class FileStore(Store):
    """A store rooted at a local directory. ``root`` may be relative or use ``~``."""

    scheme = "file"

    def __init__(self, root: str, options: Options | None = None, *, read_only: bool = False) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        super().__init__("file://" + self.root, options, read_only=read_only)
        self._executor: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        # Writers of one key with different encodings must not interleave "write key.gz,
        # remove key" with "write key, remove key.gz" (both would end up deleted).
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))

    # -- executor plumbing ----------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        self._check_open()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=max(1, self.options.io_threads), thread_name_prefix="aiovolume-file"
            )
        return self._executor

    async def _run(self, fn: Callable[..., R], *args: object) -> R:
        pool = self._pool()
        with self._inflight_lock:
            self._inflight += 1
        try:
            job = pool.submit(fn, *args)
        except BaseException:
            self._job_done(None)
            raise
        # Fires when the job finishes, or when a cancelled caller cancels it before it starts.
        job.add_done_callback(self._job_done)
        return await asyncio.wrap_future(job)

    def _job_done(self, _: object) -> None:
        with self._inflight_lock:
            self._inflight -= 1

    async def _batched(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` in about ``io_threads`` executor hops running in parallel."""
        n = len(items)
        if n == 0:
            return []
        threads = max(1, self.options.io_threads)
        per_hop = min(MAX_FILES_PER_HOP, -(-n // threads))
        groups = [items[i : i + per_hop] for i in range(0, n, per_hop)]

        def run_group(group: Sequence[T]) -> list[R]:
            return [fn(item) for item in group]

        async def hop(group: Sequence[T]) -> list[R]:
            return await self._run(run_group, group)

        results = await bounded_map(hop, groups, threads)
        return [r for group in results for r in group]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pool, self._executor = self._executor, None
        if pool is None:
            return
        with self._inflight_lock:
            busy = self._inflight > 0
        if busy:  # work orphaned by a cancelled caller: wait for it without blocking the loop
            await asyncio.to_thread(pool.shutdown, True)
        else:  # idle threads exit at once
            pool.shutdown(wait=True)

    # -- keys and paths ---------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return os.path.normpath(os.path.join(self.root, normalize_key(key)))

    def _lock(self, path: str) -> threading.Lock:
        return self._locks[hash(path) % _LOCK_STRIPES]

    # -- public API ---------------------------------------------------------------------------
    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob | None:
        rng = check_range(byte_range)
        return await self._run(_read, self._path(key), rng)

    async def get_many(self, keys: Sequence[str]) -> list[Blob | None]:
        self._check_open()
        paths = [self._path(k) for k in keys]
        return await self._batched(lambda p: _read(p, None), paths)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        self._check_writable()
        encoding = check_encoding(content_encoding)
        await self._run(self._write, self._path(key), as_bytes(data), encoding)

    async def put_many(self, items: Sequence[PutItem]) -> None:
        self._check_writable()
        # Validate everything before writing anything; a key repeated in one batch: last wins.
        latest: dict[str, tuple[bytes, str | None]] = {}
        for item in items:
            path = self._path(item.key)
            latest.pop(path, None)
            latest[path] = (as_bytes(item.data), check_encoding(item.content_encoding))
        await self._batched(lambda entry: self._write(entry[0], *entry[1]), list(latest.items()))

    async def delete(self, key: str) -> None:
        self._check_writable()
        await self._run(self._remove, self._path(key))

    async def delete_many(self, keys: Sequence[str]) -> None:
        self._check_writable()
        paths = list(dict.fromkeys(self._path(k) for k in keys))
        await self._batched(self._remove, paths)

    async def exists(self, key: str) -> bool:
        return await self._run(_exists, self._path(key))

    async def exists_many(self, keys: Sequence[str]) -> list[bool]:
        self._check_open()
        return await self._batched(_exists, [self._path(k) for k in keys])

    async def size(self, key: str) -> int | None:
        return await self._run(_size, self._path(key))

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        keys = await self._run(_walk, self.root, check_prefix(prefix))
        for key in keys:
            yield key

    # -- blocking fast path ----------------------------------------------------------------------
    def blocking_reader(self) -> Callable[[str], Blob | None]:
        """As :meth:`Store.blocking_reader`; the Blob's data is a view of a per-thread buffer,
        valid until the thread's next read (a fresh 256 KiB ``bytes`` per chunk cost more in
        page faults than reading the file)."""
        self._check_open()
        path = self._path
        return lambda key: _read_reusing(path(key))

    def blocking_writer(self) -> Callable[[Sequence[PutItem]], None]:
        self._check_writable()

        def write_many(items: Sequence[PutItem]) -> None:
            for item in items:
                self._write(self._path(item.key), as_bytes(item.data), check_encoding(item.content_encoding))

        return write_many

    # -- blocking halves (run on the executor) ------------------------------------------------
    def _write(self, path: str, data: bytes, encoding: str | None) -> None:
        target = path + _SUFFIX[encoding]
        durable = self.options.fsync
        with self._lock(path):
            try:
                try:
                    _atomic_write(target, data, durable)
                except FileNotFoundError:  # parent directories do not exist yet
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    _atomic_write(target, data, durable)
            except OSError as exc:
                raise _storage_error("write", target, exc) from exc
            # Only now drop the other spellings: a reader never finds the object missing.
            if _unlink_all(path, keep=target) and durable:
                _fsync_dir(os.path.dirname(target))

    def _remove(self, path: str) -> None:
        with self._lock(path):
            if _unlink_all(path, keep=None) and self.options.fsync:
                _fsync_dir(os.path.dirname(path))


# -- module-level blocking helpers --------------------------------------------------------------
def _storage_error(action: str, path: str, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    culprit = exc.filename
    if isinstance(culprit, str) and culprit != path and not os.path.basename(culprit).startswith(TMP_PREFIX):
        reason += f" at {culprit}"  # e.g. the parent directory that could not be created
    hint = ""
    if isinstance(exc, IsADirectoryError) or (isinstance(exc, FileExistsError) and action == "write"):
        hint = " (a directory and an object collide at this path; move one of them)"
    elif isinstance(exc, PermissionError):
        hint = " (check the file permissions)"
    elif isinstance(exc, NotADirectoryError):
        hint = " (a file is in the way of a directory on this path)"
    return StorageError(f"cannot {action} {path}: {reason}{hint}")


def _read(path: str, rng: ByteRange | None) -> Blob | None:
    for suffix, encoding in SIBLINGS:
        p = path + suffix
        try:
            with open(p, "rb", buffering=0) as f:
                if rng is None:
                    data = f.readall()
                else:
                    start, stop = slice_range(os.fstat(f.fileno()).st_size, rng)
                    data = _pread_all(f.fileno(), start, stop)
        except _MISSING:
            continue
        except OSError as exc:
            raise _storage_error("read", p, exc) from exc
        return Blob(data, encoding)
    return None


_local = threading.local()


def _read_reusing(path: str) -> Blob | None:
    """:func:`_read` of a whole object into this thread's reusable buffer.

    Bare os calls: each one gives up and retakes the GIL, and under load retaking it costs a
    thread wake-up (profiled: 12% of a decoding thread's time), so as few as possible.
    """
    for suffix, encoding in SIBLINGS:
        p = path + suffix
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except _MISSING:
            continue
        except OSError as exc:
            raise _storage_error("read", p, exc) from exc
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise _storage_error("read", p, IsADirectoryError(21, "Is a directory", p))
            size = st.st_size
            buf = getattr(_local, "buf", None)
            if buf is None or len(buf) < size + 1:
                buf = _local.buf = bytearray(max(size + 1, 1 << 18))
            view = memoryview(buf)
            n = 0
            while n <= size:  # one byte of room past the end: a grown file is noticed
                got = os.preadv(fd, [view[n : size + 1]], n)
                if not got:
                    break
                n += got
        except StorageError:
            raise
        except OSError as exc:
            raise _storage_error("read", p, exc) from exc
        finally:
            os.close(fd)
        if n > size:  # changed under us (a writer not using temp + rename): plain read
            return _read(path, None)
        return Blob(view[:n], encoding)  # type: ignore[arg-type]
    return None


def _pread_all(fd: int, start: int, stop: int) -> bytes:
    parts: list[bytes] = []
    while start < stop:
        chunk = os.pread(fd, stop - start, start)
        if not chunk:  # file shrank under us (replaced files never do; be safe)
            break
        parts.append(chunk)
        start += len(chunk)
    return b"".join(parts)


def _stat(p: str) -> os.stat_result | None:
    try:
        return os.stat(p)
    except _MISSING:
        return None
    except OSError as exc:
        raise _storage_error("stat", p, exc) from exc


def _exists(path: str) -> bool:
    # A directory is not an object (as on an object store).
    for suffix, _ in SIBLINGS:
        st = _stat(path + suffix)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            return True
    return False


def _size(path: str) -> int | None:
    for suffix, _ in SIBLINGS:
        p = path + suffix
        st = _stat(p)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):  # get() cannot read it either: an error, not "missing"
            raise _storage_error("size", p, IsADirectoryError(21, "Is a directory", p))
        return st.st_size
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _atomic_write(target: str, data: bytes, durable: bool) -> None:
    """Write ``target`` so readers see the old or the new content, never a mix."""
    directory = os.path.dirname(target)
    tmp = os.path.join(directory, TMP_PREFIX + secrets.token_hex(8))
    # os.open with 0o666 honours the umask (mkstemp would force 0o600 on the final file).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _storage_error("fsync directory", directory, exc) from exc


def _unlink_all(path: str, keep: str | None) -> bool:
    """Remove every spelling of ``path`` except ``keep``; True if something was removed."""
    removed = False
    for suffix, _ in SIBLINGS:
        p = path + suffix
        if p == keep:
            continue
        try:
            os.unlink(p)
            removed = True
        except _MISSING:
            pass
        except OSError as exc:
            raise _storage_error("remove", p, exc) from exc
    return removed


def _strip_encoding(name: str) -> str:
    for suffix in _ENCODED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _walk(root: str, prefix: str) -> list[str]:
    """Keys under ``root`` starting with ``prefix``, encoding suffixes stripped, sorted."""
    dirpart, _, partial = prefix.rpartition("/")
    start = os.path.normpath(os.path.join(root, dirpart)) if dirpart else root

    def onerror(exc: OSError) -> None:
        if not isinstance(exc, _MISSING):
            raise _storage_error("list", exc.filename or start, exc) from exc

    keys: set[str] = set()
    for current, dirs, files in os.walk(start, onerror=onerror):
        rel = os.path.relpath(current, start)
        if rel == ".":
            # Prune top-level directories that cannot hold a key matching the prefix.
            dirs[:] = [d for d in dirs if (d + "/").startswith(partial)]
            base = dirpart
        else:
            base = f"{dirpart}/{rel}" if dirpart else rel
        for name in files:
            if name.startswith(TMP_PREFIX):
                continue
            key = _strip_encoding(name)
            full = f"{base}/{key}" if base else key
            if full.startswith(prefix):
                keys.add(full)
    return sorted(keys)
