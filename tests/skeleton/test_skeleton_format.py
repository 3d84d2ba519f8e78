"""format/skeleton.py: the binary layout against the hand-built vector of precomputed-format.md §7,
and the skeleton info rules (no null sharding, @type, transform, attribute types)."""

import json

import numpy as np
import pytest

from aiovolume.exceptions import InfoError, SkeletonDecodeError, SkeletonEncodeError, SkeletonUnassignedEdgeError
from aiovolume.format.skeleton import (
    DEFAULT_VERTEX_ATTRIBUTES, VertexAttribute, decode_skeleton, default_skeleton_info, encode_skeleton,
    info_transform, parse_skeleton_info, renderable_attributes, skeleton_info_to_json, vertex_attributes,
)

# precomputed-format.md §7: vertices (0,0,0),(1,2,3), edge (0,1), radius [0.5,1.5], vertex_types [1,3]
VECTOR = bytes.fromhex(
    "02000000 01000000 00000000 00000000 00000000 0000803f 00000040 00004040 00000000 01000000"
    " 0000003f 0000c03f 0103".replace(" ", ""))


def test_encode_matches_the_spec_vector():
    data = encode_skeleton([[0, 0, 0], [1, 2, 3]], [[0, 1]], {"radius": [0.5, 1.5], "vertex_types": [1, 3]},
                           DEFAULT_VERTEX_ATTRIBUTES)
    assert data == VECTOR and len(data) == 50


def test_decode_the_spec_vector():
    vertices, edges, values = decode_skeleton(VECTOR, DEFAULT_VERTEX_ATTRIBUTES)
    assert vertices.dtype == np.float32 and vertices.tolist() == [[0, 0, 0], [1, 2, 3]]
    assert edges.dtype == np.uint32 and edges.tolist() == [[0, 1]]
    assert values["radius"].dtype == np.float32 and values["radius"].tolist() == [0.5, 1.5]
    assert values["vertex_types"].dtype == np.uint8 and values["vertex_types"].tolist() == [1, 3]


def test_multi_component_attributes_back_to_back_without_padding():
    attrs = (VertexAttribute("a", "uint8", 3), VertexAttribute("b", "int16", 1))
    a = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    b = np.array([-1, 7], np.int16)
    data = encode_skeleton(np.zeros((2, 3)), np.zeros((0, 2)), {"a": a, "b": b}, attrs)
    assert data[-10:] == bytes([1, 2, 3, 4, 5, 6]) + np.array([-1, 7], "<i2").tobytes()
    assert len(data) == 8 + 24 + 6 + 4
    _, edges, values = decode_skeleton(data, attrs)
    assert edges.shape == (0, 2)
    np.testing.assert_array_equal(values["a"], a)
    np.testing.assert_array_equal(values["b"], b)


def test_short_files_raise():
    with pytest.raises(SkeletonDecodeError, match="8 bytes"):
        decode_skeleton(b"\x01\x00", DEFAULT_VERTEX_ATTRIBUTES)
    with pytest.raises(SkeletonDecodeError, match="radius, vertex_types"):
        decode_skeleton(VECTOR[:-1], DEFAULT_VERTEX_ATTRIBUTES)
    # attributes missing entirely (what CloudVolume silently accepts) is still too short for the info
    with pytest.raises(SkeletonDecodeError):
        decode_skeleton(VECTOR[:40], DEFAULT_VERTEX_ATTRIBUTES)
    assert decode_skeleton(VECTOR[:40], ())[1].tolist() == [[0, 1]]


def test_trailing_bytes_ignored_and_bad_edges_rejected():
    assert decode_skeleton(VECTOR + b"xx", DEFAULT_VERTEX_ATTRIBUTES)[0].shape == (2, 3)
    bad = bytearray(VECTOR)
    bad[36:40] = (5).to_bytes(4, "little")
    with pytest.raises(SkeletonDecodeError, match="vertex 5"):
        decode_skeleton(bytes(bad), DEFAULT_VERTEX_ATTRIBUTES)


def test_encode_errors():
    with pytest.raises(SkeletonUnassignedEdgeError):
        encode_skeleton([[0, 0, 0]], [[0, 1]], {}, ())
    with pytest.raises(SkeletonEncodeError, match="radius"):
        encode_skeleton([[0, 0, 0]], [], {}, DEFAULT_VERTEX_ATTRIBUTES)
    with pytest.raises(SkeletonEncodeError, match="vertex_types"):
        encode_skeleton([[0, 0, 0]], [], {"radius": [1], "vertex_types": [1, 2]}, DEFAULT_VERTEX_ATTRIBUTES)
    with pytest.raises(SkeletonEncodeError, match="shape"):
        encode_skeleton([[0, 0]], [], {}, ())
    assert encode_skeleton(np.zeros((0, 3)), [], {}, ()) == bytes(8)


def test_default_info_has_no_null_keys_and_identity_transform():
    info = default_skeleton_info()
    assert info["@type"] == "neuroglancer_skeletons"
    assert "sharding" not in info and "spatial_index" not in info
    assert info_transform(info).tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    # CloudVolume's attributes, all float32: Neuroglancer draws no skeleton with a uint8 attribute
    assert vertex_attributes(info) == (VertexAttribute("radius", "float32"), VertexAttribute("vertex_types", "float32"))


def test_renderable_attributes_widen_small_integers_only():
    attrs = [{"id": n, "data_type": t, "num_components": 2} for n, t in
             [("a", "int8"), ("b", "uint16"), ("c", "uint32"), ("d", "float32"), ("e", "int32")]]
    assert [a["data_type"] for a in renderable_attributes(attrs)] == ["float32", "float32", "uint32", "float32", "int32"]
    assert all(a["num_components"] == 2 for a in renderable_attributes(attrs))


def test_cloudvolume_style_info_is_normalised():
    cv_info = {"@type": "neuroglancer_skeletons", "transform": [2, 0, 0, 10, 0, 2, 0, 0, 0, 0, 40, 0],
               "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}],
               "sharding": None, "spatial_index": None, "mip": 0}
    out = json.loads(skeleton_info_to_json(cv_info))
    assert "sharding" not in out and "spatial_index" not in out and out["mip"] == 0
    assert out["transform"][3] == 10
    assert parse_skeleton_info({"transform": list(range(12))})["@type"] == "neuroglancer_skeletons"


@pytest.mark.parametrize("bad", [
    {"@type": "neuroglancer_multilod_draco"},
    {"transform": [1, 2, 3]},
    {"vertex_attributes": [{"id": "x", "data_type": "complex64", "num_components": 1}]},
    {"vertex_attributes": [{"id": "x", "data_type": "float32", "num_components": 0}]},
    {"vertex_attributes": [{"id": "x", "data_type": "float32"}, {"id": "x", "data_type": "uint8"}]},
    {"sharding": "yes"},
])
def test_bad_infos_raise(bad):
    with pytest.raises(InfoError):
        parse_skeleton_info(bad)


def test_written_info_refuses_types_neuroglancer_cannot_draw():
    info = default_skeleton_info([{"id": "d", "data_type": "float64", "num_components": 1}])
    with pytest.raises(InfoError, match="float64"):
        skeleton_info_to_json(info)
