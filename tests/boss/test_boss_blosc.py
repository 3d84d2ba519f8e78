"""BOSS's blosc bodies: imagecodecs' blosc (ours) against python-blosc (BOSS's and intern's), and
the stream check that keeps a damaged body from reaching c-blosc (which reads past its end)."""

from __future__ import annotations

import struct

import blosc
import numpy as np
import pytest

from aiovolume.codecs.compression import check_blosc, compress, decompress
from aiovolume.exceptions import DecompressionError


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint64"])
def test_blosc_both_ways(dtype: str) -> None:
    zyx = (np.add.outer(np.arange(512), np.arange(512))[None] // 3 + np.arange(16)[:, None, None]).astype(dtype)
    ours = compress(zyx.tobytes(), f"blosc-{zyx.itemsize}")
    assert len(ours) < zyx.nbytes  # shuffled at the voxel size, it compresses
    assert blosc.decompress(ours) == zyx.tobytes()
    # BOSS's server and intern pass the bit depth as typesize
    theirs = blosc.compress(zyx, typesize=zyx.itemsize * 8)
    assert bytes(decompress(theirs, "blosc")) == zyx.tobytes()


def test_damaged_streams_are_refused_before_decoding() -> None:
    data = (np.arange(16 * 512 * 512) // 7).astype(np.uint16).tobytes()
    good = blosc.compress(data, typesize=2)
    check_blosc(good)
    for bad, why in ((good[: len(good) // 2], "header says"), (good + b"\0", "header says"), (good[:9], "shorter")):
        with pytest.raises(DecompressionError, match=why):
            decompress(bad, "blosc")
    nbytes, blocksize = struct.unpack_from("<II", good, 4)
    wrong = bytearray(good)
    struct.pack_into("<i", wrong, 16, len(good) + 100)  # the first block starts past the end
    with pytest.raises(DecompressionError, match="offsets"):
        decompress(bytes(wrong), "blosc")
