"""Tests of aiovolume.format.info: parsing, validation, round trips, creation and scale helpers.

Expected infos, scales, ratios and boxes are literal vectors recorded once from CloudVolume 12.15.2;
tests/interop/test_interop_info.py re-derives them from the real package.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import numpy as np
import pytest

from aiovolume.exceptions import DimensionError, InfoError, ScaleUnavailableError
from aiovolume.format.info import (
    LayerInfo,
    ScaleInfo,
    add_scale,
    bbox_to_mip,
    create_new_info,
    downsample_ratio,
    info_from_json,
    info_to_json,
    parse_info,
    reset_scales,
    scale_index,
    with_scale,
)
from aiovolume.geometry import Bbox

PATH = "gs://bucket/dataset/layer/info"

# The example scale of the Neuroglancer spec (precomputed-format.md section 2.2).
SPEC_SCALE = {"chunk_sizes": [[64, 64, 64]], "encoding": "jpeg", "key": "8_8_8", "resolution": [8, 8, 8],
              "size": [6446, 6643, 8090], "voxel_offset": [0, 0, 0]}


def spec_info() -> dict:
    return {"@type": "neuroglancer_multiscale_volume", "type": "image", "data_type": "uint8",
            "num_channels": 1, "scales": [copy.deepcopy(SPEC_SCALE)]}


def seg_info() -> dict:
    """A sharded, segmentation info carrying the extra keys CloudVolume and Neuroglancer use."""
    return {
        "@type": "neuroglancer_multiscale_volume", "type": "segmentation", "data_type": "uint64",
        "num_channels": 1, "mesh": "mesh", "skeletons": "skeletons", "segment_properties": "props",
        "redirect": "gs://elsewhere/layer", "custom": {"nested": [1, 2, {"a": None}]},
        "scales": [
            {"encoding": "compressed_segmentation", "chunk_sizes": [[128, 128, 16]], "key": "4_4_40",
             "resolution": [4, 4, 40], "voxel_offset": [-10, 4, 0], "size": [130, 50, 20],
             "compressed_segmentation_block_size": [8, 8, 8], "locked": True, "hidden": False,
             "rois": [[0, 0, 0, 10, 10, 10]],
             "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 3, "hash": "identity",
                          "minishard_bits": 6, "shard_bits": 2, "minishard_index_encoding": "gzip",
                          "data_encoding": "gzip"}},
            {"encoding": "compresso", "chunk_sizes": [[64, 64, 64], [32, 32, 32]], "key": "../other/8_8_40",
             "resolution": [8.5, 8.0, 40.0], "voxel_offset": [-5, 2, 0], "size": [65, 25, 20],
             "compresso_steps": [4, 4, 1]},
        ],
    }


# -- round trips --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [spec_info, seg_info])
def test_round_trip_is_identity(make):
    d = make()
    info = parse_info(d, PATH)
    assert info.to_dict() == d
    assert info_from_json(info_to_json(info), PATH) == info
    assert json.loads(info_to_json(info)) == d


def test_round_trip_keeps_fields_and_extras():
    info = parse_info(seg_info(), PATH)
    s0, s1 = info.scales
    assert info.type == "segmentation" and info.dtype == np.dtype(np.uint64)
    assert info.mesh == "mesh" and info.skeletons == "skeletons"
    assert info.extra["redirect"] == "gs://elsewhere/layer" and info.extra["@type"] == "neuroglancer_multiscale_volume"
    assert s0.sharding["shard_bits"] == 2 and s0.extra == {"locked": True, "hidden": False, "rois": ((0, 0, 0, 10, 10, 10),)}
    assert s0.voxel_offset == (-10, 4, 0) and s0.compressed_segmentation_block_size == (8, 8, 8)
    assert s0.grid_shape == (2, 1, 2) and s0.chunk_size == (128, 128, 16)
    assert s0.bounds == Bbox((-10, 4, 0), (120, 54, 20))
    assert s1.chunk_size == (64, 64, 64) and len(s1.chunk_sizes) == 2 and s1.key == "../other/8_8_40"
    assert s1.sharding is None and "sharding" not in s1.to_dict()
    # resolution keeps its JSON number type, so CloudVolume-written floats come back byte-identical
    assert s1.resolution == (8.5, 8.0, 40.0) and all(isinstance(r, float) for r in s1.resolution)
    assert all(type(r) is int for r in s0.resolution)


# CloudVolume 12.15.2's commit_info bytes for spec_info(): jsonify(sort_keys=True, indent=2, separators=(",", ": "))
SPEC_INFO_BYTES = (
    b'{\n  "@type": "neuroglancer_multiscale_volume",\n  "data_type": "uint8",\n  "num_channels": 1,\n'
    b'  "scales": [\n    {\n      "chunk_sizes": [\n        [\n          64,\n          64,\n          64\n'
    b'        ]\n      ],\n      "encoding": "jpeg",\n      "key": "8_8_8",\n      "resolution": [\n'
    b'        8,\n        8,\n        8\n      ],\n      "size": [\n        6446,\n        6643,\n'
    b'        8090\n      ],\n      "voxel_offset": [\n        0,\n        0,\n        0\n      ]\n'
    b'    }\n  ],\n  "type": "image"\n}'
)


def test_info_to_json_writes_cloudvolumes_commit_bytes():
    assert info_to_json(parse_info(spec_info())) == SPEC_INFO_BYTES
    assert info_to_json(spec_info()) == SPEC_INFO_BYTES  # a dict is validated, then written the same way
    compact = info_to_json(seg_info(), sort_keys=False, indent=None)
    assert b" " not in compact and json.loads(compact) == seg_info()


def test_documented_normalisations():
    d = spec_info()
    d["data_type"] = "UInt8"
    del d["scales"][0]["voxel_offset"]
    d["scales"][0]["encoding"] = "JPEG"
    d["scales"][0]["sharding"] = None
    d["mesh"] = None
    out = parse_info(d, PATH).to_dict()
    assert out["data_type"] == "uint8" and out["scales"][0]["encoding"] == "jpeg"
    assert out["scales"][0]["voxel_offset"] == [0, 0, 0]
    assert "sharding" not in out["scales"][0] and "mesh" not in out
    seg = seg_info()
    del seg["scales"][0]["compressed_segmentation_block_size"]  # CV's default block size fills in
    assert parse_info(seg, PATH).to_dict()["scales"][0]["compressed_segmentation_block_size"] == [8, 8, 8]


def test_segmentation_with_several_channels_is_allowed():
    d = spec_info()
    d.update(type="segmentation", num_channels=3, data_type="uint32")
    d["scales"][0]["encoding"] = "compressed_segmentation"  # aiovolume writes multi-channel cseg
    assert parse_info(d).num_channels == 3


@pytest.mark.parametrize("data_type,encoding,channels,needle", [
    ("float32", "compressed_segmentation", 1, "cannot store data_type 'float32'"),
    ("uint64", "jpeg", 1, "takes uint8"), ("uint16", "jpeg", 1, "takes uint8"), ("uint8", "jpeg", 2, "1 or 3"),
    ("int32", "png", 1, "uint8, uint16"), ("uint8", "png", 5, "5 channels"),
    ("uint8", "fpzip", 1, "float32, float64"), ("int64", "kempressed", 1, "float32"),
    ("int64", "compresso", 1, "uint8, uint16, uint32, uint64"), ("uint64", "crackle", 2, "2 channels"),
])
def test_bad_dtype_encoding_combinations_are_refused(data_type, encoding, channels, needle):
    args = dict(num_channels=channels, layer_type="image", data_type=data_type, encoding=encoding,
                resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=[10, 10, 10])
    with pytest.raises(InfoError, match=needle):
        create_new_info(**args)
    d = spec_info()
    d.update(data_type=data_type, num_channels=channels)
    d["scales"][0]["encoding"] = encoding
    with pytest.raises(InfoError, match=r"scales\[0\].*" + needle):
        parse_info(d, PATH)


@pytest.mark.parametrize("data_type,encoding,channels", [
    ("uint8", "jpeg", 3), ("uint16", "png", 4), ("uint64", "compressed_segmentation", 5), ("float64", "fpzip", 2),
    ("float32", "kempressed", 1), ("uint16", "compresso", 1), ("uint8", "crackle", 1), ("float16", "raw", 7),
])
def test_good_dtype_encoding_combinations_are_accepted(data_type, encoding, channels):
    args = dict(num_channels=channels, layer_type="image", data_type=data_type, encoding=encoding,
                resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=[10, 10, 10])
    assert parse_info(create_new_info(**args)).scales[0].encoding == encoding


def test_frozen_hashable_picklable():
    info = parse_info(seg_info(), PATH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.num_channels = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.scales[0].sharding["shard_bits"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        info.extra["x"] = 1  # type: ignore[index]
    assert hash(info) == hash(parse_info(seg_info()))
    assert pickle.loads(pickle.dumps(info)) == info
    assert copy.deepcopy(info) == info
    # to_dict hands out fresh, mutable structures
    d = info.to_dict()
    d["scales"][0]["sharding"]["shard_bits"] = 5
    assert info.scales[0].sharding["shard_bits"] == 2


# -- validation ---------------------------------------------------------------------------------------------------
def _set(path: str, value):
    def mutate(d):
        *parents, last = path.split(".")
        target = d
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return mutate


_DELETE = object()
BAD = [
    ("data_type", "uint128", "data_type"), ("data_type", "bool", "data_type"),
    ("data_type", "complex64", "data_type"), ("data_type", 8, "data_type"),
    ("type", _DELETE, "type"), ("data_type", _DELETE, "data_type"), ("num_channels", _DELETE, "num_channels"),
    ("num_channels", 0, "num_channels"), ("num_channels", 1.5, "num_channels"), ("num_channels", "1", "num_channels"),
    ("type", 3, "type"), ("mesh", 5, "mesh"), ("skeletons", ["s"], "skeletons"),
    ("scales", _DELETE, "scales"), ("scales", [], "scales"), ("scales", {"0": {}}, "scales"),
    ("scales.0", "4_4_40", "scales[0]"),
    ("scales.0.key", _DELETE, "key"), ("scales.0.key", 7, "key"), ("scales.0.size", _DELETE, "size"),
    ("scales.0.resolution", _DELETE, "resolution"), ("scales.0.chunk_sizes", _DELETE, "chunk_sizes"),
    ("scales.0.encoding", _DELETE, "encoding"), ("scales.0.encoding", "gzip", "encoding"),
    ("scales.0.encoding", "jpegxl", "encoding"),
    ("scales.0.size", [1, 2], "mismatched dimensions"), ("scales.0.size", [1, 2, 3, 4], "size"),
    ("scales.0.size", 5, "size"), ("scales.0.size", [-1, 2, 3], "size"), ("scales.0.size", [1.5, 2, 3], "size"),
    ("scales.0.size", ["1", 2, 3], "size"), ("scales.0.size", [True, 2, 3], "size"),
    ("scales.0.resolution", [4, 4], "mismatched dimensions"), ("scales.0.resolution", [0, 4, 40], "resolution"),
    ("scales.0.resolution", [-4, 4, 40], "resolution"), ("scales.0.resolution", [float("nan"), 4, 40], "resolution"),
    ("scales.0.voxel_offset", [0, 0], "voxel_offset"), ("scales.0.voxel_offset", [0.5, 0, 0], "voxel_offset"),
    ("scales.0.chunk_sizes", [], "chunk_sizes"), ("scales.0.chunk_sizes", [[64, 64]], "chunk_sizes[0]"),
    ("scales.0.chunk_sizes", [[64, 64, 64], [0, 64, 64]], "chunk_sizes[1]"),
    ("scales.0.chunk_sizes", [64, 64, 64], "chunk_sizes[0]"),
    ("scales.0.compressed_segmentation_block_size", [8, 8], "compressed_segmentation_block_size"),
    ("scales.0.compressed_segmentation_block_size", [0, 8, 8], "compressed_segmentation_block_size"),
    ("scales.0.sharding", "yes", "sharding"),
]


@pytest.mark.parametrize("field,value,needle", BAD, ids=[f"{f}={v!r}" for f, v, _ in BAD])
def test_invalid_info_raises_info_error_naming_path_and_field(field, value, needle):
    d = spec_info()
    _set(field, value)(d)
    with pytest.raises(InfoError) as err:
        parse_info(d, PATH)
    assert PATH in str(err.value) and needle in str(err.value)


def test_mismatched_dimension_message_is_specific():
    d = spec_info()
    d["scales"][0]["chunk_sizes"] = [[64, 64]]
    with pytest.raises(InfoError, match=r"scales\[0\]\.chunk_sizes\[0\]: mismatched dimensions: expected 3"):
        parse_info(d, PATH)


@pytest.mark.parametrize("top", [[], "info", 3, None])
def test_not_an_object(top):
    with pytest.raises(InfoError, match=f"{PATH}.*not a JSON object"):
        parse_info(top, PATH)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"", b"{", b'{"type": "image",}', b"\xff\xfe\x00garbage", "nope"])
def test_malformed_json(data):
    with pytest.raises(InfoError, match=f"{PATH}.*malformed JSON"):
        info_from_json(data, PATH)


def test_json_that_is_not_an_object():
    with pytest.raises(InfoError, match="not a JSON object"):
        info_from_json(b"[1, 2]", PATH)


def test_dataclass_construction_is_validated_too():
    with pytest.raises(InfoError, match="encoding"):
        ScaleInfo(key="k", size=(1, 1, 1), resolution=(1, 1, 1), chunk_sizes=((1, 1, 1),), encoding="bogus")
    with pytest.raises(InfoError, match="extra"):
        ScaleInfo(key="k", size=(1, 1, 1), resolution=(1, 1, 1), chunk_sizes=((1, 1, 1),), encoding="raw",
                  extra={"size": [2, 2, 2]})
    s = ScaleInfo(key="k", size=np.array([3, 4, 5]), resolution=np.array([4.0, 4.0, 40.0]),
                  chunk_sizes=[[2, 2, 2]], encoding="RAW")
    assert s.size == (3, 4, 5) and type(s.size[0]) is int and s.resolution == (4.0, 4.0, 40.0)
    assert s.encoding == "raw" and s.grid_shape == (2, 2, 3)
    with pytest.raises(InfoError, match="scales"):
        LayerInfo(type="image", data_type="uint8", num_channels=1, scales=())


# -- create_new_info ----------------------------------------------------------------------------------------------
def _scale(key, res, offset, size, chunk=(64, 64, 64), encoding="raw", **extra):
    """A scale dict in CloudVolume's key order for downsampled scales (key last)."""
    d = {"encoding": encoding, "chunk_sizes": [list(chunk)], "resolution": list(res), "voxel_offset": list(offset),
         "size": list(size)}
    return {**d, **extra, "key": key}


# (create_new_info kwargs, what CloudVolume 12.15.2 returns) -- key order and int/float types included
CREATED = [
    (dict(num_channels=1, layer_type="image", data_type="uint8", encoding="jpeg", resolution=[4, 4, 40],
          voxel_offset=[1, 2, 3], volume_size=[300, 301, 30], encoding_level=92, max_mip=2),
     {"num_channels": 1, "type": "image", "data_type": "uint8", "scales": [
         {"encoding": "jpeg", "chunk_sizes": [[64, 64, 64]], "key": "4_4_40", "resolution": [4, 4, 40],
          "voxel_offset": [1, 2, 3], "size": [300, 301, 30]},
         _scale("8_8_40", [8, 8, 40], [0, 1, 3], [150, 151, 30], encoding="jpeg"),
         _scale("16_16_40", [16, 16, 40], [0, 0, 3], [75, 76, 30], encoding="jpeg")]}),
    (dict(num_channels=1, layer_type="segmentation", data_type=np.uint32, encoding="compressed_segmentation",
          resolution=(16, 16, 16), voxel_offset=(-33, 5, -1), volume_size=(257, 129, 65), max_mip=2,
          factor=(2, 2, 2), compressed_segmentation_block_size=(4, 4, 4), mesh="meshes", skeletons=True,
          chunk_size=(128, 64, 32)),
     {"num_channels": 1, "type": "segmentation", "data_type": "uint32", "scales": [
         {"encoding": "compressed_segmentation", "chunk_sizes": [[128, 64, 32]], "key": "16_16_16",
          "resolution": [16, 16, 16], "voxel_offset": [-33, 5, -1], "size": [257, 129, 65],
          "compressed_segmentation_block_size": [4, 4, 4]},
         _scale("32_32_32", [32, 32, 32], [-17, 2, -1], [129, 65, 33], (128, 64, 32), "compressed_segmentation",
                compressed_segmentation_block_size=[8, 8, 8]),
         _scale("64_64_64", [64, 64, 64], [-9, 1, -1], [65, 33, 17], (128, 64, 32), "compressed_segmentation",
                compressed_segmentation_block_size=[8, 8, 8])],
      "mesh": "meshes", "skeletons": "skeletons"}),
    (dict(num_channels=3, layer_type="image", data_type="float32", encoding="raw", resolution=[4.5, 4, 40],
          voxel_offset=[-7, 3, 1], volume_size=[101, 99, 11], chunk_size=(32, 32, 16)),
     {"num_channels": 3, "type": "image", "data_type": "float32", "scales": [
         {"encoding": "raw", "chunk_sizes": [[32, 32, 16]], "key": "4.5_4.0_40.0", "resolution": [4.5, 4.0, 40.0],
          "voxel_offset": [-7, 3, 1], "size": [101, 99, 11]}]}),
    (dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
          voxel_offset=[0, 0, 0], volume_size=[40, 40, 40], max_mip=1, factor=(1, 1, 1)),  # replaces scale 0
     {"num_channels": 1, "type": "image", "data_type": "uint8", "scales": [
         _scale("4_4_40", [4, 4, 40], [0, 0, 0], [40, 40, 40])]}),
    (dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
          voxel_offset=[0, 0, 0], volume_size=[10, 10, 10], chunk_size=(128, 128, 64), redirect="gs://new/home"),
     {"num_channels": 1, "type": "image", "data_type": "uint8", "scales": [
         {"encoding": "raw", "chunk_sizes": [[128, 128, 64]], "key": "4_4_40", "resolution": [4, 4, 40],
          "voxel_offset": [0, 0, 0], "size": [10, 10, 10]}], "redirect": "gs://new/home"}),
]


@pytest.mark.parametrize("kwargs,expected", CREATED)
def test_create_new_info_gives_what_cloudvolume_gives(kwargs, expected):
    ours = create_new_info(**kwargs)
    assert json.dumps(ours) == json.dumps(expected)  # same content, key order and int/float types
    assert parse_info(ours).to_dict() == ours


def test_create_new_info_defaults():
    info = create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [100, 100, 10])
    assert info["scales"][0]["chunk_sizes"] == [[64, 64, 64]] and len(info["scales"]) == 1
    info["scales"][0]["jpeg_quality"] = 80  # a plain, editable dict
    assert parse_info(info).scales[0].extra == {"jpeg_quality": 80}


@pytest.mark.parametrize("kwargs,needle", [
    (dict(data_type="uint128"), "data_type"), (dict(encoding="gzip"), "encoding"),
    (dict(chunk_size=(0, 64, 64)), "chunk_sizes"), (dict(volume_size=(10, 10)), "mismatched dimensions"),
    (dict(resolution=(0, 4, 40)), "resolution"), (dict(num_channels=0), "num_channels"),
    (dict(max_mip=1, factor=(2, 2)), "factor"),
])
def test_create_new_info_rejects_bad_input(kwargs, needle):
    args = dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
                voxel_offset=[0, 0, 0], volume_size=[10, 10, 10]) | kwargs
    with pytest.raises(InfoError, match=needle):
        create_new_info(**args)


# -- add_scale / reset_scales parity --------------------------------------------------------------------------------
BASE = dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
            voxel_offset=[-5, 3, -7], volume_size=[101, 99, 11], chunk_size=(96, 100, 7))


# (factor, add_scale kwargs, changes to BASE, the scale CloudVolume 12.15.2's add_scale returns)
ADDED = [
    ((2, 2, 1), {}, {}, _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7))),
    ((2, 2, 2), {}, dict(resolution=[4.5, 4, 40]),
     _scale("9.0_8.0_80.0", [9.0, 8.0, 80.0], [-3, 1, -4], [51, 50, 6], (48, 50, 7))),
    ((4, 4, 1), dict(chunk_size=(32, 32, 8)), {}, _scale("16_16_40", [16, 16, 40], [-2, 0, -7], [26, 25, 11], (32, 32, 8))),
    ((3, 3, 1), {}, {}, _scale("12_12_40", [12, 12, 40], [-2, 1, -7], [34, 33, 11], (48, 50, 7))),
    ((2.2, 1.6, 1), {}, {}, _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7))),  # rounds to 2
    ((2, 2, 1), {}, dict(layer_type="segmentation", data_type="uint64", encoding="compressed_segmentation",
                         compressed_segmentation_block_size=(4, 4, 2)),
     _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7), "compressed_segmentation",
            compressed_segmentation_block_size=[4, 4, 2])),
    ((8, 8, 4), dict(encoding="jpeg"), {}, _scale("32_32_160", [32, 32, 160], [-1, 0, -2], [13, 13, 3], (48, 50, 7), "jpeg")),
    ((2, 2, 1), dict(encoding="jpeg", encoding_level=7), {},
     _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7), "jpeg", jpeg_quality=7)),
    ((2, 2, 1), dict(encoding="png", encoding_level=7), {},
     _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7), "png", png_level=7)),
    ((2, 2, 1), dict(encoding="fpzip", encoding_level=7), dict(data_type="float32"),
     _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (48, 50, 7), "fpzip", fpzip_precision=7)),
]


@pytest.mark.parametrize("factor,kwargs,base_changes,expected", ADDED)
def test_add_scale_gives_what_cloudvolume_gives(factor, kwargs, base_changes, expected):
    d = create_new_info(**(BASE | base_changes))
    info, index = add_scale(parse_info(d), factor, **kwargs)
    assert index == 1 and json.dumps(info.scales[index].to_dict(), sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert info.scales[0] == parse_info(d).scales[0] and len(info.scales) == 2


def test_add_scale_refuses_what_nobody_can_write():
    # CloudVolume accepts a scale nobody can write (jpeg of uint64, cseg of uint8); we refuse it
    seg = create_new_info(**(BASE | dict(layer_type="segmentation", data_type="uint64")))
    with pytest.raises(InfoError, match="cannot store data_type 'uint64'"):
        add_scale(parse_info(seg), (2, 2, 1), encoding="jpeg")
    with pytest.raises(InfoError, match="cannot store data_type 'uint8'"):
        add_scale(parse_info(create_new_info(**BASE)), (2, 2, 1), encoding="compressed_segmentation")


def test_add_scale_existing_resolution_is_replaced_in_place():
    d = create_new_info(**BASE, max_mip=2)
    info, index = add_scale(parse_info(d), (2, 2, 1), chunk_size=(16, 16, 16), encoding="jpeg")
    assert index == 1 and [s.key for s in info.scales] == ["4_4_40", "8_8_40", "16_16_40"]
    assert info.scales[1].to_dict() == _scale("8_8_40", [8, 8, 40], [-3, 1, -7], [51, 50, 11], (16, 16, 16), "jpeg")
    assert info.scales[2].to_dict() == _scale("16_16_40", [16, 16, 40], [-2, 0, -7], [26, 25, 11], (96, 100, 7))
    again, again_index = add_scale(info, (2, 2, 1), chunk_size=(16, 16, 16), encoding="jpeg")
    assert again == info and again_index == 1


def test_add_scale_jxl_level_key():
    info, i = add_scale(parse_info(create_new_info(**BASE)), (2, 2, 1), encoding="jxl", encoding_level=7)
    assert info.scales[i].extra == {"jxl_quality": 7}  # CloudVolume tests "jpegxl" here and never matches


@pytest.mark.parametrize("chunk,expected", [(96, 48), (100, 50), (7, 7), (64, 64), (129, 43), (1, 1),
                                            (2**61, 64), (3 * 2**40, 64), (2**61 - 1, 1)])
def test_default_chunk_edge_is_the_divisor_closest_to_64(chunk, expected):
    # huge edges included: the walk over divisors stops early instead of taking sqrt(n) steps
    d = create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [chunk, 1, 1], chunk_size=[chunk, 1, 1])
    info, i = add_scale(parse_info(d), (1, 1, 2))
    assert info.scales[i].chunk_size[0] == expected


def test_add_scale_is_exact_beyond_float32():
    d = create_new_info(1, "image", "uint8", "raw", [1, 1, 1], [2**25 + 1, 0, 0], [2**25 + 1, 8, 8])
    info, i = add_scale(parse_info(d), (2, 1, 1))
    assert info.scales[i].size[0] == 2**24 + 1 and info.scales[i].voxel_offset[0] == 2**24


@pytest.mark.parametrize("factor", [(0, 2, 1), (2, 2), "abc", (2, 2, float("nan"))])
def test_add_scale_rejects_bad_factor(factor):
    with pytest.raises(InfoError, match="factor"):
        add_scale(parse_info(create_new_info(**BASE)), factor)


def test_reset_scales():
    info = parse_info(create_new_info(**BASE, max_mip=3))
    assert len(info.scales) == 4
    reset = reset_scales(info)
    assert reset.scales == info.scales[:1] and len(info.scales) == 4


# -- scale_index / downsample_ratio / with_scale --------------------------------------------------------------------
def test_scale_index_by_int_and_resolution():
    info = parse_info(create_new_info(**(BASE | dict(resolution=[4.5, 4, 40])), max_mip=2))
    assert [scale_index(info, m) for m in (0, 1, 2, np.int64(2), -1, -3)] == [0, 1, 2, 2, 2, 0]
    assert scale_index(info, [9.0, 8.0, 40.0]) == 1
    assert scale_index(info, (18, 16, 40)) == 2
    assert scale_index(info, np.array([4.5, 4, 40])) == 0


@pytest.mark.parametrize("mip,needle", [(3, "mip 3"), (-4, "mip -4"), ([4, 4, 41], "<4, 4, 41>"),
                                        ([4, 4], "<4, 4>"), ("x", "mip 'x'")])
def test_scale_index_errors_list_what_is_available(mip, needle):
    info = parse_info(create_new_info(**BASE, max_mip=2))
    with pytest.raises(ScaleUnavailableError) as err:
        scale_index(info, mip)
    msg = str(err.value)
    assert needle in msg and "0: <4,4,40>" in msg and "1: <8,8,40>" in msg and "2: <16,16,40>" in msg
    assert isinstance(err.value, IndexError)


def test_with_scale():
    info = parse_info(seg_info(), PATH)
    changed = with_scale(info, [8.5, 8, 40], encoding="RAW", extra={"png_level": 3}, sharding=None)
    assert changed.scales[1].encoding == "raw" and changed.scales[1].extra == {"png_level": 3}
    assert changed.scales[0] is info.scales[0] and info.scales[1].encoding == "compresso"
    with pytest.raises(InfoError, match="png"):
        with_scale(info, 1, encoding="png")  # uint64
    with pytest.raises(InfoError, match="size"):
        with_scale(info, 0, size=(1, 1))
    with pytest.raises(ScaleUnavailableError):
        with_scale(info, 5, size=(1, 1, 1))


# -- bbox_to_mip ----------------------------------------------------------------------------------------------------


def test_downsample_ratio():
    info = parse_info(create_new_info(**BASE, max_mip=2, factor=(2, 2, 1)))
    ratios = [downsample_ratio(info, m) for m in range(3)]
    assert all(r.dtype == np.float64 for r in ratios)
    assert [r.tolist() for r in ratios] == [[1.0, 1.0, 1.0], [2.0, 2.0, 1.0], [4.0, 4.0, 1.0]]
    assert downsample_ratio(info, [16, 16, 40]).tolist() == [4.0, 4.0, 1.0]


# (bbox, mip, to_mip) -> what CloudVolume 12.15.2's bbox_to_mip gives, on create_new_info(**BASE with
# resolution [4.5, 4, 40]), max_mip=3, factor=(2, 2, 1))
BBOX_TO_MIP = [
    (((-5, 3, -7), (96, 102, 4)), 0, 1, ((-3, 1, -7), (48, 51, 4))),
    (((-5, 3, -7), (96, 102, 4)), 0, 3, ((-1, 0, -7), (12, 13, 4))),
    (((-5, 3, -7), (96, 102, 4)), 3, 0, ((-40, 24, -7), (768, 816, 4))),
    (((-5, 3, -7), (96, 102, 4)), 2, 1, ((-10, 6, -7), (192, 204, 4))),
    (((-5, 3, -7), (96, 102, 4)), 1, 2, ((-3, 1, -7), (48, 51, 4))),
    (((-13, -1, 0), (1, 7, 3)), 0, 1, ((-7, -1, 0), (1, 4, 3))),
    (((-13, -1, 0), (1, 7, 3)), 0, 3, ((-2, -1, 0), (1, 1, 3))),
    (((-13, -1, 0), (1, 7, 3)), 3, 0, ((-104, -8, 0), (8, 56, 3))),
    (((-13, -1, 0), (1, 7, 3)), 2, 1, ((-26, -2, 0), (2, 14, 3))),
]


@pytest.mark.parametrize("box,mip,to_mip,expected", BBOX_TO_MIP)
def test_bbox_to_mip_gives_what_cloudvolume_gives(box, mip, to_mip, expected):
    info = parse_info(create_new_info(**(BASE | dict(resolution=[4.5, 4, 40])), max_mip=3, factor=(2, 2, 1)))
    got = bbox_to_mip(info, Bbox(*box), mip, to_mip)
    assert isinstance(got, Bbox) and got == Bbox(*expected)


def test_bbox_to_mip_accepts_slices_and_resolutions():
    info = parse_info(create_new_info(**BASE, max_mip=1))
    got = bbox_to_mip(info, np.s_[0:10, :, -7:3], [4, 4, 40], [8, 8, 40])
    assert got == Bbox((0, 1, -7), (5, 51, 3))  # open y filled from the mip-0 bounds [3, 102)
    with pytest.raises(DimensionError):
        bbox_to_mip(info, Bbox((0, 0), (1, 1)), 0, 1)


def test_bbox_to_mip_non_power_of_two_is_exact():
    d = create_new_info(**BASE)
    info, _ = add_scale(parse_info(d), (3, 3, 1))
    # CloudVolume multiplies by float32(4/12) and gets [0, 2) here; 3 voxels at 4 nm are exactly 1 voxel at 12 nm.
    assert bbox_to_mip(info, Bbox((0, 0, 0), (3, 9, 1)), 0, 1) == Bbox((0, 0, 0), (1, 3, 1))
    assert bbox_to_mip(info, Bbox((-4, 1, 0), (4, 8, 1)), 0, 1) == Bbox((-2, 0, 0), (2, 3, 1))
    assert bbox_to_mip(info, Bbox((-2, 0, 0), (2, 3, 1)), 1, 0) == Bbox((-6, 0, 0), (6, 9, 1))
