"""Damaged compressed_segmentation streams for the fuzz tests. They run in child processes (a
decoder reading outside its buffer takes the process down), which import this module."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from aiovolume.codecs import ChunkFormat, encode_chunk

CASES = (("uint64", 1, (64, 64, 64)), ("uint32", 2, (24, 20, 17)), ("uint64", 1, (9, 8, 5)))
KINDS = 5  # bit flips, truncation, a random header/table word, large encodedBits/offsets, garbage


def streams(rng: np.random.Generator) -> Iterator[tuple[ChunkFormat, tuple[int, int, int], int, bytes]]:
    """``(fmt, shape, channels, stream)`` per case: small ids, and large ones in half the volume."""
    for dtype, channels, shape in CASES:
        fmt = ChunkFormat("compressed_segmentation", dtype, channels, block_size=(8, 8, 8))
        labels = rng.integers(0, 40, (*shape, channels)).astype(dtype)
        labels[: shape[0] // 2] = rng.integers(0, 2**31, (shape[0] // 2, *shape[1:], channels)).astype(dtype)
        yield fmt, shape, channels, encode_chunk(np.asfortranarray(labels), fmt)


def corrupt(good: bytes, rng: np.random.Generator, kind: int) -> bytes:
    """``good`` damaged one way (``kind`` in ``range(KINDS)``)."""
    bad = bytearray(good)
    words = len(good) // 4
    if kind == 0:  # flip random bits
        for _ in range(rng.integers(1, 8)):
            i = int(rng.integers(len(bad)))
            bad[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncate
        bad = bad[: int(rng.integers(0, len(bad)))]
    elif kind == 2:  # overwrite a header or table word with a random 32-bit value
        i = int(rng.integers(0, min(words, 2 + 2 * 512)))
        bad[4 * i : 4 * i + 4] = int(rng.integers(0, 2**32)).to_bytes(4, "little")
    elif kind == 3:  # large encodedBits / offsets
        i = int(rng.integers(0, min(words, 2 + 2 * 512)))
        bad[4 * i + 3] = int(rng.choice([1, 2, 4, 8, 16, 32, 0xFF]))
    else:  # random garbage of a plausible length
        bad = bytearray(rng.integers(0, 256, len(good), dtype=np.uint8).tobytes())
    return bytes(bad)
