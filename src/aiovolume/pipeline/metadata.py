"""Loading a layer's info file: fetch, undo its transport compression, parse.

Kept out of ``volume.py`` so that the volume never touches codecs directly (DESIGN §2: volume
plans, pipeline does the work); redirects are followed by the volume, which owns the stores.

Example::

    async with open_store("file:///data/layer") as store:
        info = await load_info(store)
"""

from __future__ import annotations

from ..codecs.compression import decompress
from ..exceptions import InfoError, InfoUnavailableError
from ..format.info import LayerInfo, info_from_json
from ..storage.base import Store

__all__ = ["load_info"]


async def load_info(store: Store) -> LayerInfo:
    """The parsed ``info`` at the root of ``store``.

    Raises InfoUnavailableError when there is none, InfoError when it cannot be read.
    """
    where = store.url + "/info"
    blob = await store.get("info")
    if blob is None:
        raise InfoUnavailableError(
            f"no info file at {where}; create one with CloudVolume.create_new_info(...) and commit_info()"
        )
    try:
        # in the loop: an info is a few kB, less work than the hop to a worker would be
        data = decompress(blob.data, blob.encoding)
    except Exception as exc:
        raise InfoError(f"info file at {where} could not be decompressed: {exc}") from None
    return info_from_json(data, where)


async def load_small_file(store: Store, name: str) -> bytes | None:
    """A small file of the layer (``provenance``) without its transport compression, or None."""
    blob = await store.get(name)
    if blob is None:
        return None
    try:
        return bytes(decompress(blob.data, blob.encoding))
    except Exception as exc:
        raise InfoError(f"{store.url}/{name} could not be decompressed: {exc}") from None
