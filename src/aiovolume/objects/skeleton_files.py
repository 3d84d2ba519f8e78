"""A layer's skeletons as stored: checks, encoding and decoding of many skeletons at once in the
layout of a skeleton ``info`` (attributes, transform), for ``vol.skeleton`` (aiovolume/skeleton.py).
Pure numpy; run in worker threads."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from aiovolume.exceptions import SkeletonEncodeError, SkeletonTransformError, SkeletonUnassignedEdgeError
from aiovolume.format.skeleton import IDENTITY_TRANSFORM, decode_skeleton, skeleton_parts, vertex_attributes

from .skeleton import Skeleton

_IDENTITY = np.asarray(IDENTITY_TRANSFORM, np.float64).reshape(3, 4)


def decode_all(present: Sequence[tuple[int, bytes]], attrs: list[dict[str, Any]],
               transform: np.ndarray) -> list[Skeleton]:
    """Skeletons from stored bytes, in physical space (``transform``: the info's)."""
    decode = decoder(attrs, transform)
    return [decode(segid, data) for segid, data in present]


def decoder(attrs: list[dict[str, Any]], transform: np.ndarray) -> Callable[..., Skeleton]:
    """``decode(segid, data)``: the Skeleton of one stored file, in physical space (``transform``:
    the info's), as ``Skeleton.from_precomputed`` then the transform would give, about 4x faster
    (the info's attributes parsed once, not per file; nothing allocated and then replaced)."""
    specs = vertex_attributes({"vertex_attributes": attrs})
    layout = [dict(a) for a in attrs]
    matrix = np.array(transform, dtype=np.float32).reshape(3, 4)  # what Skeleton.transform keeps
    t = matrix.astype(np.float64)
    plain = is_identity(transform)

    def decode(segid: int, data: Any) -> Skeleton:
        vertices, edges, values = decode_skeleton(data, specs, f"skeleton {segid}")
        if not plain:  # Skeleton.apply_transform's arithmetic, with the matrix the skeleton keeps
            vertices = (vertices.astype(np.float64) @ t[:, :3].T + t[:, 3]).astype(np.float32)
        return Skeleton._from_decoded(vertices, edges, values, layout, segid, matrix, "physical")

    return decode


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


__all__ = ["decode_all", "decoder", "check_all", "encode_all", "is_identity", "invert"]
