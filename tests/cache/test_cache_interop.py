"""The disk cache is shared with the real cloud-volume 12.15 both ways: a cache it filled serves
our reads after the origin's chunks are gone, and one we filled serves its reads."""

from __future__ import annotations

import os

import numpy as np
import pytest

from aiovolume import CloudVolume
from cache_helpers import layer_dir, make_layer

pytestmark = pytest.mark.interop


def _drop_origin_chunks(url):
    for key in ("4_4_40", "8_8_40"):
        for name in os.listdir(os.path.join(layer_dir(url), key)):
            os.remove(os.path.join(layer_dir(url), key, name))


def _theirs(url, base, **kw):
    from cloudvolume import CloudVolume as CV

    return CV(url, cache=base, progress=False, parallel=1, **kw)


@pytest.mark.parametrize("compress_cache", [None, False])
def test_we_read_a_cache_cloudvolume_filled(tmp_path, compress_cache):
    url, data = make_layer(tmp_path / "origin", mips=2)
    base = str(tmp_path / "cache")
    cv = _theirs(url, base, compress_cache=compress_cache)
    for mip in range(2):
        cv.download(cv.meta.bounds(mip), mip=mip)
    with CloudVolume(url, cache=base, progress=False) as ours:
        assert ours.cache.path == cv.cache.path
        assert sorted(ours.cache.list(mip=0)) == sorted(cv.cache.list(mip=0))
        assert ours.cache.num_files(all_mips=True) == cv.cache.num_files(all_mips=True) == [128, 32]
        assert ours.cache.num_bytes(all_mips=True) == cv.cache.num_bytes(all_mips=True)
    _drop_origin_chunks(url)
    with CloudVolume(url, cache=base, progress=False) as ours:
        for mip in range(2):
            np.testing.assert_array_equal(ours.download(ours.mip_bounds(mip), mip=mip), data[mip])


@pytest.mark.parametrize("compress_cache", [None, False])
def test_cloudvolume_reads_a_cache_we_filled(tmp_path, compress_cache):
    url, data = make_layer(tmp_path / "origin", mips=2)
    base = str(tmp_path / "cache")
    with CloudVolume(url, cache=base, compress_cache=compress_cache, progress=False) as ours:
        ours.refresh_provenance()
        for mip in range(2):
            ours.download(ours.mip_bounds(mip), mip=mip)
        listed = sorted(ours.cache.list(mip=0))
    _drop_origin_chunks(url)
    cv = _theirs(url, base, compress_cache=compress_cache)  # also checks our cached info and provenance
    assert sorted(cv.cache.list(mip=0)) == listed
    for mip in range(2):
        np.testing.assert_array_equal(np.asarray(cv.download(cv.meta.bounds(mip), mip=mip)), data[mip])
    # nothing was added or replaced by its reads: every chunk came from our files
    assert sorted(cv.cache.list(mip=0)) == listed


def test_cloudvolume_flush_region_at_mip_1_deletes_other_chunks_than_ours(tmp_path):
    """The bug we do not copy: CloudVolume tests the mip 0 box against mip 1 chunk names."""
    from cloudvolume import Bbox as CVBbox

    url, _ = make_layer(tmp_path / "origin", mips=2)
    base = str(tmp_path / "cache")
    cv = _theirs(url, base)
    cv.download(cv.meta.bounds(1), mip=1)
    before = set(cv.cache.list(mip=1))
    cv.cache.flush_region(CVBbox((32, 0, 0), (64, 32, 8)), mips=[1])
    theirs_gone = before - set(cv.cache.list(mip=1))
    with CloudVolume(url, cache=base, progress=False) as ours:
        ours.download(ours.mip_bounds(1), mip=1)
        assert set(ours.cache.list(mip=1)) == before
        ours.cache.flush_region(np.s_[32:64, 0:32, 0:8], mips=[1])
        ours_gone = before - set(ours.cache.list(mip=1))
    assert ours_gone == {"16-32_0-16_0-8.gz"}
    assert theirs_gone == {"32-48_0-16_0-8.gz", "48-64_0-16_0-8.gz", "32-48_16-32_0-8.gz", "48-64_16-32_0-8.gz"}
