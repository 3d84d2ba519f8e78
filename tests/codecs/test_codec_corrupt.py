"""Corrupt chunks against each decoder directly (no pool): what validation alone guarantees.

Each batch runs in a child interpreter, decoding in-process as a thread-mode read would: a crash
there fails the test instead of killing pytest. Where validation is complete (raw, jpeg, png,
compressed_segmentation, and the truncated/garbage cases of compresso and crackle) nothing may crash and
every truncated or garbage chunk must raise DecodingError. fpzip is the exception: its decoder
segfaults on truncated or flipped streams whatever we check first, so only process isolation helps
(tests/core/test_corrupt_chunks.py); its verification catches what decodes silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_codec_roundtrip import sample, fmt_for
    from aiovolume.codecs import decode_chunk, encode_chunk
    from aiovolume.exceptions import DecodingError

    encoding, dtype, channels, kinds = json.loads(sys.argv[1])
    shape = (37, 32, 9)
    rng = np.random.default_rng(7)
    data = sample(encoding, dtype, shape, channels, seed=5)
    fmt = fmt_for(encoding, dtype, channels, block_size=(8, 8, 4)) if encoding == "compressed_segmentation" \\
        else fmt_for(encoding, dtype, channels)
    good = encode_chunk(data, fmt)
    ref = decode_chunk(good, fmt, shape)
    counts = {}
    for kind in kinds:
        for i in range(40):
            if kind == "truncated":
                bad = good[: int(rng.integers(0, len(good)))]
            elif kind == "garbage":
                bad = rng.integers(0, 256, int(rng.integers(1, 2 * len(good))), dtype=np.uint8).tobytes()
            elif kind == "flipped":
                b = bytearray(good); b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8)); bad = bytes(b)
            elif kind == "headers":  # a random 32-bit word near the start: offsets, sizes, block headers
                b = bytearray(good); i = int(rng.integers(0, max(1, min(len(b) - 4, 400)) // 4)) * 4
                b[i:i + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes(); bad = bytes(b)
            else:  # a valid stream with its first words zeroed, as a torn write leaves it
                b = bytearray(good); n = int(rng.integers(4, 64)); b[:n] = bytes(n); bad = bytes(b)
            try:
                out = decode_chunk(bad, fmt, shape)
                result = "same" if np.array_equal(np.asarray(out), np.asarray(ref)) else "silent"
            except DecodingError:
                result = "error"
            counts.setdefault(kind, {}).setdefault(result, 0)
            counts[kind][result] += 1
    print(json.dumps(counts))
""")


def run_batch(encoding, dtype, channels, kinds):
    here = os.path.dirname(__file__)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([encoding, dtype, channels, kinds]), here],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"decoder crashed or failed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


ALL = ["truncated", "garbage", "flipped", "headers", "zeroed"]


@pytest.mark.parametrize("encoding,dtype,channels", [
    ("raw", "uint16", 1), ("jpeg", "uint8", 1), ("jpeg", "uint8", 3), ("png", "uint16", 1), ("png", "uint8", 3),
    ("compressed_segmentation", "uint32", 1), ("compressed_segmentation", "uint64", 3),
])
def test_validation_alone_keeps_the_process_alive(encoding, dtype, channels):
    counts = run_batch(encoding, dtype, channels, ALL)
    assert counts["truncated"] == {"error": 40}
    assert counts["garbage"] == {"error": 40}
    if encoding == "png":  # chunk CRCs and Adler-32: every flip is found
        assert counts["flipped"] == {"error": 40}


@pytest.mark.parametrize("encoding", ["compresso", "crackle"])
def test_truncated_and_garbage_segmentations_raise_without_crashing(encoding):
    counts = run_batch(encoding, "uint64", 1, ["truncated", "garbage"])
    assert counts == {"truncated": {"error": 40}, "garbage": {"error": 40}}


@pytest.mark.parametrize("encoding", ["fpzip", "kempressed"])
def test_fpzip_garbage_raises_without_crashing(encoding):
    assert run_batch(encoding, "float32", 2, ["garbage"]) == {"garbage": {"error": 40}}
