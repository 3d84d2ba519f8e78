"""The integer-arithmetic chunk plan equals the numpy reference built on chunk_grid."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.format.info import create_new_info, parse_info
from aiovolume.geometry import Bbox
from aiovolume.format.chunks import chunk_grid, chunk_keys
from aiovolume.pipeline.source import UnshardedSource
from aiovolume.storage.memory import MemoryStore

axis = st.integers(-40, 40)


def reference_plan(scale, region):
    """The plan built independently from chunk_grid (numpy): keys, shapes, parts, fullness, covers."""
    grid = chunk_grid(region, scale.bounds, scale.chunk_size)  # (N, 2, 3)
    starts, stops = grid[:, 0, :], grid[:, 1, :]
    rmin, rmax = np.asarray(region.minpt, np.int64), np.asarray(region.maxpt, np.int64)
    lo, hi = np.maximum(starts, rmin), np.minimum(stops, rmax)
    ranges = lambda a, b: tuple((int(x), int(y)) for x, y in zip(a, b))  # noqa: E731
    positions = [tuple(int(v) for v in p) for p in (starts - np.asarray(scale.voxel_offset)) // scale.chunk_size]
    return {
        "keys": chunk_keys(scale.key, grid),
        "positions": positions,
        "shapes": [tuple(int(v) for v in s) for s in (stops - starts)],
        "in_chunk": [ranges(a, b) for a, b in zip(lo - starts, hi - starts)],
        "in_region": [ranges(a, b) for a, b in zip(lo - rmin, hi - rmin)],
        "full": [bool(f) for f in np.all((lo == starts) & (hi == stops), axis=1)],
        "covers": bool(region.empty() or scale.bounds.contains_bbox(region)),
    }


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
    plan, ref = UnshardedSource(MemoryStore("plan", "t"), scale).plan(region), reference_plan(scale, region)
    assert [t.key for t in plan.tasks] == ref["keys"]
    assert [t.position for t in plan.tasks] == ref["positions"]
    assert [t.shape for t in plan.tasks] == ref["shapes"]
    assert [t.in_chunk for t in plan.tasks] == ref["in_chunk"]
    assert [t.in_region for t in plan.tasks] == ref["in_region"]
    assert [t.full for t in plan.tasks] == ref["full"]
    assert plan.covers == ref["covers"]
