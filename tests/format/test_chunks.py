"""format/chunks.py: the worked example of precomputed-format.md §3 and brute-force properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import DimensionError, DtypeError, SpecViolation
from aiovolume.format.chunks import (
    chunk_count,
    chunk_grid,
    chunk_key,
    chunk_keys,
    chunk_name,
    expand_to_grid,
    is_aligned,
    parse_chunk_name,
    shrink_to_grid,
)
from aiovolume.geometry import Bbox

PROPS = settings(max_examples=150, deadline=None)

# size [130, 50, 20], voxel_offset [-10, 4, 0], chunk [64, 64, 16]
VOLUME = Bbox((-10, 4, 0), (120, 54, 20))
CHUNK = (64, 64, 16)
EXAMPLE_NAMES = [
    "-10-54_4-54_0-16",
    "54-118_4-54_0-16",
    "118-120_4-54_0-16",
    "-10-54_4-54_16-20",
    "54-118_4-54_16-20",
    "118-120_4-54_16-20",
]


def points(lo, hi) -> set[tuple[int, ...]]:
    return set(itertools.product(*(range(int(a), int(b)) for a, b in zip(lo, hi))))


# -- the worked example ----------------------------------------------------------------------
def test_worked_example_names_in_x_fastest_order():
    grid = chunk_grid(VOLUME, VOLUME, CHUNK)
    assert grid.shape == (6, 2, 3) and grid.dtype == np.int64
    assert [chunk_name(Bbox(lo, hi)) for lo, hi in grid] == EXAMPLE_NAMES
    assert chunk_keys("4_4_40", grid) == [f"4_4_40/{n}" for n in EXAMPLE_NAMES]
    assert chunk_key("4_4_40", Bbox(*grid[-1])) == "4_4_40/118-120_4-54_16-20"
    assert chunk_count(VOLUME, VOLUME, CHUNK) == 6


def test_worked_example_partial_requests():
    grid = chunk_grid(Bbox((50, 10, 15), (60, 20, 17)), VOLUME, CHUNK)
    assert [chunk_name(Bbox(*c)) for c in grid] == [
        "-10-54_4-54_0-16", "54-118_4-54_0-16", "-10-54_4-54_16-20", "54-118_4-54_16-20",
    ]
    # ends are exclusive: a request stopping at 54 does not touch the chunk starting there
    assert chunk_count(Bbox((-10, 4, 0), (54, 54, 16)), VOLUME, CHUNK) == 1
    # only the part inside the volume counts; the edge chunk stays clipped
    grid = chunk_grid(Bbox((100, -100, 17), (500, 500, 18)), VOLUME, CHUNK)
    assert [chunk_name(Bbox(*c)) for c in grid] == ["54-118_4-54_16-20", "118-120_4-54_16-20"]


def test_nothing_intersects():
    for request in (Bbox((120, 4, 0), (200, 54, 20)), Bbox((0, 0, 0), (5, 4, 5)), Bbox((0, 5, 5), (0, 9, 9))):
        grid = chunk_grid(request, VOLUME, CHUNK)
        assert grid.shape == (0, 2, 3) and grid.dtype == np.int64
        assert chunk_count(request, VOLUME, CHUNK) == 0
        assert chunk_keys("k", grid) == []


def test_large_request_is_vectorised():
    volume = Bbox((0, 0, 0), (6400, 6400, 640))
    grid = chunk_grid(volume, volume, (64, 64, 64))  # 100,000 chunks
    assert grid.shape == (100_000, 2, 3) and chunk_count(volume, volume, (64, 64, 64)) == 100_000
    assert grid[1].tolist() == [[64, 0, 0], [128, 64, 64]]
    assert grid[100].tolist() == [[0, 64, 0], [64, 128, 64]]
    assert grid[-1].tolist() == [[6336, 6336, 576], [6400, 6400, 640]]


def test_bad_arguments():
    with pytest.raises(DimensionError):
        chunk_grid(VOLUME, VOLUME, (64, 0, 16))
    with pytest.raises(DimensionError):
        chunk_grid(VOLUME, VOLUME, (64, 64))
    with pytest.raises(DimensionError):
        chunk_grid(Bbox((0, 0), (1, 1)), VOLUME, CHUNK)
    with pytest.raises(DtypeError, match="whole voxel coordinates"):  # also a TypeError, as before
        chunk_name(Bbox((0, 0, 0), (1.5, 1, 1)))
    with pytest.raises(DimensionError, match=r"\(N, 2, 3\)"):
        chunk_keys("4_4_40", np.zeros((2, 3), dtype=np.int64))


# -- names -----------------------------------------------------------------------------------
def test_chunk_name_keeps_signs():
    assert chunk_name(Bbox((-10, -4, 0), (54, 4, 16))) == "-10-54_-4-4_0-16"
    assert parse_chunk_name("-10-54_-4-4_0-16") == Bbox((-10, -4, 0), (54, 4, 16))
    assert chunk_name(Bbox((0, 0, 0), (64.0, 64, 64))) == "0-64_0-64_0-64"


@pytest.mark.parametrize(
    "name",
    [
        "", "0-1_2-3", "0-1_2-3_4-5_6-7", "a-1_2-3_4-5", "0-1_2-3_4-5.gz", "0--1-1_2-3_4-5",
        "0-1_2-3_4-5\n", "\u0663-4_0-1_0-1", "+1-2_0-1_0-1", "5-1_0-1_0-1", "1.5-2_0-1_0-1",
        "4_4_40/0-1_0-1_0-1",
    ],
)
def test_parse_rejects_malformed(name: str):
    with pytest.raises(SpecViolation, match="chunk name"):  # a ValueError, as CloudVolume callers expect
        parse_chunk_name(name)


@PROPS
@given(
    st.lists(st.integers(-10**9, 10**9), min_size=3, max_size=3),
    st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
)
def test_name_round_trip(lo: list[int], size: list[int]):
    box = Bbox(lo, [a + s for a, s in zip(lo, size)])
    name = chunk_name(box)
    assert name == "_".join(f"{a}-{a + s}" for a, s in zip(lo, size))
    back = parse_chunk_name(name)
    assert back == box and back.dtype == np.int64
    grid = np.array([[box.minpt, box.maxpt]])
    assert chunk_keys("s", grid) == [chunk_key("s", box)] == [f"s/{name}"]


# -- the grid vs brute force -----------------------------------------------------------------
vec3 = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=3, max_size=3)  # noqa: E731
volumes = st.builds(lambda lo, size: Bbox(lo, [a + s for a, s in zip(lo, size)]), vec3(-10, 10), vec3(1, 12))
requests = st.builds(Bbox, vec3(-15, 25), vec3(-15, 25))
chunks = vec3(1, 7)


def brute_chunks(volume: Bbox, chunk: list[int]) -> list[list[tuple[int, int]]]:
    """Per axis, every chunk's clipped [start, stop) by enumeration."""
    out = []
    for o, s, c in zip(volume.minpt.tolist(), volume.size().tolist(), chunk):
        out.append([(o + g * c, o + min((g + 1) * c, s)) for g in range(math.ceil(s / c))])
    return out


@PROPS
@given(requests, volumes, chunks)
def test_chunk_grid_matches_brute_force(request: Bbox, volume: Bbox, chunk: list[int]):
    rlo, rhi = request.minpt.tolist(), request.maxpt.tolist()
    per_axis = brute_chunks(volume, chunk)
    expected = [
        [[x[0], y[0], z[0]], [x[1], y[1], z[1]]]
        for z in per_axis[2] for y in per_axis[1] for x in per_axis[0]
        if all(max(a, rlo[i]) < min(b, rhi[i]) for i, (a, b) in enumerate((x, y, z)))
    ]
    grid = chunk_grid(request, volume, chunk)
    assert grid.dtype == np.int64 and grid.shape == (len(expected), 2, 3)
    assert grid.tolist() == expected
    assert chunk_count(request, volume, chunk) == len(expected)


@PROPS
@given(requests, volumes, chunks)
def test_chunk_grid_covers_request_exactly_once(request: Bbox, volume: Bbox, chunk: list[int]):
    grid = chunk_grid(request, volume, chunk)
    want = points(request.minpt, request.maxpt) & points(volume.minpt, volume.maxpt)
    covered: set[tuple[int, ...]] = set()
    total = 0
    for lo, hi in grid:
        cell = points(lo, hi)
        assert cell <= points(volume.minpt, volume.maxpt)  # clipped, never padded
        assert cell & want  # every chunk returned is needed
        covered |= cell
        total += len(cell)
    assert want <= covered
    assert total == len(covered)  # disjoint


# -- alignment vs brute force ----------------------------------------------------------------
def faces(volume: Bbox, chunk: list[int]) -> list[set[int]]:
    return [{o + k * c for k in range(-60, 60)} for o, c in zip(volume.minpt.tolist(), chunk)]


@PROPS
@given(requests, volumes, chunks)
def test_is_aligned_matches_brute_force(bbox: Bbox, volume: Bbox, chunk: list[int]):
    grid, vmax = faces(volume, chunk), volume.maxpt.tolist()
    expected = all(
        lo in grid[i] and (hi in grid[i] or hi == vmax[i])
        for i, (lo, hi) in enumerate(zip(bbox.minpt.tolist(), bbox.maxpt.tolist()))
    )
    assert is_aligned(bbox, volume, chunk) == expected


def test_is_aligned_concrete():
    assert is_aligned(VOLUME, VOLUME, CHUNK)
    assert is_aligned(Bbox((54, 4, 16), (120, 54, 20)), VOLUME, CHUNK)  # ends on the volume edge
    assert is_aligned(Bbox((54, 4, 0), (118, 54, 16)), VOLUME, CHUNK)
    assert not is_aligned(Bbox((0, 4, 0), (54, 54, 16)), VOLUME, CHUNK)
    assert not is_aligned(Bbox((-10, 4, 0), (119, 54, 16)), VOLUME, CHUNK)
    assert not is_aligned(Bbox((-10, 4, 0), (54, 54, 8)), VOLUME, CHUNK)


@PROPS
@given(requests, volumes, chunks)
def test_expand_and_shrink_to_grid_match_brute_force(bbox: Bbox, volume: Bbox, chunk: list[int]):
    lo, hi = bbox.minpt.tolist(), bbox.maxpt.tolist()
    per_axis = brute_chunks(volume, chunk)
    touching = [[c for c in cells if max(c[0], lo[i]) < min(c[1], hi[i])] for i, cells in enumerate(per_axis)]
    inside = [[c for c in cells if lo[i] <= c[0] and c[1] <= hi[i]] for i, cells in enumerate(per_axis)]

    grown = expand_to_grid(bbox, volume, chunk)
    if all(touching):
        assert grown == Bbox([t[0][0] for t in touching], [t[-1][1] for t in touching])
        assert is_aligned(grown, volume, chunk)
    else:
        assert grown.empty()
    assert volume.contains_bbox(grown)

    shrunk = shrink_to_grid(bbox, volume, chunk)
    if all(inside):
        assert shrunk == Bbox([t[0][0] for t in inside], [t[-1][1] for t in inside])
        assert is_aligned(shrunk, volume, chunk)
    else:
        assert shrunk.empty()
    assert np.all(shrunk.size() >= 0) and volume.contains_bbox(shrunk)


def test_expand_and_shrink_concrete():
    assert expand_to_grid(Bbox((0, 5, 3), (60, 6, 17)), VOLUME, CHUNK) == Bbox((-10, 4, 0), (118, 54, 20))
    assert shrink_to_grid(Bbox((0, 4, 0), (200, 54, 20)), VOLUME, CHUNK) == Bbox((54, 4, 0), (120, 54, 20))
    assert shrink_to_grid(Bbox((0, 4, 0), (119, 54, 20)), VOLUME, CHUNK) == Bbox((54, 4, 0), (118, 54, 20))
    assert shrink_to_grid(Bbox((0, 4, 0), (100, 54, 20)), VOLUME, CHUNK).empty()
    assert shrink_to_grid(Bbox((119, 4, 0), (120, 54, 20)), VOLUME, CHUNK).empty()
    assert expand_to_grid(Bbox((500, 4, 0), (600, 54, 20)), VOLUME, CHUNK).empty()
