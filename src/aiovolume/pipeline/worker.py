"""Batch decode and encode: what runs in worker processes (and in codec threads).

Imports only numpy, codecs, shm and the pipeline's plain values: no asyncio, no storage.
Items are small NamedTuples, cheap to pickle; the output (reads) or source array (writes) is
shared memory when this runs in a worker process, so only status crosses back.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ..codecs import ChunkFormat, decode_chunk, encode_chunk
from ..codecs.compression import compress, decompress
from ..exceptions import DecodingError, EncodingError
from .placement import decode_place, place_cached, slices_of
from .shm import attach
from .tasks import DONE, ChunkResult, ChunkTask, corrupt


class DecodeItem(NamedTuple):
    """One chunk's stored bytes, to decode into its part of the output."""

    task: ChunkTask
    data: Any  # bytes (or a view) as stored
    encoding: str | None  # transport encoding (gzip, br, ...)
    span: tuple[int, int] | None = None  # the bytes are only these z-planes (placement.raw_window)


class EncodeItem(NamedTuple):
    """One chunk to cut from the source array and encode.

    ``merge``: the region covers only part of the chunk, so it is merged into the stored chunk
    (``data``/``encoding``; ``data`` None when none is stored: the rest is background).
    """

    task: ChunkTask
    merge: bool = False
    data: bytes | None = None
    encoding: str | None = None


class EncodeSpec(NamedTuple):
    fmt: ChunkFormat
    method: str | None  # transport compression
    level: int | None
    background: float
    skip_background: bool  # delete_black_uploads: an all-background chunk is deleted, not stored


def decode_batch(out: np.ndarray, fmt: ChunkFormat, items: Sequence[DecodeItem], cache: Any = None) -> list[ChunkResult]:
    """Decode every item into ``out``: one ChunkResult per item (DONE, or CORRUPT and why).

    An item without bytes is copied from the decoded-chunk LRU ``cache``; one evicted meanwhile
    is reported like a corrupt chunk, so the caller fetches it.
    """
    return [
        decode_place(out, fmt, it.task, it.data, it.encoding, it.span, cache) if it.data is not None
        else DONE if place_cached(out, it.task, cache) else corrupt(it.task.key, "evicted from the chunk cache")
        for it in items
    ]


def decode_batch_shm(name: str, shape: tuple, dtype: str, fmt: ChunkFormat,
                     items: Sequence[DecodeItem]) -> list[ChunkResult]:
    mm, out = attach(name, shape, dtype)
    try:
        return decode_batch(out, fmt, items)
    finally:
        del out
        _close(mm)


def encode_batch(src: np.ndarray, spec: EncodeSpec, items: Sequence[EncodeItem]) -> list[bytes | None]:
    """Encoded bytes of each item's chunk; None where ``skip_background`` and it is all background."""
    fmt, results = spec.fmt, []
    for task, merge, data, encoding in items:
        piece = src[slices_of(task.in_region)]
        if not merge:
            chunk = piece
        else:
            if data is not None:
                try:
                    chunk = decode_chunk(decompress(data, encoding), fmt, task.shape).copy(order="F")
                except DecodingError as exc:
                    # never overwrite a neighbour's voxels with guesses
                    raise DecodingError(f"chunk {task.key} (read-modify-write): {exc}") from None
            else:
                chunk = np.full((*task.shape, fmt.num_channels), spec.background, dtype=fmt.np_dtype, order="F")
            chunk[slices_of(task.in_chunk)] = piece
        if spec.skip_background and not np.any(chunk != spec.background):
            results.append(None)
            continue
        try:
            results.append(compress(encode_chunk(chunk, fmt), spec.method, spec.level))
        except EncodingError as exc:
            raise EncodingError(f"chunk {task.key}: {exc}") from None
    return results


def encode_batch_shm(name: str, shape: tuple, dtype: str, spec: EncodeSpec,
                     items: Sequence[EncodeItem]) -> list[bytes | None]:
    mm, src = attach(name, shape, dtype)
    try:
        return encode_batch(src, spec, items)
    finally:
        del src
        _close(mm)


def _close(mm: Any) -> None:
    try:
        mm.close()
    except BufferError:
        # a traceback still references a view; the mapping goes when it is collected
        pass
