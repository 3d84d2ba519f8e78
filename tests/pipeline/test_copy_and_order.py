"""The read pipeline's fast row copy and the order groups run in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.pipeline.schedule import interleave_spans
from aiovolume.pipeline.placement import copy_block

DTYPES = [np.uint8, np.uint16, np.int32, np.uint64, np.float32, np.float64]


@settings(max_examples=150, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    channels=st.integers(1, 3),
    chunk=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)),
    data=st.data(),
)
def test_copy_block_equals_numpy_assignment(dtype, channels, chunk, data):
    rng = np.random.default_rng(0)
    src_full = np.asfortranarray(rng.integers(0, 200, (*chunk, channels)).astype(dtype))
    # a sub-box of the chunk, placed at some offset of a larger output
    lo = [data.draw(st.integers(0, c - 1)) for c in chunk]
    hi = [data.draw(st.integers(a + 1, c)) for a, c in zip(lo, chunk)]
    size = [b - a for a, b in zip(lo, hi)]
    off = [data.draw(st.integers(0, 5)) for _ in range(3)]
    out = np.full((15, 16, 17, channels), 7, dtype=dtype, order="F")
    expected = out.copy(order="F")
    dst = tuple(slice(o, o + s) for o, s in zip(off, size))
    src = tuple(slice(a, b) for a, b in zip(lo, hi))
    expected[dst] = src_full[src]
    copy_block(out[dst], src_full[src])
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("order", ["C", "F"])
def test_copy_block_falls_back_for_other_layouts_and_dtypes(order):
    out = np.zeros((6, 6, 6, 1), dtype=np.uint16, order="F")
    src = np.arange(27, dtype=np.uint8).reshape((3, 3, 3, 1), order=order)  # other dtype: cast
    copy_block(out[1:4, 2:5, 0:3], src)
    np.testing.assert_array_equal(out[1:4, 2:5, 0:3], src.astype(np.uint16))
    assert out.sum() == src.astype(np.int64).sum()


@pytest.mark.parametrize("n", [0, 1, 2, 5, 31, 32, 33])
@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_interleave_spans_is_a_permutation_alternating_spans(n, k):
    groups = list(range(n))
    order = interleave_spans(groups, k)
    assert sorted(order) == groups
    if n >= 2 and k >= 2:
        span = -(-n // k)
        assert order[:2] == [0, span] if span < n else order[:1] == [0]


@pytest.mark.parametrize("n", [1, 2, 4, 5, 8, 50, 64, 65, 512])
@pytest.mark.parametrize("threads", [2, 4])
def test_local_groups_cover_the_plan_in_few_hops(n, threads):
    from aiovolume.pipeline.schedule import GROUP, batched, local_group_size

    size = local_group_size(n, threads)
    groups = batched(range(n), size)
    assert [i for g in groups for i in g] == list(range(n))
    if n <= 4:
        assert len(groups) == 1  # a small read is one hop
    elif n <= 2 * threads * GROUP:
        assert len(groups) <= threads  # one share per thread
    else:
        assert size == GROUP


@pytest.mark.parametrize("shape,dtype", [((300, 300, 100, 1), np.uint8), ((64, 64, 64, 2), np.uint64),
                                         ((10, 10, 10, 1), np.float32)])
@pytest.mark.parametrize("covered,background", [(True, 0), (False, 0), (False, 7)])
def test_outputs_are_fortran_ordered_filled_and_large_ones_huge_page_aligned(shape, dtype, covered, background):
    from aiovolume.pipeline.placement import HUGE_ALIGN_FROM, allocate

    for _ in range(3):
        junk = np.full(int(np.prod(shape)) + 4096, 0xAB, np.uint8)  # freed: memory to reuse
        del junk
        out = allocate(shape, np.dtype(dtype), covered, background)
        assert out.shape == shape and out.dtype == dtype and out.flags.f_contiguous and out.flags.writeable
        if out.nbytes >= HUGE_ALIGN_FROM:
            assert out.ctypes.data % (2 << 20) == 0
        if not covered:
            assert np.all(out == background)
        out[...] = 3  # the whole of it is usable
