"""Batch decode and encode: what runs in worker processes (and in codec threads).

Imports only numpy, codecs, shm and the pipeline's plain values: no asyncio, no storage.
Items are small NamedTuples, cheap to pickle; the output (reads) or source array (writes) is
shared memory when this runs in a worker process, so only status crosses back.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from ..codecs import ChunkFormat, decode_chunk, encode_chunk
from ..codecs.compression import compress, decompress
from ..exceptions import DecodingError, EncodingError
from .placement import copy_block, decode_place, place_cached, slices_of
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
    return [payload for _, payload in encode_each(src, spec, items)]


def encode_each(src: np.ndarray, spec: EncodeSpec, items: Sequence[EncodeItem],
                transient: bool = False) -> Iterator[tuple[EncodeItem, Any]]:
    """``(item, payload)`` for each item in turn: the chunk's stored bytes, or None where
    ``skip_background`` and it is all background.

    ``transient``: a payload may be a view valid only until the next item is asked for (this
    thread's scratch buffer, or the source array itself when the chunk is already laid out as
    stored): for a caller that writes each chunk before taking the next (a local store).
    """
    fmt = spec.fmt
    plain = fmt.encoding == "raw"  # raw chunks are their F-order bytes: cut them straight to a buffer
    for item in items:
        task, merge, data, encoding = item
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
            yield item, None
            continue
        try:
            raw = f_order_buffer(chunk, fmt.np_dtype) if plain and transient else encode_chunk(chunk, fmt)
            yield item, compress(raw, spec.method, spec.level)
        except EncodingError as exc:
            raise EncodingError(f"chunk {task.key}: {exc}") from None


_local = threading.local()
#: chunks up to this size are cut into a per-thread buffer that is reused; bigger ones get their own
SCRATCH_MAX = 16 << 20


def f_order_buffer(chunk: np.ndarray, dtype: np.dtype) -> memoryview:
    """``chunk``'s bytes in Fortran order (a raw chunk as stored), valid until this thread's
    next call: ``chunk`` itself when it is already F-contiguous in ``dtype`` (no copy), else one
    copy into a per-thread buffer that is reused.

    The copy it replaces (``np.empty`` + assign + ``tobytes``) made two: the fresh array's and
    the bytes' page faults cost as much as the copies, and ``tobytes`` holds the GIL.
    """
    if chunk.dtype == dtype and chunk.flags.f_contiguous:
        return memoryview(chunk.T).cast("B") if chunk.size else memoryview(b"")
    nbytes = chunk.size * dtype.itemsize
    if nbytes > SCRATCH_MAX:
        out = np.empty(chunk.shape, dtype, order="F")
        out[...] = chunk
        return memoryview(out.T).cast("B") if out.size else memoryview(b"")
    buf = getattr(_local, "scratch", None)
    if buf is None or len(buf) < nbytes:
        buf = _local.scratch = bytearray(max(nbytes, 1 << 18))  # zero-filled: its pages are mapped once
    out = np.frombuffer(buf, dtype, count=chunk.size).reshape(chunk.shape, order="F")
    copy_block(out, chunk)
    return memoryview(buf)[:nbytes]


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
