"""Sharded layers both ways with the real TensorStore and cloud-volume.

What they write we read exactly; what we write they read exactly: raw uint8/uint16,
compressed_segmentation uint64 and jpeg; gzip and raw index/data encodings; identity and
murmurhash3; preshift 0 and > 0; one minishard and many; a volume whose size is not a multiple
of the shard (edge shards hold fewer chunks).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import aiovolume
from interop_helpers import assert_exact, make_data

ts = pytest.importorskip("tensorstore")

pytestmark = pytest.mark.interop

SIZE, CHUNK = (100, 70, 40), (16, 16, 16)  # 7x5x3 chunks: 8 Morton bits


def spec(preshift, minishard, shard, hash_="identity", index="gzip", data="gzip"):
    return {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": preshift, "hash": hash_,
            "minishard_bits": minishard, "shard_bits": shard, "minishard_index_encoding": index,
            "data_encoding": data}


CASES = {
    # id: (dtype, encoding, sharding, layer type)
    "raw-u8-identity-one-minishard": ("uint8", "raw", spec(3, 0, 5), "image"),
    "raw-u16-identity-many-minishards-raw": ("uint16", "raw", spec(1, 2, 5, index="raw", data="raw"), "image"),
    "cseg-u64-murmur-preshift": ("uint64", "compressed_segmentation", spec(2, 2, 2, "murmurhash3_x86_128"),
                                 "segmentation"),
    "jpeg-u8-identity": ("uint8", "jpeg", spec(0, 3, 5, data="raw"), "image"),
    "raw-u8-one-shard": ("uint8", "raw", spec(0, 2, 0), "image"),
}


def _scale(dtype, encoding, sharding):
    scale = {"key": "4_4_40", "size": list(SIZE), "voxel_offset": [0, 0, 0], "chunk_size": list(CHUNK),
             "resolution": [4, 4, 40], "encoding": encoding, "sharding": sharding}
    if encoding == "compressed_segmentation":
        scale["compressed_segmentation_block_size"] = [8, 8, 8]
    return scale


def _ts_open(layer, dtype=None, encoding=None, sharding=None, layer_type="image"):
    spec_ = {"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(layer)}}
    if dtype is not None:
        spec_.update(create=True, multiscale_metadata={"type": layer_type, "data_type": dtype, "num_channels": 1},
                     scale_metadata=_scale(dtype, encoding, sharding))
    return ts.open(spec_).result()


def _data(dtype, encoding):
    if encoding == "jpeg":  # smooth, so jpeg's loss stays small; compared against the writer's own read
        x, y, z = np.meshgrid(*[np.arange(s) for s in SIZE], indexing="ij")
        return ((x * 2 + y + z * 3) % 256).astype(np.uint8)[..., None]
    data = make_data((*SIZE, 1), dtype, 11, nonzero=True)
    if encoding == "compressed_segmentation":
        data = (data % 50).astype(dtype) + 1  # few labels per block, as in segmentation
    return data


@pytest.mark.parametrize("case", list(CASES))
def test_we_read_what_tensorstore_writes(tmp_path, case):
    dtype, encoding, sharding, layer_type = CASES[case]
    layer = tmp_path / "layer"
    data = _data(dtype, encoding)
    _ts_open(layer, dtype, encoding, sharding, layer_type).write(data).result()
    expected = _ts_open(layer).read().result()  # jpeg: what the writer itself reads back
    assert all(n.endswith(".shard") for n in os.listdir(layer / "4_4_40"))
    with aiovolume.CloudVolume(f"file://{layer}") as vol:
        assert_exact(np.asarray(vol[:, :, :]), expected)
        assert_exact(np.asarray(vol[5:93, 3:61, 7:33]), expected[5:93, 3:61, 7:33])
        assert_exact(np.asarray(vol[17:18, 60:70, 39:40]), expected[17:18, 60:70, 39:40])


@pytest.mark.parametrize("case", list(CASES))
def test_tensorstore_and_cloudvolume_read_what_we_write(tmp_path, case):
    from cloudvolume import CloudVolume as CV

    dtype, encoding, sharding, layer_type = CASES[case]
    layer = tmp_path / "layer"
    info = aiovolume.CloudVolume.create_new_info(
        num_channels=1, layer_type=layer_type, data_type=dtype, encoding=encoding, resolution=[4, 4, 40],
        voxel_offset=[0, 0, 0], volume_size=list(SIZE), chunk_size=list(CHUNK),
        compressed_segmentation_block_size=[8, 8, 8])
    info["scales"][0]["sharding"] = sharding
    data = _data(dtype, encoding)
    with aiovolume.CloudVolume(f"file://{layer}", info=info) as vol:
        vol.commit_info()
        vol[:, :, :] = data
        ours = np.asarray(vol[:, :, :])
    if encoding != "jpeg":
        assert_exact(ours, data)
    assert all(n.endswith(".shard") for n in os.listdir(layer / "4_4_40"))
    assert_exact(_ts_open(layer).read().result(), ours)
    cv = CV(f"file://{layer}", progress=False)
    assert_exact(np.asarray(cv[:, :, :]), ours)
    assert_exact(np.asarray(cv[5:93, 3:61, 7:33]), ours[5:93, 3:61, 7:33])


def test_a_partial_shard_write_keeps_what_tensorstore_wrote(tmp_path):
    """CloudVolume would rewrite the shard with only the new chunks; the others must survive."""
    layer = tmp_path / "layer"
    dtype, encoding, sharding, layer_type = CASES["raw-u16-identity-many-minishards-raw"]
    data = _data(dtype, encoding)
    _ts_open(layer, dtype, encoding, sharding, layer_type).write(data).result()
    patch = np.full((16, 16, 16, 1), 3, np.uint16)
    with aiovolume.CloudVolume(f"file://{layer}") as vol:
        vol[16:32, 16:32, 16:32] = patch
    data[16:32, 16:32, 16:32] = patch
    assert_exact(_ts_open(layer).read().result(), data)


def test_we_read_a_shard_cloudvolume_writes(tmp_path):
    from cloudvolume import CloudVolume as CV

    layer = tmp_path / "layer"
    info = CV.create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
                              resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=list(SIZE),
                              chunk_size=list(CHUNK))
    info["scales"][0]["sharding"] = spec(1, 2, 5)
    cv = CV(f"file://{layer}", info=info, progress=False, compress=False)
    cv.commit_info()
    data = _data("uint8", "raw")
    cv[0:32, 0:32, 0:32] = data[0:32, 0:32, 0:32]  # one whole 2x2x2-chunk shard
    with aiovolume.CloudVolume(f"file://{layer}", fill_missing=True) as vol:
        got = np.asarray(vol[0:48, 0:32, 0:32])
    assert_exact(got[:32], data[0:32, 0:32, 0:32])
    assert not got[32:].any()
    assert json.loads((layer / "info").read_text())["scales"][0]["sharding"]["preshift_bits"] == 1
