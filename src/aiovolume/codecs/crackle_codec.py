"""``crackle`` segmentation (one channel, uint8..uint64), as newer CloudVolume writes it.

Checked before decoding: the header's CRC-8, the crack-code index's CRC-32C, that the sections add up
to exactly the stream length (so any truncation is caught), and the label table's CRC-32C.
The crack codes themselves are not covered by a checksum crackle 0.55 verifies: a flip there decodes
silently or, now and then, corrupts the heap (glibc aborts the process). So crackle chunks decode in
worker processes by default, and gzip transport (CloudVolume's default for crackle) adds a CRC-32.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DecodingError, EncodingError
from . import guard, require


@guard(EncodingError, "crackle encoding")
def encode(array: np.ndarray, fmt) -> bytes:
    crackle = require("crackle", "crackle-codec", "crackle")
    if array.shape[3] != 1 or array.dtype != fmt.np_dtype or array.dtype.kind != "u":
        raise EncodingError(f"crackle stores one channel of unsigned labels, got {array.dtype} {array.shape}")
    return bytes(crackle.compress(np.asfortranarray(array[..., 0]), parallel=1))


@guard(DecodingError, "crackle decoding")
def decode(data: bytes, fmt, shape: tuple[int, int, int]) -> np.ndarray:
    crackle = require("crackle", "crackle-codec", "crackle")
    data = bytes(data)
    try:
        head = crackle.header(data)
    except Exception as exc:  # FormatError, or a CRC mismatch
        raise DecodingError(f"not a valid crackle stream: {exc}") from None
    _check_sections(data, head)
    dims = (int(head.sx), int(head.sy), int(head.sz))
    if dims != tuple(shape):
        raise DecodingError(f"crackle stream is {dims}, the chunk is {tuple(shape)}")
    if int(head.data_width) > fmt.np_dtype.itemsize or head.signed:
        raise DecodingError(f"crackle stream holds {head.data_width}-byte labels; the layer is {fmt.np_dtype.name}")
    out = crackle.decompress(data, parallel=1)
    if out.shape != tuple(shape):
        raise DecodingError(f"crackle decoded {out.shape}, expected {tuple(shape)}")
    return out.astype(fmt.np_dtype, copy=False).reshape((*shape, 1), order="F")


def _check_sections(data: bytes, head) -> None:
    from crackle import codec
    from crackle.lib import crc32c

    try:
        index = codec.grid_index(data)  # checks the index CRC-32C (format 1)
    except Exception as exc:
        raise DecodingError(f"crackle crack-code index is corrupt: {exc}") from None
    trailer = 4 * int(head.sz) + 4 if head.format_version > 0 else 0  # labels CRC + one per slice
    if len(index) == 0 or int(index[-1]) != len(data) - trailer:
        raise DecodingError(
            f"crackle sections end at byte {int(index[-1]) + trailer if len(index) else '?'}, "
            f"the stream has {len(data)}: truncated or corrupt"
        )
    if head.format_version > 0 and codec.labels_crc(data) != crc32c(bytes(codec.raw_labels(data))):
        raise DecodingError("crackle label table fails its CRC-32C (corrupt)")
