"""Draco mesh coding via the ``DracoPy`` package (pure functions, no I/O).

Multi-resolution fragments store *integer* positions in ``[0, 2**bits)``: Neuroglancer decodes
the position attribute with dequantization off (precomputed-format.md §10), so ``encode_integer``
hands DracoPy ``uint32`` vertices, which Draco stores losslessly. Float input would make Draco
quantize and Neuroglancer would misplace the vertices.

>>> import numpy as np
>>> blob = encode_integer(np.array([[0, 0, 0], [1023, 0, 0], [0, 1023, 0]], np.uint32), [[0, 1, 2]])
>>> verts, faces = decode(blob)
>>> sorted(map(tuple, verts[faces[0]].tolist()))
[(0, 0, 0), (0, 1023, 0), (1023, 0, 0)]
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..exceptions import MeshDecodeError, UnsupportedFormatError

MAGIC = b"DRACO"


def _dracopy() -> ModuleType:
    try:
        import DracoPy
    except ImportError:
        raise UnsupportedFormatError("Draco meshes need the 'DracoPy' package: pip install DracoPy") from None
    return DracoPy


def is_draco(data: bytes) -> bool:
    return bytes(data[:5]) == MAGIC


def encode_integer(vertices: Any, faces: Any, compression_level: int = 7) -> bytes:
    """A Draco mesh of integer positions (uint32 ``(n, 3)``) and triangles, stored losslessly."""
    verts = np.ascontiguousarray(vertices, dtype=np.uint32).reshape(-1, 3)
    tris = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1, 3)
    return bytes(_dracopy().encode(verts, tris, compression_level=compression_level))


def encode_float(vertices: Any, faces: Any, quantization_bits: int = 16, compression_level: int = 7) -> bytes:
    """A Draco mesh of float positions (Draco quantizes them): for files, not multires fragments."""
    verts = np.ascontiguousarray(vertices, dtype=np.float32).reshape(-1, 3)
    tris = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1, 3)
    return bytes(_dracopy().encode(verts, tris, quantization_bits=quantization_bits,
                                   compression_level=compression_level))


def decode(data: bytes, what: str = "Draco mesh") -> tuple[np.ndarray, np.ndarray]:
    """``(positions (n, 3), faces uint32 (m, 3))``; positions keep Draco's attribute type
    (uint32 for integer meshes, float32 otherwise). Corrupt bytes raise MeshDecodeError."""
    try:
        mesh = _dracopy().decode(bytes(data))
    except Exception as exc:  # DracoPy raises ValueError, FileTypeException or RuntimeError
        raise MeshDecodeError(f"{what}: not a valid Draco mesh ({exc})") from None
    faces = getattr(mesh, "faces", None)
    if faces is None:
        raise MeshDecodeError(f"{what}: a Draco point cloud, not a mesh")
    points = np.asarray(mesh.points).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.uint32).reshape(-1, 3)
    if faces.size and int(faces.max()) >= points.shape[0]:
        raise MeshDecodeError(f"{what}: a triangle names vertex {int(faces.max())} of {points.shape[0]}")
    return points, faces


__all__ = ["MAGIC", "is_draco", "encode_integer", "encode_float", "decode"]
