"""A sharded scale is refused with a typed error, never read as zeros or written beside the shards.

TensorStore writes mip 0 sharded and mip 1 unsharded into one layer. Until sharding is supported,
every data operation on mip 0 raises ``UnsupportedFeatureError`` naming the scale key, and mip 1
keeps reading exactly. When sharding lands these become the sharded read/write tests.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import aiovolume
from aiovolume import Bbox
from aiovolume.exceptions import AiovolumeError, UnsupportedFeatureError
from interop_helpers import assert_exact, make_data, slices

ts = pytest.importorskip("tensorstore")

pytestmark = pytest.mark.interop

RES0, SIZE0, CHUNK0 = (4, 4, 40), (64, 64, 32), (16, 16, 16)
RES1, SIZE1, CHUNK1 = (8, 8, 40), (32, 32, 32), (16, 16, 16)
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
            "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "gzip",
            "data_encoding": "gzip"}
MESSAGE = r"scale '4_4_40' \(mip 0\) is sharded .*not supported"


def _ts_scale(layer, res, size, chunk, sharding=None):
    scale = {"size": list(size), "voxel_offset": [0, 0, 0], "chunk_size": list(chunk),
             "resolution": list(res), "encoding": "raw"}
    if sharding is not None:
        scale["sharding"] = sharding
    return ts.open({
        "driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(layer)},
        "create": True, "open": True,
        "multiscale_metadata": {"type": "image", "data_type": "uint16", "num_channels": 1},
        "scale_metadata": scale,
    }).result()


def _listing(layer):
    return sorted(os.path.relpath(os.path.join(d, f), layer) for d, _, fs in os.walk(layer) for f in fs)


@pytest.fixture(scope="module")
def sharded_layer(tmp_path_factory):
    layer = tmp_path_factory.mktemp("sharded") / "layer"
    data0 = make_data((*SIZE0, 1), "uint16", 5, nonzero=True)
    data1 = make_data((*SIZE1, 1), "uint16", 6, nonzero=True)
    _ts_scale(layer, RES0, SIZE0, CHUNK0, SHARDING).write(data0).result()
    _ts_scale(layer, RES1, SIZE1, CHUNK1).write(data1).result()
    info = json.loads((layer / "info").read_text())
    assert "sharding" in info["scales"][0] and "sharding" not in info["scales"][1]
    assert all(name.endswith(".shard") for name in os.listdir(layer / "4_4_40"))
    return layer, data1


@pytest.mark.parametrize("fill_missing", [False, True])
def test_blocking_read_of_sharded_scale_raises(sharded_layer, fill_missing):
    layer, _ = sharded_layer
    with aiovolume.CloudVolume(f"file://{layer}", fill_missing=fill_missing) as vol:
        assert vol.info["scales"][0]["sharding"]["@type"] == "neuroglancer_uint64_sharded_v1"  # metadata works
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE) as err:
            vol[0:16, 0:16, 0:16]
        assert isinstance(err.value, AiovolumeError) and isinstance(err.value, NotImplementedError)
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol.download(slices((0, 0, 0), SIZE0), mip=0)
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol.download_point((8, 8, 8), size=4)


def test_blocking_write_delete_exists_of_sharded_scale_raise_and_create_nothing(sharded_layer):
    layer, _ = sharded_layer
    before = _listing(layer)
    with aiovolume.CloudVolume(f"file://{layer}", compress=False) as vol:
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol[0:16, 0:16, 0:16] = np.ones((16, 16, 16), np.uint16)
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol.upload(slices((0, 0, 0), SIZE0), np.ones(SIZE0, np.uint16))
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol.delete(np.s_[0:16, 0:16, 0:16])
        with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
            vol.exists(np.s_[0:16, 0:16, 0:16])
    assert _listing(layer) == before  # no chunk file beside the shards, no shard touched


@pytest.mark.parametrize("fill_missing", [False, True])
async def test_async_api_refuses_sharded_scale(sharded_layer, fill_missing):
    layer, _ = sharded_layer
    before = _listing(layer)
    async with aiovolume.Volume(f"file://{layer}", fill_missing=fill_missing, compress=False) as vol:
        box = Bbox((0, 0, 0), (16, 16, 16))
        for call in (lambda: vol.download(box), lambda: vol.upload(box, np.zeros((16, 16, 16), np.uint16)),
                     lambda: vol.delete(box), lambda: vol.exists(box)):
            with pytest.raises(UnsupportedFeatureError, match=MESSAGE):
                await call()
    assert _listing(layer) == before


async def test_unsharded_mip_of_the_same_layer_reads_exactly(sharded_layer):
    layer, data1 = sharded_layer
    with aiovolume.CloudVolume(f"file://{layer}", mip=1) as vol:
        assert_exact(vol[slices((0, 0, 0), SIZE1)], data1)
        assert all(vol.exists(slices((0, 0, 0), SIZE1)).values())
    with aiovolume.CloudVolume(f"file://{layer}") as vol:  # opened at the sharded mip, read at mip 1
        assert_exact(vol.download(slices((0, 0, 0), SIZE1), mip=1), data1)
    async with aiovolume.Volume(f"file://{layer}", mip=[8, 8, 40]) as avol:
        assert_exact(await avol.download(Bbox((0, 0, 0), SIZE1)), data1)
