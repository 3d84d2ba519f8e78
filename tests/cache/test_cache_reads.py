"""The disk cache on the read and write paths: filled by reads, used instead of the origin,
written through, never returning a damaged copy; info and provenance kept too."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from aiovolume import CloudVolume, Volume
from aiovolume import CacheOptions
from aiovolume.exceptions import CacheError, EmptyVolumeException, VolumeClosedError
from aiovolume.pipeline.cachedsource import CachedSource
from cache_helpers import CHUNK, chunk_files, layer_dir, make_layer, read, write


@pytest.fixture
def layer(tmp_path):
    return make_layer(tmp_path / "origin")


def cached(url, tmp_path, **kw):
    return CloudVolume(url, cache=str(tmp_path / "cache"), progress=False, **kw)


def test_a_read_fills_the_cache_in_cloudvolumes_layout(layer, tmp_path):
    url, data = layer
    with cached(url, tmp_path) as vol:
        assert vol.cache.enabled and vol.cache_path == vol.cache.path
        # <base>/<protocol>/<path to the dataset>/<layer>
        assert vol.cache.path == os.path.join(str(tmp_path / "cache"), "file", layer_dir(url).lstrip("/"))
        np.testing.assert_array_equal(vol[0:32, 0:16, 0:8], data[0][0:32, 0:16, 0:8])
        # raw chunks are cached gzipped (CloudVolume's default), named as the origin's
        assert chunk_files(os.path.join(vol.cache.path, "4_4_40")) == {"0-16_0-16_0-8.gz", "16-32_0-16_0-8.gz"}
        assert json.loads(read(os.path.join(vol.cache.path, "info"))) == vol.info


def test_a_read_is_served_from_the_cache_after_the_origin_chunk_is_deleted(layer, tmp_path):
    url, data = layer
    with cached(url, tmp_path) as vol:
        first = vol[:, :, :]
    for name in os.listdir(os.path.join(layer_dir(url), "4_4_40")):
        os.remove(os.path.join(layer_dir(url), "4_4_40", name))
    with cached(url, tmp_path) as vol:
        np.testing.assert_array_equal(vol[:, :, :], data[0])
        np.testing.assert_array_equal(first, data[0])
    with CloudVolume(url, progress=False) as plain:  # the origin really is empty
        with pytest.raises(EmptyVolumeException):
            plain[0:16, 0:16, 0:8]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
@pytest.mark.parametrize("compress_cache", [None, False])
def test_a_damaged_cache_file_is_discarded_and_refetched(layer, tmp_path, damage, compress_cache):
    url, data = layer
    with cached(url, tmp_path, compress_cache=compress_cache) as vol:
        vol[0:16, 0:16, 0:8]
        suffix = ".gz" if compress_cache is None else ""
        path = os.path.join(vol.cache.path, "4_4_40", "0-16_0-16_0-8" + suffix)
        good = read(path)
        bad = {"garbage": b"\x1f\x8b not gzip and not 2048 bytes", "truncated": good[: len(good) // 2],
               "empty": b""}[damage]
        write(path, bad)
        np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], data[0][0:16, 0:16, 0:8])
        # the damaged copy was replaced by the origin's chunk
        stored = read(path)
        raw = gzip.decompress(stored) if suffix else stored
        assert raw == data[0][0:16, 0:16, 0:8].tobytes(order="F")


def test_the_cache_follows_compress_cache(layer, tmp_path):
    url, data = layer
    for compress_cache, name in ((False, "0-16_0-16_0-8"), ("br", "0-16_0-16_0-8.br"), (None, "0-16_0-16_0-8.gz")):
        base = tmp_path / f"cache-{compress_cache}"
        with CloudVolume(url, cache=str(base), compress_cache=compress_cache, progress=False) as vol:
            assert vol.cache.compress == compress_cache and vol.compress_cache == compress_cache
            np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], data[0][0:16, 0:16, 0:8])
            assert chunk_files(os.path.join(vol.cache.path, "4_4_40")) == {name}


def test_writes_go_through_to_the_origin_and_the_cache(layer, tmp_path):
    url, _ = layer
    new = np.full((32, 32, 8, 1), 7, np.uint8)
    with cached(url, tmp_path) as vol:
        vol[0:32, 0:32, 0:8] = new
        cache_dir = os.path.join(vol.cache.path, "4_4_40")
        assert len(chunk_files(cache_dir)) == 4
    with CloudVolume(url, progress=False) as plain:
        np.testing.assert_array_equal(plain[0:32, 0:32, 0:8], new)
    with cached(url, tmp_path) as vol:  # and the cache's copies are the new chunks
        for name in os.listdir(os.path.join(layer_dir(url), "4_4_40")):
            os.remove(os.path.join(layer_dir(url), "4_4_40", name))
        np.testing.assert_array_equal(vol[0:32, 0:32, 0:8], new)


async def test_async_writes_and_deletes_reach_the_cache(layer, tmp_path):
    url, data = layer
    async with Volume(url, cache=str(tmp_path / "cache"), progress=False) as vol:
        assert isinstance(vol._source(0), CachedSource)
        img = await vol.download(np.s_[0:16, 0:16, 0:16])
        np.testing.assert_array_equal(img, data[0][0:16, 0:16, 0:16])
        cache_dir = os.path.join(vol.cache.path, "4_4_40")
        assert chunk_files(cache_dir) == {"0-16_0-16_0-8.gz", "0-16_0-16_8-16.gz"}
        await vol.delete(np.s_[0:16, 0:16, 0:8])
        assert chunk_files(cache_dir) == {"0-16_0-16_8-16.gz"}
        assert chunk_files(os.path.join(layer_dir(url), "4_4_40")) >= {"0-16_0-16_8-16.gz"}
        assert "0-16_0-16_0-8.gz" not in chunk_files(os.path.join(layer_dir(url), "4_4_40"))
        # a missing chunk is not cached (CloudVolume caches an empty file; we read empty files as misses)
        vol.fill_missing = True
        assert not (await vol.download(np.s_[0:16, 0:16, 0:8])).any()
        assert chunk_files(cache_dir) == {"0-16_0-16_8-16.gz"}


def test_info_and_provenance_are_read_from_the_cache(layer, tmp_path):
    url, _ = layer
    with cached(url, tmp_path) as vol:
        vol.provenance.description = "cached"
        vol.commit_provenance()
        cache_dir = vol.cache.path
    assert {"info", "provenance"} <= chunk_files(cache_dir)
    os.remove(os.path.join(layer_dir(url), "provenance"))
    info = json.loads(read(os.path.join(layer_dir(url), "info")))
    info["scales"][0]["note"] = "only at the origin"
    write(os.path.join(layer_dir(url), "info"), json.dumps(info).encode())
    with cached(url, tmp_path) as vol:  # as CloudVolume: the cached copies win
        assert vol.provenance.description == "cached"
        assert "note" not in vol.info["scales"][0]
        vol.cache.flush_info()
        vol.cache.flush_provenance()
        assert vol.refresh_info()["scales"][0]["note"] == "only at the origin"
        assert vol.refresh_provenance().description == ""


def test_a_damaged_cached_info_is_replaced_by_the_origins(layer, tmp_path):
    url, _ = layer
    with cached(url, tmp_path) as vol:
        path = os.path.join(vol.cache.path, "info")
    write(path, b'{"scales": [')
    with cached(url, tmp_path) as vol:
        assert vol.info["scales"][0]["key"] == "4_4_40"
    assert json.loads(read(path))["scales"][0]["key"] == "4_4_40"


def test_the_cache_can_be_switched_on_and_off(layer, tmp_path, monkeypatch):
    url, data = layer
    monkey_base = tmp_path / "env-cache"
    monkeypatch.setenv("CLOUD_VOLUME_CACHE_DIR", str(monkey_base))  # never the user's ~/.cloudvolume
    with CloudVolume(url, progress=False) as vol:
        assert not vol.cache.enabled
        vol[0:16, 0:16, 0:8]
        assert not os.path.exists(vol.cache.path)  # nothing written while off
        vol.cache.enabled = True
        vol[0:16, 0:16, 0:8]
        assert len(vol.cache.list()) == 1
        vol.cache.enabled = False
        vol[0:32, 0:16, 0:8]
        assert len(vol.cache.list()) == 1
        assert vol.cache.path.startswith(str(monkey_base))
    vol.cache.flush()
    with CloudVolume(url, cache=True, progress=False) as vol:
        assert vol.cache.path.startswith(str(monkey_base))
        np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], data[0][0:16, 0:16, 0:8])
        assert vol.cache.list() == ["0-16_0-16_0-8.gz"]


def test_a_size_cap_evicts_the_least_recently_used_files(layer, tmp_path):
    url, data = layer
    with CloudVolume(url, cache=CacheOptions(str(tmp_path / "cache"), max_bytes=20_000), compress_cache=False,
                     progress=False) as vol:
        chunk_bytes = int(np.prod(CHUNK))  # 2048: at most 9 chunks fit under 20 kB
        np.testing.assert_array_equal(vol[:, :, :], data[0])
        assert 0 < vol.cache.num_bytes() <= 20_000
        assert vol.cache.num_files() <= 20_000 // chunk_bytes
        np.testing.assert_array_equal(vol[:, :, :], data[0])  # evicted chunks come from the origin again
        assert vol.cache.num_bytes() <= 20_000


def test_download_files_cache_only_fills_the_cache_and_returns_nothing(layer, tmp_path):
    url, data = layer
    with cached(url, tmp_path) as vol:
        assert vol.download_files(np.s_[0:32, 0:16, 0:8], cache_only=True) == {}
        assert vol.cache.list() == ["0-16_0-16_0-8.gz", "16-32_0-16_0-8.gz"]
        files = vol.download_files(np.s_[0:16, 0:16, 0:8])
        assert files == {"4_4_40/0-16_0-16_0-8": data[0][0:16, 0:16, 0:8].tobytes(order="F")}


def test_a_pickled_volume_keeps_its_cache(layer, tmp_path):
    import pickle

    url, data = layer
    with cached(url, tmp_path) as vol:
        vol[0:16, 0:16, 0:8]
        copy = pickle.loads(pickle.dumps(vol))
    assert copy.cache.enabled and copy.cache.path == vol.cache.path
    os.remove(os.path.join(layer_dir(url), "4_4_40", "0-16_0-16_0-8.gz"))
    np.testing.assert_array_equal(copy[0:16, 0:16, 0:8], data[0][0:16, 0:16, 0:8])
    copy.close()


def test_the_size_cap_evicts_what_was_used_longest_ago(layer, tmp_path):
    url, data = layer
    # 2048-byte chunks and a ~1.1 kB info: 4 chunks fit; a fifth goes over, and removing one is enough
    with CloudVolume(url, cache=CacheOptions(str(tmp_path / "cache"), max_bytes=11_000), compress_cache=False,
                     progress=False) as vol:
        boxes = {name: np.s_[x:x + 16, 0:16, 0:8] for name, x in zip("abcde", range(0, 80, 16))}
        for name in "abcd":
            vol[boxes[name]]
        assert vol.cache.num_files() == 4 and 9_000 < vol.cache.num_bytes() + 1_200 < 11_000
        # the files' times in write order, a second apart (this filesystem's clock ticks are coarse)
        chunk_dir = os.path.join(vol.cache.path, "4_4_40")
        for i, name in enumerate(sorted(os.listdir(chunk_dir), key=lambda n: int(n.split("-")[0]))):
            os.utime(os.path.join(chunk_dir, name), (1_000_000 + i, 1_000_000 + i))
        np.testing.assert_array_equal(vol[boxes["a"]], data[0][boxes["a"]])  # a hit: a is now the most recent
        vol[boxes["e"]]
        assert vol.cache.list() == ["0-16_0-16_0-8", "32-48_0-16_0-8", "48-64_0-16_0-8", "64-80_0-16_0-8"]


def test_an_unusable_cache_directory_is_a_cache_error(layer, tmp_path):
    url, _ = layer
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with pytest.raises(CacheError, match="cannot be created") as err:  # on open, as CloudVolume
        CloudVolume(url, cache=str(blocker), progress=False)
    assert isinstance(err.value, OSError)
    with CloudVolume(url, progress=False) as plain:
        info = plain.info
    with CloudVolume(url, info=info, cache=str(blocker), progress=False) as vol:
        with pytest.raises(CacheError, match="cannot be created"):  # given the info: on the first read
            vol[0:16, 0:16, 0:8]


def test_a_redirected_info_is_not_cached_and_reads_come_from_the_target(layer, tmp_path):
    url, data = layer
    here = f"file://{tmp_path}/ds/pointer"
    with CloudVolume(url, progress=False) as target:
        with CloudVolume(here, info=dict(target.info, redirect=url), progress=False) as pointer:
            pointer.commit_info()
    for _ in range(2):  # the second open must follow the redirect again
        with cached(here, tmp_path) as vol:
            assert vol.read_only and "info" not in chunk_files(vol.cache.path)
            np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], data[0][0:16, 0:16, 0:8])


def test_cached_volumes_leave_no_threads_behind(layer, tmp_path):
    import threading

    from aiovolume.exceptions import ScaleUnavailableError

    url, _ = layer

    def names():
        return sorted(t.name for t in threading.enumerate())

    with cached(url, tmp_path) as vol:  # warm-up: global pools may start here
        vol[0:16, 0:16, 0:8]
    before = names()
    for _ in range(10):
        with cached(url, tmp_path) as vol:
            vol[0:32, 0:32, 0:8]
        with pytest.raises(ScaleUnavailableError):  # the info came from the cache, then the open failed
            cached(url, tmp_path, mip=7)
    assert names() == before


@pytest.mark.parametrize("damage", ["stale", "corrupt"])
def test_partial_writes_merge_into_the_origins_chunk_not_the_cached_copy(layer, tmp_path, damage):
    url, data = layer
    with cached(url, tmp_path, non_aligned_writes=True) as vol:
        vol[0:16, 0:16, 0:8]  # cached
        if damage == "stale":  # another writer changes the chunk at the origin
            with CloudVolume(url, progress=False) as other:
                other[0:16, 0:16, 0:8] = np.full((16, 16, 8, 1), 3, np.uint8)
            expected = np.full((16, 16, 8, 1), 3, np.uint8)
        else:
            write(os.path.join(vol.cache.path, "4_4_40", "0-16_0-16_0-8.gz"), b"\x1f\x8b junk")
            expected = data[0][0:16, 0:16, 0:8].copy()
        vol[0:4, 0:4, 0:4] = np.ones((4, 4, 4), np.uint8)
        expected[0:4, 0:4, 0:4] = 1
        np.testing.assert_array_equal(vol[0:16, 0:16, 0:8], expected)
    with CloudVolume(url, progress=False) as plain:
        np.testing.assert_array_equal(plain[0:16, 0:16, 0:8], expected)


def test_a_dropped_cached_volume_is_freed_without_the_cycle_collector(layer, tmp_path):
    import gc
    import weakref

    url, _ = layer
    gc.disable()  # vol.cache refers to its volume weakly: no cycle keeps a dropped volume's threads
    try:
        vol = cached(url, tmp_path)
        vol[0:16, 0:16, 0:8]
        cache, ref = vol.cache, weakref.ref(vol._vol)
        vol.close()
        del vol
        assert ref() is None
    finally:
        gc.enable()
    with pytest.raises(VolumeClosedError, match="no longer exists"):
        cache.list()
