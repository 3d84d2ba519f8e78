"""aiovolume.format.info against the real CloudVolume 12.15.2: create_new_info, add_scale, commit bytes,
downsample_ratio and bbox_to_mip give what CloudVolume gives (the unit tests in tests/format/test_info.py
check the same behaviour against literal vectors recorded from these comparisons)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import DimensionError, InfoError
from aiovolume.format.info import add_scale, bbox_to_mip, create_new_info, downsample_ratio, info_to_json, parse_info
from aiovolume.geometry import Bbox

pytest.importorskip("cloudvolume")

pytestmark = pytest.mark.interop

PATH = "gs://bucket/dataset/layer/info"
BASE = dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
            voxel_offset=[-5, 3, -7], volume_size=[101, 99, 11], chunk_size=(96, 100, 7))

CREATE_CASES = [
    dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
         voxel_offset=[0, 0, 0], volume_size=[1024, 1024, 128]),
    dict(num_channels=3, layer_type="image", data_type="float32", encoding="raw", resolution=[4.5, 4, 40],
         voxel_offset=[-7, 3, 1], volume_size=[101, 99, 11], chunk_size=(32, 32, 16)),
    dict(num_channels=1, layer_type="segmentation", data_type="uint64", encoding="compressed_segmentation",
         resolution=[8, 8, 8], voxel_offset=[0, 0, 0], volume_size=[500, 500, 500],
         compressed_segmentation_block_size=(4, 4, 2), mesh=True, skeletons="skels"),
    dict(num_channels=1, layer_type="image", data_type="uint8", encoding="jpeg", resolution=[4, 4, 40],
         voxel_offset=[1, 2, 3], volume_size=[300, 301, 30], encoding_level=92, max_mip=2),
    dict(num_channels=1, layer_type="segmentation", data_type=np.uint32, encoding="compressed_segmentation",
         resolution=(16, 16, 16), voxel_offset=(-33, 5, -1), volume_size=(257, 129, 65), max_mip=2,
         factor=(2, 2, 2), compressed_segmentation_block_size=(4, 4, 4), mesh="meshes", skeletons=True,
         chunk_size=(128, 64, 32)),
    dict(num_channels=2, layer_type="image", data_type="uint16", encoding="png", resolution=[2, 2, 2],
         voxel_offset=[0, 0, 0], volume_size=[40, 40, 40], max_mip=3, factor=(2, 2, 1), encoding_effort=5),
    dict(num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
         voxel_offset=[0, 0, 0], volume_size=[40, 40, 40], max_mip=1, factor=(1, 1, 1)),  # replaces scale 0
]
BBOXES = [((0, 0, 0), (64, 64, 64)), ((-5, 3, -7), (96, 102, 4)), ((-13, -1, 0), (1, 7, 3)), ((3, 5, 7), (3, 5, 7))]


def cv_create(*args, **kwargs) -> dict:
    from cloudvolume import CloudVolume

    return json.loads(json.dumps(CloudVolume.create_new_info(*args, **kwargs)))  # tuples -> lists


def cv_volume(info: dict):
    from cloudvolume import CloudVolume

    return CloudVolume("mem://aiovolume-test/layer", info=copy.deepcopy(info))


def test_cloudvolume_created_info_round_trips_byte_identically():
    from cloudvolume.lib import jsonify

    d = cv_create(1, "segmentation", "uint32", "compressed_segmentation", [4.5, 4, 40], [-3, 5, 7], [101, 99, 11],
                  mesh=True, max_mip=2, factor=(2, 2, 2), chunk_size=(128, 128, 32))
    assert parse_info(d, PATH).to_dict() == d
    # exactly the bytes CloudVolume's commit_info writes
    assert info_to_json(parse_info(d)) == jsonify(d, sort_keys=True, indent=2, separators=(",", ": ")).encode()
    compact = info_to_json(d, sort_keys=False, indent=None)
    assert b" " not in compact and json.loads(compact) == d


@pytest.mark.parametrize("kwargs", CREATE_CASES)
def test_create_new_info_matches_cloudvolume(kwargs):
    ours = create_new_info(**kwargs)
    assert ours == cv_create(**kwargs)
    assert list(ours) == list(cv_create(**kwargs))  # same key order too
    assert json.dumps(ours) == json.dumps(cv_create(**kwargs))  # ints stay ints, floats stay floats
    assert parse_info(ours).to_dict() == ours


def test_create_new_info_writes_redirect_like_cloudvolume_metadata_layer():
    from cloudvolume.datasource.precomputed.metadata import PrecomputedMetadata

    args = (1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [10, 10, 10])
    ours = create_new_info(*args, chunk_size=(128, 128, 64), redirect="gs://new/home")
    assert ours == PrecomputedMetadata.create_info(*args, redirect="gs://new/home")
    assert ours["redirect"] == "gs://new/home"


@pytest.mark.parametrize("base_changes", [{}, dict(resolution=[4.5, 4, 40]),
                                          dict(layer_type="segmentation", data_type="uint64",
                                               encoding="compressed_segmentation",
                                               compressed_segmentation_block_size=(4, 4, 2))])
@pytest.mark.parametrize("factor,kwargs", [
    ((2, 2, 1), {}), ((2, 2, 2), {}), ((4, 4, 1), dict(chunk_size=(32, 32, 8))), ((3, 3, 1), {}),
    ((2.2, 1.6, 1), {}), ((2, 2, 1), dict(encoding="compressed_segmentation")), ((8, 8, 4), dict(encoding="jpeg")),
])
def test_add_scale_matches_cloudvolume(base_changes, factor, kwargs, capsys):
    d = create_new_info(**(BASE | base_changes))
    vol = cv_volume(d)
    expected = json.loads(json.dumps(vol.add_scale(factor, **kwargs)))
    if kwargs.get("encoding") in ("compressed_segmentation", "jpeg") and \
            (kwargs["encoding"] == "jpeg") != (d["data_type"] == "uint8"):
        # CloudVolume accepts a scale nobody can write (cseg of uint8, jpeg of uint64); we refuse it
        with pytest.raises(InfoError, match="cannot store data_type"):
            add_scale(parse_info(d), factor, **kwargs)
        return
    info, index = add_scale(parse_info(d), factor, **kwargs)
    assert info.scales[index].to_dict() == expected
    assert info.to_dict() == json.loads(json.dumps(vol.info))
    assert info.scales[0] == parse_info(d).scales[0] and index == 1


def test_add_scale_existing_resolution_is_replaced_in_place(capsys):
    d = create_new_info(**BASE, max_mip=2)
    vol = cv_volume(d)
    vol.add_scale((2, 2, 1), chunk_size=(16, 16, 16), encoding="jpeg")
    info, index = add_scale(parse_info(d), (2, 2, 1), chunk_size=(16, 16, 16), encoding="jpeg")
    assert index == 1 and len(info.scales) == 3
    assert info.scales[1].chunk_size == (16, 16, 16) and info.scales[1].encoding == "jpeg"
    assert info.to_dict() == json.loads(json.dumps(vol.info))
    again, again_index = add_scale(info, (2, 2, 1), chunk_size=(16, 16, 16), encoding="jpeg")
    assert again == info and again_index == 1


def test_add_scale_encoding_level_matches_cloudvolume_metadata():
    from cloudvolume.datasource.precomputed.metadata import PrecomputedMetadata

    for enc, key in [("jpeg", "jpeg_quality"), ("png", "png_level"), ("fpzip", "fpzip_precision")]:
        d = create_new_info(**(BASE | (dict(data_type="float32") if enc == "fpzip" else {})))
        expected = PrecomputedMetadata.add_scale(None, (2, 2, 1), encoding=enc, info=copy.deepcopy(d), encoding_level=7)
        info, i = add_scale(parse_info(d), (2, 2, 1), encoding=enc, encoding_level=7)
        assert info.scales[i].to_dict() == expected and info.scales[i].extra == {key: 7}
    info, i = add_scale(parse_info(create_new_info(**BASE)), (2, 2, 1), encoding="jxl", encoding_level=7)
    assert info.scales[i].extra == {"jxl_quality": 7}  # CloudVolume tests "jpegxl" here and never matches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.tuples(*[st.integers(-10_000, 10_000)] * 3), size=st.tuples(*[st.integers(1, 5000)] * 3),
       chunk=st.tuples(*[st.integers(1, 300)] * 3), factor=st.tuples(*[st.sampled_from([1, 2, 3, 4, 8])] * 3))
def test_add_scale_parity_property(offset, size, chunk, factor, capsys):
    from cloudvolume.datasource.precomputed.metadata import PrecomputedMetadata

    d = create_new_info(1, "image", "uint16", "raw", [4, 6, 40], offset, size, chunk_size=chunk)
    expected = PrecomputedMetadata.add_scale(None, factor, info=copy.deepcopy(d))
    info, i = add_scale(parse_info(d), factor)
    assert info.scales[i].to_dict() == json.loads(json.dumps(expected))


def test_downsample_ratio_matches_cloudvolume():
    d = create_new_info(**BASE, max_mip=2, factor=(2, 2, 1))
    vol = cv_volume(d)
    info = parse_info(d)
    for mip in range(3):
        ours = downsample_ratio(info, mip)
        assert ours.dtype == np.float64 and ours.tolist() == vol.meta.downsample_ratio(mip).tolist()
    assert downsample_ratio(info, [16, 16, 40]).tolist() == [4.0, 4.0, 1.0]


@pytest.mark.parametrize("factor", [(2, 2, 1), (2, 2, 2), (4, 4, 2)])
@pytest.mark.parametrize("lo,hi", BBOXES)
def test_bbox_to_mip_matches_cloudvolume(factor, lo, hi):
    from cloudvolume import Bbox as CVBbox

    d = create_new_info(**(BASE | dict(resolution=[4.5, 4, 40])), max_mip=3, factor=factor)
    vol = cv_volume(d)
    info = parse_info(d)
    for mip in range(4):
        for to_mip in range(4):
            want = vol.bbox_to_mip(CVBbox(lo, hi), mip, to_mip)
            got = bbox_to_mip(info, Bbox(lo, hi), mip, to_mip)
            assert isinstance(got, Bbox)
            assert (got.minpt.tolist(), got.maxpt.tolist()) == (want.minpt.tolist(), want.maxpt.tolist())


def test_bbox_to_mip_accepts_slices_and_resolutions():
    d = create_new_info(**BASE, max_mip=1)
    info = parse_info(d)
    want = cv_volume(d).bbox_to_mip(np.s_[0:10, :, -7:3], 0, 1)
    got = bbox_to_mip(info, np.s_[0:10, :, -7:3], [4, 4, 40], [8, 8, 40])
    assert (got.minpt.tolist(), got.maxpt.tolist()) == (want.minpt.tolist(), want.maxpt.tolist())
    assert got == Bbox((0, 1, -7), (5, 51, 3))  # open y filled from the mip-0 bounds [3, 102)
    with pytest.raises(DimensionError):
        bbox_to_mip(info, Bbox((0, 0), (1, 1)), 0, 1)
