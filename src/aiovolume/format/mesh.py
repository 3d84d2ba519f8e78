"""Mesh byte layouts (precomputed-format.md §6): pure, no I/O.

- legacy fragments: ``u32le n``, ``f32le[n][3]`` positions, ``u32le[m][3]`` triangles to the end;
- the legacy manifest ``{segid}:0``: JSON ``{"fragments": [name, ...]}``;
- the multi-resolution manifest (``{segid}.index``, or a sharded value keyed by segid);
- the mesh ``info`` (legacy or ``neuroglancer_multilod_draco``).

>>> blob = encode_legacy_fragment([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
>>> len(blob)
52
>>> verts, faces = decode_legacy_fragment(blob)
>>> faces.tolist()
[[0, 1, 2]]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from aiovolume.exceptions import InfoError, MeshDecodeError, SpecViolation

LEGACY_TYPE = "neuroglancer_legacy_mesh"
MULTIRES_TYPE = "neuroglancer_multilod_draco"
DRACO_MAGIC = b"DRACO"

__all__ = [
    "LEGACY_TYPE", "MULTIRES_TYPE", "DRACO_MAGIC", "encode_legacy_fragment", "decode_legacy_fragment",
    "legacy_manifest_key", "encode_legacy_manifest", "decode_legacy_manifest", "MultiresManifest",
    "MeshInfo", "zorder_codes", "dequantize", "quantize", "apply_transform", "invert_transform",
]


# -- legacy single-resolution (§6.1) ---------------------------------------------------------
def encode_legacy_fragment(vertices: Any, faces: Any) -> bytes:
    """Raw legacy fragment bytes (what upstream Neuroglancer reads)."""
    verts = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    tris = np.ascontiguousarray(faces, dtype="<u4").reshape(-1, 3)
    return np.uint32(verts.shape[0]).astype("<u4").tobytes() + verts.tobytes() + tris.tobytes()


def decode_legacy_fragment(data: bytes, what: str = "mesh fragment") -> tuple[np.ndarray, np.ndarray]:
    """``(vertices float32 (n, 3), faces uint32 (m, 3))``; MeshDecodeError if the bytes do not
    fit the layout or a face names a vertex that is not there."""
    if len(data) < 4:
        raise MeshDecodeError(f"{what}: {len(data)} bytes is too short for a vertex count")
    n = int(np.frombuffer(data, dtype="<u4", count=1)[0])
    rest = len(data) - 4 - 12 * n
    if rest < 0 or rest % 12:
        raise MeshDecodeError(f"{what}: {len(data)} bytes cannot hold {n} vertices and whole triangles "
                              f"(expected 4 + 12*{n} + a multiple of 12)")
    verts = np.frombuffer(data, dtype="<f4", count=3 * n, offset=4).reshape(n, 3).astype(np.float32)
    faces = np.frombuffer(data, dtype="<u4", offset=4 + 12 * n).reshape(-1, 3).astype(np.uint32)
    if faces.size and int(faces.max()) >= n:
        raise MeshDecodeError(f"{what}: a triangle names vertex {int(faces.max())} of {n}")
    return verts, faces


def legacy_manifest_key(segid: int) -> str:
    return f"{int(segid)}:0"


def encode_legacy_manifest(fragments: Sequence[str]) -> bytes:
    return json.dumps({"fragments": list(fragments)}).encode("utf8")


def decode_legacy_manifest(data: bytes, what: str = "mesh manifest") -> list[str]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MeshDecodeError(f"{what}: not JSON ({exc})") from None
    names = doc.get("fragments") if isinstance(doc, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MeshDecodeError(f"{what}: expected {{\"fragments\": [names]}}, got {str(doc)[:200]}")
    return names


# -- multi-resolution manifest (§6.2) --------------------------------------------------------
@dataclass(eq=False)
class MultiresManifest:
    """One segment's octree of Draco fragments. Positions are ``(n, 3)`` uint32 per LOD, sizes
    ``(n,)`` uint32 byte counts per LOD (the spec calls them ``fragment_offsets``)."""

    chunk_shape: np.ndarray
    grid_origin: np.ndarray
    lod_scales: np.ndarray
    vertex_offsets: np.ndarray
    fragment_positions: list[np.ndarray]
    fragment_sizes: list[np.ndarray]
    segid: int | None = None
    shard_offset: int = 0  # sharded: where the manifest starts in its shard file
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.chunk_shape = np.asarray(self.chunk_shape, dtype=np.float32).reshape(3)
        self.grid_origin = np.asarray(self.grid_origin, dtype=np.float32).reshape(3)
        self.lod_scales = np.asarray(self.lod_scales, dtype=np.float32).reshape(-1)
        n = self.lod_scales.size
        self.vertex_offsets = np.asarray(self.vertex_offsets, dtype=np.float32).reshape(n, 3)
        self.fragment_positions = [np.asarray(p, dtype=np.uint32).reshape(-1, 3) for p in self.fragment_positions]
        self.fragment_sizes = [np.asarray(s, dtype=np.uint32).reshape(-1) for s in self.fragment_sizes]
        if len(self.fragment_positions) != n or len(self.fragment_sizes) != n:
            raise SpecViolation(f"manifest: {n} LODs but {len(self.fragment_positions)} position and "
                                f"{len(self.fragment_sizes)} size lists")
        for lod, (p, s) in enumerate(zip(self.fragment_positions, self.fragment_sizes)):
            if p.shape[0] != s.shape[0]:
                raise SpecViolation(f"manifest: LOD {lod} has {p.shape[0]} positions but {s.shape[0]} sizes")

    @property
    def num_lods(self) -> int:
        return int(self.lod_scales.size)

    @property
    def num_fragments_per_lod(self) -> np.ndarray:
        return np.array([p.shape[0] for p in self.fragment_positions], dtype=np.uint32)

    def lod_bytes(self) -> list[int]:
        """Total fragment bytes of each LOD."""
        return [int(s.sum(dtype=np.uint64)) for s in self.fragment_sizes]

    def lod_range(self, lod: int) -> tuple[int, int]:
        """``[start, stop)`` of LOD ``lod``'s fragments within the fragment data."""
        sizes = self.lod_bytes()
        start = sum(sizes[:lod])
        return start, start + sizes[lod]

    @property
    def total_bytes(self) -> int:
        return sum(self.lod_bytes())

    def encode(self) -> bytes:
        parts = [
            self.chunk_shape.astype("<f4").tobytes(), self.grid_origin.astype("<f4").tobytes(),
            np.uint32(self.num_lods).astype("<u4").tobytes(), self.lod_scales.astype("<f4").tobytes(),
            self.vertex_offsets.astype("<f4").tobytes(), self.num_fragments_per_lod.astype("<u4").tobytes(),
        ]
        for pos, sizes in zip(self.fragment_positions, self.fragment_sizes):
            parts.append(np.ascontiguousarray(pos.T).astype("<u4").tobytes())  # all x, then all y, then all z
            parts.append(sizes.astype("<u4").tobytes())
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, segid: int | None = None, shard_offset: int = 0,
               what: str = "multires manifest") -> "MultiresManifest":
        """Parse a manifest; MeshDecodeError unless its length is exactly
        ``28 + 20 * num_lods + 16 * sum(fragments)`` (what Neuroglancer checks)."""
        if len(data) < 28:
            raise MeshDecodeError(f"{what}: {len(data)} bytes is too short for a manifest header (28)")
        head = np.frombuffer(data, dtype="<f4", count=6)
        num_lods = int(np.frombuffer(data, dtype="<u4", count=1, offset=24)[0])
        fixed = 28 + 20 * num_lods
        if len(data) < fixed:
            raise MeshDecodeError(f"{what}: {len(data)} bytes cannot hold {num_lods} LODs")
        lod_scales = np.frombuffer(data, dtype="<f4", count=num_lods, offset=28)
        offsets = np.frombuffer(data, dtype="<f4", count=3 * num_lods, offset=28 + 4 * num_lods)
        counts = np.frombuffer(data, dtype="<u4", count=num_lods, offset=28 + 16 * num_lods).astype(np.int64)
        expected = fixed + 16 * int(counts.sum())
        if len(data) != expected:
            raise MeshDecodeError(f"{what}: {len(data)} bytes, but {num_lods} LODs with {int(counts.sum())} "
                                  f"fragments need exactly {expected}")
        pos, sizes, at = [], [], fixed
        for n in counts.tolist():
            pos.append(np.frombuffer(data, dtype="<u4", count=3 * n, offset=at).reshape(3, n).T)
            at += 12 * n
            sizes.append(np.frombuffer(data, dtype="<u4", count=n, offset=at))
            at += 4 * n
        return cls(head[:3], head[3:], lod_scales, offsets, pos, sizes, segid=segid, shard_offset=shard_offset)


def zorder_codes(positions: Any) -> np.ndarray:
    """Z-curve (Morton) codes of ``(n, 3)`` uint32 positions, x in the lowest bit (the order
    Neuroglancer needs fragments in within each LOD)."""
    pos = np.asarray(positions, dtype=np.uint64).reshape(-1, 3)
    codes = np.zeros(pos.shape[0], dtype=np.uint64)
    for bit in range(21):
        for d in range(3):
            codes |= ((pos[:, d] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + d)
    return codes


def dequantize(q: np.ndarray, manifest: MultiresManifest, lod: int, position: Any, bits: int) -> np.ndarray:
    """Stored-model coordinates (float64) of one fragment's integer vertices (§6.2's formula,
    with CloudVolume's precisions: ``q / (2**bits - 1)`` in float32, the rest in float64, so
    both readers agree bit for bit)."""
    scale = manifest.chunk_shape * (2.0 ** lod)
    frac = np.asarray(q, dtype=np.float32) / np.float32(2 ** bits - 1)
    return (manifest.grid_origin + manifest.vertex_offsets[lod]
            + scale * (np.asarray(position, dtype=np.float64) + frac))


def quantize(vertices: np.ndarray, manifest: MultiresManifest, lod: int, position: Any, bits: int) -> np.ndarray:
    """Inverse of :func:`dequantize`: uint32 in ``[0, 2**bits)``, rounded and clipped."""
    top = float(2 ** bits - 1)
    scale = manifest.chunk_shape.astype(np.float64) * (2.0 ** lod)
    rel = (vertices - manifest.grid_origin - manifest.vertex_offsets[lod]) / scale - np.asarray(position)
    return np.clip(np.rint(rel * top), 0, top).astype(np.uint32)


def apply_transform(vertices: np.ndarray, transform: np.ndarray | None) -> np.ndarray:
    """``transform`` (3x4) applied to ``(n, 3)`` points, as float64; None is the identity."""
    if transform is None:
        return np.asarray(vertices, dtype=np.float64)
    v = np.asarray(vertices, dtype=np.float64)
    return v @ transform[:, :3].T + transform[:, 3]


def invert_transform(transform: np.ndarray) -> np.ndarray:
    try:
        inv = np.linalg.inv(transform[:, :3])
    except np.linalg.LinAlgError:
        raise InfoError(f"mesh transform {transform.tolist()} is not invertible") from None
    return np.hstack([inv, -(inv @ transform[:, 3])[:, None]])


# -- the mesh info -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeshInfo:
    """A mesh directory's ``info``, validated. Unknown keys are kept in ``extra``."""

    type: str = LEGACY_TYPE
    vertex_quantization_bits: int | None = None
    lod_scale_multiplier: float | None = None
    transform: tuple[float, ...] | None = None
    sharding: dict | None = None
    spatial_index: dict | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def multires(self) -> bool:
        return self.type == MULTIRES_TYPE

    @property
    def sharded(self) -> bool:
        return self.sharding is not None

    def transform_matrix(self) -> np.ndarray | None:
        """The 3x4 stored-model -> nm transform, None when absent."""
        return None if self.transform is None else np.array(self.transform, dtype=np.float64).reshape(3, 4)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> "MeshInfo":
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise InfoError(f"mesh info: expected a JSON object, got {str(doc)[:200]}")
        kind = doc.get("@type", LEGACY_TYPE)
        if kind not in (LEGACY_TYPE, MULTIRES_TYPE):
            raise InfoError(f"mesh info @type: expected {LEGACY_TYPE!r} or {MULTIRES_TYPE!r}, got {kind!r}")
        known = {"@type", "vertex_quantization_bits", "lod_scale_multiplier", "transform", "sharding",
                 "spatial_index"}
        transform = doc.get("transform")
        if transform is not None:
            if (not isinstance(transform, (list, tuple)) or len(transform) != 12
                    or not all(_finite(x) for x in transform)):
                raise InfoError(f"mesh info transform: expected 12 finite numbers, got {transform!r}")
            transform = tuple(float(x) for x in transform)
        bits = doc.get("vertex_quantization_bits")
        mult = doc.get("lod_scale_multiplier")
        if kind == MULTIRES_TYPE:
            if bits not in (10, 16) or isinstance(bits, bool):
                raise InfoError(f"mesh info vertex_quantization_bits: expected 10 or 16, got {bits!r}")
            if not _finite(mult) or mult <= 0:
                raise InfoError(f"mesh info lod_scale_multiplier: expected a number > 0, got {mult!r}")
            mult = float(mult)
        sharding = doc.get("sharding")
        if sharding is not None and not isinstance(sharding, Mapping):
            raise InfoError(f"mesh info sharding: expected an object, got {sharding!r}")
        spatial = doc.get("spatial_index")
        return cls(kind, bits, mult, transform, dict(sharding) if sharding else None,
                   dict(spatial) if isinstance(spatial, Mapping) else None,
                   {k: v for k, v in doc.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        """The info document; ``sharding`` only when sharded (never ``null``)."""
        doc: dict[str, Any] = {"@type": self.type}
        if self.multires:
            doc["vertex_quantization_bits"] = self.vertex_quantization_bits
            doc["lod_scale_multiplier"] = self.lod_scale_multiplier
        if self.transform is not None:
            doc["transform"] = list(self.transform)
        if self.sharding:
            doc["sharding"] = dict(self.sharding)
        if self.spatial_index is not None:
            doc["spatial_index"] = dict(self.spatial_index)
        doc.update({k: v for k, v in self.extra.items() if v is not None})
        return doc

    @classmethod
    def multires_info(cls, vertex_quantization_bits: int = 16, transform: Sequence[float] | None = None,
                      lod_scale_multiplier: float = 1.0, sharding: Mapping[str, Any] | None = None) -> "MeshInfo":
        """A validated ``neuroglancer_multilod_draco`` info."""
        doc: dict[str, Any] = {"@type": MULTIRES_TYPE, "vertex_quantization_bits": vertex_quantization_bits,
                               "lod_scale_multiplier": lod_scale_multiplier}
        if transform is not None:
            doc["transform"] = list(transform)
        if sharding:
            doc["sharding"] = dict(sharding)
        return cls.from_json(doc)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
