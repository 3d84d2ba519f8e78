"""Graph algorithms of skeletons on plain arrays (``n`` vertices, ``(M, 2)`` edges), vectorised.

One scipy traversal serves a whole forest: a virtual vertex ``n`` is joined to one root per
component, so a single depth-first search from it visits every component in turn (a search per
component would cost O(n) each). In a depth-first preorder a chain of degree-2 vertices is
contiguous, so interjoint paths are slices of the preorder cut where the parent is a critical
point (terminal, branch or root): no per-vertex Python loop anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# scipy is imported where a graph is first built: it costs ~150 ms and ~30 MiB at import, which
# every `import aiovolume` would pay for skeleton operations most users never call


def adjacency(n: int, edges: np.ndarray, extra: np.ndarray | None = None) -> "csr_matrix":
    """Symmetric CSR adjacency of ``n`` vertices (``+ len(extra)`` virtual ones joined to ``extra``)."""
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    size = n
    if extra is not None and len(extra):
        a = np.concatenate([a, np.full(len(extra), n, np.int64)])
        b = np.concatenate([b, extra.astype(np.int64)])
        size = n + 1
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    from scipy.sparse import coo_matrix

    return coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(size, size)).tocsr()


def degrees(n: int, edges: np.ndarray) -> np.ndarray:
    return np.bincount(edges.ravel().astype(np.int64), minlength=n)


def component_labels(n: int, edges: np.ndarray) -> np.ndarray:
    """A component number per vertex (isolated vertices get their own)."""
    from scipy.sparse.csgraph import connected_components

    return connected_components(adjacency(n, edges), directed=False)[1]


def first_per_label(labels: np.ndarray, keys: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each label among ``candidates`` (vertex indices), the candidate with the smallest key."""
    if candidates.size == 0:
        return candidates
    order = np.lexsort((candidates, keys[candidates], labels[candidates]))
    ranked = candidates[order]
    lab = labels[ranked]
    keep = np.ones(ranked.size, bool)
    keep[1:] = lab[1:] != lab[:-1]
    return ranked[keep]


def forest(n: int, edges: np.ndarray, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth-first ``(preorder, parent)`` of the components of ``roots`` (one root per component);
    ``parent`` is -1 at roots and at vertices not visited; non-tree edges of cycles are left out."""
    graph = adjacency(n, edges, roots)
    from scipy.sparse.csgraph import depth_first_order

    order, pred = depth_first_order(graph, n, directed=False, return_predecessors=True)
    parent = pred[:n].astype(np.int64)
    parent[parent == n] = -1
    parent[parent < 0] = -1
    return order[1:].astype(np.int64), parent


def edge_vertex_roots(n: int, edges: np.ndarray, prefer_terminals: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, roots)``: one root per component that has edges - its lowest-index terminal
    (degree 1) if it has one and ``prefer_terminals``, else its lowest-index vertex."""
    labels = component_labels(n, edges)
    deg = degrees(n, edges)
    with_edges = np.flatnonzero(deg > 0)
    key = np.where(deg == 1, 0, 1) if prefer_terminals else np.zeros(n, np.int64)
    return labels, first_per_label(labels, key, with_edges)


def farthest_roots(n: int, edges: np.ndarray) -> np.ndarray:
    """Per component with edges, the vertex farthest in hops from its lowest-index vertex
    (the lowest index among ties): a path end, so paths from it are long."""
    labels, starts = edge_vertex_roots(n, edges, prefer_terminals=False)
    if starts.size == 0:
        return starts
    from scipy.sparse.csgraph import dijkstra

    dist = dijkstra(adjacency(n, edges), directed=False, indices=starts, unweighted=True, min_only=True)
    reach = np.flatnonzero(np.isfinite(dist) & (degrees(n, edges) > 0))
    return first_per_label(labels, -dist, reach)


def segments(order: np.ndarray, parent: np.ndarray) -> list[np.ndarray]:
    """Interjoint paths of a depth-first forest: vertex index arrays from one critical vertex
    (root, terminal or branch point of the tree) to the next, in preorder."""
    n = parent.size
    children = np.bincount(parent[parent >= 0], minlength=n)
    critical = (children + (parent >= 0)) != 2
    critical[parent < 0] = True  # roots end and start paths even when they have 2 children
    body = order[parent[order] >= 0]
    if body.size == 0:
        return []
    cuts = np.flatnonzero(critical[parent[body]])
    pieces = np.split(body, cuts[1:])
    return [np.concatenate(([parent[p[0]]], p)) for p in pieces]


def root_paths(order: np.ndarray, parent: np.ndarray) -> list[np.ndarray]:
    """Every leaf-to-root path of a depth-first forest (leaf first), built from its segments."""
    segs = segments(order, parent)
    if not segs:
        return []
    n = parent.size
    ending = np.full(n, -1, np.int64)
    ends = np.array([s[-1] for s in segs], np.int64)
    ending[ends] = np.arange(len(segs))
    children = np.bincount(parent[parent >= 0], minlength=n)
    paths = []
    for k in np.flatnonzero(children[ends] == 0).tolist():
        chain = [segs[k][::-1]]
        start = segs[k][0]
        while parent[start] >= 0:
            k = int(ending[start])
            chain.append(segs[k][-2::-1])
            start = segs[k][0]
        paths.append(np.concatenate(chain))
    return paths


def moving_average(a: np.ndarray, n: int) -> np.ndarray:
    """Trailing mean over ``n`` rows, the ends padded by reflection (mode "symmetric")."""
    if n <= 1 or len(a) == 0:
        return a.astype(np.float64)
    padded = np.pad(a.astype(np.float64), [(n, n)] + [(0, 0)] * (a.ndim - 1), mode="symmetric")
    total = np.cumsum(padded, axis=0)
    return ((total[n:] - total[:-n])[:-n]) / n


__all__ = ["adjacency", "degrees", "component_labels", "forest", "edge_vertex_roots", "farthest_roots",
           "segments", "root_paths", "moving_average", "first_per_label"]
