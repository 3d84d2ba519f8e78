"""The bodies of ``Skeleton``'s restructuring operations, vectorised (see ``skeleton_graph``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import skeleton_graph as graph

if TYPE_CHECKING:
    from .skeleton import Skeleton


def _lexorder(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, starts)``: a stable lexicographic (x, y, z) order of the rows and, along it, a
    mask of rows that differ from the previous one (equal coordinates, -0.0 == 0.0, group)."""
    order = np.lexsort((vertices[:, 2], vertices[:, 1], vertices[:, 0]))
    ordered = vertices[order]
    starts = np.ones(len(order), bool)
    starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    return order, starts


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def _duplicates(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(take, inverse)`` merging rows with equal coordinates (first occurrence kept, in
    first-occurrence order), or None when all rows differ. One 64-bit hash per row and a sort of
    the hashes (a lexsort of three float columns costs ~10x more); groups are verified equal, and
    anything a hash cannot settle (collisions, NaN) goes through the exact lexicographic path."""
    n = vertices.shape[0]
    with np.errstate(over="ignore"):
        bits = (vertices.astype(np.float32) + np.float32(0)).view(np.uint32).astype(np.uint64)  # -0.0 -> 0.0
        h = ((bits[:, 0] * _MIX[0] + bits[:, 1]) * _MIX[1] + bits[:, 2]) * _MIX[2]
    order = np.argsort(h, kind="stable")
    hs = h[order]
    starts = np.ones(n, bool)
    starts[1:] = hs[1:] != hs[:-1]
    if starts.all():
        return None
    group = np.cumsum(starts) - 1
    reps = order[starts]  # stable: the lowest index of each group
    if not np.array_equal(vertices[order], vertices[reps[group]]):
        order, starts = _lexorder(vertices)  # a collision or NaN: settle it exactly
        if starts.all():
            return None
        group = np.cumsum(starts) - 1
        reps = order[starts]
    rank = np.empty(reps.size, np.int64)
    rank[np.argsort(reps)] = np.arange(reps.size)
    inverse = np.empty(n, np.int64)
    inverse[order] = rank[group]
    return np.sort(reps), inverse


def consolidate_arrays(vertices: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(vertices, edges, take)``: one vertex per distinct coordinate (the first, in first-
    occurrence order; ``take`` its old index, None when no vertex merged), edges as sorted
    unique ``(low, high)`` pairs without self loops."""
    n = vertices.shape[0]
    if n == 0:
        return vertices.copy(), np.zeros((0, 2), np.uint32), None
    merged = _duplicates(vertices)
    if merged is None:
        take, e = None, np.sort(edges.astype(np.int64), axis=1)
        size = np.int64(n)
    else:
        take, inverse = merged
        e = np.sort(inverse[edges], axis=1)
        size = np.int64(take.size)
    keys = np.sort(e[:, 0] * size + e[:, 1])
    keep = np.ones(keys.size, bool)
    keep[1:] = keys[1:] != keys[:-1]
    keys = keys[keep]
    low, high = keys // size, keys % size
    loops = low != high
    new_edges = np.stack([low[loops], high[loops]], axis=1).astype(np.uint32)
    return (vertices.copy() if take is None else vertices[take]), new_edges, take


def equivalent(first: "Skeleton", second: "Skeleton") -> bool:
    if first.empty() and second.empty():
        return True
    if first.vertices.shape != second.vertices.shape or first.edges.shape != second.edges.shape:
        return False
    o1, starts = _lexorder(first.vertices)
    o2, starts2 = _lexorder(second.vertices)
    a, b = first.vertices[o1], second.vertices[o2]
    if not (np.array_equal(starts, starts2) and np.all(np.abs(a.astype(np.float64) - b) < 1e-7)):
        return False
    group = np.cumsum(starts) - 1
    n = first.vertices.shape[0]
    g1, g2 = np.empty(n, np.int64), np.empty(n, np.int64)
    g1[o1], g2[o2] = group, group
    e1, e2 = np.sort(g1[first.edges], axis=1), np.sort(g2[second.edges], axis=1)
    e1, e2 = e1[np.lexsort(e1.T[::-1])], e2[np.lexsort(e2.T[::-1])]
    if not np.array_equal(e1, e2):
        return False
    for attr in first.extra_attributes:
        x, y = getattr(first, attr["id"], None), getattr(second, attr["id"], None)
        if x is None or y is None:
            if x is not y:
                return False
            continue
        if not np.array_equal(np.asarray(x)[o1][starts], np.asarray(y)[o2][starts]):
            return False
    return True


def components(skel: "Skeleton") -> list["Skeleton"]:
    n = skel.vertices.shape[0]
    if n == 0:
        return []
    if skel.edges.size == 0:
        return [skel.clone()]
    labels = graph.component_labels(n, skel.edges)
    used = np.flatnonzero(graph.degrees(n, skel.edges) > 0)
    lab = labels[used]
    uniq, first = np.unique(lab, return_index=True)
    if uniq.size == 1:
        return [skel.clone()]
    rank = np.empty(labels.max() + 1, np.int64)
    rank[uniq[np.argsort(first)]] = np.arange(uniq.size)  # components in order of their first vertex
    vkey = rank[lab]
    vorder = np.argsort(vkey, kind="stable")
    verts = used[vorder]
    vbounds = np.searchsorted(vkey[vorder], np.arange(uniq.size + 1))
    local = np.empty(n, np.int64)
    local[verts] = np.arange(verts.size) - np.repeat(vbounds[:-1], np.diff(vbounds))
    ekey = rank[labels[skel.edges[:, 0]]]
    eorder = np.argsort(ekey, kind="stable")
    ebounds = np.searchsorted(ekey[eorder], np.arange(uniq.size + 1))
    edges = local[skel.edges[eorder]]
    return [skel._with(skel.vertices[verts[vbounds[c]:vbounds[c + 1]]], edges[ebounds[c]:ebounds[c + 1]],
                       verts[vbounds[c]:vbounds[c + 1]]) for c in range(uniq.size)]


def _segments(skel: "Skeleton") -> list[np.ndarray]:
    n = skel.vertices.shape[0]
    if skel.edges.size == 0:
        return []
    _, roots = graph.edge_vertex_roots(n, skel.edges, prefer_terminals=True)
    return graph.segments(*graph.forest(n, skel.edges, roots))


def interjoint_paths(skel: "Skeleton", return_indices: bool) -> list[np.ndarray]:
    segs = _segments(skel)
    return segs if return_indices else [skel.vertices[s] for s in segs]


def paths(skel: "Skeleton", return_indices: bool) -> list[np.ndarray]:
    n = skel.vertices.shape[0]
    if skel.edges.size == 0:
        return []
    found = graph.root_paths(*graph.forest(n, skel.edges, graph.farthest_roots(n, skel.edges)))
    return found if return_indices else [skel.vertices[p] for p in found]


def downsample(skel: "Skeleton", factor: int) -> "Skeleton":
    if factor == 1:
        return skel.clone()
    segs = _segments(skel)
    if not segs:
        return skel._with(skel.vertices[:0], np.zeros((0, 2), np.uint32), np.zeros(0, np.int64))
    lengths = np.array([s.size for s in segs])
    flat = np.concatenate(segs)
    seg_of = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keep = (pos % factor == 0) | (pos == np.repeat(lengths - 1, lengths))  # ends: critical points
    kept, kept_seg = flat[keep], seg_of[keep]
    link = kept_seg[1:] == kept_seg[:-1]
    pairs = np.stack([kept[:-1][link], kept[1:][link]], axis=1)
    verts = np.unique(kept)
    return skel._with(skel.vertices[verts], np.searchsorted(verts, pairs), verts)


def average_smoothing(skel: "Skeleton", n: int, check_boundary: bool, shrink_radii: bool,
                      error: type[Exception]) -> "Skeleton":
    if n <= 1:
        return skel.clone()
    original = skel.vertices.astype(np.float64)
    smooth = original.copy()
    for seg in _segments(skel):
        if seg.size <= 2:
            continue
        path = original[seg]
        forward = graph.moving_average(path, n)
        both = graph.moving_average(forward[::-1], n)[::-1]  # backwards too: no group delay
        smooth[seg[1:-1]] = both[1:-1]  # ends (critical points) stay
    moved = np.sqrt(np.einsum("ij,ij->i", smooth - original, smooth - original))
    radius: Any = getattr(skel, "radius", None)
    if check_boundary and radius is not None:
        r = np.asarray(radius, np.float64).reshape(-1)
        bad = np.flatnonzero((r >= 0) & (moved > r))  # a negative radius means "unknown"
        if bad.size:
            i = int(bad[np.argmax(moved[bad] - r[bad])])
            raise error(f"smoothing moves {bad.size} vertices outside their radius, e.g. vertex {i} from "
                        f"{original[i].tolist()} to {smooth[i].tolist()} ({moved[i]:.3f} > radius {r[i]:.3f}); "
                        "use a smaller window or check_boundary=False")
    out = skel._with(smooth.astype(np.float32), skel.edges.copy(), None)
    if shrink_radii and radius is not None:
        out.radius = (np.asarray(radius, np.float64) - moved).astype(np.asarray(radius).dtype)
    return out
