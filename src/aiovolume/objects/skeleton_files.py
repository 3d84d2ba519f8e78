"""A layer's skeletons as stored: checks, encoding and decoding of many skeletons at once in the
layout of a skeleton ``info`` (attributes, transform), for ``vol.skeleton`` (aiovolume/skeleton.py).
Pure numpy; run in worker threads."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from aiovolume.exceptions import SkeletonEncodeError, SkeletonTransformError, SkeletonUnassignedEdgeError
from aiovolume.format.skeleton import (
    IDENTITY_TRANSFORM, check_edges, decode_skeleton, skeleton_counts, skeleton_parts, vertex_attributes,
)

from .skeleton import Skeleton

_IDENTITY = np.asarray(IDENTITY_TRANSFORM, np.float64).reshape(3, 4)
#: a file's arrays as ``Decoder.place`` allocates them: vertices, edges, {attribute id: values}
Placed = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]


def decode_all(present: Sequence[tuple[int, bytes]], attrs: list[dict[str, Any]],
               transform: np.ndarray) -> list[Skeleton]:
    """Skeletons from stored bytes, in physical space (``transform``: the info's)."""
    decode = Decoder(attrs, transform)
    return [decode(segid, data) for segid, data in present]


class Decoder:
    """``decode = Decoder(attrs, transform)``; ``decode(segid, data)``: the Skeleton of one stored
    file, in physical space (``transform``: the info's), as ``Skeleton.from_precomputed`` then the
    transform would give, about 4x faster (the info's attributes parsed once, not per file;
    nothing allocated and then replaced).

    ``place(segid, size, head)`` and ``build(segid, placed)`` do the same for a reader that reads
    a file straight into the skeleton's arrays (``Store.blocking_reader``'s ``scatter``): the
    arrays for a file of ``size`` bytes starting with ``head`` (its first 8 bytes), and the
    buffers to read the bytes after the head into; then the Skeleton of the filled arrays."""

    HEAD = 8

    def __init__(self, attrs: list[dict[str, Any]], transform: np.ndarray) -> None:
        self.specs = vertex_attributes({"vertex_attributes": attrs})
        self.layout = [dict(a) for a in attrs]
        self.matrix = np.array(transform, dtype=np.float32).reshape(3, 4)  # what Skeleton.transform keeps
        self.plain = is_identity(transform)

    def __call__(self, segid: int, data: Any) -> Skeleton:
        vertices, edges, values = decode_skeleton(data, self.specs, f"skeleton {segid}")
        return self._skeleton(segid, vertices, edges, values)

    def place(self, segid: int, size: int, head: bytes) -> tuple[Placed, list[memoryview]]:
        n, m = skeleton_counts(head, size, self.specs, f"skeleton {segid}")
        vertices, edges = np.empty((n, 3), "<f4"), np.empty((m, 2), "<u4")
        values = {a.id: np.empty(n if a.num_components == 1 else (n, a.num_components), a.dtype) for a in self.specs}
        arrays = (vertices, edges, *values.values())
        return (vertices, edges, values), [a.reshape(-1).view(np.uint8).data for a in arrays]

    def build(self, segid: int, placed: Placed) -> Skeleton:
        vertices, edges, values = placed
        check_edges(edges, len(vertices), f"skeleton {segid}")
        native = {k: v.astype(v.dtype.newbyteorder("="), copy=False) for k, v in values.items()}  # as stored on LE
        return self._skeleton(segid, vertices.astype(np.float32, copy=False), edges.astype(np.uint32, copy=False),
                              native)

    def _skeleton(self, segid: int, vertices: np.ndarray, edges: np.ndarray, values: dict[str, np.ndarray]) -> Skeleton:
        if not self.plain:  # as Skeleton.apply_transform, with the matrix the skeleton keeps
            vertices = Skeleton.transform_vertices(vertices, self.matrix)
        return Skeleton._from_decoded(vertices, edges, values, self.layout, segid, self.matrix, "physical")


def check_all(skels: Sequence[Skeleton], attrs: list[dict[str, Any]]) -> None:
    """What would make encoding fail, checked for every skeleton before any is written."""
    specs = vertex_attributes({"vertex_attributes": attrs})
    for skel in skels:
        if skel.id is None:
            raise SkeletonEncodeError("a skeleton to upload needs a segment id (Skeleton(..., segid=N))")
        n = skel.vertices.shape[0]
        if skel.vertices.ndim != 2 or skel.vertices.shape[1] != 3:
            raise SkeletonEncodeError(f"skeleton {skel.id}: vertices must have shape (N, 3), got {skel.vertices.shape}")
        if skel.edges.size and int(skel.edges.max()) >= n:
            raise SkeletonUnassignedEdgeError(f"skeleton {skel.id}: an edge refers to vertex {int(skel.edges.max())} "
                                              f"of {n}")
        for a in specs:
            values = getattr(skel, a.id, None)
            if values is None:
                raise SkeletonEncodeError(f"skeleton {skel.id} has no values for the layer's vertex attribute "
                                          f"{a.id!r} (skeleton info: {[x.id for x in specs]})")
            if np.size(values) != n * a.num_components:
                raise SkeletonEncodeError(f"skeleton {skel.id}: attribute {a.id!r} has {np.size(values)} values "
                                          f"for {n} vertices of {a.num_components} component(s)")


def encode_all(skels: Sequence[Skeleton], attrs: list[dict[str, Any]],
               transform: np.ndarray | None) -> dict[int, bytes]:
    """``{segid: stored bytes}`` in the info's attribute layout; ``transform``: the info's
    (stored -> nm), inverted here (None: vertices stored as given)."""
    return {segid: b"".join(parts) for segid, parts in encode_parts_all(skels, attrs, transform).items()}


def encode_parts_all(skels: Sequence[Skeleton], attrs: list[dict[str, Any]],
                     transform: np.ndarray | None) -> dict[int, list[memoryview]]:
    """``encode_all`` as each file's consecutive pieces (``format.skeleton.skeleton_parts``),
    for a writer that takes them as they are."""
    files: dict[int, list[memoryview]] = {}
    specs = vertex_attributes({"vertex_attributes": attrs})
    for skel in skels:
        if skel.id is None:
            raise SkeletonEncodeError("a skeleton to upload needs a segment id (Skeleton(..., segid=N))")
        vertices = skel.vertices
        if transform is not None:
            if skel.space != "physical":
                skel._check_space()
                if not is_identity(skel.transform):
                    vertices = skel.transform_vertices(vertices, skel.transform)
            if not is_identity(transform):
                vertices = invert(vertices, transform)
        missing = [a.id for a in specs if getattr(skel, a.id, None) is None]
        if missing:
            raise SkeletonEncodeError(f"skeleton {skel.id} has no values for the layer's vertex attribute(s) "
                                      f"{missing} (skeleton info: {[a.id for a in specs]})")
        values = {a.id: getattr(skel, a.id) for a in specs}
        files[int(skel.id)] = skeleton_parts(vertices, skel.edges, values, specs)
    return files


def is_identity(transform: np.ndarray) -> bool:
    return bool(np.array_equal(np.asarray(transform, np.float64).reshape(3, 4), _IDENTITY))


def invert(vertices: np.ndarray, transform: np.ndarray) -> np.ndarray:
    t = np.asarray(transform, np.float64).reshape(3, 4)
    try:
        inverse = np.linalg.inv(t[:, :3])
    except np.linalg.LinAlgError as exc:
        raise SkeletonTransformError(f"the skeleton info transform {t.tolist()} is not invertible") from exc
    return ((vertices.astype(np.float64) - t[:, 3]) @ inverse.T).astype(np.float32)


__all__ = ["decode_all", "Decoder", "check_all", "encode_all", "is_identity", "invert"]
