"""compressed_segmentation decodes in threads by default, so validation must stop every bad stream.

The C decoder trusts the offsets in its input; a stream that slips past ``validate`` could make it
read outside the buffer and take the whole process down. Thousands of corrupted streams go
through validate + decode in a child process: each must decode or raise DecodingError, and the
child must exit cleanly (a crash shows up as a signal exit code).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import numpy as np
    from aiovolume.codecs import ChunkFormat, decode_chunk, encode_chunk
    from aiovolume.exceptions import DecodingError

    rng = np.random.default_rng(1234)
    outcomes = {"decoded": 0, "refused": 0}
    for dtype, channels, shape in (("uint64", 1, (64, 64, 64)), ("uint32", 2, (24, 20, 17)), ("uint64", 1, (9, 8, 5))):
        fmt = ChunkFormat("compressed_segmentation", dtype, channels, block_size=(8, 8, 8))
        labels = rng.integers(0, 40, (*shape, channels)).astype(dtype)
        labels[: shape[0] // 2] = rng.integers(0, 2**31, (shape[0] // 2, *shape[1:], channels)).astype(dtype)
        good = bytearray(encode_chunk(np.asfortranarray(labels), fmt))
        words = len(good) // 4
        for trial in range(1500):
            bad = bytearray(good)
            kind = trial % 5
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
            try:
                out = decode_chunk(bytes(bad), fmt, shape)
                assert out.shape == (*shape, channels)
                outcomes["decoded"] += 1
            except DecodingError:
                outcomes["refused"] += 1
    print(outcomes["decoded"], outcomes["refused"])
    """
)


def test_corrupted_cseg_streams_never_crash_the_decoder():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"decoder crashed or failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    decoded, refused = map(int, proc.stdout.split())
    assert decoded + refused == 3 * 1500
    assert refused > 1500  # most corruptions are caught, not decoded into garbage silently
