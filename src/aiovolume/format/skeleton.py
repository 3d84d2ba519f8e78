"""Precomputed skeletons (precomputed-format.md §7): the per-segment binary and the skeleton ``info``.

Pure byte layouts, no I/O. A skeleton file is::

    u32le num_vertices, u32le num_edges,
    f32le vertices[num_vertices][3], u32le edges[num_edges][2],
    then, for each ``vertex_attributes`` entry of the info in order,
    num_vertices * num_components values of its data_type (little endian), back to back.

>>> import numpy as np
>>> attrs = DEFAULT_VERTEX_ATTRIBUTES  # radius float32, vertex_types uint8
>>> data = encode_skeleton(np.array([[0, 0, 0], [1, 2, 3]]), np.array([[0, 1]]),
...                        {"radius": np.array([0.5, 1.5]), "vertex_types": np.array([1, 3])}, attrs)
>>> len(data)
50
>>> vertices, edges, values = decode_skeleton(data, attrs)
>>> values["vertex_types"].tolist()
[1, 3]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from aiovolume.exceptions import InfoError, SkeletonDecodeError, SkeletonEncodeError, SkeletonUnassignedEdgeError

SKELETON_TYPE = "neuroglancer_skeletons"
#: the vertex attribute types Neuroglancer renders (json_schema/skeleton.yml)
NEUROGLANCER_DTYPES = ("float32", "int8", "uint8", "int16", "uint16", "int32", "uint32")
IDENTITY_TRANSFORM = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_HEADER = np.dtype("<u4")

__all__ = [
    "SKELETON_TYPE", "NEUROGLANCER_DTYPES", "IDENTITY_TRANSFORM", "VertexAttribute", "DEFAULT_VERTEX_ATTRIBUTES",
    "WIDENED_TO_FLOAT32", "renderable_attributes", "hashed_sharding",
    "default_skeleton_info", "parse_skeleton_info", "skeleton_info_to_json", "vertex_attributes",
    "info_transform", "encode_skeleton", "decode_skeleton", "skeleton_counts", "check_edges",
]


@dataclass(frozen=True)
class VertexAttribute:
    """One ``vertex_attributes`` entry: ``{"id", "data_type", "num_components"}``."""

    id: str
    data_type: str
    num_components: int = 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data_type).newbyteorder("<")

    def nbytes(self, num_vertices: int) -> int:
        return num_vertices * self.num_components * self.dtype.itemsize

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "data_type": self.data_type, "num_components": self.num_components}

    @classmethod
    def from_json(cls, entry: Any, where: str = "vertex_attributes") -> "VertexAttribute":
        if not isinstance(entry, Mapping):
            raise InfoError(f"{where}: expected an object with id, data_type, num_components, got {entry!r:.200}")
        ident, dtype, comps = entry.get("id"), entry.get("data_type"), entry.get("num_components", 1)
        if not isinstance(ident, str) or not ident:
            raise InfoError(f"{where}.id: expected a non-empty string, got {ident!r}")
        try:
            name = np.dtype(dtype).name
        except TypeError as exc:
            raise InfoError(f"{where}[{ident}].data_type: {dtype!r} is not a numeric type") from exc
        if np.dtype(name).kind not in "iuf":
            raise InfoError(f"{where}[{ident}].data_type: {dtype!r} is not a numeric type")
        if isinstance(comps, bool) or not isinstance(comps, (int, np.integer)) or comps < 1:
            raise InfoError(f"{where}[{ident}].num_components: expected an integer >= 1, got {comps!r}")
        return cls(ident, name, int(comps))


#: CloudVolume's defaults, which every SWC-derived skeleton fills
DEFAULT_VERTEX_ATTRIBUTES = (VertexAttribute("radius", "float32", 1), VertexAttribute("vertex_types", "uint8", 1))
#: integer types stored as float32 in infos we create: Neuroglancer (2.41, tested in
#: tests/skeleton/test_skeleton_neuroglancer.py) refuses a skeleton layer with any vertex attribute
#: that is not float32 ("Data type not supported by WebGL") and draws nothing; these convert exactly
WIDENED_TO_FLOAT32 = ("int8", "uint8", "int16", "uint16")


def renderable_attributes(attrs: Sequence[VertexAttribute | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``vertex_attributes`` for a new skeleton info: 8- and 16-bit integer attributes become
    float32 (exact), so Neuroglancer draws the layer; 32-bit integers are kept (not exact as
    float32), so such a layer reads back exactly but Neuroglancer will not draw it."""
    out = []
    for a in attrs:
        attr = a if isinstance(a, VertexAttribute) else VertexAttribute.from_json(a)
        dtype = "float32" if attr.data_type in WIDENED_TO_FLOAT32 else attr.data_type
        out.append(VertexAttribute(attr.id, dtype, attr.num_components).to_json())
    return out


# -- info -------------------------------------------------------------------------------------
def default_skeleton_info(
    vertex_attributes: Sequence[VertexAttribute | Mapping[str, Any]] | None = None,
    transform: Sequence[float] | None = None, sharding: Mapping[str, Any] | None = None,
    spatial_index: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid skeleton info: identity transform and, unless given, CloudVolume's default
    attributes as Neuroglancer can draw them (radius and vertex_types, both float32; see
    ``renderable_attributes``). ``sharding`` and ``spatial_index`` appear only when given
    (never as ``null``)."""
    attrs = renderable_attributes(DEFAULT_VERTEX_ATTRIBUTES) if vertex_attributes is None else vertex_attributes
    info: dict[str, Any] = {
        "@type": SKELETON_TYPE,
        "transform": list(IDENTITY_TRANSFORM if transform is None else np.asarray(transform, float).ravel().tolist()),
        "vertex_attributes": [a.to_json() if isinstance(a, VertexAttribute) else dict(a) for a in attrs],
    }
    if sharding is not None:
        info["sharding"] = dict(sharding)
    if spatial_index is not None:
        info["spatial_index"] = dict(spatial_index)
    return parse_skeleton_info(info)


def parse_skeleton_info(info: Any, where: str = "skeleton info") -> dict[str, Any]:
    """A validated, normalised copy of a skeleton info as read (``@type`` filled in when absent,
    ``null`` ``sharding``/``spatial_index`` dropped, extra keys such as ``mip`` kept).
    Raises :class:`InfoError` for what Neuroglancer would reject."""
    if not isinstance(info, Mapping):
        raise InfoError(f"{where}: expected a JSON object, got {type(info).__name__}")
    out = {k: v for k, v in info.items() if not (k in ("sharding", "spatial_index") and v is None)}
    kind = out.setdefault("@type", SKELETON_TYPE)
    if kind != SKELETON_TYPE:
        raise InfoError(f"{where}: @type is {kind!r}, expected {SKELETON_TYPE!r}")
    transform = out.get("transform", IDENTITY_TRANSFORM)
    try:
        matrix = np.asarray(transform, dtype=np.float64).reshape(12)
    except (TypeError, ValueError) as exc:
        raise InfoError(f"{where}: transform must be 12 numbers (a row-major 3x4 matrix), "
                        f"got {transform!r:.200}") from exc
    if not np.all(np.isfinite(matrix)):
        raise InfoError(f"{where}: transform has non-finite values: {transform!r:.200}")
    out["transform"] = matrix.tolist()
    attrs = out.get("vertex_attributes", [])
    if not isinstance(attrs, (list, tuple)):
        raise InfoError(f"{where}: vertex_attributes must be a list, got {attrs!r:.200}")
    parsed = [VertexAttribute.from_json(a, f"{where} vertex_attributes[{i}]") for i, a in enumerate(attrs)]
    if len({a.id for a in parsed}) != len(parsed):
        raise InfoError(f"{where}: vertex attribute ids repeat: {[a.id for a in parsed]}")
    out["vertex_attributes"] = [a.to_json() for a in parsed]
    if "sharding" in out and not isinstance(out["sharding"], Mapping):
        raise InfoError(f"{where}: sharding must be an object (or absent), got {out['sharding']!r:.200}")
    return out


def skeleton_info_to_json(info: Mapping[str, Any], where: str = "skeleton info") -> bytes:
    """The info as Neuroglancer accepts it: validated, ``null`` keys omitted, attribute types
    restricted to those Neuroglancer renders."""
    parsed = parse_skeleton_info(info, where)
    for attr in vertex_attributes(parsed):
        if attr.data_type not in NEUROGLANCER_DTYPES:
            raise InfoError(f"{where}: vertex attribute {attr.id!r} has data_type {attr.data_type!r}; "
                            f"Neuroglancer reads only {NEUROGLANCER_DTYPES}")
    return json.dumps(parsed, indent=2).encode()


def vertex_attributes(info: Mapping[str, Any]) -> tuple[VertexAttribute, ...]:
    return tuple(VertexAttribute.from_json(a) for a in info.get("vertex_attributes", ()))


def info_transform(info: Mapping[str, Any]) -> np.ndarray:
    """The info's 3x4 ``transform`` (stored coordinates -> nanometres) as float64."""
    return np.asarray(info.get("transform", IDENTITY_TRANSFORM), dtype=np.float64).reshape(3, 4)


def hashed_sharding(num_labels: int, shard_index_bytes: int = 2**13, minishard_index_bytes: int = 2**15,
                    min_shards: int = 1, minishard_index_encoding: str = "gzip",
                    data_encoding: str = "gzip") -> dict[str, Any]:
    """A murmurhash ``sharding`` object for ``num_labels`` segment-keyed objects (skeletons,
    meshes), with CloudVolume's sizing: a shard index of ``shard_index_bytes`` (16 bytes per
    minishard), minishard indexes of about ``minishard_index_bytes`` (24 bytes per object),
    shards filled to over about half their capacity, at least ``min_shards`` shards."""
    if min_shards < 1:
        raise InfoError(f"min_shards must be >= 1, got {min_shards}")
    minis_per_shard = shard_index_bytes / 16
    per_minishard = minishard_index_bytes / 24
    per_shard = minis_per_shard * per_minishard
    shard_bits = minishard_bits = 0.0
    if num_labels <= 0:  # nothing to place: one shard, one minishard (min_shards ignored, as CloudVolume)
        return {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
                "minishard_bits": 0, "shard_bits": 0, "minishard_index_encoding": minishard_index_encoding,
                "data_encoding": data_encoding}
    if num_labels >= per_shard:
        minishard_bits = np.ceil(np.log2(minis_per_shard))
        shard_bits = np.ceil(np.log2(num_labels / (per_minishard * 2 ** minishard_bits)))
    elif num_labels >= per_minishard:
        minishard_bits = np.ceil(np.log2(num_labels / per_minishard))
    if num_labels / (per_shard * 2 ** shard_bits) <= 0.55:
        shard_bits -= 1  # half-empty shards: half as many
    shard_bits = max(shard_bits, 0)
    wanted = float(np.round(np.log2(min_shards)))
    grow = max(wanted - shard_bits, 0)
    shard_bits, minishard_bits = max(shard_bits + grow, wanted), max(minishard_bits - grow, 0)
    return {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
            "minishard_bits": int(minishard_bits), "shard_bits": int(shard_bits),
            "minishard_index_encoding": minishard_index_encoding, "data_encoding": data_encoding}


# -- binary -----------------------------------------------------------------------------------
def encode_skeleton(vertices: Any, edges: Any, values: Mapping[str, Any],
                    attributes: Sequence[VertexAttribute]) -> bytes:
    """One skeleton file. ``values[attr.id]`` holds ``num_vertices`` rows per attribute
    (``(n,)`` or ``(n, num_components)``); every attribute of ``attributes`` must be given."""
    # one copy: join reads the arrays' buffers directly (tobytes first would copy twice)
    return b"".join(skeleton_parts(vertices, edges, values, attributes))


def skeleton_parts(vertices: Any, edges: Any, values: Mapping[str, Any],
                   attributes: Sequence[VertexAttribute]) -> list[memoryview]:
    """The file of :func:`encode_skeleton` as its consecutive pieces, views of the arrays where
    they already have the stored dtype: a local write hands them to ``writev`` without copying."""
    verts = np.asarray(vertices)
    if verts.size == 0:
        verts = verts.reshape(0, 3)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise SkeletonEncodeError(f"vertices must have shape (N, 3), got {verts.shape}")
    edge_arr = np.asarray(edges)
    if edge_arr.size == 0:
        edge_arr = edge_arr.reshape(0, 2)
    if edge_arr.ndim != 2 or edge_arr.shape[1] != 2:
        raise SkeletonEncodeError(f"edges must have shape (M, 2), got {edge_arr.shape}")
    n = verts.shape[0]
    if edge_arr.size and ((edge_arr.dtype.kind != "u" and edge_arr.min() < 0) or edge_arr.max() >= n):
        raise SkeletonUnassignedEdgeError(f"edges refer to vertex {int(edge_arr.max())} (or a negative index) but "
                                          f"the skeleton has {n} vertices")
    parts = [np.array([n, edge_arr.shape[0]], dtype=_HEADER).data,
             np.ascontiguousarray(verts, dtype="<f4").data, np.ascontiguousarray(edge_arr, dtype="<u4").data]
    for attr in attributes:
        if attr.id not in values or values[attr.id] is None:
            raise SkeletonEncodeError(f"vertex attribute {attr.id!r} has no values")
        arr = np.asarray(values[attr.id])
        if arr.size != n * attr.num_components or (arr.ndim and arr.shape[0] != n):
            raise SkeletonEncodeError(f"vertex attribute {attr.id!r}: {arr.shape} values for {n} vertices of "
                                      f"{attr.num_components} component(s)")
        parts.append(np.ascontiguousarray(arr, dtype=attr.dtype).data)
    return parts


def decode_skeleton(data: bytes | memoryview, attributes: Sequence[VertexAttribute],
                    what: str = "skeleton") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(vertices (N, 3) float32, edges (M, 2) uint32, {attribute id: values})``; values are
    ``(N,)`` for one component, ``(N, k)`` otherwise. Bytes past the last attribute are ignored
    (as Neuroglancer does); a file too short for the info's attributes, or edges naming missing
    vertices, raise :class:`SkeletonDecodeError` (Neuroglancer could not draw it either)."""
    buf = memoryview(data).cast("B")
    n, m = skeleton_counts(buf[:8], len(buf), attributes, what)
    pos = 8
    vertices = np.frombuffer(buf, dtype="<f4", count=3 * n, offset=pos).reshape(n, 3).astype(np.float32)
    pos += 12 * n
    edges = np.frombuffer(buf, dtype="<u4", count=2 * m, offset=pos).reshape(m, 2).astype(np.uint32)
    pos += 8 * m
    check_edges(edges, n, what)
    values: dict[str, np.ndarray] = {}
    for attr in attributes:
        count = n * attr.num_components
        arr = np.frombuffer(buf, dtype=attr.dtype, count=count, offset=pos).astype(attr.dtype.newbyteorder("="))
        values[attr.id] = arr if attr.num_components == 1 else arr.reshape(n, attr.num_components)
        pos += attr.nbytes(n)
    return vertices, edges, values


def skeleton_counts(head: bytes | memoryview, size: int, attributes: Sequence[VertexAttribute],
                    what: str = "skeleton") -> tuple[int, int]:
    """``(num_vertices, num_edges)`` from a file's first 8 bytes (``head``), checked against its
    ``size`` as :func:`decode_skeleton` checks it: for a reader that places the rest itself."""
    if size < 8 or len(head) < 8:
        raise SkeletonDecodeError(f"{what}: {size} bytes cannot hold the vertex and edge counts (8 bytes)")
    n, m = (int(x) for x in np.frombuffer(head, dtype=_HEADER, count=2))
    need = 8 + 12 * n + 8 * m + sum(a.nbytes(n) for a in attributes)
    if size < need:
        names = ", ".join(a.id for a in attributes) or "none"
        raise SkeletonDecodeError(f"{what}: {size} bytes, but {n} vertices, {m} edges and the info's vertex "
                                  f"attributes ({names}) need {need}")
    return n, m


def check_edges(edges: np.ndarray, num_vertices: int, what: str = "skeleton") -> None:
    if edges.size and int(edges.max()) >= num_vertices:
        raise SkeletonDecodeError(f"{what}: an edge refers to vertex {int(edges.max())} of {num_vertices}")
