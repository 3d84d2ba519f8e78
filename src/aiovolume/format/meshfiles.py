"""Wavefront OBJ and PLY text/bytes for meshes (pure, vectorised where the format allows).

``to_obj``/``to_ply`` write what CloudVolume writes byte for byte (OBJ: ``v %.5f %.5f %.5f`` and
1-based ``f a b c`` lines; PLY: binary little-endian, float xyz, ``list int int`` faces).
The readers accept what common tools write: OBJ ``f a/b/c`` forms, negative (relative) indices
and polygons (fan-triangulated); PLY in ascii or binary_little_endian, extra vertex properties,
double coordinates, and any list count/index types.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiovolume.exceptions import MeshDecodeError

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def to_obj(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    lines = ["v %.5f %.5f %.5f" % tuple(v) for v in np.asarray(vertices, dtype=np.float64).tolist()]
    lines += ["f %d %d %d" % tuple(f) for f in (np.asarray(faces, dtype=np.int64) + 1).tolist()]
    return ("\n".join(lines) + "\n").encode("utf8")


def from_obj(text: bytes | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices, faces, normals)`` of an OBJ file (texture coordinates are ignored)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf8")
    verts: list[list[float]] = []
    normals: list[list[float]] = []
    faces: list[list[int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            if parts[0] == "v":
                verts.append([float(x) for x in parts[1:4]])
            elif parts[0] == "vn":
                normals.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                idx = [int(p.split("/")[0]) for p in parts[1:]]
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
                faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
        except ValueError:
            raise MeshDecodeError(f"OBJ line {lineno}: cannot parse {raw[:80]!r}") from None
    v = np.array(verts, dtype=np.float32).reshape(-1, 3)
    f = np.array(faces, dtype=np.int64).reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise MeshDecodeError(f"OBJ: a face names a vertex outside 1..{len(v)}")
    return v, f.astype(np.uint32), np.array(normals, dtype=np.float32).reshape(-1, 3)


def to_ply(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    verts = np.ascontiguousarray(vertices, dtype="<f4")
    tris = np.asarray(faces, dtype="<u4").reshape(-1, 3)
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {verts.shape[0]}\nproperty float x\nproperty float y\nproperty float z\n"
              f"element face {tris.shape[0]}\nproperty list int int vertex_indices\nend_header\n")
    body = np.empty((tris.shape[0], 4), dtype="<u4")
    body[:, 0] = 3
    body[:, 1:] = tris
    return header.encode("utf8") + verts.tobytes() + body.tobytes()


def from_ply(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices, faces, normals)`` of a PLY file (ascii or binary little-endian)."""
    data = bytes(data)
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise MeshDecodeError("PLY: no 'ply' ... 'end_header' header")
    body_at = data.index(b"\n", end) + 1
    fmt, elements = _ply_header(data[:end].decode("ascii", "replace"))
    if fmt not in ("ascii", "binary_little_endian"):
        raise MeshDecodeError(f"PLY: format {fmt!r} is not supported (ascii, binary_little_endian)")
    found: dict[str, Any] = {}
    if fmt == "ascii":
        tokens = data[body_at:].split()
        at = 0
        for name, count, props in elements:
            found[name], at = _ply_ascii_element(tokens, at, count, props)
    else:
        at = body_at
        for name, count, props in elements:
            found[name], at = _ply_binary_element(data, at, count, props)
    vert = found.get("vertex")
    if vert is None:
        raise MeshDecodeError("PLY: no vertex element")
    v = np.stack([vert[c] for c in ("x", "y", "z")], axis=1).astype(np.float32)
    n = (np.stack([vert[c] for c in ("nx", "ny", "nz")], axis=1).astype(np.float32)
         if all(c in vert for c in ("nx", "ny", "nz")) else np.zeros((0, 3), np.float32))
    f = found.get("face", np.zeros((0, 3), np.int64))
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise MeshDecodeError(f"PLY: a face names a vertex outside 0..{len(v) - 1}")
    return v, f.astype(np.uint32), n


def _ply_header(text: str) -> tuple[str, list[tuple[str, int, list[tuple[str, ...]]]]]:
    fmt = ""
    elements: list[tuple[str, int, list[tuple[str, ...]]]] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "element":
            elements.append((parts[1], int(parts[2]), []))
        elif parts[0] == "property" and elements:
            props = tuple(parts[1:])
            if any(t not in _PLY_TYPES for t in (props[1:3] if props[0] == "list" else props[:1])):
                raise MeshDecodeError(f"PLY: unknown property type in {line!r}")
            elements[-1][2].append(props)
    return fmt, elements


def _ply_binary_element(data: bytes, at: int, count: int, props: list[tuple[str, ...]]) -> tuple[Any, int]:
    if not any(p[0] == "list" for p in props):
        dtype = np.dtype([(p[1], "<" + _PLY_TYPES[p[0]]) for p in props])
        if at + dtype.itemsize * count > len(data):
            raise MeshDecodeError("PLY: the file ends inside an element")
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=at)
        return {name: arr[name] for name in dtype.names}, at + dtype.itemsize * count
    if len(props) != 1:
        raise MeshDecodeError("PLY: a face element with more than its index list is not supported")
    ctype, itype = np.dtype("<" + _PLY_TYPES[props[0][1]]), np.dtype("<" + _PLY_TYPES[props[0][2]])
    # fast path: every face a triangle (what mesh writers emit)
    tri = np.dtype([("n", ctype), ("i", itype, (3,))])
    if at + tri.itemsize * count <= len(data):
        arr = np.frombuffer(data, dtype=tri, count=count, offset=at)
        if np.all(arr["n"] == 3):
            return arr["i"].astype(np.int64), at + tri.itemsize * count
    faces: list[list[int]] = []
    for _ in range(count):
        n = int(np.frombuffer(data, dtype=ctype, count=1, offset=at)[0])
        idx = np.frombuffer(data, dtype=itype, count=n, offset=at + ctype.itemsize).tolist()
        at += ctype.itemsize + n * itype.itemsize
        faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, n - 1))
    return np.array(faces, dtype=np.int64).reshape(-1, 3), at


def _ply_ascii_element(tokens: list[bytes], at: int, count: int, props: list[tuple[str, ...]]) -> tuple[Any, int]:
    if any(p[0] == "list" for p in props):
        faces: list[list[int]] = []
        for _ in range(count):
            n = int(tokens[at])
            idx = [int(t) for t in tokens[at + 1: at + 1 + n]]
            at += 1 + n
            faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, n - 1))
        return np.array(faces, dtype=np.int64).reshape(-1, 3), at
    width = len(props)
    vals = np.array([float(t) for t in tokens[at: at + width * count]]).reshape(count, width)
    return {p[1]: vals[:, i] for i, p in enumerate(props)}, at + width * count

