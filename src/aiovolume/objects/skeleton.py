"""``Skeleton`` (also ``PrecomputedSkeleton``): a stick figure of one segment, with CloudVolume's
(osteoid's) API and object layout: ``vertices`` (N, 3) float32, ``edges`` (M, 2) uint32, one
attribute per ``extra_attributes`` entry (``radius`` - alias ``radii`` - and ``vertex_types`` by
default), ``id``, ``transform`` (3x4, voxel -> physical) and ``space``.

Every operation is vectorised numpy/scipy (``objects/skeleton_graph.py``). Where osteoid is
wrong, the signature is kept and the result is right (each case says so in its docstring).

>>> import numpy as np
>>> skel = Skeleton([[0, 0, 0], [3, 4, 0], [3, 4, 12]], [[0, 1], [1, 2]], segid=7)
>>> float(skel.cable_length())
17.0
>>> Skeleton.from_precomputed(skel.to_precomputed(), segid=7) == skel
True
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

import numpy as np

from aiovolume.exceptions import (
    OptionError, SkeletonAttributeMixingError, SkeletonSmoothingError, SkeletonTransformError,
)
from aiovolume.format.skeleton import (
    DEFAULT_VERTEX_ATTRIBUTES, VertexAttribute, decode_skeleton, encode_skeleton,
)
from . import skeleton_graph as graph
from . import skeleton_ops as ops

IDENTITY = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32)


def _default_attributes() -> list[dict[str, Any]]:
    return [a.to_json() for a in DEFAULT_VERTEX_ATTRIBUTES]


class Skeleton:
    """``Skeleton(vertices=None, edges=None, radii=None, vertex_types=None, segid=None,
    transform=None, space='voxel', extra_attributes=None, default_attributes=True)``."""

    def __init__(self, vertices: Any = None, edges: Any = None, radii: Any = None, vertex_types: Any = None,
                 segid: int | None = None, transform: Any = None, space: Literal["voxel", "physical"] | str = "voxel",
                 extra_attributes: Sequence[Mapping[str, Any]] | None = None, default_attributes: bool = True) -> None:
        self.id = segid
        self.space = space
        self.vertices = np.asarray([] if vertices is None else vertices, dtype=np.float32).reshape(-1, 3)
        self.edges = np.asarray([] if edges is None else edges, dtype=np.uint32).reshape(-1, 2)
        n = self.vertices.shape[0]
        self.default_attributes = bool(default_attributes)
        if radii is not None:
            self.radius = np.asarray(radii, dtype=np.float32)
        elif default_attributes:
            self.radius = np.full(n, -1, dtype=np.float32)
        if vertex_types is not None:
            self.vertex_types = np.asarray(vertex_types, dtype=np.uint8)
        elif default_attributes:
            self.vertex_types = np.zeros(n, dtype=np.uint8)
        if extra_attributes is None:
            extra_attributes = _default_attributes() if default_attributes else []
        self.extra_attributes = [dict(a) for a in extra_attributes]
        self._materialize_extra_attributes()
        self.transform = IDENTITY if transform is None else transform

    # -- attributes ------------------------------------------------------------------------
    @property
    def transform(self) -> np.ndarray:
        return self._transform

    @transform.setter
    def transform(self, value: Any) -> None:
        self._transform = np.array(value, dtype=np.float32).reshape(3, 4)

    @property
    def radii(self) -> np.ndarray:
        return self.radius

    @radii.setter
    def radii(self, value: Any) -> None:
        self.radius = value

    @property
    def attribute_specs(self) -> tuple[VertexAttribute, ...]:
        return tuple(VertexAttribute.from_json(a) for a in self.extra_attributes)

    def _materialize_extra_attributes(self) -> None:
        n = self.vertices.shape[0]
        for spec in self.attribute_specs:
            if getattr(self, spec.id, None) is None:
                shape = (n,) if spec.num_components == 1 else (n, spec.num_components)
                setattr(self, spec.id, np.zeros(shape, dtype=spec.data_type))

    def add_extra_attributes(self, attrs: Sequence[Mapping[str, Any]]) -> None:
        for attr in attrs:
            if not any(a["id"] == attr["id"] for a in self.extra_attributes):
                self.extra_attributes.append(dict(attr))
        self._materialize_extra_attributes()

    def add_vertex_attribute(self, name: str, arr: Any) -> None:
        """Add a per-vertex attribute ``name`` with values ``arr`` ((N,) or (N, k))."""
        arr = np.asarray(arr)
        if not any(a["id"] == name for a in self.extra_attributes):
            self.extra_attributes.append({"id": name, "data_type": arr.dtype.name,
                                          "num_components": 1 if arr.ndim == 1 else int(arr.shape[1])})
        setattr(self, name, arr)

    def attribute_values(self) -> dict[str, np.ndarray]:
        return {a["id"]: np.asarray(getattr(self, a["id"])) for a in self.extra_attributes}

    def _with(self, vertices: np.ndarray, edges: np.ndarray, take: np.ndarray | None,
              values: Mapping[str, np.ndarray] | None = None) -> "Skeleton":
        """A skeleton like this one with new vertices/edges; attributes are ``self``'s rows ``take``
        (or ``values``). Attributes set on this object but not listed are carried the same way."""
        skel = Skeleton(vertices, edges, segid=self.id, transform=self.transform, space=self.space,
                        extra_attributes=self.extra_attributes, default_attributes=False)
        names = [a["id"] for a in self.extra_attributes] + [x for x in ("radius", "vertex_types")
                                                           if getattr(self, x, None) is not None]
        for name in dict.fromkeys(names):
            if values is not None and name in values:
                setattr(skel, name, values[name])
                continue
            arr = getattr(self, name, None)
            if arr is not None:
                arr = np.asarray(arr)
                setattr(skel, name, arr.copy() if take is None else arr[take])
        skel.default_attributes = self.default_attributes
        return skel

    # -- basics ----------------------------------------------------------------------------
    def empty(self) -> bool:
        return self.vertices.size == 0

    def clone(self) -> "Skeleton":
        return self._with(self.vertices.copy(), self.edges.copy(), None)

    def __eq__(self, other: object) -> bool:
        """Exactly equal: id, vertices, edges, attribute list and every attribute's values.
        (osteoid's ``==`` calls two skeletons equal when any one attribute value matches.)"""
        if not isinstance(other, Skeleton):
            return NotImplemented
        if self.id != other.id or self.extra_attributes != other.extra_attributes:
            return False
        if not (np.array_equal(self.vertices, other.vertices) and np.array_equal(self.edges, other.edges)):
            return False
        mine, theirs = self.attribute_values(), other.attribute_values()
        return all(np.array_equal(mine[k], theirs[k]) for k in mine)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def equivalent(cls, first: "Skeleton", second: "Skeleton") -> bool:
        """Same shape regardless of vertex and edge order: the same vertex coordinates (within
        1e-7), the same edges between them, the same attribute values at each coordinate."""
        return ops.equivalent(first, second)

    def __repr__(self) -> str:
        attrs = ", ".join(f"{a['id']}=({len(getattr(self, a['id']))}, {np.asarray(getattr(self, a['id'])).dtype})"
                          for a in self.extra_attributes)
        return (f"Skeleton(segid={self.id}, vertices=(shape={self.vertices.shape[0]}, {self.vertices.dtype}), "
                f"edges=(shape={self.edges.shape[0]}, {self.edges.dtype}), {attrs}, space='{self.space}' "
                f"transform={self.transform.tolist()})")

    __str__ = __repr__

    # -- coordinate spaces -----------------------------------------------------------------
    def _check_space(self) -> None:
        if self.space not in ("physical", "voxel"):
            raise SkeletonTransformError(f"space is {self.space!r}; only 'voxel' and 'physical' skeletons can be "
                                         "transformed")

    @staticmethod
    def transform_vertices(vertices: np.ndarray, transform: np.ndarray) -> np.ndarray:
        t = np.asarray(transform, dtype=np.float64).reshape(3, 4)
        return (np.asarray(vertices, dtype=np.float64) @ t[:, :3].T + t[:, 3]).astype(np.float32)

    def apply_transform(self) -> None:
        self.vertices = self.transform_vertices(self.vertices, self.transform)

    def apply_inverse_transform(self, transform: Any = None) -> None:
        """Physical -> voxel: ``inv(A) @ (v - t)``. (osteoid computes ``inv(A) @ v - t``, wrong
        whenever the transform both scales and translates.)"""
        t = np.asarray(self.transform if transform is None else transform, dtype=np.float64).reshape(3, 4)
        try:
            inverse = np.linalg.inv(t[:, :3])
        except np.linalg.LinAlgError as exc:
            raise SkeletonTransformError(f"transform {t.tolist()} is not invertible") from exc
        self.vertices = ((self.vertices.astype(np.float64) - t[:, 3]) @ inverse.T).astype(np.float32)

    def physical_space(self, copy: bool = True) -> "Skeleton":
        self._check_space()
        skel = self.clone() if copy else self
        if self.space != "physical":
            skel.apply_transform()
            skel.space = "physical"
        return skel

    def voxel_space(self, copy: bool = True) -> "Skeleton":
        self._check_space()
        skel = self.clone() if copy else self
        if self.space != "voxel":
            skel.apply_inverse_transform()
            skel.space = "voxel"
        return skel

    # -- formats -----------------------------------------------------------------------------
    def to_precomputed(self) -> bytes:
        """The Precomputed binary with this skeleton's ``extra_attributes`` (vertices as stored)."""
        return encode_skeleton(self.vertices, self.edges, self.attribute_values(), self.attribute_specs)

    @classmethod
    def from_precomputed(cls, skelbuf: bytes, segid: int | None = None,
                         vertex_attributes: Sequence[Mapping[str, Any]] | None = None) -> "Skeleton":
        """Decode a Precomputed binary; ``vertex_attributes`` as in the skeleton info (default:
        radius float32 and vertex_types uint8). A file shorter than they imply raises
        SkeletonDecodeError (osteoid silently drops the attributes)."""
        attrs = _default_attributes() if vertex_attributes is None else [dict(a) for a in vertex_attributes]
        specs = [VertexAttribute.from_json(a) for a in attrs]
        vertices, edges, values = decode_skeleton(skelbuf, specs, f"skeleton {segid}")
        skel = cls(vertices, edges, segid=segid, extra_attributes=attrs, default_attributes=False)
        for name, arr in values.items():
            setattr(skel, name, arr)
        skel.default_attributes = True
        return skel

    @classmethod
    def _from_decoded(cls, vertices: np.ndarray, edges: np.ndarray, values: Mapping[str, np.ndarray],
                      attributes: Sequence[Mapping[str, Any]], segid: int | None, transform: np.ndarray,
                      space: str) -> "Skeleton":
        """What ``from_precomputed`` then setting ``transform`` and ``space`` gives, for arrays
        ``decode_skeleton`` returned (already (N, 3) float32, (M, 2) uint32 and one array per
        attribute): no conversions, no attribute parsing, nothing allocated and then replaced.
        ``transform`` is a (3, 4) float32 array of the caller's; each skeleton gets its own copy."""
        skel = cls.__new__(cls)
        state = skel.__dict__  # the order from_precomputed sets them in (pickles look the same)
        state.update(id=segid, space="voxel", vertices=vertices, edges=edges, default_attributes=True,
                     extra_attributes=[dict(a) for a in attributes])
        for name, arr in values.items():
            setattr(skel, name, arr)  # through the class's setters (radii) as from_precomputed does
        state["_transform"] = transform.copy()
        skel.space = space
        return skel

    @classmethod
    def from_path(cls, vertices: Any) -> "Skeleton":
        """A single path through ``vertices`` in order."""
        verts = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
        n = verts.shape[0]
        return cls(verts, np.stack([np.arange(max(n - 1, 0)), np.arange(1, max(n, 1))], axis=1) if n else None)

    def to_swc(self, contributors: str = "", soma_threshold: float = np.inf) -> str:
        from .swc import to_swc

        return to_swc(self, contributors, soma_threshold)

    @classmethod
    def from_swc(cls, swcstr: str) -> "Skeleton":
        from .swc import from_swc

        return from_swc(cls, swcstr)

    def to_networkx(self) -> Any:
        """An undirected ``networkx.Graph`` with a node per vertex (``pos`` = its coordinates)
        and an edge per edge (``length``). Needs the optional package ``networkx``."""
        try:
            import networkx as nx
        except ImportError as exc:  # pragma: no cover - optional
            raise ImportError("Skeleton.to_networkx needs networkx: pip install networkx") from exc
        g = nx.Graph()
        g.add_nodes_from((i, {"pos": tuple(v)}) for i, v in enumerate(self.vertices.tolist()))
        lengths = self._edge_lengths().tolist()
        g.add_edges_from((a, b, {"length": w}) for (a, b), w in zip(self.edges.tolist(), lengths))
        return g

    # -- measures ----------------------------------------------------------------------------
    def _edge_lengths(self) -> np.ndarray:
        """float32 length of each edge in physical units (two contiguous gathers: subtracting
        strided (M, 2, 3) views costs more than the gathers)."""
        v = self.vertices
        if self.space != "physical" and not np.array_equal(self.transform, IDENTITY):
            v = self.transform_vertices(v, self.transform)
        ends = self.edges.T
        a = v.take(ends[0], axis=0)
        a -= v.take(ends[1], axis=0)
        lengths = np.einsum("ij,ij->i", a, a)
        return np.sqrt(lengths, out=lengths)

    def cable_length(self) -> float:
        """Total edge length in physical units (summed in float64; osteoid sums in float32)."""
        self._check_space()
        return float(self._edge_lengths().sum(dtype=np.float64))

    def terminals(self) -> np.ndarray:
        """Indices of vertices with exactly one edge."""
        return np.flatnonzero(graph.degrees(self.vertices.shape[0], self.edges) == 1)

    def branches(self) -> np.ndarray:
        """Indices of vertices with three or more edges."""
        return np.flatnonzero(graph.degrees(self.vertices.shape[0], self.edges) >= 3)

    # -- restructuring -------------------------------------------------------------------------
    @classmethod
    def simple_merge(cls, skeletons: Sequence["Skeleton"]) -> "Skeleton":
        """Concatenate skeletons (no edges added), in the space of the first. Skeletons must share
        ``extra_attributes`` (SkeletonAttributeMixingError otherwise)."""
        if isinstance(skeletons, Skeleton):
            skeletons = [skeletons]
        skels = [s for s in skeletons if not s.empty()]
        if not skels:
            return cls()
        first = skels[0]
        for other in skels[1:]:
            if other.extra_attributes != first.extra_attributes:
                raise SkeletonAttributeMixingError(f"cannot merge skeletons with vertex attributes "
                                                   f"{first.extra_attributes} and {other.extra_attributes}")
        skels = [s.voxel_space() if first.space == "voxel" else s.physical_space() for s in skels] \
            if first.space in ("voxel", "physical") else skels
        offsets = np.cumsum([0] + [s.vertices.shape[0] for s in skels[:-1]])
        vertices = np.concatenate([s.vertices for s in skels])
        edges = np.concatenate([s.edges.astype(np.int64) + off for s, off in zip(skels, offsets)])
        values = {a["id"]: np.concatenate([np.asarray(getattr(s, a["id"])) for s in skels])
                  for a in first.extra_attributes}
        return first._with(vertices, edges, None, values)

    def merge(self, skel: "Skeleton") -> "Skeleton":
        """This skeleton and ``skel`` as one, consolidated."""
        return Skeleton.simple_merge((self, skel)).consolidate()

    def consolidate(self, remove_disconnected_vertices: bool = True) -> "Skeleton":
        """Merge vertices with equal coordinates (keeping the first one's attributes and the
        first-occurrence order), drop self loops and repeated edges (stored as sorted pairs,
        sorted), and, by default, vertices without edges."""
        vertices, edges, take = ops.consolidate_arrays(self.vertices, self.edges)
        skel = self._with(vertices, edges, take)
        return skel._without_disconnected(copy=False) if remove_disconnected_vertices else skel

    def remove_disconnected_vertices(self) -> "Skeleton":
        """Drop vertices without edges; the others keep their order."""
        return self._without_disconnected(copy=True)

    def _without_disconnected(self, copy: bool) -> "Skeleton":
        keep = np.zeros(self.vertices.shape[0], bool)
        keep[self.edges.ravel()] = True
        if keep.all():
            return self.clone() if copy else self
        new_index = np.cumsum(keep) - 1
        return self._with(self.vertices[keep], new_index[self.edges], np.flatnonzero(keep))

    def crop(self, bbox: Any) -> "Skeleton":
        """Only the vertices inside ``bbox`` (its max corner counts as inside, as CloudVolume)
        and the edges between them, consolidated."""
        if hasattr(bbox, "minpt"):
            lo, hi = np.asarray(bbox.minpt, np.float64), np.asarray(bbox.maxpt, np.float64)
        else:
            lo, hi = np.asarray(bbox, np.float64).reshape(2, 3)
        inside = np.all((self.vertices >= lo) & (self.vertices <= hi), axis=1)
        edges = self.edges[inside[self.edges].all(axis=1)]
        new_index = np.cumsum(inside) - 1
        return self._with(self.vertices[inside], new_index[edges], np.flatnonzero(inside)).consolidate()

    def components(self) -> list["Skeleton"]:
        """The connected components that have edges, each a Skeleton (vertices in their original
        order); a skeleton without edges is its own single component."""
        return ops.components(self)

    def paths(self, return_indices: bool = False) -> list[np.ndarray]:
        """Every path from a terminal to its component's root, leaf first; the root of a component
        is the vertex farthest (in hops) from its lowest-index vertex. Trees assumed: a cycle is
        opened at one edge."""
        return ops.paths(self, return_indices)

    def interjoint_paths(self, return_indices: bool = False) -> list[np.ndarray]:
        """Paths between adjacent critical points (terminals and branch points)."""
        return ops.interjoint_paths(self, return_indices)

    def downsample(self, factor: int) -> "Skeleton":
        """Every ``factor``-th vertex of each interjoint path, always keeping terminals and branch
        points and the attributes of the vertices kept. ``factor`` must be an integer >= 1."""
        if isinstance(factor, bool) or int(factor) != factor or factor < 1:
            raise OptionError(f"downsample factor must be an integer >= 1, got {factor!r}")
        return ops.downsample(self, int(factor))

    def average_smoothing(self, n: int, check_boundary: bool = True, shrink_radii: bool = False) -> "Skeleton":
        """Moving-average smoothing (window ``n``, forwards then backwards) of each interjoint
        path with its ends fixed. ``check_boundary``: SkeletonSmoothingError if a vertex moves
        farther than its radius; ``shrink_radii``: reduce radii by the displacement."""
        return ops.average_smoothing(self, int(n), check_boundary, shrink_radii, SkeletonSmoothingError)

    # -- pickling: plain attributes, nothing to do but be explicit about the state ----------
    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


PrecomputedSkeleton = Skeleton

__all__ = ["Skeleton", "PrecomputedSkeleton"]
