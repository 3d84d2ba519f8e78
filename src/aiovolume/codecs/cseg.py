"""``compressed_segmentation``: uint32/uint64, any number of channels (precomputed-format.md §4.3).

Encoding goes channel by channel: compressed-segmentation 2.3.3 segfaults on 4-D multi-channel input
(older versions silently got channel >= 1 wrong), so each channel is compressed as 3-D and we write the
channel offset table ourselves. One channel is exactly the library's (and CloudVolume's) output.

The C decoder trusts every offset in the stream: garbage makes it read outside the buffer and crash.
:func:`validate` checks the offset table, each block header and every lookup-table index the
decoder will follow against the buffer length first, so the decoder only ever reads inside it.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require

DEFAULT_BLOCK = (8, 8, 8)
_BITS = np.array([0, 1, 2, 4, 8, 16, 32])
_VALID_BITS = np.zeros(256, dtype=bool)  # encodedBits is the header's top byte
_VALID_BITS[_BITS] = True


@guard(EncodingError, "compressed_segmentation encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    cseg = require("compressed_segmentation", "compressed-segmentation", "compressed_segmentation")
    dtype = fmt.np_dtype
    if dtype.name not in ("uint32", "uint64") or array.dtype != dtype:
        raise EncodingError(f"compressed_segmentation stores uint32 or uint64, got {array.dtype}")
    block = tuple(fmt.block_size or DEFAULT_BLOCK)
    streams = []
    for c in range(array.shape[3]):
        # order="F" must describe the memory layout, or the result is silently wrong
        channel = np.asfortranarray(array[..., c])
        streams.append(np.frombuffer(cseg.compress(channel, block_size=block, order="F"), "<u4")[1:])
    offsets = np.cumsum([len(streams)] + [len(s) for s in streams[:-1]]).astype("<u4")
    return b"".join([offsets.tobytes()] + [s.tobytes() for s in streams])


@guard(DecodingError, "compressed_segmentation decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    cseg = require("compressed_segmentation", "compressed-segmentation", "compressed_segmentation")
    dtype = fmt.np_dtype
    block = tuple(fmt.block_size or DEFAULT_BLOCK)
    validate(data, shape, fmt.num_channels, block, dtype.itemsize // 4)
    out = cseg.decompress(bytes(data), (*shape, fmt.num_channels), dtype, block, order="F")
    return out.reshape((*shape, fmt.num_channels), order="F")


@guard(DecodingError, "compressed_segmentation decoding")
def validate(data: bytes, shape: tuple[int, int, int], channels: int, block: tuple[int, int, int], wpv: int) -> None:
    """Raise DecodingError unless every word the C decoder reads lies inside ``data``.

    ``wpv``: 32-bit words per lookup-table value (1 for uint32, 2 for uint64).
    """
    if len(data) % 4:
        raise DecodingError(f"compressed_segmentation stream of {len(data)} bytes is not whole 32-bit words")
    words = np.frombuffer(data, "<u4")
    n = words.size
    if n < channels or words[0] != channels:
        raise DecodingError(
            f"compressed_segmentation channel table is wrong for {channels} channel(s) "
            f"(first word {int(words[0]) if n else 'missing'}, expected {channels})"
        )
    grid = [-(-s // b) for s, b in zip(shape, block)]
    nblocks = grid[0] * grid[1] * grid[2]
    for c in range(channels):
        base = int(words[c])
        if base + 2 * nblocks > n:
            raise DecodingError(
                f"compressed_segmentation channel {c} ({nblocks} block headers at word {base}) "
                f"runs past the end ({n} words): truncated or corrupt"
            )
        _check_channel(words[base:], nblocks, grid, shape, block, wpv, c)


def _check_channel(w: np.ndarray, nblocks: int, grid: list[int], shape, block, wpv: int, channel: int) -> None:
    avail = w.size  # words from the channel start to the end of the buffer
    headers = w[: 2 * nblocks].reshape(nblocks, 2).astype(np.int64)
    table = headers[:, 0] & 0xFFFFFF
    bits = headers[:, 0] >> 24
    values = headers[:, 1]
    if not _VALID_BITS[bits].all():  # a table lookup: np.isin was a third of validation
        bad = sorted(set(bits.tolist()) - set(_BITS.tolist()))
        raise DecodingError(f"compressed_segmentation channel {channel}: invalid encodedBits {bad}")
    bvox = block[0] * block[1] * block[2]
    nwords = (bits * bvox + 31) // 32
    entries = (avail - table) // wpv  # lookup-table entries that fit before the end of the buffer
    if (values + nwords > avail).any() or (entries < 1).any():
        raise DecodingError(
            f"compressed_segmentation channel {channel}: a block's data lies past the end (truncated or corrupt)"
        )
    # An index needs checking only where its largest possible value would not fit.
    suspect = np.flatnonzero((bits > 0) & (entries < (np.int64(1) << bits)))
    if suspect.size:
        _check_indices(w, suspect, bits, values, entries, grid, shape, block, channel)


def _check_indices(w, suspect, bits, values, entries, grid, shape, block, channel) -> None:
    """Unpack the indices of the suspect blocks (in-volume voxels only, as the decoder reads)."""
    bx, by, bz = block
    bvox = bx * by * bz
    v = np.arange(bvox)
    vx, vy, vz = v % bx, (v // bx) % by, v // (bx * by)
    for b in np.unique(bits[suspect]):
        ids = suspect[bits[suspect] == b]
        per_word = 32 // int(b)
        nwords = -(-bvox // per_word)
        words = w[values[ids, None] + np.arange(nwords)]  # (k, nwords); in bounds (checked above)
        shifts = (np.arange(per_word, dtype=np.uint32) * np.uint32(b))
        idx = ((words[:, :, None] >> shifts) & np.uint32((1 << int(b)) - 1 if b < 32 else 0xFFFFFFFF))
        idx = idx.reshape(len(ids), -1)[:, :bvox].astype(np.int64)
        gx, gy, gz = ids % grid[0], (ids // grid[0]) % grid[1], ids // (grid[0] * grid[1])
        ex = np.minimum(bx, shape[0] - gx * bx)[:, None]
        ey = np.minimum(by, shape[1] - gy * by)[:, None]
        ez = np.minimum(bz, shape[2] - gz * bz)[:, None]
        inside = (vx < ex) & (vy < ey) & (vz < ez)
        if (np.where(inside, idx, 0).max(axis=1) >= entries[ids]).any():
            raise DecodingError(
                f"compressed_segmentation channel {channel}: a lookup index points past the end of the stream (corrupt)"
            )
