"""Skeleton (objects/skeleton.py): CloudVolume's API, values checked by hand and against osteoid,
and hypothesis properties (consolidate idempotent, merge/components, cable_length invariants,
downsample keeps terminals and branch points)."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import (
    OptionError, SkeletonAttributeMixingError, SkeletonDecodeError, SkeletonSmoothingError, SkeletonTransformError,
)
from aiovolume.objects.skeleton import PrecomputedSkeleton, Skeleton

Y = [[0, 0, 0], [10, 0, 0], [20, 0, 0], [30, 0, 0], [20, 10, 0], [20, 20, 0], [40, 0, 0]]
Y_EDGES = [[0, 1], [1, 2], [2, 3], [2, 4], [4, 5], [3, 6]]


def y_skeleton(**kw):
    return Skeleton(Y, Y_EDGES, radii=np.arange(7, dtype=np.float32) + 1, vertex_types=[1, 2, 3, 3, 4, 4, 2],
                    segid=5, **kw)


@st.composite
def trees(draw, min_size=1, max_size=60):
    n = draw(st.integers(min_size, max_size))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    # distinct integer coordinates so consolidation merges nothing by accident
    flat = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True))
    vertices = np.array([[c % 100, (c // 100) % 100, c // 10000] for c in flat], np.float32)
    edges = np.array([[p, i] for i, p in enumerate(parents, start=1)], np.int64).reshape(-1, 2)
    radii = np.array(draw(st.lists(st.floats(0, 10, width=32), min_size=n, max_size=n)), np.float32)
    return Skeleton(vertices, edges, radii=radii, vertex_types=np.arange(n) % 5, segid=9)


def test_aliases_and_defaults():
    assert PrecomputedSkeleton is Skeleton
    s = Skeleton([[1, 2, 3]], segid=1)
    assert s.vertices.dtype == np.float32 and s.edges.dtype == np.uint32 and s.edges.shape == (0, 2)
    assert s.radius.tolist() == [-1] and s.radii is s.radius and s.vertex_types.tolist() == [0]
    assert [a["id"] for a in s.extra_attributes] == ["radius", "vertex_types"]
    assert s.transform.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]] and s.space == "voxel"
    assert Skeleton().empty() and not s.empty()


def test_terminals_branches_cable_length():
    s = y_skeleton()
    assert s.terminals().tolist() == [0, 5, 6] and s.branches().tolist() == [2]
    assert s.cable_length() == pytest.approx(60)
    assert s.physical_space().cable_length() == pytest.approx(60)
    s.transform = [[2, 0, 0, 7], [0, 2, 0, 0], [0, 0, 2, 0]]
    assert s.cable_length() == pytest.approx(120)
    assert s.vertices[1].tolist() == [10, 0, 0]  # measuring does not move the skeleton


def test_physical_voxel_round_trip_with_scale_and_translation():
    s = y_skeleton(transform=[[4, 0, 0, 100], [0, 4, 0, -8], [0, 0, 40, 3]])
    p = s.physical_space()
    assert p.space == "physical" and p.vertices[1].tolist() == [140, -8, 3]
    back = p.voxel_space()
    np.testing.assert_allclose(back.vertices, s.vertices, atol=1e-4)  # osteoid's inverse is off by (A^-1 - I) t
    assert s.physical_space() is not s and p.physical_space().vertices.tolist() == p.vertices.tolist()
    s.space = "other"
    with pytest.raises(SkeletonTransformError):
        s.physical_space()
    singular = y_skeleton(transform=np.zeros((3, 4)))
    singular.space = "physical"
    with pytest.raises(SkeletonTransformError):
        singular.voxel_space()


def test_equality_clone_pickle():
    s = y_skeleton()
    c = s.clone()
    assert c == s and c is not s and c.vertices is not s.vertices
    c.radius[3] = 99
    assert c != s
    assert pickle.loads(pickle.dumps(s)) == s
    assert Skeleton.from_precomputed(s.to_precomputed(), segid=5) == s


def test_precomputed_with_custom_attributes():
    s = y_skeleton()
    s.add_vertex_attribute("color", np.arange(21, dtype=np.uint16).reshape(7, 3))
    attrs = s.extra_attributes
    assert attrs[-1] == {"id": "color", "data_type": "uint16", "num_components": 3}
    r = Skeleton.from_precomputed(s.to_precomputed(), segid=5, vertex_attributes=attrs)
    assert r == s and r.color.shape == (7, 3)
    with pytest.raises(SkeletonDecodeError):
        Skeleton.from_precomputed(s.to_precomputed()[:-1], segid=5, vertex_attributes=attrs)


def test_consolidate_merges_duplicates_and_keeps_first_attributes():
    s = Skeleton([[0, 0, 0], [1, 0, 0], [0, 0, 0], [2, 0, 0], [9, 9, 9]], [[0, 1], [2, 1], [1, 3], [3, 3]],
                 radii=[1, 2, 3, 4, 5])
    c = s.consolidate()
    assert c.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert c.edges.tolist() == [[0, 1], [1, 2]] and c.radius.tolist() == [1, 2, 4]
    kept = s.consolidate(remove_disconnected_vertices=False)
    assert kept.vertices.shape == (4, 3) and kept.radius.tolist() == [1, 2, 4, 5]


def test_crop():
    c = y_skeleton().crop([[0, 0, 0], [20, 10, 0]])
    assert c.vertices.tolist() == [[0, 0, 0], [10, 0, 0], [20, 0, 0], [20, 10, 0]]
    assert c.edges.tolist() == [[0, 1], [1, 2], [2, 3]] and c.radius.tolist() == [1, 2, 3, 5]


def test_interjoint_paths_and_paths():
    s = y_skeleton()
    ij = sorted(sorted(p.tolist()) for p in s.interjoint_paths(return_indices=True))
    assert ij == [[0, 1, 2], [2, 3, 6], [2, 4, 5]]
    paths = s.paths(return_indices=True)
    assert sorted(len(p) for p in paths) == [5, 5]
    ends = {p[-1] for p in paths}
    assert len(ends) == 1 and ends <= {0, 5, 6}  # one root, at an end of a longest path
    assert all(p.dtype == np.float32 for p in s.paths())


def test_downsample_keeps_critical_points_and_attributes():
    line = Skeleton.from_path(np.arange(30, dtype=np.float32)[:, None] * [1, 0, 0])
    line.radius = np.arange(30, dtype=np.float32)
    d = line.downsample(4)
    assert d.vertices[:, 0].tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 29]
    assert d.radius.tolist() == d.vertices[:, 0].tolist() and d.edges.shape == (8, 2)
    assert line.downsample(1) == line
    with pytest.raises(OptionError):
        line.downsample(0)
    with pytest.raises(OptionError):
        line.downsample(1.5)


def test_simple_merge_and_attribute_mixing():
    a, b = y_skeleton(), y_skeleton()
    b.vertices = b.vertices + 100
    m = Skeleton.simple_merge([a, b])
    assert m.vertices.shape == (14, 3) and m.edges.max() == 13 and m.radius.shape == (14,)
    b.add_vertex_attribute("x", np.zeros(7, np.uint8))
    with pytest.raises(SkeletonAttributeMixingError):
        Skeleton.simple_merge([a, b])
    assert Skeleton.simple_merge([]).empty()


def test_average_smoothing():
    zig = Skeleton([[i, (i % 2) * 2, 0] for i in range(9)], [[i, i + 1] for i in range(8)], radii=np.full(9, 5))
    s = zig.average_smoothing(3)
    assert s.vertices[0].tolist() == [0, 0, 0] and s.vertices[8].tolist() == [8, 0, 0]
    assert np.ptp(s.vertices[2:7, 1]) < np.ptp(zig.vertices[2:7, 1])
    assert s.edges.tolist() == zig.edges.tolist()
    tight = zig.clone()
    tight.radius[:] = 0.01
    with pytest.raises(SkeletonSmoothingError):
        tight.average_smoothing(3)
    shrunk = tight.average_smoothing(3, check_boundary=False, shrink_radii=True)
    assert shrunk.radius[4] < 0.01
    assert zig.average_smoothing(1) == zig


def test_swc_parent_zero_roots_eswc_and_errors():
    text = """# eSWC with extra columns and parent 0 roots
1 1 0 0 0 2.5 0 0 0 0 0
2 3 1.5 0 0 NA 1 0 0 0 0
3 3 3 0.25 0 1 2 0 0 0 0
10 2 9 9 9 1 -1 0 0 0 0
"""
    s = Skeleton.from_swc(text)
    assert s.vertices.tolist() == [[0, 0, 0], [1.5, 0, 0], [3, 0.25, 0], [9, 9, 9]]
    assert sorted(map(sorted, s.edges.tolist())) == [[0, 1], [1, 2]]
    assert s.radius.tolist() == [2.5, -1, 1, 1] and s.vertex_types.tolist() == [1, 3, 3, 2]
    with pytest.raises(SkeletonDecodeError, match="parent 7"):
        Skeleton.from_swc("1 1 0 0 0 1 -1\n2 1 0 0 1 1 7\n")
    with pytest.raises(SkeletonDecodeError, match="twice"):
        Skeleton.from_swc("1 1 0 0 0 1 -1\n1 1 0 0 1 1 1\n")
    with pytest.raises(SkeletonDecodeError, match="columns"):
        Skeleton.from_swc("1 1 0 0 0 1\n")
    assert Skeleton.from_swc("# nothing\n").empty()


def test_swc_round_trip_exact_floats():
    rng = np.random.default_rng(1)
    s = y_skeleton()
    s.vertices = (rng.random((7, 3)) * 1e5).astype(np.float32)
    s.radius = rng.random(7).astype(np.float32) / 3
    r = Skeleton.from_swc(s.to_swc())
    assert Skeleton.equivalent(r, s)  # bit-exact coordinates and radii, same edges
    assert Skeleton.from_swc(r.to_swc()) == r  # and a file's own order comes back unchanged
    text = r.to_swc()
    assert Skeleton.from_swc(text).to_swc() == text


def test_to_networkx():
    g = y_skeleton().to_networkx()
    assert g.number_of_nodes() == 7 and g.number_of_edges() == 6
    assert g.edges[2, 4]["length"] == pytest.approx(10) and g.nodes[6]["pos"] == (40, 0, 0)


def test_components_of_edgeless_and_empty():
    assert Skeleton().components() == []
    one = Skeleton([[1, 1, 1]])
    assert one.components() == [one]


# -- properties --------------------------------------------------------------------------------
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(trees())
def test_consolidate_is_idempotent(s):
    once = s.consolidate()
    assert once.consolidate() == once
    assert Skeleton.equivalent(once, s.consolidate(remove_disconnected_vertices=True))


@SETTINGS
@given(trees(min_size=2), trees(min_size=2))
def test_merge_then_components_recovers_parts(a, b):
    b.vertices = b.vertices + 1000  # disjoint
    merged = a.merge(b)
    parts = merged.components()
    assert len(parts) == 2
    assert Skeleton.equivalent(parts[0], a.consolidate()) and Skeleton.equivalent(parts[1], b.consolidate())


@SETTINGS
@given(trees())
def test_cable_length_invariant_under_clone_and_consolidate(s):
    assert s.clone().cable_length() == s.cable_length()
    assert s.consolidate().cable_length() == pytest.approx(s.cable_length(), rel=1e-9)
    assert Skeleton.from_precomputed(s.to_precomputed(), segid=9).cable_length() == s.cable_length()


@SETTINGS
@given(trees(min_size=2), st.integers(1, 7))
def test_downsample_keeps_every_terminal_and_branch_point(s, factor):
    d = s.downsample(factor)
    got = {tuple(v) for v in d.vertices.tolist()}
    for critical in (s.terminals(), s.branches()):
        assert {tuple(v) for v in s.vertices[critical].tolist()} <= got
    assert {tuple(v) for v in d.vertices[d.terminals()].tolist()} == {tuple(v) for v in s.vertices[s.terminals()].tolist()}
    assert {tuple(v) for v in d.vertices[d.branches()].tolist()} == {tuple(v) for v in s.vertices[s.branches()].tolist()}
    assert len(d.components()) == len(s.components())
    assert d.cable_length() <= s.cable_length() * (1 + 1e-6)
    index = {tuple(v): i for i, v in enumerate(s.vertices.tolist())}
    rows = [index[tuple(v)] for v in d.vertices.tolist()]
    np.testing.assert_array_equal(d.radius, s.radius[rows])


@SETTINGS
@given(trees())
def test_swc_round_trip_property(s):
    assert Skeleton.equivalent(Skeleton.from_swc(s.to_swc()), s)


def test_consolidate_signed_zero_merges_and_nan_stays_apart():
    nan = np.nan
    s = Skeleton([[0, 0, 0], [-0.0, 0, 0], [nan, 1, 1], [nan, 1, 1], [2, 2, 2]], [[0, 4], [1, 2], [3, 4]])
    c = s.consolidate(remove_disconnected_vertices=False)
    assert c.vertices.shape == (4, 3)  # 0.0 == -0.0 merge; NaN rows never equal anything
    assert sorted(map(tuple, c.edges.tolist())) == [(0, 1), (0, 3), (2, 3)]
