"""Blocking file operations behind ``file://`` (FileStore runs them on its executor threads;
the single-object async ones are in :mod:`.fileaio`).

CloudVolume's local convention for Content-Encoding is a filename suffix: a gzip-encoded object
``key`` lives in ``key.gz``; reads probe the spellings in :data:`SIBLINGS` order, and a write
replaces the object atomically (temp file + ``os.replace``) before removing other spellings.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import threading
from collections.abc import Callable, Sequence

from ..exceptions import StorageError
from .base import Blob

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
SUFFIX: dict[str | None, str] = {enc: suffix for suffix, enc in SIBLINGS}
_ENCODED_SUFFIXES = tuple(suffix for suffix, _ in SIBLINGS if suffix)

#: Temp files of in-progress writes; ``list`` skips them. A crash can leave one behind.
TMP_PREFIX = ".tmp-aiovolume-"
# Errors meaning "no such object": the file is absent, or a parent is a file, not a directory.
MISSING = (FileNotFoundError, NotADirectoryError)


def storage_error(action: str, path: str, exc: OSError) -> StorageError:
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


def _open_first(path: str) -> tuple[int, str, str | None, os.stat_result] | None:
    """Open the first spelling of ``path`` that exists: ``(fd, file path, encoding, its stat)``.

    A directory in the way is an error, not a missing object. The caller closes ``fd``.
    """
    for suffix, encoding in SIBLINGS:
        p = path + suffix
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except MISSING:
            continue
        except OSError as exc:
            raise storage_error("read", p, exc) from exc
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise storage_error("read", p, exc) from exc
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise storage_error("read", p, IsADirectoryError(21, "Is a directory", p))
        return fd, p, encoding, st
    return None


def file_version(st: os.stat_result) -> tuple[int, int, int]:
    """A file's version: every write renames a new file into place, so a new inode."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def read_object(path: str) -> Blob | None:
    """The whole first spelling of ``path`` that exists, or None."""
    found = _open_first(path)
    if found is None:
        return None
    fd, p, encoding, st = found
    try:
        with open(fd, "rb", buffering=0, closefd=False) as f:
            data = f.readall()
    except OSError as exc:
        raise storage_error("read", p, exc) from exc
    finally:
        os.close(fd)
    return Blob(data, encoding, version=file_version(st))


def read_spans(
    path: str, spans: Sequence[tuple[int, int]], limit: int
) -> tuple[str, str | None, os.stat_result, list[bytes]] | None:
    """Open the first spelling of ``path`` once and ``pread`` each ``(start, stop)`` span.

    Returns None when missing, else ``(file, encoding, stat, datas)``; ``datas`` is empty
    (nothing read) when the file is transport-encoded or smaller than ``limit`` bytes, which
    the caller turns into errors.
    """
    found = _open_first(path)
    if found is None:
        return None
    fd, p, encoding, st = found
    try:
        if encoding is not None or limit > st.st_size:
            return p, encoding, st, []
        return p, None, st, [_pread_all(fd, start, stop) for start, stop in spans]
    except OSError as exc:
        raise storage_error("read", p, exc) from exc
    finally:
        os.close(fd)


_local = threading.local()
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)  # 0 elsewhere than Linux: nowait reads always refuse
NOWAIT_READS = bool(_NOWAIT)


def read_object_reusing(
    path: str, window: tuple[int, int, int] | None = None, nowait: bool = False
) -> Blob | None:
    """:func:`read_object` of a whole object into this thread's reusable buffer, or of only
    ``window=(size, start, stop)``'s bytes when the object is stored plain and is ``size``
    bytes long (``Blob.span`` then says which part this is).

    ``nowait``: raise BlockingIOError rather than wait for the disk (bytes not in the page
    cache, or a filesystem that cannot tell: ``RWF_NOWAIT`` unsupported).

    Bare os calls: each one gives up and retakes the GIL, and under load retaking it costs a
    thread wake-up (profiled: 12% of a decoding thread's time), so as few as possible.
    """
    if nowait and not _NOWAIT:
        raise BlockingIOError(errno.EAGAIN, "non-blocking reads are not supported here", path)
    found = _open_first(path)
    if found is None:
        return None
    fd, p, encoding, st = found
    size = st.st_size
    start, stop, span = 0, size + 1, None  # one byte of room past the end: a grown file is noticed
    if window is not None and encoding is None and size == window[0]:
        start, stop = window[1], window[2]
        span = (start, stop)
    flags = _NOWAIT if nowait else 0
    try:
        buf = getattr(_local, "buf", None)
        if buf is None or len(buf) < stop - start:
            buf = _local.buf = bytearray(max(stop - start, 1 << 18))
        view = memoryview(buf)
        n = 0
        while n < stop - start:
            got = os.preadv(fd, [view[n : stop - start]], start + n, flags)
            if not got:
                break
            n += got
    except BlockingIOError:
        raise
    except OSError as exc:
        if nowait and exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            raise BlockingIOError(errno.EAGAIN, "non-blocking reads are not supported here", p) from None
        raise storage_error("read", p, exc) from exc
    finally:
        os.close(fd)
    if n > size or (span is not None and n < stop - start):
        # changed under us (a writer not using temp + rename): read it again, where one may wait
        if nowait:
            raise BlockingIOError(errno.EAGAIN, "the object changed while being read", p)
        return read_object(path)
    return Blob(view[:n], encoding, span)  # type: ignore[arg-type]


def read_object_scattered(
    path: str, head_size: int, place: Callable[[int, bytes], Sequence[memoryview]]
) -> Blob | None:
    """:func:`read_object` for a caller that allocates the destination itself: the object's
    first ``head_size`` bytes are read, ``place(size, head)`` returns writable buffers for the
    bytes that follow (in order), and one ``preadv`` fills them, with no copy through a read
    buffer. The Blob then holds ``head`` with ``span=(0, len(head))``. A transport-encoded
    object, or one that changed while being read, comes back whole (``span`` None) instead;
    what ``place`` raises propagates."""
    found = _open_first(path)
    if found is None:
        return None
    fd, p, encoding, st = found
    try:
        if encoding is None:
            head = os.pread(fd, head_size, 0)
            views = [v for v in place(st.st_size, head) if v.nbytes]
            want = sum(v.nbytes for v in views)
            if _preadv_all(fd, views, len(head)) == want:
                return Blob(head, None, (0, len(head)), version=file_version(st))
    except OSError as exc:
        raise storage_error("read", p, exc) from exc
    finally:
        os.close(fd)
    return read_object(path)  # encoded, or shorter than when placed (a writer not using temp + rename)


_IOV_MAX = 1024  # Linux's limit of buffers per readv/writev


def _advance(views: list[memoryview], done: int) -> None:
    """Drop the first ``done`` bytes of ``views`` (a partial transfer leaves a tail)."""
    while done and views:
        if done >= views[0].nbytes:
            done -= views[0].nbytes
            views.pop(0)
        else:
            views[0] = views[0][done:]
            done = 0


def _preadv_all(fd: int, views: list[memoryview], offset: int) -> int:
    """Fill ``views`` from ``offset`` on; the bytes read (fewer at end of file)."""
    total = 0
    while views:
        got = os.preadv(fd, views[:_IOV_MAX], offset + total)
        if not got:
            break
        total += got
        _advance(views, got)
    return total


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
    except MISSING:
        return None
    except OSError as exc:
        raise storage_error("stat", p, exc) from exc


def object_exists(path: str) -> bool:
    # A directory is not an object (as on an object store).
    for suffix, _ in SIBLINGS:
        st = _stat(path + suffix)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            return True
    return False


def _write_all(fd: int, data: bytes | Sequence[memoryview]) -> None:
    """Write every byte of ``data``: one buffer, or a list of them (``writev``, no join)."""
    if isinstance(data, (list, tuple)):
        _writev_all(fd, [v for v in data if v.nbytes])
        return
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _writev_all(fd: int, views: list[memoryview]) -> None:
    while views:
        _advance(views, os.writev(fd, views[:_IOV_MAX]))


#: unnamed temp files (``O_TMPFILE``) can be given a name through /proc (Linux)
UNNAMED_TEMPS = (bool(getattr(os, "O_TMPFILE", 0)) and os.link in os.supports_dir_fd
                 and os.path.isdir("/proc/self/fd"))
# what open(O_TMPFILE) raises where the filesystem (or kernel) has none, and what naming one
# through /proc may raise where that is not allowed (sandboxes, odd filesystems)
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS})
_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


def atomic_write(target: str, data: bytes, durable: bool, unnamed: bool = True) -> bool:
    """Write ``target`` so readers see the old or the new content, never a mix.

    The bytes go to a temp file in the same directory that becomes ``target`` in one step. With
    ``unnamed`` (where the filesystem has them), an unnamed one (``O_TMPFILE``), linked to the
    name once written. Creating a named file holds the directory's lock while the filesystem
    picks an inode, the dearest step of a chunk write here (ext4 without a journal skips
    recently deleted inodes one by one: 20-30% of a raw write's CPU samples), and other threads'
    renames and unlinks in that directory waited on it (up to 12% of the samples spinning on
    that lock, profiled); an unnamed file takes no directory lock until the link, needs no
    rename when the name is new, and a crash leaves nothing behind. Returns whether unnamed
    temp files work here (False: the caller stops asking).
    """
    directory = os.path.dirname(target)
    if unnamed and UNNAMED_TEMPS:
        try:
            fd = os.open(directory, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o666)  # umask applies
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                raise  # e.g. no such directory yet: the caller creates it and calls again
        else:
            try:
                _write_all(fd, data)
                if durable:
                    os.fsync(fd)
                named = _link_unnamed(fd, directory, target)
            finally:
                os.close(fd)
            if named:
                if durable:
                    fsync_dir(directory)
                return True
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
    except BaseException:
        _discard(tmp)
        raise
    _replace(tmp, target)
    if durable:
        fsync_dir(directory)
    return False


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _replace(tmp: str, target: str) -> None:
    """Rename a finished temp file over ``target``; on failure the temp file goes, nothing else changes."""
    try:
        os.replace(tmp, target)
    except BaseException:
        _discard(tmp)
        raise


class _Unnameable(Exception):
    """Unnamed files cannot be given a name here."""


def _name(fd: int, path: str) -> None:
    # linkat(AT_SYMLINK_FOLLOW) names the file itself, not the /proc link; os.link calls linkat
    # only when given a dir fd (ignored here: the source path is absolute)
    try:
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd)
    except OSError as exc:
        if exc.errno in _NO_LINK:
            raise _Unnameable from None
        raise


def _link_unnamed(fd: int, directory: str, target: str) -> bool:
    """Give the unnamed file open as ``fd`` the name ``target`` (replacing what is there);
    False if unnamed files cannot be named here (nothing was changed)."""
    try:
        try:
            _name(fd, target)
            return True
        except FileExistsError:
            # an existing object: name the new file beside it, then rename it over the old one
            tmp = os.path.join(directory, TMP_PREFIX + secrets.token_hex(8))
            _name(fd, tmp)
    except _Unnameable:
        return False
    _replace(tmp, target)
    return True


def fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise storage_error("fsync directory", directory, exc) from exc


def unlink_all(path: str, keep: str | None) -> bool:
    """Remove every spelling of ``path`` except ``keep``; True if something was removed.

    Each spelling is looked up first: an unlink holds the directory's lock even when the name
    is missing (every write asked for five absent siblings), a lookup takes none once the
    name is known absent.
    """
    removed = False
    for suffix, _ in SIBLINGS:
        p = path + suffix
        if p == keep:
            continue
        try:
            os.lstat(p)
            os.unlink(p)
            removed = True
        except MISSING:
            pass
        except OSError as exc:
            raise storage_error("remove", p, exc) from exc
    return removed


def strip_encoding(name: str) -> str:
    for suffix in _ENCODED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
