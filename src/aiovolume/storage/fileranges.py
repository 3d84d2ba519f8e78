"""``FileStore.get_ranges``'s blocking half: many ranges of one file in one executor hop."""

from __future__ import annotations

import os
import stat
from typing import Sequence

from ..exceptions import StorageError
from .fileio import storage_error
from .ranges import Range, coalesce, encoded, first_past, past_end, slice_back


def read_file_ranges(path: str, where: str, ranges: Sequence[Range], gap: int, max_bytes: int,
                     siblings: Sequence[tuple[str, str]]) -> list[bytes] | None:
    """Blocking: ``ranges`` of the plain file at ``path``: one open, one ``pread`` per merged range.

    None when neither it nor an encoded spelling (``siblings``: ``(suffix, encoding)`` such as ``(".gz", "gzip")``) exists.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        for suffix, encoding in siblings:
            if os.path.exists(path + suffix):
                raise encoded(where, encoding) from None
        return None
    except OSError as exc:
        raise storage_error("read", path, exc) from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise storage_error("read", path, IsADirectoryError(21, "Is a directory", path))
        bad = first_past(ranges, st.st_size)
        if bad is not None:
            raise past_end(where, bad, st.st_size)
        merged = coalesce(ranges, gap, max_bytes)
        data = []
        for start, stop in merged:
            buf = os.pread(fd, stop - start, start)
            if len(buf) != stop - start:  # truncated under us
                raise past_end(where, (start, stop), start + len(buf))
            data.append(buf)
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error("read", path, exc) from exc
    finally:
        os.close(fd)
    return slice_back(ranges, merged, data)
