"""Whole small objects of ``file://`` (info, provenance, manifests) read with aiofiles.

aiofiles is plain async file access: each call is a hop to its thread pool, which is right for a
single small object, and wrong for chunks (field notes §5: per file it measured 1.2-3.6x slower
than FileStore's batched executor hops and ``pread``/``preadv``). So chunk batches, ranges and the
blocking fast path stay on FileStore's executor; one-off whole-object reads come here.
"""

from __future__ import annotations

import stat
from concurrent.futures import Executor

import aiofiles
import aiofiles.os

from .base import Blob
from .fileio import SIBLINGS, storage_error

_MISSING = (FileNotFoundError, NotADirectoryError)


async def read_whole(path: str, executor: Executor) -> Blob | None:
    """The first stored spelling of ``path`` (plain, ``.gz``, ...) whole, or None when none exists.

    A directory in the way is an error, not a missing object (as in ``fileio.read_object``).
    ``executor``: the store's own threads (aiofiles would otherwise grow the loop's default pool).
    """
    for suffix, encoding in SIBLINGS:
        p = path + suffix
        try:
            st = await aiofiles.os.stat(p, executor=executor)
        except _MISSING:
            continue
        except OSError as exc:
            raise storage_error("read", p, exc) from exc
        if stat.S_ISDIR(st.st_mode):
            raise storage_error("read", p, IsADirectoryError(21, "Is a directory", p))
        try:
            async with aiofiles.open(p, "rb", executor=executor) as f:
                return Blob(await f.read(), encoding)
        except _MISSING:  # removed between stat and open: look at the other spellings
            continue
        except OSError as exc:
            raise storage_error("read", p, exc) from exc
    return None
