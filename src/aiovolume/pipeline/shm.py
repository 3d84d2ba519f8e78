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
