"""``compresso`` segmentation (one channel, uint8..uint64), as newer CloudVolume writes it.

The library's decoder does not bound-check its input: a bad run-length in the boundary windows
writes past a heap buffer (glibc then aborts the process), and bad sizes underflow. :func:`validate`
checks the header against the chunk, the section sizes against the stream length, and replays the
window run-lengths (they must cover exactly the block grid, and name existing window values) before
decoding. Labels and locations are not verified, so decoding stays in worker processes by default.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require

HEADER = 36
_HEADER = np.dtype([("magic", "S4"), ("version", "u1"), ("width", "u1"), ("sx", "<u2"), ("sy", "<u2"),
                    ("sz", "<u2"), ("xstep", "u1"), ("ystep", "u1"), ("zstep", "u1"), ("ids", "<u8"),
                    ("values", "<u4"), ("locations", "<u8"), ("connectivity", "u1")])


@guard(EncodingError, "compresso encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    compresso = require("compresso", "compresso", "compresso")
    if array.shape[3] != 1 or array.dtype != fmt.np_dtype or array.dtype.kind != "u":
        raise EncodingError(f"compresso stores one channel of unsigned labels, got {array.dtype} {array.shape}")
    return bytes(compresso.compress(np.asfortranarray(array[..., 0])))


@guard(DecodingError, "compresso decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    compresso = require("compresso", "compresso", "compresso")
    data = bytes(data)
    validate(data, shape, fmt.np_dtype.itemsize, compresso)
    out = compresso.decompress(data)
    if out.shape != tuple(shape):
        raise DecodingError(f"compresso decoded {out.shape}, expected {tuple(shape)}")
    return out.astype(fmt.np_dtype, copy=False).reshape((*shape, 1), order="F")


@guard(DecodingError, "compresso decoding")
def validate(data: bytes, shape: tuple[int, int, int], itemsize: int, compresso) -> None:
    if len(data) < HEADER:
        raise DecodingError(f"compresso stream of {len(data)} bytes is shorter than its header")
    h = np.frombuffer(data[:HEADER], _HEADER)[0]
    if h["magic"] != b"cpso" or h["version"] not in (0, 1):
        raise DecodingError("not a compresso stream (bad magic or format version)")
    width = int(h["width"])
    if width not in (1, 2, 4, 8) or width > itemsize or h["connectivity"] not in (4, 6):
        raise DecodingError(f"compresso header: {width}-byte labels, connectivity {int(h['connectivity'])}")
    dims, steps = (int(h["sx"]), int(h["sy"]), int(h["sz"])), (int(h["xstep"]), int(h["ystep"]), int(h["zstep"]))
    if dims != tuple(shape):
        raise DecodingError(f"compresso stream is {dims}, the chunk is {tuple(shape)}")
    if not 0 < steps[0] * steps[1] * steps[2] <= 64:
        raise DecodingError(f"compresso header: invalid steps {steps}")
    window = np.dtype(compresso.window_dtype(dict(zip(("xstep", "ystep", "zstep"), steps)))).newbyteorder("<")
    zindex = 2 * dims[2] * compresso.zindex_byte_width(dims[0], dims[1]) if h["version"] == 1 else 0
    n_values = int(h["values"])
    fixed = HEADER + (int(h["ids"]) + int(h["locations"])) * width + n_values * window.itemsize
    rest = len(data) - fixed - zindex
    if rest < 0 or rest % window.itemsize:
        raise DecodingError(
            f"compresso sections ({fixed + zindex} bytes + windows) do not fit {len(data)} bytes: truncated or corrupt"
        )
    windows = np.frombuffer(data, window, count=rest // window.itemsize, offset=fixed).astype(np.uint64)
    runs = (windows & 1).astype(bool)
    nblocks = int(np.prod([-(-d // s) for d, s in zip(dims, steps)]))
    covered = int(np.where(runs, windows >> 1, 1).sum())
    if covered != nblocks:
        raise DecodingError(f"compresso windows cover {covered} blocks, the grid has {nblocks}: truncated or corrupt")
    literal = windows[~runs] >> 1
    if literal.size and (n_values == 0 or int(literal.max()) >= n_values):
        raise DecodingError("compresso window index out of range (corrupt)")
