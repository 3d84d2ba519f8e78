"""Multi-resolution mesh fragments: split LOD meshes into the octree grid, quantize, Draco-encode
(write) and decode them back (read). Pure CPU work, no I/O (precomputed-format.md §6.2, §10).

Writing LOD ``L``: triangles are cut at the planes of the LOD's sub-grid (the node size
``chunk_shape * 2**L`` for ``L = 0``, half of it above, as Neuroglancer requires), each piece goes to
the node holding its centroid, and the node's vertices are stored as integers in
``[0, 2**bits)`` relative to the node (Draco without its own quantization: lossless).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..codecs import draco
from ..exceptions import MeshDecodeError, SpecViolation
from ..format.mesh import MultiresManifest, apply_transform, dequantize, invert_transform, quantize, zorder_codes
from .mesh import Mesh, unique_rows


# -- read ----------------------------------------------------------------------------------
def decode_lod(manifest: MultiresManifest, lod: int, data: bytes, bits: int, transform: np.ndarray | None,
               what: str) -> list[Mesh]:
    """The meshes of one LOD's fragments (``data``: that LOD's bytes), in nm."""
    sizes = manifest.fragment_sizes[lod].astype(np.int64)
    if int(sizes.sum()) != len(data):
        raise MeshDecodeError(f"{what}: LOD {lod} has {len(data)} bytes of fragments, its manifest says "
                              f"{int(sizes.sum())}")
    meshes = []
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for i, size in enumerate(sizes.tolist()):
        if size == 0:
            continue  # empty nodes exist where a child has geometry and its parent none
        points, faces = draco.decode(data[starts[i]:starts[i] + size], f"{what} fragment {i} of LOD {lod}")
        verts = dequantize(points.astype(np.float64), manifest, lod, manifest.fragment_positions[lod][i], bits)
        meshes.append(Mesh(to_nm(verts, transform), faces, segid=manifest.segid, encoding_type="draco"))
    return meshes


def to_nm(verts: np.ndarray, transform: np.ndarray | None) -> np.ndarray:
    # the homogeneous matmul CloudVolume uses, so both readers agree to the last bit
    if transform is None or (np.array_equal(transform[:, :3], np.eye(3)) and not transform[:, 3].any()):
        return verts
    homog = np.hstack([verts, np.ones((verts.shape[0], 1))]).T
    return np.matmul(transform, homog).T


# -- write ---------------------------------------------------------------------------------
def encode_multires(lods: Sequence[Mesh], bits: int, transform: np.ndarray | None = None,
                    chunk_shape: Any = None, grid_origin: Any = None, lod_scales: Any = None,
                    segid: int | None = None, compression_level: int = 7) -> tuple[MultiresManifest, bytes]:
    """``(manifest, fragment bytes)`` of one segment from its LOD meshes (finest first, nm).

    ``chunk_shape`` (model units; default: the coarsest LOD's node spans the finest mesh),
    ``grid_origin`` (default: the floor of the lowest vertex), ``lod_scales`` (default ``2**L``).
    """
    if not lods:
        raise SpecViolation("a multi-resolution mesh needs at least one LOD mesh")
    inverse = None if transform is None else invert_transform(transform)
    model = [apply_transform(m.vertices, inverse) for m in lods]
    every = np.concatenate([v for v in model if len(v)] or [np.zeros((1, 3))])
    origin = np.floor(every.min(axis=0)) if grid_origin is None else np.asarray(grid_origin, np.float64)
    if chunk_shape is None:
        extent = float((every.max(axis=0) - origin).max())
        side = max(extent / 2 ** (len(lods) - 1), 1e-3) * (1 + 1e-6)
        chunk_shape = (side, side, side)
    shape = np.asarray(chunk_shape, dtype=np.float32).astype(np.float64)
    if np.any(shape <= 0) or np.any(every < origin):
        raise SpecViolation(f"chunk_shape {shape.tolist()} must be > 0 and grid_origin {origin.tolist()} "
                            "at or below every vertex")
    scales = [2.0 ** L for L in range(len(lods))] if lod_scales is None else list(lod_scales)
    manifest = MultiresManifest(shape, origin, scales, np.zeros((len(lods), 3)),
                                [np.zeros((0, 3))] * len(lods), [np.zeros(0)] * len(lods), segid=segid)
    parts: list[bytes] = []
    children = np.zeros((0, 3), np.uint32)
    for lod, (mesh, verts) in enumerate(zip(lods, model)):
        node = shape * 2.0 ** lod
        cut = node if lod == 0 else node / 2
        v, f = verts, mesh.faces.astype(np.int64)
        for axis in range(3):
            v, f = split_on_planes(v, f, axis, float(manifest.grid_origin[axis]), float(cut[axis]))
        positions, blobs = _fragments(v, f, manifest, lod, bits, children, compression_level)
        manifest.fragment_positions[lod] = positions
        manifest.fragment_sizes[lod] = np.array([len(b) for b in blobs], dtype=np.uint32)
        parts.extend(blobs)
        children = positions
    return manifest, b"".join(parts)


def _fragments(v: np.ndarray, f: np.ndarray, manifest: MultiresManifest, lod: int, bits: int,
               children: np.ndarray, level: int) -> tuple[np.ndarray, list[bytes]]:
    """The LOD's nodes in Z-order (parents of the finer LOD's nodes included, empty if need be)
    and each node's Draco bytes."""
    node = manifest.chunk_shape.astype(np.float64) * 2.0 ** lod
    origin = manifest.grid_origin.astype(np.float64)
    if f.size:
        centroid = v[f].mean(axis=1)
        cell = np.floor((centroid - origin) / node).astype(np.int64)
    else:
        cell = np.zeros((0, 3), np.int64)
    if cell.size and cell.min() < 0:
        raise SpecViolation("a triangle lies below grid_origin")
    nodes = np.concatenate([cell, children.astype(np.int64) >> 1]) if lod else cell
    positions, _, _ = unique_rows(nodes) if len(nodes) else (np.zeros((0, 3), np.int64), None, None)
    positions = positions[np.argsort(zorder_codes(positions), kind="stable")].astype(np.uint32)
    if not len(positions):
        return positions.reshape(0, 3), []
    blobs: list[bytes] = [b""] * len(positions)
    lookup = {tuple(p): i for i, p in enumerate(positions.tolist())}
    if f.size:
        groups, which, _ = unique_rows(cell)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(groups) + 1))
        for g, pos in enumerate(groups.tolist()):
            faces = f[order[bounds[g]:bounds[g + 1]]]
            used, local = np.unique(faces, return_inverse=True)
            q = quantize(v[used], manifest, lod, pos, bits)
            blobs[lookup[tuple(pos)]] = draco.encode_integer(q, local.reshape(-1, 3), level)
    return positions, blobs


def split_on_planes(v: np.ndarray, f: np.ndarray, axis: int, origin: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut triangles at the planes ``origin + k * step`` of ``axis`` so none crosses one.
    Winding is kept; a new vertex on a shared edge is computed the same way from both sides."""
    v = np.asarray(v, dtype=np.float64)
    f = np.asarray(f, dtype=np.int64).reshape(-1, 3)
    while f.size:
        x = v[f, axis]
        lo, hi = x.min(axis=1), x.max(axis=1)
        # the first plane strictly above the lowest vertex (a cut vertex lies exactly on a
        # plane, and (plane - origin) / step may round to just below its index)
        k = np.floor((lo - origin) / step) + 1
        plane = origin + k * step
        low = plane <= lo
        plane[low] = origin + (k[low] + 1) * step
        cross = plane < hi
        if not cross.any():
            break
        keep, tri, p = f[~cross], f[cross], plane[cross]
        side = np.sign(v[tri, axis] - p[:, None]).astype(np.int8)  # -1 below, 0 on, 1 above
        on = side == 0
        new_v: list[np.ndarray] = []
        new_f: list[np.ndarray] = []
        base = len(v)
        # B: one vertex on the plane, the other two on opposite sides -> 2 triangles
        b = on.any(axis=1)
        if b.any():
            t = _rotate(tri[b], np.argmax(on[b], axis=1))
            m = _cut(v, t[:, 1], t[:, 2], p[b], axis)
            ids = base + np.arange(len(m))
            new_v.append(m)
            new_f += [np.stack([t[:, 0], t[:, 1], ids], 1), np.stack([t[:, 0], ids, t[:, 2]], 1)]
            base += len(m)
        # A: no vertex on it; the lone vertex (its side differs from the others') -> 3 triangles
        a = ~b
        if a.any():
            s = side[a]
            lone = np.where(s[:, 0] == s[:, 1], 2, np.where(s[:, 0] == s[:, 2], 1, 0))
            t = _rotate(tri[a], lone)
            m1 = _cut(v, t[:, 0], t[:, 1], p[a], axis)
            m2 = _cut(v, t[:, 0], t[:, 2], p[a], axis)
            i1 = base + np.arange(len(m1))
            i2 = i1 + len(m1)
            new_v += [m1, m2]
            new_f += [np.stack([t[:, 0], i1, i2], 1), np.stack([i1, t[:, 1], t[:, 2]], 1),
                      np.stack([i1, t[:, 2], i2], 1)]
        v = np.concatenate([v] + new_v)
        f = np.concatenate([keep] + new_f)
    if len(v):  # merge the copies of each new vertex (and any exact duplicates)
        v, inverse, _ = unique_rows(v)
        f = inverse[f]
    return v, f


def _rotate(tri: np.ndarray, first: np.ndarray) -> np.ndarray:
    idx = (first[:, None] + np.arange(3)) % 3
    return np.take_along_axis(tri, idx, axis=1)


def _cut(v: np.ndarray, i: np.ndarray, j: np.ndarray, plane: np.ndarray, axis: int) -> np.ndarray:
    """Where edges (i, j) meet the plane, computed from the lower vertex index so both
    triangles sharing an edge get the identical point."""
    a, b = np.minimum(i, j), np.maximum(i, j)
    va, vb = v[a], v[b]
    t = (plane - va[:, axis]) / (vb[:, axis] - va[:, axis])
    out = va + t[:, None] * (vb - va)
    out[:, axis] = plane
    return out


__all__ = ["decode_lod", "encode_multires", "to_nm", "split_on_planes"]
