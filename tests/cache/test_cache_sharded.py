"""The disk cache on a sharded scale: each chunk is one cache file named by its Morton code
(``<scale key>/<code>``, CloudVolume's name), so a cached chunk needs no shard index."""

from __future__ import annotations

import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume
from aiovolume.pipeline.cachedsource import CachedSource
from aiovolume.pipeline.sharded import ShardedSource
from cache_helpers import chunk_files, layer_dir, make_sharded_layer


def morton(x, y, z):
    """Compressed Morton code on the 8 x 8 x 2 grid: bits x0 y0 z0 x1 y1 x2 y2 (z has one bit)."""
    code, bit = 0, 0
    for i in range(3):
        for axis, v, size in ((0, x, 8), (1, y, 8), (2, z, 2)):
            if (size - 1) >> i:
                code |= ((v >> i) & 1) << bit
                bit += 1
    return code


def _drop_shards(url):
    key_dir = os.path.join(layer_dir(url), "4_4_40")
    for name in os.listdir(key_dir):
        os.remove(os.path.join(key_dir, name))


def test_sharded_chunks_are_cached_by_morton_code_and_served_without_the_shards(tmp_path):
    url, data = make_sharded_layer(tmp_path / "origin")
    base = str(tmp_path / "cache")
    with CloudVolume(url, cache=base, progress=False) as vol:
        source = vol._vol._source(0)
        assert isinstance(source, CachedSource) and isinstance(source.inner, ShardedSource)
        np.testing.assert_array_equal(vol[0:32, 0:16, 0:8], data[0:32, 0:16, 0:8])
        # uncompressed by default, as CloudVolume caches shard chunks
        assert set(vol.cache.list()) == {str(morton(0, 0, 0)), str(morton(1, 0, 0))}
        np.testing.assert_array_equal(vol[:, :, :], data)
        assert vol.cache.num_files() == 128
    _drop_shards(url)
    with CloudVolume(url, cache=base, progress=False) as vol:
        np.testing.assert_array_equal(vol[:, :, :], data)


def test_sharded_flush_region_decodes_morton_names(tmp_path):
    url, data = make_sharded_layer(tmp_path / "origin")
    with CloudVolume(url, cache=str(tmp_path / "cache"), progress=False) as vol:
        vol[:, :, :]
        os.makedirs(os.path.join(vol.cache.path, "4_4_40"), exist_ok=True)
        open(os.path.join(vol.cache.path, "4_4_40", "0.shard.index"), "wb").close()  # CloudVolume's
        vol.cache.flush_region(Bbox((16, 32, 8), (40, 48, 16)))
        gone = {str(morton(x, 2, 1)) for x in (1, 2)}
        kept = {str(morton(x, y, z)) for x in range(8) for y in range(8) for z in range(2)} - gone
        assert set(vol.cache.list()) == kept | {"0.shard.index"}
        vol.cache.flush(preserve=Bbox((0, 0, 0), (16, 16, 8)))
        assert set(vol.cache.list()) == {str(morton(0, 0, 0)), "0.shard.index"}


def test_a_damaged_sharded_copy_is_refetched(tmp_path):
    url, data = make_sharded_layer(tmp_path / "origin")
    with CloudVolume(url, cache=str(tmp_path / "cache"), progress=False) as vol:
        vol[0:16, 0:16, 0:8]
        path = os.path.join(vol.cache.path, "4_4_40", "0")
        with open(path, "wb") as f:
            f.write(b"short")
        np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], data[0:16, 0:16, 0:8])
        assert os.path.getsize(path) == 16 * 16 * 8


def test_sharded_writes_go_through(tmp_path):
    url, data = make_sharded_layer(tmp_path / "origin")
    new = np.full((16, 16, 8, 1), 9, np.uint8)
    with CloudVolume(url, cache=str(tmp_path / "cache"), progress=False, non_aligned_writes=True) as vol:
        vol[0:16, 0:16, 0:8] = new
        assert "0.gz" in chunk_files(os.path.join(vol.cache.path, "4_4_40"))  # the shard's data_encoding
    with CloudVolume(url, progress=False) as plain:
        np.testing.assert_array_equal(plain[0:16, 0:16, 0:8], new)
    _drop_shards(url)
    with CloudVolume(url, cache=str(tmp_path / "cache"), progress=False) as vol:
        np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], new)


@pytest.mark.interop
def test_sharded_cache_is_shared_with_cloudvolume_both_ways(tmp_path):
    from cloudvolume import CloudVolume as CV

    url, data = make_sharded_layer(tmp_path / "origin")
    theirs_base, ours_base = str(tmp_path / "cv-cache"), str(tmp_path / "our-cache")
    cv = CV(url, cache=theirs_base, progress=False, parallel=1)
    np.testing.assert_array_equal(np.asarray(cv[:, :, :]), data)
    with CloudVolume(url, cache=ours_base, progress=False) as vol:
        np.testing.assert_array_equal(vol[:, :, :], data)
        chunk_names = {n for n in vol.cache.list() if n.isdigit()}
        assert chunk_names == {n for n in cv.cache.list() if n.isdigit()}
    _drop_shards(url)
    with CloudVolume(url, cache=theirs_base, progress=False) as vol:  # we read their cache
        np.testing.assert_array_equal(vol[:, :, :], data)
    cv = CV(url, cache=ours_base, progress=False, parallel=1)  # they read ours
    np.testing.assert_array_equal(np.asarray(cv[:, :, :]), data)
