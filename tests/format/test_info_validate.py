"""Every malformed info is an InfoError whose message names the field (format/info_validate.py)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from aiovolume.exceptions import DimensionError, IndexTypeError, InfoError, OutOfBoundsError
from aiovolume.format.info import (
    ScaleInfo, add_scale, bbox_to_mip, create_new_info, info_from_json, parse_info, with_scale,
)
from aiovolume.geometry import Bbox

PATH = "mem://bucket/ds/layer/info"


def base() -> dict:
    return {"type": "image", "data_type": "uint8", "num_channels": 1, "scales": [
        {"key": "4_4_40", "size": [100, 100, 10], "resolution": [4, 4, 40], "voxel_offset": [0, 0, 0],
         "chunk_sizes": [[32, 32, 8]], "encoding": "raw"}]}


def scale_with(**changes) -> dict:
    d = base()
    d["scales"][0].update(changes)
    return d


def layer_with(**changes) -> dict:
    d = base()
    d.update(changes)
    return d


def refused(d, needle: str) -> str:
    with pytest.raises(InfoError) as err:
        parse_info(d, PATH)
    msg = str(err.value)
    assert PATH in msg and needle in msg, msg
    return msg


def deep_list(n: int) -> list:
    x: list = []
    for _ in range(n):
        x = [x]
    return x


# -- scale keys ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key,needle", [
    ("", "scales[0].key: must not be empty"), ("a\x00b", "scales[0].key: 'a\\x00b' contains a NUL byte"),
    ("/abs/8_8_8", "is absolute"), ("C:/data/8_8_8", "is absolute"), ("c:", "is absolute"),
    ("..\\other\\8_8_8", "contains a backslash"), ("4_4_40\\", "backslash"),
    (7, "scales[0].key: expected a string"), (["4_4_40"], "key: expected a string"),
])
def test_bad_scale_keys(key, needle):
    refused(scale_with(key=key), needle)


@pytest.mark.parametrize("key", ["../other/8_8_8", "../../x/4_4_40", ".", "./4_4_40", "a/b/c", "4.5_4.0_40.0",
                                 "c:d", "with space", "üñí"])
def test_legal_keys_keep_working(key):
    assert parse_info(scale_with(key=key)).scales[0].key == key


def test_duplicate_keys_are_accepted_as_neuroglancer_cloudvolume_and_tensorstore_do():
    d = base()
    d["scales"].append(copy.deepcopy(d["scales"][0]))
    assert [s.key for s in parse_info(d).scales] == ["4_4_40", "4_4_40"]


@pytest.mark.parametrize("field,value,needle", [
    ("mesh", "/abs", "mesh: '/abs' is absolute"), ("skeletons", "s\x00", "skeletons: 's\\x00' contains a NUL"),
    ("segment_properties", 5, "segment_properties: expected a string"),
    ("redirect", 5, "redirect: expected a URL string"), ("redirect", ["gs://x"], "redirect"),
    ("@type", "neuroglancer_skeletons", "@type: 'neuroglancer_skeletons' is not a volume info"),
])
def test_bad_layer_paths_and_strings(field, value, needle):
    refused(layer_with(**{field: value}), needle)


def test_empty_mesh_dir_is_tolerated_like_neuroglancer():
    assert parse_info(layer_with(mesh="", skeletons="")).mesh == ""


# -- integer and number bounds ---------------------------------------------------------------------
@pytest.mark.parametrize("changes,needle", [
    (dict(size=[2**63, 1, 1]), "scales[0].size: every value must lie within ±2**62"),
    (dict(size=[2**62 + 1, 1, 1]), "size: every value must lie within ±2**62"),
    (dict(voxel_offset=[-2**63, 0, 0]), "voxel_offset: every value must lie within ±2**62"),
    (dict(voxel_offset=[2**62, 0, 0], size=[1, 1, 1]), "size: voxel_offset [4611686018427387904, 0, 0] + size"),
    (dict(chunk_sizes=[[2**64, 1, 1]]), "chunk_sizes[0]: every value must lie within ±2**62"),
    (dict(size=[2**40] * 3), "chunk_sizes[0]: [32, 32, 8] cuts size"),
    (dict(size=[2**62, 2**62, 1], chunk_sizes=[[1, 1, 1]]), "more than 2**63 - 1"),
    (dict(size=[1e300, 1, 1]), "size: every value must lie within ±2**62"),
    (dict(size=[float("inf"), 1, 1]), "size: expected integers"),
    (dict(size=[True, 1, 1]), "size: expected integers"),
    (dict(resolution=[float("inf"), 4, 40]), "resolution: expected finite numbers"),
    (dict(resolution=[1e308, 4, 40]), "resolution: every value must lie within 1e-150..1e+150"),
    (dict(resolution=[5e-324, 4, 40]), "resolution: every value must lie within"),
    (dict(resolution=[10**400, 4, 40]), "resolution: every value must lie within"),
    (dict(resolution=[False, 4, 40]), "resolution: expected finite numbers"),
    (dict(encoding=5), "scales[0].encoding: unknown encoding 5"),
])
def test_scale_numbers_out_of_range(changes, needle):
    refused(scale_with(**changes), needle)


def test_largest_legal_geometry_parses_and_plans_nothing_big():
    low = parse_info(scale_with(voxel_offset=[-2**62, 0, 0], size=[2**62, 1, 1], chunk_sizes=[[2**61, 1, 1]]))
    assert low.scales[0].bounds == Bbox((-2**62, 0, 0), (0, 1, 1)) and low.scales[0].grid_shape == (2, 1, 1)
    high = parse_info(scale_with(voxel_offset=[2**61, 0, 0], size=[2**61, 1, 1], chunk_sizes=[[2**62, 1, 1]]))
    assert high.scales[0].bounds.maxpt.tolist() == [2**62, 1, 1]


@pytest.mark.parametrize("value,needle", [
    (0, "num_channels: expected an integer in 1..65536, got 0"), (2**16 + 1, "1..65536, got 65537"),
    (2**40, "1..65536"), (True, "num_channels: expected an integer in 1..65536, got True"),
    (1.5, "num_channels"), ("3", "num_channels"), (None, "missing required field 'num_channels'"),
])
def test_num_channels_bounds(value, needle):
    refused(layer_with(num_channels=value), needle)


def test_num_channels_upper_bound_is_allowed():
    assert parse_info(layer_with(num_channels=2**16)).num_channels == 2**16


def test_cseg_block_bound():
    d = layer_with(data_type="uint32")
    d["scales"][0].update(encoding="compressed_segmentation", compressed_segmentation_block_size=[2**20, 2**12, 2])
    refused(d, "compressed_segmentation_block_size: [1048576, 4096, 2] has more than 2**32 voxels")
    d["scales"][0]["compressed_segmentation_block_size"] = [2**20, 2**12, 1]
    assert parse_info(d).scales[0].compressed_segmentation_block_size == (2**20, 2**12, 1)


# -- typed extras --------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes,needle", [
    (dict(jpeg_quality="high"), "scales[0].jpeg_quality: expected an integer in 0..100, got 'high'"),
    (dict(jpeg_quality=101), "jpeg_quality: expected an integer in 0..100"),
    (dict(png_level=[9]), "png_level: expected an integer in 0..9"),
    (dict(png_level=True), "png_level"), (dict(fpzip_precision=65), "fpzip_precision: expected an integer in 0..64"),
    (dict(hidden="no"), "scales[0].hidden: expected true or false"),
])
def test_typed_scale_extras(changes, needle):
    refused(scale_with(**changes), needle)


def test_typed_scale_extras_accept_what_writers_write():
    info = parse_info(scale_with(jpeg_quality=85, png_level=0, fpzip_precision=None, hidden=False, locked=True))
    assert info.scales[0].extra == {"jpeg_quality": 85, "png_level": 0, "fpzip_precision": None,
                                    "hidden": False, "locked": True}


def test_extras_must_be_json_values():
    refused(layer_with(custom={1, 2}), "custom: set is not a JSON value")
    refused(layer_with(custom={"a": [1, object()]}), "custom.a[1]: object is not a JSON value")
    refused(layer_with(custom={(1, 2): 3}), "custom: object keys must be strings")
    numpy_extra = parse_info(layer_with(custom=np.array([1, 2]), n=np.int64(3))).extra
    assert numpy_extra == {"custom": (1, 2), "n": 3} and type(numpy_extra["n"]) is int


def test_extras_nest_at_most_100_levels():
    assert parse_info(layer_with(custom=deep_list(99))).to_dict()["custom"] == deep_list(99)
    refused(layer_with(custom=deep_list(101)), "nested deeper than 100 levels")
    refused(layer_with(custom=deep_list(100_000)), "nested deeper than 100 levels")
    refused(scale_with(rois=deep_list(200)), "scales[0].'rois")
    cyclic: list = []
    cyclic.append(cyclic)
    refused(layer_with(custom=cyclic), "nested deeper than 100 levels")


def test_json_nested_too_deeply_is_malformed_json():
    with pytest.raises(InfoError, match=f"{PATH}: malformed JSON: nested too deeply"):
        info_from_json("[" * 100_000 + "]" * 100_000, PATH)
    text = json.dumps(layer_with(custom=deep_list(150)))
    with pytest.raises(InfoError, match="custom.*nested deeper than 100 levels"):
        info_from_json(text, PATH)


@pytest.mark.parametrize("data,needle", [
    (None, "expected JSON bytes or str, got NoneType"), (12, "expected JSON bytes or str"),
    (b'{"num_channels": 1' + b"0" * 5000 + b"}", "malformed JSON"),  # past Python's int digit limit
])
def test_info_from_json_odd_input(data, needle):
    with pytest.raises(InfoError, match=needle):
        info_from_json(data, PATH)


def test_info_from_json_takes_bytearray_and_memoryview():
    raw = json.dumps(base()).encode()
    assert info_from_json(bytearray(raw)) == info_from_json(memoryview(raw)) == parse_info(base())


# -- sharding ---------------------------------------------------------------------------------------------
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 3, "hash": "identity",
            "minishard_bits": 6, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}


@pytest.mark.parametrize("changes,needle", [
    ({"@type": "neuroglancer_sharded"}, "scales[0].sharding.@type: expected 'neuroglancer_uint64_sharded_v1'"),
    ({"preshift_bits": 65}, "sharding.preshift_bits: expected an integer in 0..64"),
    ({"shard_bits": "2"}, "sharding.shard_bits"), ({"minishard_bits": None}, "sharding.minishard_bits"),
    ({"minishard_bits": 40, "shard_bits": 30}, "minishard_bits + shard_bits must be <= 64"),
    ({"hash": "md5"}, "sharding.hash: expected 'identity' or 'murmurhash3_x86_128'"),
    ({"data_encoding": "zstd"}, "sharding.data_encoding: expected 'raw' or 'gzip'"),
])
def test_bad_sharding(changes, needle):
    refused(scale_with(sharding={**SHARDING, **changes}), needle)


def test_sharded_scale_rules():
    assert parse_info(scale_with(sharding=SHARDING)).scales[0].sharding["shard_bits"] == 2
    refused(scale_with(sharding=SHARDING, chunk_sizes=[[32, 32, 8], [64, 64, 8]]),
            "chunk_sizes: a sharded scale has exactly one chunk size, got 2")
    # grid (2**31 + 1, 2**30 + 1, 3): fewer than 2**63 chunks, but 32 + 31 + 2 Morton bits
    refused(scale_with(sharding=SHARDING, size=[2**31 + 1, 2**30 + 1, 3], chunk_sizes=[[1, 1, 1]]),
            "needs 65 Morton bits")


# -- helpers given bad arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,needle", [
    (dict(num_channels="many"), "num_channels: cannot use"), (dict(data_type="nonsense"), "data_type"),
    (dict(data_type=object), "data_type"), (dict(volume_size="abc"), "volume_size"),
    (dict(chunk_size=[64, None, 64]), "chunk_size"), (dict(resolution=[4, "x", 40]), "resolution"),
    (dict(voxel_offset=5), "voxel_offset"), (dict(max_mip=-1), "max_mip: expected 0..64"), (dict(max_mip=65), "max_mip: expected 0..64"),
    (dict(max_mip=2, factor="22"), "factor"), (dict(max_mip=1, factor=(1e300, 1, 1)), "resolution"),
    (dict(max_mip=60, factor=(1e10, 1, 1)), "factor"), (dict(layer_type=None), "layer_type"),
    (dict(compressed_segmentation_block_size=None, encoding="compressed_segmentation", data_type="uint32"),
     "compressed_segmentation_block_size"),
])
def test_create_new_info_bad_arguments(kwargs, needle):
    args = dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
                voxel_offset=[0, 0, 0], volume_size=[10, 10, 10]) | kwargs
    with pytest.raises(InfoError, match=needle):
        create_new_info(**args)


def test_create_new_info_converts_like_cloudvolume():
    info = create_new_info("3", "image", np.uint8, "RAW", np.array([4, 4, 40]), (0.0, 0, 0), ["10", 10, 10])
    assert info["num_channels"] == 3 and info["scales"][0]["size"] == [10, 10, 10]
    assert info["scales"][0]["voxel_offset"] == [0, 0, 0] and info["scales"][0]["encoding"] == "raw"


@pytest.mark.parametrize("kwargs,needle", [
    (dict(chunk_size="64"), "chunk_size"), (dict(chunk_size=[64, 64, 1.5]), "chunk_size"),
    (dict(encoding=3), "encoding: expected a string"), (dict(encoding_level="x"), "encoding_level"),
    (dict(encoding="bogus"), "encoding: unknown encoding 'bogus'"),
])
def test_add_scale_bad_arguments(kwargs, needle):
    info = parse_info(base())
    with pytest.raises(InfoError, match=needle):
        add_scale(info, (2, 2, 1), **kwargs)


def test_with_scale_unknown_field_is_an_info_error():
    with pytest.raises(InfoError, match="with_scale: jpeg_quality are not scale fields"):
        with_scale(parse_info(base()), 0, jpeg_quality=3)


def test_bbox_to_mip_out_of_int64_and_bad_boxes():
    d = base()
    d["scales"].append({**d["scales"][0], "key": "tiny", "resolution": [1e-150, 1e-150, 1e-150]})
    info = parse_info(d)
    with pytest.raises(OutOfBoundsError, match="beyond int64"):
        bbox_to_mip(info, Bbox((0, 0, 0), (10, 10, 10)), 0, 1)
    with pytest.raises(IndexTypeError, match="cannot be converted to a Bbox"):  # geometry's own typed error
        bbox_to_mip(info, object(), 0, 1)


def test_dataclass_key_is_validated():
    with pytest.raises(InfoError, match="key: '/k' is absolute"):
        ScaleInfo(key="/k", size=(1, 1, 1), resolution=(1, 1, 1), chunk_sizes=((1, 1, 1),), encoding="raw")
