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
from .paths import S3_ALIASES, CloudPath, parse_cloudpath

__all__ = ["Blob", "CloudPath", "PutItem", "Store", "open_store", "parse_cloudpath"]


def open_store(
    url_or_cloudpath: str | CloudPath,
    options: Options | None = None,
    *,
    read_only: bool = False,
    secrets: object = None,
) -> Store:
    """Open the store rooted at ``url_or_cloudpath`` (a layer URL, a local path or a CloudPath).

    The store is lazy: no I/O happens until the first call. Close it with ``await
    store.close()`` or ``async with``. ``secrets`` (s3, gs, S3 aliases and boss: a dict, a path to
    a JSON file or a JSON string; boss's keys are ``token``, ``protocol`` and ``host``) overrides
    every other credential source; see :mod:`aiovolume.storage.secrets`.
    """
    cp = parse_cloudpath(url_or_cloudpath)
    if cp.scheme == "file":
        from .file import FileStore

        return FileStore(cp.path, options, read_only=read_only)
    if cp.scheme == "mem":
        from .memory import MemoryStore

        assert cp.bucket is not None
        return MemoryStore(cp.bucket, cp.path, options, read_only=read_only)
    if cp.scheme == "gs":
        from .gcs import GcsStore

        assert cp.bucket is not None
        return GcsStore(cp.bucket, cp.path, options, read_only=read_only, secrets=secrets)  # type: ignore[arg-type]
    if cp.scheme == "s3" or cp.scheme in S3_ALIASES:
        from .s3 import S3Store

        assert cp.bucket is not None
        if cp.auth is not None:
            raise UnsupportedProtocolError(
                f"{cp.url}: credentials typed into an S3 endpoint URL are not used; "
                "pass secrets= or use aws-secret.json / AWS_ACCESS_KEY_ID instead"
            )
        service = "s3" if cp.scheme == "s3" else cp.scheme
        return S3Store(cp.bucket, cp.path, options, read_only=read_only, endpoint=cp.endpoint,
                       service=service, secrets=secrets)  # type: ignore[arg-type]
    if cp.scheme == "boss":
        from .boss import BossStore

        return BossStore(cp, options, read_only=read_only, secrets=secrets)  # type: ignore[arg-type]
    if cp.scheme in ("http", "https"):
        from .http import HttpStore

        return HttpStore(cp, options, read_only=True)  # HTTP(S) layers are always read-only
    raise UnsupportedProtocolError(f"{cp.url}: no storage backend for {cp.scheme}://")
