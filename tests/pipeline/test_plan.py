"""The integer-arithmetic chunk plan equals the numpy reference built on chunk_grid."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.format.info import create_new_info, parse_info
from aiovolume.geometry import Bbox
from aiovolume.pipeline.plan import plan_chunks, plan_chunks_reference

axis = st.integers(-40, 40)


@settings(max_examples=300, deadline=None)
@given(
    offset=st.tuples(axis, axis, axis),
    size=st.tuples(st.integers(1, 70), st.integers(1, 70), st.integers(1, 30)),
    chunk=st.tuples(st.integers(1, 33), st.integers(1, 33), st.integers(1, 17)),
    lo=st.tuples(st.integers(-60, 100), st.integers(-60, 100), st.integers(-60, 60)),
    extent=st.tuples(st.integers(1, 80), st.integers(1, 80), st.integers(1, 40)),
)
def test_plan_matches_reference(offset, size, chunk, lo, extent):
    info = parse_info(create_new_info(1, "image", "uint8", "raw", [4, 4, 40], list(offset), list(size),
                                      chunk_size=list(chunk)), "mem://t/x")
    scale = info.scales[0]
    region = Bbox(lo, tuple(a + e for a, e in zip(lo, extent)))
    fast, ref = plan_chunks(scale, region), plan_chunks_reference(scale, region)
    assert fast.keys == ref.keys
    assert fast.shapes == ref.shapes
    assert fast.in_chunk == ref.in_chunk
    assert fast.in_region == ref.in_region
    np.testing.assert_array_equal(fast.full, ref.full)
    assert fast.covers == ref.covers
