"""Shared by the mesh tests: layers with a mesh directory and meshes built by hand."""

from __future__ import annotations

import numpy as np

from aiovolume import CloudVolume
from aiovolume.objects.mesh import Mesh


def make_layer(path, mesh_dir="mesh", resolution=(4, 4, 40)):
    """A segmentation layer at ``path`` whose info names ``mesh_dir``; returns its file:// URL."""
    url = f"file://{path}"
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", list(resolution), [0, 0, 0],
                                       [256, 256, 64], mesh=mesh_dir, chunk_size=[64, 64, 64])
    CloudVolume(url, info=info).commit_info()
    return url


def box_mesh(lo, hi, segid=None, steps=4):
    """A closed box surface split into ``steps`` quads per side (shared vertices)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    t = np.linspace(0, 1, steps + 1)
    verts, faces = [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for end in (0, 1):
            base = len(verts)
            for i in t:
                for j in t:
                    p = lo.copy()
                    p[axis] = (lo if end == 0 else hi)[axis]
                    p[u] = lo[u] + i * (hi[u] - lo[u])
                    p[v] = lo[v] + j * (hi[v] - lo[v])
                    verts.append(p)
            n = steps + 1
            for i in range(steps):
                for j in range(steps):
                    a, b, c, d = base + i * n + j, base + (i + 1) * n + j, base + i * n + j + 1, base + (i + 1) * n + j + 1
                    tri = [[a, b, d], [a, d, c]] if end else [[a, d, b], [a, c, d]]
                    faces += tri
    return Mesh(verts, faces, segid=segid).consolidate()


def triangle_set(mesh, decimals=None):
    """Triangles as sorted coordinate triples (order and winding-rotation free)."""
    tris = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
    if decimals is not None:
        tris = np.round(tris, decimals)
    out = [tuple(sorted(map(tuple, t.tolist()))) for t in tris]
    return sorted(out)


def area(mesh):
    t = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
    return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum())
