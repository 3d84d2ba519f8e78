"""The compiled compressed_segmentation decoder (codecs/cseg_kernel.py) against the C library.

``decode_chunk_into`` writes part of a chunk straight into an output; ``decode_chunk`` uses the
same kernel once it is loaded. Both must give exactly what ``compressed_segmentation.decompress``
gives, for every dtype, shape, block size, channel count, bit width and region, and must turn
corrupt streams into DecodingError (never IndexError, never a crash).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import compressed_segmentation
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume.codecs import ChunkFormat, cseg, decode_chunk, decode_chunk_into, encode_chunk
from aiovolume.exceptions import DecodingError

CSEG = "compressed_segmentation"


@pytest.fixture(scope="module", autouse=True)
def kernel_ready():
    assert cseg.fast_decoder(wait=300), "numba is a dependency: the compiled kernel must load"


def _labels(rng, shape, channels, dtype, pool):
    """Blocky labels drawn from ``pool`` values (pool size sets the encoded bit widths)."""
    values = rng.integers(0, min(np.iinfo(dtype).max, 2**63 - 1), pool, dtype=np.int64).astype(dtype)
    return np.asfortranarray(values[rng.integers(0, pool, (*shape, channels))])


def _reference(stream: bytes, shape, channels, dtype, block):
    out = compressed_segmentation.decompress(stream, (*shape, channels), np.dtype(dtype), block, order="F")
    return out.reshape((*shape, channels), order="F")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(["uint32", "uint64"]),
    shape=st.tuples(st.integers(1, 37), st.integers(1, 29), st.integers(1, 23)),
    block=st.sampled_from([(8, 8, 8), (4, 4, 4), (2, 8, 4), (16, 16, 2), (1, 1, 1), (3, 5, 7)]),
    channels=st.integers(1, 3),
    pool=st.sampled_from([1, 2, 3, 5, 16, 17, 300, 5000]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_decode_into_part_equals_the_c_decoder(dtype, shape, block, channels, pool, seed, data):
    rng = np.random.default_rng(seed)
    labels = _labels(rng, shape, channels, dtype, pool)
    fmt = ChunkFormat(CSEG, dtype, channels, block_size=block)
    stream = encode_chunk(labels, fmt)
    want = _reference(stream, shape, channels, dtype, block)
    np.testing.assert_array_equal(want, labels)
    part = tuple(sorted(data.draw(st.tuples(st.integers(0, s), st.integers(0, s)))) for s in shape)
    size = [b - a for a, b in part]
    # the destination sits inside a larger output, as in a read; nothing else may change
    pad = (3, 2, 1)
    sentinel = np.iinfo(dtype).max
    out = np.full([s + 2 * p for s, p in zip(size, pad)] + [channels], sentinel, dtype, order="F")
    dst = out[pad[0]:pad[0] + size[0], pad[1]:pad[1] + size[1], pad[2]:pad[2] + size[2]]
    assert decode_chunk_into(stream, fmt, shape, dst, part)
    np.testing.assert_array_equal(dst, want[part[0][0]:part[0][1], part[1][0]:part[1][1], part[2][0]:part[2][1]])
    inside = np.zeros(out.shape, bool)
    inside[pad[0]:pad[0] + size[0], pad[1]:pad[1] + size[1], pad[2]:pad[2] + size[2]] = True
    assert np.all(out[~inside] == sentinel)
    # the whole-chunk decode (kernel) is the same too
    np.testing.assert_array_equal(decode_chunk(stream, fmt, shape), want)


def _encode_with_bits(chunk: np.ndarray, block, bits: int) -> bytes:
    """One channel, every block with ``bits``-bit indices (the library picks the fewest bits;
    a decoder must take any valid width, and 32 bits needs > 65536 labels per block otherwise)."""
    wpv = chunk.dtype.itemsize // 4
    grid = [-(-s // b) for s, b in zip(chunk.shape, block)]
    headers, body = [], []
    base = 2 * int(np.prod(grid))  # channel-relative word offset of the first table
    for gz in range(grid[2]):
        for gy in range(grid[1]):
            for gx in range(grid[0]):
                part = chunk[gx * block[0]:(gx + 1) * block[0], gy * block[1]:(gy + 1) * block[1],
                             gz * block[2]:(gz + 1) * block[2]]
                blk = np.full(block, part[0, 0, 0], chunk.dtype)  # padding: no extra label
                blk[: part.shape[0], : part.shape[1], : part.shape[2]] = part
                table, idx = np.unique(blk, return_inverse=True)
                idx = idx.reshape(block).ravel(order="F").astype(np.uint64)
                per = 32 // bits
                idx = np.concatenate([idx, np.zeros(-len(idx) % per, np.uint64)]).reshape(-1, per)
                packed = (idx << (np.arange(per, dtype=np.uint64) * np.uint64(bits))).sum(axis=1).astype("<u4")
                table_words = np.frombuffer(table.astype(chunk.dtype.newbyteorder("<")).tobytes(), "<u4")
                headers += [base | (bits << 24), base + len(table_words)]
                body += [table_words, packed]
                base += len(table_words) + len(packed)
    return np.concatenate([np.array([1] + headers, "<u4")] + body).tobytes()


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16, 32])
def test_every_bit_width(dtype, bits):
    rng = np.random.default_rng(bits)
    shape, block = (19, 16, 11), (8, 8, 4)
    pool = min(2**bits, 6)
    labels = rng.integers(0, 2**31, pool, dtype=np.int64).astype(dtype)[rng.integers(0, pool, shape)]
    labels = np.asfortranarray(labels)
    stream = _encode_with_bits(labels, block, bits)
    fmt = ChunkFormat(CSEG, dtype, 1, block_size=block)
    want = labels[..., None]
    c_decoded = _reference(stream, shape, 1, dtype, block)
    if bits < 32:
        np.testing.assert_array_equal(c_decoded, want)
    else:  # compressed-segmentation 2.3.3 decodes 32-bit indices wrongly (every voxel: entry 0)
        assert not np.array_equal(c_decoded, want)
    np.testing.assert_array_equal(decode_chunk(stream, fmt, shape), want)
    out = np.zeros((9, 16, 11, 1), dtype, order="F")
    assert decode_chunk_into(stream, fmt, shape, out, ((10, 19), (0, 16), (0, 11)))
    np.testing.assert_array_equal(out, want[10:19])


@pytest.mark.parametrize("order", ["C", "F"])
def test_destinations_of_any_layout(order):
    """A C-ordered (or otherwise strided) destination takes the scratch-and-copy route."""
    rng = np.random.default_rng(3)
    labels = _labels(rng, (21, 18, 13), 2, "uint64", 40)
    fmt = ChunkFormat(CSEG, "uint64", 2, block_size=(8, 8, 8))
    stream = encode_chunk(labels, fmt)
    out = np.zeros((21, 18, 13, 2), np.uint64, order=order)
    dst = out[::-1] if order == "C" else out[1:20:2]  # reversed x / x stride 2: no plain view
    part = ((0, 21), (0, 18), (0, 13)) if order == "C" else ((3, 13), (0, 18), (0, 13))
    assert decode_chunk_into(stream, fmt, (21, 18, 13), dst, part)
    lo, hi = part[0]
    np.testing.assert_array_equal(dst, labels[lo:hi])


def test_other_dtypes_decline():
    """A destination of another dtype: nothing done, the caller decodes and casts."""
    fmt = ChunkFormat(CSEG, "uint32", 1, block_size=(8, 8, 8))
    stream = encode_chunk(np.ones((8, 8, 8, 1), np.uint32, order="F"), fmt)
    out = np.zeros((8, 8, 8, 1), np.uint64, order="F")
    assert not decode_chunk_into(stream, fmt, (8, 8, 8), out, ((0, 8), (0, 8), (0, 8)))
    assert not out.any()


def test_truncated_and_garbage_streams_raise_decoding_error():
    rng = np.random.default_rng(11)
    labels = _labels(rng, (40, 33, 17), 1, "uint64", 200)
    fmt = ChunkFormat(CSEG, "uint64", 1, block_size=(8, 8, 8))
    stream = encode_chunk(labels, fmt)
    out = np.zeros((40, 33, 17, 1), np.uint64, order="F")
    part = ((0, 40), (0, 33), (0, 17))
    for cut in (0, 3, 4, 100, len(stream) // 2, len(stream) - 4):
        with pytest.raises(DecodingError):
            decode_chunk_into(stream[:cut], fmt, (40, 33, 17), out, part)
    with pytest.raises(DecodingError):
        decode_chunk_into(memoryview(bytearray(rng.integers(0, 256, len(stream), np.uint8))), fmt,
                          (40, 33, 17), out, part)


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from cseg_corruptions import corrupt, streams
    from aiovolume.codecs import cseg, decode_chunk_into
    from aiovolume.exceptions import DecodingError

    assert cseg.fast_decoder(wait=300)
    rng = np.random.default_rng(99)
    outcomes = {"decoded": 0, "refused": 0}
    for fmt, shape, channels, good in streams(rng):
        out = np.zeros((*shape, channels), fmt.np_dtype, order="F")
        part = tuple((0, s) for s in shape)
        for trial in range(800):
            bad = corrupt(good, rng, trial % 4)  # no garbage streams: those are test_cseg_fuzz's
            try:
                assert decode_chunk_into(bad, fmt, shape, out, part)
                outcomes["decoded"] += 1
            except DecodingError:
                outcomes["refused"] += 1
    print(outcomes["decoded"], outcomes["refused"])
    """
)


def test_corrupted_streams_never_crash_the_compiled_decoder():
    here = os.path.dirname(os.path.abspath(__file__))  # the child imports cseg_corruptions from here
    proc = subprocess.run([sys.executable, "-c", CHILD, here], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"decoder crashed or failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    decoded, refused = map(int, proc.stdout.split())
    assert decoded > 0 and refused > 0


def test_the_kernel_can_be_switched_off_and_the_c_decoder_serves():
    """AIOVOLUME_CSEG_KERNEL=0: numba is never imported (its RSS), reads are still exact."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        import numpy as np
        import compressed_segmentation as cseg
        from aiovolume.codecs import cseg as ours
        from aiovolume.codecs import ChunkFormat
        labels = np.asfortranarray(np.random.default_rng(3).integers(0, 9, (16, 16, 16), dtype=np.uint64))
        data = cseg.compress(labels, block_size=(8, 8, 8), order="F")
        assert ours.fast_decoder(wait=30) is False
        fmt = ChunkFormat("compressed_segmentation", "uint64", 1, block_size=(8, 8, 8))
        out = ours.decode(data, fmt, (16, 16, 16))
        assert np.array_equal(out[..., 0], labels)
        print("numba" in sys.modules)
    """)
    import os

    env = dict(os.environ, AIOVOLUME_CSEG_KERNEL="0")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
