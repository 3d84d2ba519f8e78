"""``Mesh``: CloudVolume's mesh value (vertices, faces, normals, segid), vectorised.

>>> m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], segid=7)
>>> Mesh.from_precomputed(m.to_precomputed(), segid=7) == m
True
>>> len(Mesh.concatenate(m, m).consolidate())
3
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Iterator

import numpy as np

from ..codecs import draco
from ..exceptions import MeshDecodeError
from ..format import meshfiles
from ..format.mesh import decode_legacy_fragment, encode_legacy_fragment


_BITS = 21  # three ranks of 21 bits pack into one uint64 sort key


def _unique_1d(values: np.ndarray, inverse: bool = True, counts: bool = False) -> tuple[Any, ...]:
    """``(sorted distinct values, inverse or None, counts or None)`` of a 1-D array via one sort.
    (numpy 2.4's ``np.unique`` without ``return_inverse`` takes a hash path ~100x slower here.)"""
    values = values.reshape(-1)
    if not inverse and not counts:
        srt = np.sort(values)
        keep = np.empty(len(srt), dtype=bool)
        keep[:1] = True
        np.not_equal(srt[1:], srt[:-1], out=keep[1:])
        return srt[keep], None, None
    order = np.argsort(values)
    srt = values[order]
    first = np.empty(len(srt), dtype=bool)
    first[:1] = True
    np.not_equal(srt[1:], srt[:-1], out=first[1:])
    inv = np.empty(len(srt), dtype=np.intp)
    inv[order] = np.cumsum(first) - 1
    cnt = np.diff(np.append(np.flatnonzero(first), len(srt))) if counts else None
    return srt[first], inv, cnt


def unique_rows(rows: np.ndarray, need_counts: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(unique rows, inverse, counts)`` with rows sorted lexicographically, exactly as
    ``np.unique(rows, axis=0, return_inverse=True, return_counts=True)``, several times faster:
    each column is replaced by its rank among the column's distinct values, and when the ranks
    fit 21 bits the three are packed into one uint64 key sorted once."""
    n = rows.shape[0]
    if n == 0:
        return rows[:0], np.zeros(0, np.intp), np.zeros(0, np.intp)
    packed = _packed_keys(rows)
    if packed is not None:
        key, columns = packed
        uniq, inverse, counts = _unique_1d(key, inverse=True, counts=need_counts)
        return _unpack(uniq, columns, rows.dtype), inverse, counts
    order = np.lexsort(rows.T[::-1])
    srt = rows[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.any(srt[1:] != srt[:-1], axis=1, out=first[1:])
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    return srt[first], inverse, counts


def unique_sorted_rows(rows: np.ndarray) -> np.ndarray:
    """The distinct rows, sorted lexicographically (no inverse: one sort of packed keys)."""
    packed = _packed_keys(rows) if len(rows) else None
    if packed is None:
        return unique_rows(rows, need_counts=False)[0]
    key, columns = packed
    return _unpack(_unique_1d(key, inverse=False)[0], columns, rows.dtype)


def _packed_keys(rows: np.ndarray) -> tuple[np.ndarray, list[np.ndarray | None]] | None:
    """One order-preserving uint64 key per row of up to 3 columns, and per column the sorted
    distinct values its rank indexes (None: the column is its own rank); None if it cannot pack."""
    if rows.ndim != 2 or rows.shape[1] > 3:
        return None
    key = np.zeros(rows.shape[0], dtype=np.uint64)
    columns: list[np.ndarray | None] = []
    for c in range(rows.shape[1]):
        col = rows[:, c]
        if col.dtype.kind in "ui" and int(col.min()) >= 0 and int(col.max()) < (1 << _BITS):
            rank, values = col, None  # small non-negative integers (face indices) are their own rank
        else:
            values, rank, _ = _unique_1d(col)
            if len(values) > (1 << _BITS):
                return None
        key <<= np.uint64(_BITS)
        key |= rank.reshape(-1).astype(np.uint64)
        columns.append(values)
    return key, columns


def _unpack(keys: np.ndarray, columns: list[np.ndarray | None], dtype: np.dtype) -> np.ndarray:
    out = np.empty((len(keys), len(columns)), dtype=dtype)
    mask = np.uint64((1 << _BITS) - 1)
    for c, values in enumerate(columns):
        rank = (keys >> np.uint64(_BITS * (len(columns) - 1 - c))) & mask
        out[:, c] = rank if values is None else values[rank.astype(np.intp)]
    return out


def is_draco_chunk_aligned(verts: np.ndarray, chunk_size: Any, draco_grid_size: float) -> np.ndarray:
    """Whether each vertex lies within half a Draco grid step of a chunk boundary."""
    behind = np.mod(verts, chunk_size)
    ahead = np.asarray(chunk_size) - behind
    return np.any(behind < draco_grid_size / 2, axis=1) | np.any(ahead <= draco_grid_size / 2, axis=1)


class Mesh:
    """Vertices float32 ``(N, 3)``, faces uint32 ``(M, 3)``, normals float32 ``(N or 0, 3)``.

    Same constructor, attributes and methods as CloudVolume's ``Mesh``; plain and picklable.
    """

    def __init__(self, vertices: Any, faces: Any, normals: Any = None, segid: Any = None,
                 encoding_type: Any = None, encoding_options: Any = None) -> None:
        self.vertices = np.array(vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.array(faces, dtype=np.uint32).reshape(-1, 3)
        self.normals = (np.zeros((0, 3), np.float32) if normals is None
                        else np.array(normals, dtype=np.float32).reshape(-1, 3))
        self.segid = segid
        self.encoding_type = encoding_type
        self.encoding_options = encoding_options

    def __len__(self) -> int:
        return self.vertices.shape[0]

    def __eq__(self, other: object) -> bool:
        """Strict equality of vertices, faces and (when either has them) normals, as CloudVolume."""
        if not isinstance(other, Mesh):
            return NotImplemented
        if (self.normals.size == 0) != (other.normals.size == 0):
            return False
        if self.vertices.shape != other.vertices.shape or self.faces.shape != other.faces.shape:
            return False
        same = bool(np.all(self.vertices == other.vertices) and np.all(self.faces == other.faces))
        if self.normals.size == 0:
            return same
        return same and self.normals.shape == other.normals.shape and bool(np.all(self.normals == other.normals))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def __sizeof__(self) -> int:
        attrs = sum(sys.getsizeof(x) for x in (self.segid, self.encoding_type, self.encoding_options))
        return attrs + self.vertices.nbytes + self.faces.nbytes + self.normals.nbytes

    def __repr__(self) -> str:
        return (f"Mesh(vertices<{self.vertices.shape[0]}>, faces<{self.faces.shape[0]}>, "
                f"normals<{self.normals.shape[0]}>, segid={self.segid}, encoding_type=<{self.encoding_type}>)")

    def empty(self) -> bool:
        return self.vertices.size == 0 or self.faces.size == 0

    def clone(self) -> "Mesh":
        return Mesh(self.vertices.copy(), self.faces.copy(), self.normals.copy(), self.segid,
                    copy.deepcopy(self.encoding_type), copy.deepcopy(self.encoding_options))

    def _like(self, vertices: Any, faces: Any, normals: Any = None) -> "Mesh":
        return Mesh(vertices, faces, normals, segid=self.segid, encoding_type=copy.deepcopy(self.encoding_type),
                    encoding_options=copy.deepcopy(self.encoding_options))

    def edges(self) -> Iterator[tuple[int, int]]:
        """Each face's three edges as ``(low, high)`` vertex pairs (not unique)."""
        pairs = np.sort(self.faces[:, [0, 1, 1, 2, 0, 2]].reshape(-1, 2), axis=1)
        return (tuple(p) for p in pairs.tolist())

    def triangles(self) -> np.ndarray:
        """``(M, 3, 3)`` vertex coordinates of each face."""
        return self.vertices[self.faces]

    # -- combining and cleaning -----------------------------------------------------------
    @classmethod
    def concatenate(cls, *meshes: "Mesh", segid: Any = None) -> "Mesh":
        if not meshes:
            return cls([], [], segid=segid)
        sizes = np.array([len(m) for m in meshes], dtype=np.int64)
        if sizes.sum() >= 2 ** 32:
            raise MeshDecodeError(f"{int(sizes.sum())} vertices do not fit uint32 face indices")
        offsets = np.repeat(np.cumsum(sizes) - sizes, [len(m.faces) for m in meshes]).astype(np.uint32)
        faces = np.concatenate([m.faces for m in meshes])
        faces += offsets[:, None]
        kinds = list({m.encoding_type for m in meshes})
        return cls._adopt(np.concatenate([m.vertices for m in meshes]), faces,
                          np.concatenate([m.normals for m in meshes]), segid=segid,
                          encoding_type=kinds[0] if len(kinds) == 1 else kinds)

    @classmethod
    def _adopt(cls, vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray, segid: Any = None,
               encoding_type: Any = None, encoding_options: Any = None) -> "Mesh":
        """A Mesh over arrays this module just made (right dtypes and shapes): no copies."""
        mesh = cls.__new__(cls)
        mesh.vertices = vertices.astype(np.float32, copy=False).reshape(-1, 3)
        mesh.faces = faces.astype(np.uint32, copy=False).reshape(-1, 3)
        mesh.normals = normals.astype(np.float32, copy=False).reshape(-1, 3)
        mesh.segid, mesh.encoding_type, mesh.encoding_options = segid, encoding_type, encoding_options
        return mesh

    def consolidate(self) -> "Mesh":
        """Merge identical vertices and drop repeated faces; vertices come out sorted (x, y, z)
        and faces sorted, as CloudVolume's. Normals are dropped, as there."""
        if self.empty():
            return Mesh([], [], None)
        verts, inverse, _ = unique_rows(self.vertices, need_counts=False)
        faces = unique_sorted_rows(inverse.astype(np.uint32)[self.faces])
        return Mesh._adopt(verts, faces, np.zeros((0, 3), np.float32), self.segid,
                           copy.deepcopy(self.encoding_type), copy.deepcopy(self.encoding_options))

    def deduplicate_vertices(self, is_chunk_aligned: np.ndarray) -> "Mesh":
        """Merge vertices that occur exactly twice and are flagged (chunk seams); keep the rest
        apart. Unreferenced vertices go, as in CloudVolume."""
        verts = self.vertices
        _, inverse, counts = unique_rows(verts)
        merge = (counts[inverse] == 2) & np.asarray(is_chunk_aligned, dtype=bool)
        tag = np.arange(verts.shape[0], dtype=np.float64)
        tag[merge] = -1
        keyed = np.hstack([verts.astype(np.float64), tag[:, None]])[self.faces.reshape(-1)]
        unique, new_faces, _ = unique_rows(keyed)
        return self._like(unique[:, :3], new_faces.reshape(-1, 3))

    def deduplicate_chunk_boundaries(self, chunk_size: Any, is_draco: bool = False,
                                     draco_grid_size: float | None = None, offset: Any = (0, 0, 0)) -> "Mesh":
        """Merge the vertex pairs that meshing chunk by chunk duplicated on chunk boundaries."""
        verts = self.vertices - np.asarray(offset, dtype=np.float64)
        if is_draco:
            if draco_grid_size is None:
                raise MeshDecodeError("deduplicate_chunk_boundaries(is_draco=True) needs draco_grid_size")
            aligned = is_draco_chunk_aligned(verts, chunk_size, draco_grid_size)
        else:
            aligned = np.any(np.mod(verts, chunk_size) == 0, axis=1)
        return self.deduplicate_vertices(aligned)

    def crop(self, bbox: Any) -> "Mesh":
        """The faces whose three vertices lie in ``bbox`` (bounds included, as CloudVolume's
        ``Bbox.contains``). Normals follow their vertices (CloudVolume indexes them by face: a bug)."""
        if self.empty():
            return Mesh([], [], None)
        lo = np.asarray(bbox.minpt, dtype=np.float64)
        hi = np.asarray(bbox.maxpt, dtype=np.float64)
        inside = np.all((self.vertices >= lo) & (self.vertices <= hi), axis=1)
        keep = inside[self.faces].all(axis=1)
        remap = np.cumsum(inside) - 1
        normals = self.normals[inside] if len(self.normals) == len(self.vertices) and len(self.normals) else None
        return self._like(self.vertices[inside], remap[self.faces[keep]], normals)

    # -- encodings ------------------------------------------------------------------------
    @classmethod
    def from_precomputed(cls, binary: bytes, segid: Any = None) -> "Mesh":
        """A raw legacy fragment; MeshDecodeError when the bytes do not fit the layout."""
        verts, faces = decode_legacy_fragment(binary)  # fresh arrays: adopted, not copied again
        return cls._adopt(verts, faces, np.zeros((0, 3), np.float32), segid=segid, encoding_type="precomputed")

    def to_precomputed(self) -> bytes:
        """Raw legacy fragment bytes (normals are not kept)."""
        return encode_legacy_fragment(self.vertices, self.faces)

    @classmethod
    def from_draco(cls, binary: bytes, segid: Any = None) -> "Mesh":
        verts, faces = draco.decode(binary)
        return cls(verts, faces, segid=segid, encoding_type="draco")

    def to_draco(self, quantization_bits: int = 16, compression_level: int = 7) -> bytes:
        return draco.encode_float(self.vertices, self.faces, quantization_bits, compression_level)

    @classmethod
    def from_obj(cls, text: bytes | str, segid: Any = None) -> "Mesh":
        verts, faces, normals = meshfiles.from_obj(text)
        return cls(verts, faces, normals, segid=segid, encoding_type="precomputed")

    def to_obj(self) -> bytes:
        return meshfiles.to_obj(self.vertices, self.faces)

    @classmethod
    def from_ply(cls, data: bytes, segid: Any = None) -> "Mesh":
        """Read a PLY file (CloudVolume 12.15.2's ``load`` calls a ``from_ply`` it lacks)."""
        verts, faces, normals = meshfiles.from_ply(data)
        return cls(verts, faces, normals, segid=segid, encoding_type="precomputed")

    def to_ply(self) -> bytes:
        return meshfiles.to_ply(self.vertices, self.faces)

    def save(self, filename: str) -> None:
        """Write ``filename`` as PLY when it ends in ``.ply``, else OBJ."""
        with open(filename, "wb") as f:
            f.write(self.to_ply() if filename.endswith(".ply") else self.to_obj())

    @classmethod
    def load(cls, filename: str) -> "Mesh":
        """Read a PLY (``.ply``) or OBJ file (a classmethod here; CloudVolume's needs an instance)."""
        with open(filename, "rb") as f:
            data = f.read()
        return cls.from_ply(data) if filename.endswith(".ply") else cls.from_obj(data)

    def trimesh(self, process: bool = False, validate: bool = False) -> Any:
        import trimesh  # optional: pip install trimesh

        return trimesh.Trimesh(vertices=self.vertices, faces=self.faces,
                               vertex_normals=self.normals if len(self.normals) else None,
                               process=process, validate=validate)

    @classmethod
    def from_trimesh(cls, tmesh: Any) -> "Mesh":
        return cls(vertices=tmesh.vertices, faces=tmesh.faces, normals=tmesh.vertex_normals)


__all__ = ["Mesh", "unique_rows", "unique_sorted_rows", "is_draco_chunk_aligned"]
