"""What runs in worker processes (and, with ``decode_workers=0``, in threads).

Imports only numpy, codecs and shm: no asyncio, no storage. Tasks are tuples, cheap to pickle.

DecodeTask = (key, payload, content_encoding, chunk_shape, src, dst)
    payload bytes of one stored chunk; src/dst are ((x0,x1),(y0,y1),(z0,z1)) ranges inside the
    decoded chunk and inside the output array.
EncodeTask = (key, region, chunk_shape, placement, existing)
    region: ranges inside the source array; placement: where that region lands inside the
    chunk; existing: None for a full chunk, else (payload, content_encoding) of the stored
    chunk to merge into (read-modify-write), or () when the stored chunk is missing.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import numpy as np

from ..codecs import ChunkFormat, decode_chunk, encode_chunk
from ..codecs.compression import compress, decompress
from ..exceptions import DecodingError, EncodingError
from .shm import attach

Ranges = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def slices_of(r: Ranges) -> tuple[slice, slice, slice]:
    return (slice(*r[0]), slice(*r[1]), slice(*r[2]))


def decode_into(
    out: np.ndarray, fmt: ChunkFormat, tasks: Sequence[tuple], cache: Any = None
) -> list[str | None]:
    """Decode every task into ``out``; one item per task: None, or why its bytes are corrupt.

    Corrupt chunks are reported, not raised, so the caller can fetch them again (bytes damaged
    in transit that only the codec or gzip's CRC can detect) while the rest of the batch lands.
    With a ChunkCache, decoded chunks are kept, and a task whose payload is None is served
    from it (or reported as evicted, which the caller treats like a corrupt chunk: fetch again).
    """
    return [_decode_one(out, fmt, *task, cache=cache) for task in tasks]


def _decode_one(out: np.ndarray, fmt: ChunkFormat, key: str, payload: bytes | None, encoding: str | None,
                shape: tuple, src: Ranges, dst: Ranges, cache: Any = None) -> str | None:
    if payload is None:
        chunk = cache.get(key) if cache is not None else None
        if chunk is None:
            return f"chunk {key}: evicted from the chunk cache"
    else:
        try:
            scratch = _scratch(math.prod(shape) * out.shape[3] * out.itemsize) if encoding == "gzip" else None
            chunk = decode_chunk(decompress(payload, encoding, scratch), fmt, shape)
        except DecodingError as exc:
            return f"chunk {key}: {exc}"
        if cache is not None:
            cache.put(key, chunk)
    copy_block(out[slices_of(dst)], chunk[slices_of(src)])
    return None


_local = threading.local()


def _scratch(nbytes: int) -> bytearray:
    """This thread's reusable decompression buffer, at least ``nbytes`` long."""
    buf = getattr(_local, "scratch", None)
    if buf is None or len(buf) < nbytes:
        buf = _local.scratch = bytearray(nbytes)
    return buf


def copy_block(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for (x, y, z, c) blocks, copying whole x-rows at a time.

    numpy copies a 64^3 uint8 block as 4096 inner loops of 64 bytes; viewing each x-row as one
    opaque element makes it one loop of 4096 memcpys, 2.6x faster here (profiled: the copy was
    half of a raw read's CPU).
    """
    d, s = dst.T, src.T  # x last
    if (
        dst.dtype == src.dtype and d.shape == s.shape and d.size > 0
        and d.strides[-1] == d.itemsize and s.strides[-1] == s.itemsize
    ):
        row = np.dtype((np.void, d.shape[-1] * d.itemsize))
        d.view(row)[...] = s.view(row)
    else:
        dst[...] = src


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: fetch_decode_into's results, with ``nowait``, for the tasks it left undone
DEFERRED = _Sentinel("DEFERRED")
COMPRESSED = _Sentinel("COMPRESSED")


def fetch_decode_into(
    out: np.ndarray, fmt: ChunkFormat, read: Callable[..., Any], tasks: Sequence[tuple], cache: Any = None,
    nowait: bool = False,
) -> list[Any]:
    """Read (blocking, local stores) and decode each ``(key, shape, src, dst)`` task into ``out``.

    One item per task: None (decoded), False (no such chunk) or why its bytes are corrupt.
    ``nowait`` (the caller cannot wait for a disk): a task whose bytes are not in the page
    cache is left undone as ``DEFERRED``; once bytes turn out transport-compressed (real
    decoding work), that task and all after it are left undone as ``COMPRESSED``.
    """
    results: list[Any] = []
    planes = fmt.encoding == "raw" and fmt.num_channels == 1 and cache is None
    for n, (key, shape, src, dst) in enumerate(tasks):
        if cache is not None and key in cache and _decode_one(out, fmt, key, None, None, shape, src, dst, cache) is None:
            results.append(None)
            continue
        z0, z1 = src[2]
        window = None
        if planes and z1 - z0 < shape[2]:
            # raw chunks are z-major: read only the z-planes needed (S8's 32^3 cutouts read
            # half of each chunk's bytes)
            plane = shape[0] * shape[1] * out.itemsize
            window = (plane * shape[2], plane * z0, plane * z1)
        try:
            blob = read(key, window, nowait)
        except BlockingIOError:
            results.append(DEFERRED)
            continue
        if blob is None:
            results.append(False)
            continue
        if nowait and blob.encoding is not None:  # so, likely, are the rest
            results += [COMPRESSED] * (len(tasks) - n)
            break
        if blob.span is not None:
            shape, src = (shape[0], shape[1], z1 - z0), (src[0], src[1], (0, z1 - z0))
        results.append(_decode_one(out, fmt, key, blob.data, blob.encoding, shape, src, dst, cache))
    return results


def decode_into_shm(
    name: str, shape: tuple, dtype: str, fmt: ChunkFormat, tasks: Sequence[tuple]
) -> list[str | None]:
    mm, out = attach(name, shape, dtype)
    try:
        return decode_into(out, fmt, tasks)
    finally:
        del out
        _close(mm)


def encode_from(
    src: np.ndarray,
    fmt: ChunkFormat,
    method: str | None,
    level: int | None,
    background: float,
    skip_background: bool,
    tasks: Sequence[tuple],
) -> list[bytes | None]:
    """Encode chunks cut from ``src``; None where ``skip_background`` and the chunk is empty."""
    results: list[bytes | None] = []
    for key, region, shape, placement, existing in tasks:
        piece = src[slices_of(region)]
        if existing is None:
            chunk = piece
        else:
            if existing:
                payload, encoding = existing
                try:
                    chunk = decode_chunk(decompress(payload, encoding), fmt, shape).copy(order="F")
                except DecodingError as exc:
                    # never overwrite a neighbour's voxels with guesses
                    raise DecodingError(f"chunk {key} (read-modify-write): {exc}") from None
            else:
                chunk = np.full((*shape, fmt.num_channels), background, dtype=fmt.np_dtype, order="F")
            chunk[slices_of(placement)] = piece
        if skip_background and not np.any(chunk != background):
            results.append(None)
            continue
        try:
            results.append(compress(encode_chunk(chunk, fmt), method, level))
        except EncodingError as exc:
            raise EncodingError(f"chunk {key}: {exc}") from None
    return results


#: encode_write's result for a chunk it has stored itself
WRITTEN = _Sentinel("WRITTEN")


def encode_write(
    src: np.ndarray,
    fmt: ChunkFormat,
    method: str | None,
    level: int | None,
    background: float,
    skip_background: bool,
    write: Callable[[list[tuple[str, bytes]]], None],
    tasks: Sequence[tuple],
) -> list[_Sentinel | None]:
    """:func:`encode_from`, then store the batch with the blocking ``write`` (local stores).

    One item per task: None where the chunk was skipped as background, else ``WRITTEN``.
    """
    encoded = encode_from(src, fmt, method, level, background, skip_background, tasks)
    write([(task[0], payload) for task, payload in zip(tasks, encoded) if payload is not None])
    return [None if payload is None else WRITTEN for payload in encoded]


def encode_from_shm(
    name: str, shape: tuple, dtype: str, fmt: ChunkFormat, method: str | None, level: int | None,
    background: float, skip_background: bool, tasks: Sequence[tuple],
) -> list[bytes | None]:
    mm, src = attach(name, shape, dtype)
    try:
        return encode_from(src, fmt, method, level, background, skip_background, tasks)
    finally:
        del src
        _close(mm)


def ping() -> int:
    import os

    return os.getpid()


def _close(mm) -> None:
    try:
        mm.close()
    except BufferError:
        # a traceback still references a view; the mapping goes when it is collected
        pass
