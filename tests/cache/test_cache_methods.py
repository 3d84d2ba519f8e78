"""``vol.cache``'s housekeeping methods, file by file: list, list_meshes, list_skeletons,
num_files, num_bytes, has, delete, flush (with preserve), flush_region (converted per mip),
flush_info, flush_provenance."""

from __future__ import annotations

import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume
from aiovolume import CacheOptions
from aiovolume.exceptions import OptionError
from cache_helpers import chunk_files, make_layer

MIP_KEYS = ("4_4_40", "8_8_40", "16_16_40")


@pytest.fixture
def full(tmp_path):
    """A layer of three mips, every chunk of every mip in the cache."""
    url, data = make_layer(tmp_path / "origin")
    vol = CloudVolume(url, cache=str(tmp_path / "cache"), progress=False)
    for mip in range(3):
        np.testing.assert_array_equal(vol.download(vol.mip_bounds(mip), mip=mip), data[mip])
    yield vol
    vol.close()


def names(x_blocks, y_blocks, z_blocks, suffix=".gz"):
    return {f"{x}-{x + 16}_{y}-{y + 16}_{z}-{z + 8}{suffix}" for x in x_blocks for y in y_blocks for z in z_blocks}


def every_chunk(mip):
    side = 128 >> mip
    return names(range(0, side, 16), range(0, side, 16), (0, 8))


def test_list_num_files_and_num_bytes(full):
    cache = full.cache
    for mip in range(3):
        assert set(cache.list(mip=mip)) == every_chunk(mip)
    assert set(cache.list()) == every_chunk(0)  # the volume's mip
    assert cache.num_files() == 128 and cache.num_files(all_mips=True) == [128, 32, 8]
    sizes = [sum(os.path.getsize(os.path.join(cache.path, MIP_KEYS[m], n)) for n in every_chunk(m)) for m in range(3)]
    assert cache.num_bytes(all_mips=True) == sizes and cache.num_bytes() == sizes[0]
    full.mip = 1
    assert cache.num_files() == 32 and cache.num_bytes() == sizes[1] and set(cache.list()) == every_chunk(1)
    assert cache.has("4_4_40/0-16_0-16_0-8") and not cache.has("4_4_40/0-16_0-16_0-9")
    cache.delete("4_4_40/0-16_0-16_0-8.gz")
    assert not cache.has("4_4_40/0-16_0-16_0-8") and cache.num_files(all_mips=True) == [127, 32, 8]


def test_list_meshes_and_skeletons(full):
    cache = full.cache
    assert cache.list_meshes() == [] and cache.list_skeletons() == []  # the info names none
    full.info["mesh"], full.info["skeletons"] = "mesh", "skeletons"
    assert cache.list_meshes() == [] and cache.list_skeletons() == []  # none cached
    for sub, files in (("mesh", ["1:0", "1:0:0-16_0-16_0-8"]), ("skeletons", ["7"])):
        os.makedirs(os.path.join(cache.path, sub))
        for f in files:
            open(os.path.join(cache.path, sub, f), "wb").close()
    assert cache.list_meshes() == ["1:0", "1:0:0-16_0-16_0-8"] and cache.list_skeletons() == ["7"]


def test_flush_removes_the_layers_cache(full):
    path = full.cache.path
    assert os.path.isdir(path)
    full.cache.flush()
    assert not os.path.exists(path)
    assert full.cache.num_files(all_mips=True) == [0, 0, 0] and full.cache.list() == []
    full.cache.flush()  # nothing there: no error


def test_flush_preserve_keeps_the_chunks_meeting_the_box_at_every_mip(full):
    # mip 0 box x 16..40, y 0..16, z 0..8 -> mip 1: x 8..20, y 0..8 -> mip 2: x 4..10, y 0..4
    full.cache.flush(preserve=Bbox((16, 0, 0), (40, 16, 8)))
    assert set(full.cache.list(mip=0)) == names((16, 32), (0,), (0,))
    assert set(full.cache.list(mip=1)) == names((0, 16), (0,), (0,))
    assert set(full.cache.list(mip=2)) == names((0,), (0,), (0,))
    assert "info" in chunk_files(full.cache.path)


@pytest.mark.parametrize("mips", [[1], [2], [1, 2]])
def test_flush_region_at_mips_above_zero_removes_exactly_the_chunks_of_the_converted_box(full, mips):
    # mip 0 box x 32..64, y 0..32, z 0..8 is x 16..32, y 0..16 at mip 1 and x 8..16, y 0..8 at mip 2.
    # CloudVolume 12.15 compares the mip 0 box with mip 1 chunk names: it would delete x 32..64 there.
    full.cache.flush_region(Bbox((32, 0, 0), (64, 32, 8)), mips=mips)
    gone = {1: names((16,), (0,), (0,)), 2: names((0,), (0,), (0,))}
    assert set(full.cache.list(mip=0)) == every_chunk(0)
    for mip in (1, 2):
        expected = every_chunk(mip) - gone[mip] if mip in mips else every_chunk(mip)
        assert set(full.cache.list(mip=mip)) == expected, mip


def test_flush_region_defaults_to_the_volumes_mip_and_takes_slices(full):
    full.cache.flush_region(np.s_[0:20, 0:16, 0:8])  # mip 0: the chunks meeting x 0..20
    assert every_chunk(0) - set(full.cache.list(mip=0)) == names((0, 16), (0,), (0,))
    full.mip = 2
    full.cache.flush_region(Bbox((0, 0, 8), (128, 128, 16)))  # mip 0 box, applied at mip 2
    assert set(full.cache.list(mip=2)) == names((0, 16), (0, 16), (0,))
    assert len(full.cache.list(mip=1)) == 32
    full.cache.flush_region(np.s_[64:, 64:, :], mips=[1])  # open ends: the mip 0 bounds
    assert every_chunk(1) - set(full.cache.list(mip=1)) == names((32, 48), (32, 48), (0, 8))


def test_flush_info_and_flush_provenance(full):
    full.refresh_provenance()
    path = full.cache.path
    assert {"info", "provenance"} <= chunk_files(path)
    full.cache.flush_info()
    assert "info" not in chunk_files(path) and "provenance" in chunk_files(path)
    full.cache.flush_provenance()
    assert "provenance" not in chunk_files(path)
    full.cache.flush_info()  # already gone: no error
    full.cache.flush_provenance()
    assert full.cache.num_files() == 128


def test_compress_is_a_live_switch(full, tmp_path):
    full.cache.flush()
    full.cache.compress = False
    full[0:16, 0:16, 0:8]
    assert full.cache.list() == ["0-16_0-16_0-8"]
    full.cache.compress = "gzip"
    full[16:32, 0:16, 0:8]
    assert full.cache.list() == ["0-16_0-16_0-8", "16-32_0-16_0-8.gz"]
    assert "compress='gzip'" in repr(full.cache) and full.cache.path in repr(full.cache)


def test_cache_options_are_checked():
    with pytest.raises(OptionError, match="max_bytes"):
        CacheOptions("/tmp", max_bytes=0)
    assert CacheOptions().path is None
