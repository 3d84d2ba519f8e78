"""Refusals are typed: infos whose chunk bytes live where no source of ours looks, and bad option values.

(Sharded layers are read and written: ``tests/core/test_sharded.py``, ``tests/interop/test_interop_sharded.py``.)
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import UnsupportedFeatureError
from volume_helpers import make_info, random_volume

BOX = Bbox((0, 0, 0), (64, 64, 16))


def _write_info(layer_url, info):
    root = layer_url[len("file://"):]
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "info"), "w") as f:
        json.dump(info, f)
    return root


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
