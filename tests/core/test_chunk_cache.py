"""lru_bytes: decoded chunks kept between reads, dropped on writes and deletes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Options, Volume
from aiovolume.exceptions import OptionError
from aiovolume.pipeline.chunkcache import ChunkCache
from tests.volume_helpers import make_info, random_volume


def test_chunk_cache_is_lru_bounded_and_read_only():
    cache = ChunkCache(3 * 1000)
    chunks = {k: np.full((10, 10, 10, 1), i, np.uint8) for i, k in enumerate("abcd")}
    for k in "abc":
        cache.put(k, chunks[k])
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", chunks["d"])  # evicts b, the least recently used
    assert "b" not in cache and {"a", "c", "d"} <= set(cache._items)
    assert cache.nbytes == 3000
    got = cache.get("a")
    with pytest.raises(ValueError):
        got[0, 0, 0, 0] = 9
    chunks["a"][...] = 7  # the caller's array is not the cached one
    assert cache.get("a")[0, 0, 0, 0] == 0
    cache.put("huge", np.zeros((20, 20, 20, 1), np.uint8))  # larger than the cache: not kept
    assert "huge" not in cache
    cache.discard(["a", "zzz"])
    assert "a" not in cache and cache.nbytes == 2000
    with pytest.raises(OptionError, match="lru_bytes must be >= 0") as err:
        ChunkCache(-1)
    assert isinstance(err.value, ValueError)  # what CloudVolume users catch


@pytest.mark.parametrize("executor", ["auto", "inline"])
@pytest.mark.parametrize("compress", [None, False])
def test_reads_are_served_from_the_cache_until_a_write(tmp_path, executor, compress):
    path = f"file://{tmp_path}/layer"
    info = make_info(dtype="uint16", size=(96, 64, 32), chunk=(32, 32, 16))
    data = random_volume((96, 64, 32), np.uint16, seed=3)
    vol = CloudVolume(path, info=info, compress=compress, lru_bytes=10 << 20,
                      options=Options(codec_executor=executor))
    vol.commit_info()
    vol[:, :, :] = data
    np.testing.assert_array_equal(vol[5:70, 3:60, 1:31][..., 0], data[5:70, 3:60, 1:31])
    assert len(vol.lru) == 3 * 2 * 2  # every chunk the cutout touched, decoded once
    # the stored chunks vanish: a cached read does not notice, an uncached one does
    shutil.rmtree(tmp_path / "layer" / info["scales"][0]["key"])
    np.testing.assert_array_equal(vol[0:96, 0:64, 0:32][..., 0], data)
    with pytest.raises(Exception):
        CloudVolume(path)[0:32, 0:32, 0:16]
    # a write through the volume replaces what the cache held for those chunks
    vol[0:32, 0:32, 0:16] = np.full((32, 32, 16), 7, np.uint16)
    assert np.all(vol[0:32, 0:32, 0:16] == 7)
    assert len(vol.lru) == 12  # written chunk re-read from the store, then cached again


async def test_cached_chunks_survive_caller_changes_and_deletes_drop_them(tmp_path):
    path = f"file://{tmp_path}/layer"
    info = make_info(size=(64, 64, 16), chunk=(32, 32, 16))
    data = random_volume((64, 64, 16), np.uint8, seed=4)
    async with Volume(path, info=info, lru_bytes=1 << 20) as vol:
        await vol.commit_info()
        await vol.upload(Bbox((0, 0, 0), (64, 64, 16)), data)
        first = await vol.download(Bbox((0, 0, 0), (64, 64, 16)))
        np.asarray(first)[...] = 0  # the caller owns its array; the cache keeps its own copy
        again = await vol.download(Bbox((0, 0, 0), (64, 64, 16)))
        np.testing.assert_array_equal(np.asarray(again)[..., 0], data)
        await vol.delete(Bbox((0, 0, 0), (32, 32, 16)))
        assert len(vol.lru) == 3
        vol.fill_missing = True
        gone = await vol.download(Bbox((0, 0, 0), (32, 32, 16)))
        assert not np.asarray(gone).any()


def test_lru_encoding_other_than_same_or_raw_is_refused(tmp_path):
    # our LRU holds decoded chunks: CloudVolume's "raw"; "same" is accepted and stored the same way
    with pytest.raises(NotImplementedError, match="lru_encoding='jpeg'"):
        CloudVolume(f"file://{tmp_path}/x", info=make_info(), lru_bytes=1000, lru_encoding="jpeg")
    for encoding in ("same", "raw"):
        with CloudVolume(f"file://{tmp_path}/x", info=make_info(), lru_bytes=1000, lru_encoding=encoding) as vol:
            assert vol.lru_encoding == encoding and vol.image.lru_encoding == encoding


@pytest.mark.parametrize("executor", ["auto", "inline"])
async def test_a_chunk_evicted_between_lookup_and_copy_is_fetched_again(tmp_path, executor):
    path = f"file://{tmp_path}/layer"
    info = make_info(size=(64, 32, 16), chunk=(32, 32, 16))
    data = random_volume((64, 32, 16), np.uint8, seed=5)
    async with Volume(path, info=info, lru_bytes=1 << 20, options=Options(codec_executor=executor)) as vol:
        await vol.commit_info()
        await vol.upload(Bbox((0, 0, 0), (64, 32, 16)), data)
        await vol.download(Bbox((0, 0, 0), (64, 32, 16)))  # both chunks cached
        vol.lru.get = lambda key: None  # every lookup now loses the race with an eviction
        again = await vol.download(Bbox((0, 0, 0), (64, 32, 16)))
        np.testing.assert_array_equal(np.asarray(again)[..., 0], data)
