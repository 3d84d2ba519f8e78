"""Shared-memory output buffers that worker processes decode into.

The parent creates a ``/dev/shm`` segment, workers map it by name, and once the work is
done the parent unlinks the name: the mapping stays valid, so the returned array is
ordinary memory freed when the array dies, and nothing is left in ``/dev/shm`` — also
after Ctrl-C (``finally``) or a crash of the parent (the resource tracker unlinks it).
"""

from __future__ import annotations

import itertools
import mmap
import os
import secrets
from multiprocessing import resource_tracker

import numpy as np

from ..exceptions import OptionError, SharedMemoryReadError

SHM_DIR = "/dev/shm"
PREFIX = "aiovolume_"
_counter = itertools.count()


def shm_available(nbytes: int) -> bool:
    """Whether ``/dev/shm`` exists and has room for ``nbytes`` (Docker defaults to 64 MB)."""
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize > nbytes + (64 << 20)


class SharedArray:
    """A Fortran-ordered array in a named shared-memory segment.

    >>> with SharedArray((4, 4, 4, 1), "uint8") as sa:
    ...     sa.array[:] = 1; int(sa.array.sum())
    64
    """

    def __init__(self, shape: tuple[int, ...], dtype: str | np.dtype) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        nbytes = max(1, int(np.prod(self.shape)) * self.dtype.itemsize)
        self.name = f"{PREFIX}{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
        path = os.path.join(SHM_DIR, self.name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        # registered so the tracker process unlinks it if we are SIGKILLed mid-read
        resource_tracker.register("/" + self.name, "shared_memory")
        self._linked = True
        try:
            os.ftruncate(fd, nbytes)
            self._mmap = mmap.mmap(fd, nbytes)
        except BaseException:
            self.unlink()
            raise
        finally:
            os.close(fd)
        self.array = np.ndarray(self.shape, dtype=self.dtype, buffer=self._mmap, order="F")

    def unlink(self) -> None:
        """Remove the name; the mapping (and ``self.array``) stays valid."""
        if not self._linked:
            return
        self._linked = False
        try:
            os.unlink(os.path.join(SHM_DIR, self.name))
        except FileNotFoundError:
            pass
        resource_tracker.unregister("/" + self.name, "shared_memory")

    def __enter__(self) -> "SharedArray":
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlink()


def attach(name: str, shape: tuple[int, ...], dtype: str) -> tuple[mmap.mmap, np.ndarray]:
    """Map a segment made by :class:`SharedArray` (in a worker). Close the mmap when done."""
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    try:
        mm = mmap.mmap(fd, 0)
    finally:
        os.close(fd)
    return mm, np.ndarray(shape, dtype=np.dtype(dtype), buffer=mm, order="F")


def leftover_segments() -> list[str]:
    """Our segments still in /dev/shm (for tests and sweeping after crashes)."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if n.startswith(PREFIX))
    except OSError:
        return []


# -- named segments shared with other processes (CloudVolume's shared-memory API) ---------------
# CloudVolume (posix_ipc) and Python's multiprocessing.shared_memory both keep a segment named
# ``name`` as the file /dev/shm/name holding the bare array bytes, so any of them can attach.

def segment_name(location: str) -> str:
    """A segment's name as a file in /dev/shm: a leading "/" (POSIX style) names the same segment."""
    name = location[1:] if isinstance(location, str) and location.startswith("/") else location
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise OptionError(f"{location!r} is not a shared-memory name (one path component, e.g. 'precomputed-shm-...')")
    return name


def segment_path(location: str) -> str:
    return os.path.join(SHM_DIR, segment_name(location))


def segment_size(location: str) -> int | None:
    """Bytes of an existing segment, None when there is none."""
    try:
        return os.stat(segment_path(location)).st_size
    except FileNotFoundError:
        return None


def shm_free_bytes() -> int:
    """Free bytes in /dev/shm (0 when there is none)."""
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def open_segment(location: str, shape: tuple[int, ...], dtype: str | np.dtype, order: str = "F",
                 readonly: bool = False) -> tuple[mmap.mmap, np.ndarray]:
    """Map segment ``location`` as an array, as CloudVolume's ``sharedmemory.ndarray`` does.

    Writable: created when missing, resized when its size differs (contents then undefined).
    Read-only: it must exist with exactly the array's size, else SharedMemoryReadError.
    The caller checks room first and closes the mmap when done; the name stays until unlinked.
    """
    path = segment_path(location)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if readonly:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise SharedMemoryReadError(f"{path} does not exist: nothing was written to shared memory "
                                        f"{location!r} (a {shape} {dtype} array was expected)") from None
    else:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        size = os.fstat(fd).st_size
        if readonly and size != nbytes:
            raise SharedMemoryReadError(f"{path} holds {size} bytes, not the {nbytes} of a {shape} {dtype} array "
                                        "(check the bbox, the layer's dtype and its number of channels)")
        if not readonly and size != nbytes:
            os.ftruncate(fd, nbytes)
        if nbytes == 0:  # mmap cannot map nothing
            return mmap.mmap(-1, 1), np.ndarray(shape, dtype=dtype, order=order)  # type: ignore[call-overload]
        mm = mmap.mmap(fd, nbytes, access=mmap.ACCESS_READ if readonly else mmap.ACCESS_WRITE)
    finally:
        os.close(fd)
    return mm, np.ndarray(shape, dtype=dtype, buffer=mm, order=order)  # type: ignore[call-overload]


def unlink_segment(location: str) -> bool:
    """Remove a segment's name; False when there was none (as CloudVolume's ``sharedmemory.unlink``)."""
    try:
        os.unlink(segment_path(location))
    except FileNotFoundError:
        return False
    return True
