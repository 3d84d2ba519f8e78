"""Refusals are typed: infos whose chunk bytes live where unsharded names do not point, and bad option values.

(The TensorStore-written sharded layer is in ``tests/interop/test_sharded_refused.py``.)
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import UnsupportedFeatureError
from volume_helpers import make_info, random_volume

SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
            "minishard_bits": 0, "shard_bits": 0}
BOX = Bbox((0, 0, 0), (64, 64, 16))


def _write_info(layer_url, info):
    root = layer_url[len("file://"):]
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "info"), "w") as f:
        json.dump(info, f)
    return root


async def test_sharded_scale_refused_and_unsharded_mip_works(layer_url):
    info = make_info("uint8", 1, size=(128, 128, 32), max_mip=1)
    async with Volume(layer_url, info=info, compress=False) as vol:
        await vol.commit_info()
        data = random_volume((64, 64, 16, 1), "uint8", seed=3)
        await vol.upload(BOX, data, mip=1)
    info["scales"][0]["sharding"] = SHARDING
    root = _write_info(layer_url, info)
    files = sorted(os.listdir(root))
    with CloudVolume(layer_url, fill_missing=True) as vol:
        with pytest.raises(UnsupportedFeatureError, match=r"scale '4_4_40' \(mip 0\) is sharded"):
            vol[0:64, 0:64, 0:16]
        with pytest.raises(UnsupportedFeatureError, match="4_4_40"):
            vol[0:64, 0:64, 0:16] = np.zeros((64, 64, 16), np.uint8)
        np.testing.assert_array_equal(vol.download(BOX, mip=1), data)
        vol.mip = 1
        np.testing.assert_array_equal(vol[0:64, 0:64, 0:16], data)
    assert sorted(os.listdir(root)) == files


async def test_sharding_null_is_unsharded(layer_url):
    """CloudVolume writes ``"sharding": null`` for unsharded scales: that layer reads normally."""
    info = make_info("uint8", 1, size=(64, 64, 16))
    info["scales"][0]["sharding"] = None
    _write_info(layer_url, info)
    async with Volume(layer_url, fill_missing=True) as vol:
        assert not (await vol.download(BOX)).any()


async def test_graphene_data_dir_refused(layer_url):
    """A PyChunkedGraph info keeps its chunks under ``data_dir``: reading beside the info would be zeros."""
    info = make_info("uint64", 1, size=(64, 64, 16), layer_type="segmentation")
    info["data_dir"] = "gs://bucket/ws"
    _write_info(layer_url, info)
    async with Volume(layer_url, fill_missing=True) as vol:
        with pytest.raises(UnsupportedFeatureError, match="data_dir 'gs://bucket/ws'.*graphene"):
            await vol.download(BOX)
        with pytest.raises(UnsupportedFeatureError, match="graphene"):
            await vol.exists(BOX)


async def test_bad_option_values_are_typed(layer_url):
    from aiovolume.exceptions import OptionError

    with pytest.raises(OptionError, match="lru_bytes must be >= 0"):
        Volume(layer_url, lru_bytes=-1)
    with pytest.raises(OptionError, match="max_redirects='x' must be an integer"):
        Volume(layer_url, max_redirects="x")
    with pytest.raises(OptionError, match="options=1 must be an aiovolume.Options"):
        Volume(layer_url, options=1)
    async with Volume(layer_url, info=make_info("uint8", 1, size=(64, 64, 16)), cdn_cache=[1]) as vol:
        await vol.commit_info()
        with pytest.raises(OptionError, match=r"cdn_cache=\[1\] must be a bool, int or str"):
            await vol.upload(BOX, np.zeros((64, 64, 16), np.uint8))
