"""SWC text <-> Skeleton (Cannon et al. 1998; eSWC's extra columns are read and ignored).

Written: one line per vertex in depth-first order (every parent before its children), ids
1..N, ``-1`` for roots; coordinates and radii with 9 significant digits, so float32 values
read back bit for bit. Read: whitespace-separated columns, ``#`` comments, roots given as
``-1``, any negative id or ``0`` (a common convention that CloudVolume cannot read), ``NA``
radii as -1. A parent id that names no node is a :class:`SkeletonDecodeError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from aiovolume.exceptions import SkeletonDecodeError

from . import skeleton_graph as graph

if TYPE_CHECKING:
    from .skeleton import Skeleton


def to_swc(skel: "Skeleton", contributors: str = "", soma_threshold: float = np.inf) -> str:
    n = skel.vertices.shape[0]
    radius = np.asarray(getattr(skel, "radius", None) if getattr(skel, "radius", None) is not None
                        else np.full(n, -1.0), np.float32).reshape(-1)
    vtypes = np.asarray(getattr(skel, "vertex_types", None) if getattr(skel, "vertex_types", None) is not None
                        else np.zeros(n), np.int64).reshape(-1)
    labels = graph.component_labels(n, skel.edges)
    deg = graph.degrees(n, skel.edges)
    # root each component at its lowest-index terminal (else lowest index), or at its soma
    roots = graph.first_per_label(labels, np.where(deg == 1, 0, 1), np.arange(n))
    if math.isfinite(soma_threshold):
        somas = graph.first_per_label(labels, -radius, np.flatnonzero(radius >= soma_threshold))
        byroot = {int(labels[r]): int(r) for r in roots.tolist()}
        byroot.update({int(labels[s]): int(s) for s in somas.tolist()})
        roots = np.array(sorted(byroot.values()), np.int64)
    order, parent = graph.forest(n, skel.edges, roots) if n else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    ids = np.empty(n, np.int64)
    ids[order] = np.arange(1, n + 1)
    parents = np.where(parent[order] >= 0, ids[np.maximum(parent[order], 0)], -1)
    sx, sy, sz = np.diag(skel.transform)[:3].tolist()
    header = [
        "# ORIGINAL_SOURCE aiovolume", f"# CONTRIBUTOR {contributors}".rstrip(),
        f"# SCALE {sx:.6f} {sy:.6f} {sz:.6f}", "# id type x y z radius parent",
    ]
    v = skel.vertices[order]
    rows = zip(range(1, n + 1), vtypes[order].tolist(), v[:, 0].tolist(), v[:, 1].tolist(), v[:, 2].tolist(),
               radius[order].tolist(), parents.tolist())
    body = [f"{i} {t} {x:.9g} {y:.9g} {z:.9g} {r:.9g} {p}" for i, t, x, y, z, r, p in rows]
    return "\n".join(header + body) + "\n"


def from_swc(cls: Any, swcstr: str) -> "Skeleton":
    rows = [line.split() for line in swcstr.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        return cls()
    short = next((i for i, r in enumerate(rows) if len(r) < 7), None)
    if short is not None:
        raise SkeletonDecodeError(f"SWC node line {short + 1} has {len(rows[short])} columns; 7 are needed "
                                  "(id type x y z radius parent)")
    table = np.array([r[:7] for r in rows])
    try:
        ids = table[:, 0].astype(np.float64).astype(np.int64)
        vtypes = table[:, 1].astype(np.float64).astype(np.int64)
        xyz = table[:, 2:5].astype(np.float32)
        parents = table[:, 6].astype(np.float64).astype(np.int64)
    except ValueError as exc:
        raise SkeletonDecodeError(f"SWC: a non-numeric id, type, coordinate or parent: {exc}") from exc
    radius = np.array([_radius(r) for r in table[:, 5].tolist()], np.float32)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if np.any(sorted_ids[1:] == sorted_ids[:-1]):
        dup = int(sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0])
        raise SkeletonDecodeError(f"SWC: node id {dup} appears twice")
    where = np.minimum(np.searchsorted(sorted_ids, parents), len(ids) - 1)
    known = sorted_ids[where] == parents
    dangling = ~known & (parents > 0)
    if dangling.any():
        i = int(np.flatnonzero(dangling)[0])
        raise SkeletonDecodeError(f"SWC: node {int(ids[i])} has parent {int(parents[i])}, which is not a node")
    child = np.flatnonzero(known)
    edges = np.stack([order[where[child]], child], axis=1)
    if np.any(vtypes < 0) or np.any(vtypes > 255):
        raise SkeletonDecodeError("SWC: a node type is outside 0..255")
    return cls(xyz, edges, radius, vtypes.astype(np.uint8))


def _radius(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0  # NA, N/A: unknown
