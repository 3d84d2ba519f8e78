"""``compressed_segmentation``: uint32/uint64, any number of channels (precomputed-format.md §4.3).

Encoding goes channel by channel: compressed-segmentation 2.3.3 segfaults on 4-D multi-channel input
(older versions silently got channel >= 1 wrong), so each channel is compressed as 3-D and we write the
channel offset table ourselves. One channel is exactly the library's (and CloudVolume's) output.

The C decoder trusts every offset in the stream: garbage makes it read outside the buffer and crash.
:func:`validate` checks the offset table, each block header and every lookup-table index the
decoder will follow against the buffer length first, so the decoder only ever reads inside it.

Decoding prefers :mod:`.cseg_kernel` (numba, drops the GIL, writes straight into the read's
output: :func:`decode_into`). Loading it costs ~0.5 s once per process (numba's import and
its cached machine code), so the first use starts loading it in a background thread and the C
decoder serves until it is ready: no call ever waits for it, not even one on the event loop.
Without numba the C decoder serves for good. (compressed-segmentation 2.3.3 also decodes 32-bit
indices wrongly, every voxel getting table entry 0; the kernel follows the spec: test_cseg_into.py.)
"""

from __future__ import annotations

import os
import threading
from typing import Any

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
    dtype = fmt.np_dtype
    block = tuple(fmt.block_size or DEFAULT_BLOCK)
    kernel = _kernel()
    if kernel is None:
        cseg = require("compressed_segmentation", "compressed-segmentation", "compressed_segmentation")
        validate(data, shape, fmt.num_channels, block, dtype.itemsize // 4)
        out = cseg.decompress(bytes(data), (*shape, fmt.num_channels), dtype, block, order="F")
        return out.reshape((*shape, fmt.num_channels), order="F")
    validate(data, shape, fmt.num_channels, block, dtype.itemsize // 4)
    out = np.empty((*shape, fmt.num_channels), dtype, order="F")
    kernel.decode_into(np.frombuffer(data, "<u4"), shape, block, tuple((0, s) for s in shape), out)
    return out


@guard(DecodingError, "compressed_segmentation decoding")
def decode_into(data: Any, fmt, shape: tuple[int, int, int], dst: np.ndarray, part: tuple) -> bool:
    """Decode voxels ``part`` ((x0, x1), (y0, y1), (z0, z1) of the chunk) into ``dst`` (x, y, z, c).

    False (nothing done, nothing checked) until the compiled kernel is ready, or when ``dst``
    is not of the layer's dtype: the caller then decodes the whole chunk and copies.
    """
    kernel = _kernel()
    dtype = fmt.np_dtype
    if kernel is None or dst.dtype != dtype or not dtype.isnative:
        return False
    block = tuple(fmt.block_size or DEFAULT_BLOCK)
    validate(data, shape, fmt.num_channels, block, dtype.itemsize // 4)
    kernel.decode_into(np.frombuffer(data, "<u4"), shape, block, part, dst)
    return True


# The compiled kernel: None while not (yet) loaded, False if numba is missing or failed.
_fast: Any = None
_loading = threading.Lock()
_started = False


def _kernel() -> Any:
    fast = _fast
    if fast is None and not _started:
        _start_loading()
    return fast or None


def prepare() -> None:
    """Start loading the compiled kernel in the background, if not yet started."""
    _kernel()


def _start_loading() -> None:
    global _started
    with _loading:
        if _started:
            return
        _started = True
    threading.Thread(target=_load, name="aiovolume-cseg-kernel", daemon=True).start()


#: set to "0" to keep numba out of the process (its import costs ~120 MiB of RSS): the C decoder serves
KERNEL_ENV = "AIOVOLUME_CSEG_KERNEL"


def _load() -> None:
    global _fast
    if os.environ.get(KERNEL_ENV, "1") == "0":
        _fast = False
        _ready.set()
        return
    try:
        from . import cseg_kernel

        cseg_kernel.warm()
    except Exception:  # numba missing, or no usable build for this platform: the C decoder serves
        _fast = False
    else:
        _fast = cseg_kernel
    _ready.set()


_ready = threading.Event()


def fast_decoder(wait: float | None = None) -> bool:
    """Whether the compiled kernel serves; ``wait``: start loading it and wait up to that many seconds."""
    if wait is not None and _fast is None:
        _start_loading()
        _ready.wait(wait)
    return bool(_fast)


def _after_fork() -> None:
    # a fork during loading leaves no loader thread in the child: let the child start its own
    global _started, _loading, _ready
    _loading = threading.Lock()
    if _fast is None:
        _started = False
        _ready = threading.Event()


os.register_at_fork(after_in_child=_after_fork)


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
