"""Stored chunk files without rendering an image: ``download_files``.

Bytes arrive through the source (``ChunkSource.fetch_many``), so every layout a source knows
works here; transport decompression and the optional ``segids`` masking (decode, mask,
re-encode in the same encoding) run in the codec threads, never in the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from ..codecs import ChunkFormat, decode_chunk, encode_chunk
from ..codecs.compression import compress, decompress
from ..labels import mask_except
from ..storage.base import Blob
from .executor import thread_pool
from .source import ChunkSource
from .tasks import ChunkTask


async def fetch_files(
    source: ChunkSource, tasks: Sequence[ChunkTask], *, decompress_files: bool, fmt: ChunkFormat,
    segids: Sequence[Any] | None = None, preserve_zeros: bool = False,
) -> dict[str, bytes | None]:
    """``{chunk key: bytes}`` for every task (None where the chunk is missing).

    ``decompress_files``: undo the transport compression (gzip, br, ...), leaving the image
    encoding as stored. ``segids``: labels not listed are masked (0, or with ``preserve_zeros``
    the dtype's largest value) and the chunk is re-encoded, transport compression included when
    the bytes are kept compressed.
    """
    if not tasks:
        return {}
    blobs = await source.fetch_many(tasks)
    keep = None if segids is None else list(segids)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        thread_pool(), _finish, tasks, blobs, decompress_files, fmt, keep, preserve_zeros,
    )


def _finish(tasks: Sequence[ChunkTask], blobs: dict, plain: bool, fmt: ChunkFormat,
            segids: list[Any] | None, preserve_zeros: bool) -> dict[str, bytes | None]:
    return {t.key: _one(t, blobs.get(t.position), plain, fmt, segids, preserve_zeros) for t in tasks}


def _one(task: ChunkTask, blob: Blob | None, plain: bool, fmt: ChunkFormat,
         segids: list[Any] | None, preserve_zeros: bool) -> bytes | None:
    if blob is None:
        return None
    if segids is None:
        return bytes(decompress(blob.data, blob.encoding)) if plain else bytes(blob.data)
    image = decode_chunk(bytes(decompress(blob.data, blob.encoding)), fmt, task.shape)
    encoded = encode_chunk(mask_except(image, segids, preserve_zeros), fmt)
    return encoded if plain or blob.encoding is None else compress(encoded, blob.encoding)
