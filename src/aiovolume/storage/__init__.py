"""Storage backends: keys and bytes, never volumes.

``open_store`` maps a cloudpath's scheme to its backend, importing the backend lazily so a
missing network client never breaks local use.

Example::

    async with open_store("file:///tmp/demo/layer") as store:
        await store.put("info", b"{}")
        assert (await store.get("info")).data == b"{}"
"""

from __future__ import annotations

from ..exceptions import UnsupportedProtocolError
from ..options import Options
from .base import Blob, PutItem, Store
from .paths import CloudPath, parse_cloudpath

__all__ = ["Blob", "CloudPath", "PutItem", "Store", "open_store", "parse_cloudpath"]

# Parsed by paths.py, backend still to come: a clear error instead of a late AttributeError.
_PLANNED = frozenset({"s3", "gs", "matrix", "http", "https"})


def open_store(
    url_or_cloudpath: str | CloudPath,
    options: Options | None = None,
    *,
    read_only: bool = False,
) -> Store:
    """Open the store rooted at ``url_or_cloudpath`` (a layer URL, a local path or a CloudPath).

    The store is lazy: no I/O happens until the first call. Close it with ``await
    store.close()`` or ``async with``.
    """
    cp = parse_cloudpath(url_or_cloudpath)
    if cp.scheme == "file":
        from .file import FileStore

        return FileStore(cp.path, options, read_only=read_only)
    if cp.scheme == "mem":
        from .memory import MemoryStore

        assert cp.bucket is not None
        return MemoryStore(cp.bucket, cp.path, options, read_only=read_only)
    if cp.scheme in _PLANNED:
        raise UnsupportedProtocolError(
            f"{cp.url}: support for {cp.scheme}:// is not implemented yet; "
            "use file:// or mem:// for now"
        )
    raise UnsupportedProtocolError(f"{cp.url}: no storage backend for {cp.scheme}://")
