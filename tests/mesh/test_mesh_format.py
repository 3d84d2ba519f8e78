"""format/mesh.py and codecs/draco.py against the hand-built vectors of precomputed-format.md §6."""

import json
import pickle

import numpy as np
import pytest

from aiovolume.codecs import draco
from aiovolume.exceptions import InfoError, MeshDecodeError
from aiovolume.format.mesh import (
    LEGACY_TYPE, MULTIRES_TYPE, MeshInfo, MultiresManifest, decode_legacy_fragment, decode_legacy_manifest,
    dequantize, encode_legacy_fragment, encode_legacy_manifest, legacy_manifest_key, quantize, zorder_codes,
)

# §6.1: triangle (0,0,0),(1,0,0),(0,1,0), face (0,1,2)
LEGACY_HEX = ("03000000 00000000 00000000 00000000 0000803f 00000000 00000000 00000000 0000803f "
              "00000000 00000000 01000000 02000000").replace(" ", "")
# §6.2: CloudVolume's MultiLevelPrecomputedMeshManifest.to_binary of the same manifest
MANIFEST_HEX = ("00008042" * 3 + "00000000" * 3 + "02000000" + "0000803f" + "00000040" + "00000000" * 6
                + "02000000" + "01000000" + "00000000 01000000 00000000 00000000 00000000 00000000".replace(" ", "")
                + "64000000" + "78000000" + "00000000" * 3 + "50000000")


def test_legacy_fragment_vector():
    blob = encode_legacy_fragment([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    assert blob.hex() == LEGACY_HEX
    verts, faces = decode_legacy_fragment(bytes.fromhex(LEGACY_HEX))
    assert verts.dtype == np.float32 and faces.dtype == np.uint32
    assert verts.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    assert faces.tolist() == [[0, 1, 2]]


def test_legacy_fragment_empty_and_vertices_only():
    assert decode_legacy_fragment(b"\0\0\0\0")[0].shape == (0, 3)
    verts, faces = decode_legacy_fragment(encode_legacy_fragment(np.ones((2, 3)), np.zeros((0, 3))))
    assert verts.shape == (2, 3) and faces.shape == (0, 3)


@pytest.mark.parametrize("cut", [0, 3, 10, 51])
def test_legacy_fragment_truncated(cut):
    with pytest.raises(MeshDecodeError, match="frag 7"):
        decode_legacy_fragment(bytes.fromhex(LEGACY_HEX)[:cut], "frag 7")


def test_legacy_fragment_bad_index():
    blob = encode_legacy_fragment([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 3]])
    with pytest.raises(MeshDecodeError, match="vertex 3 of 3"):
        decode_legacy_fragment(blob)


def test_legacy_manifest():
    assert legacy_manifest_key(12) == "12:0"
    blob = encode_legacy_manifest(["12:0:1", "12:0:0-64_0-64_0-64"])
    assert json.loads(blob) == {"fragments": ["12:0:1", "12:0:0-64_0-64_0-64"]}
    assert decode_legacy_manifest(blob) == ["12:0:1", "12:0:0-64_0-64_0-64"]
    for bad in (b"nope", b"[]", b'{"fragments": [1]}', b"\xff"):
        with pytest.raises(MeshDecodeError):
            decode_legacy_manifest(bad)


def _vector_manifest():
    return MultiresManifest(
        chunk_shape=[64, 64, 64], grid_origin=[0, 0, 0], lod_scales=[1, 2], vertex_offsets=np.zeros((2, 3)),
        fragment_positions=[[[0, 0, 0], [1, 0, 0]], [[0, 0, 0]]], fragment_sizes=[[100, 120], [80]])


def test_multires_manifest_vector():
    blob = _vector_manifest().encode()
    assert len(blob) == 116 == 28 + 20 * 2 + 16 * 3
    assert blob.hex() == MANIFEST_HEX
    m = MultiresManifest.decode(bytes.fromhex(MANIFEST_HEX), segid=5)
    assert m.segid == 5 and m.num_lods == 2
    assert m.chunk_shape.tolist() == [64, 64, 64] and m.lod_scales.tolist() == [1, 2]
    assert [p.tolist() for p in m.fragment_positions] == [[[0, 0, 0], [1, 0, 0]], [[0, 0, 0]]]
    assert [s.tolist() for s in m.fragment_sizes] == [[100, 120], [80]]
    assert m.num_fragments_per_lod.tolist() == [2, 1]
    assert m.lod_bytes() == [220, 80] and m.lod_range(1) == (220, 300) and m.total_bytes == 300
    assert m.encode() == blob
    pickle.loads(pickle.dumps(m))


@pytest.mark.parametrize("blob", [b"", bytes(27), bytes.fromhex(MANIFEST_HEX)[:-1],
                                  bytes.fromhex(MANIFEST_HEX) + b"\0", bytes(24) + b"\xff\xff\xff\x00"])
def test_multires_manifest_length_checked(blob):
    with pytest.raises(MeshDecodeError, match="segment 9"):
        MultiresManifest.decode(blob, what="segment 9")


def test_zorder():
    pos = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0], [2, 0, 0]])
    assert zorder_codes(pos).tolist() == [3, 4, 1, 2, 0, 8]


@pytest.mark.parametrize("bits", [10, 16])
def test_quantize_round_trip(bits):
    m = _vector_manifest()
    pts = np.array([[64.0, 0.0, 10.0], [128.0, 64.0, 63.99]])
    q = quantize(pts, m, 0, (1, 0, 0), bits)
    assert q.dtype == np.uint32 and q.max() < 2 ** bits
    assert q[:, 0].tolist() == [0, 2 ** bits - 1]
    back = dequantize(q, m, 0, (1, 0, 0), bits)
    assert np.allclose(back, pts, atol=64 / (2 ** bits - 1))


def test_mesh_info():
    legacy = MeshInfo.from_json(None)
    assert legacy.to_json() == {"@type": LEGACY_TYPE} and not legacy.multires
    multi = MeshInfo.multires_info(10, transform=[4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0])
    doc = multi.to_json()
    assert doc == {"@type": MULTIRES_TYPE, "vertex_quantization_bits": 10, "lod_scale_multiplier": 1.0,
                   "transform": [4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 40, 0]}
    assert "sharding" not in doc  # never null
    assert MeshInfo.from_json({**doc, "sharding": None}).to_json() == doc
    assert multi.transform_matrix()[2, 2] == 40
    sharded = MeshInfo.from_json({**doc, "sharding": {"@type": "neuroglancer_uint64_sharded_v1"}, "mip": 0})
    assert sharded.sharded and sharded.to_json()["mip"] == 0
    for bad in ({"@type": MULTIRES_TYPE, "lod_scale_multiplier": 1, "vertex_quantization_bits": 12},
                {"@type": MULTIRES_TYPE, "lod_scale_multiplier": 0, "vertex_quantization_bits": 16},
                {"@type": MULTIRES_TYPE, "vertex_quantization_bits": 16},
                {"@type": LEGACY_TYPE, "transform": [1, 2]}, {"@type": "other"}, []):
        with pytest.raises(InfoError):
            MeshInfo.from_json(bad)


def _canon(verts, faces):
    """Triangles as coordinate triples, rotated to start at their smallest vertex (winding kept)."""
    tris = np.asarray(verts)[np.asarray(faces)].astype(np.float64)
    out = []
    for tri in tris:
        out.append(min(np.roll(tri, -k, axis=0).ravel().tolist() for k in range(3)))
    return sorted(out)


@pytest.mark.parametrize("top", [1023, 65535])
def test_draco_integer_lossless(top):
    rng = np.random.default_rng(1)
    verts = rng.integers(0, top + 1, (300, 3)).astype(np.uint32)
    faces = rng.permutation(300).reshape(-1, 3).astype(np.uint32)
    blob = draco.encode_integer(verts, faces)
    assert draco.is_draco(blob)
    points, tris = draco.decode(blob)
    assert points.dtype == np.uint32 and tris.dtype == np.uint32
    assert _canon(points, tris) == _canon(verts, faces)


def test_draco_corrupt():
    blob = draco.encode_integer(np.eye(3, dtype=np.uint32), [[0, 1, 2]])
    for bad in (b"DRACO" + bytes(20), blob[:10], b"junk"):
        with pytest.raises(MeshDecodeError, match="frag x"):
            draco.decode(bad, "frag x")
