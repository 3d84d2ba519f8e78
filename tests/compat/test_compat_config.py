"""``vol.config`` and ``vol.pid``, against cloud-volume on the same layer."""

from __future__ import annotations

import os

import numpy as np
import pytest

import aiovolume


@pytest.mark.interop
def test_config_matches_cloudvolume_and_is_live(tmp_path):
    from cloudvolume import CloudVolume as CV

    url = f"file://{tmp_path}/layer"
    aiovolume.CloudVolume.from_numpy(np.zeros((64, 64, 16), np.uint8), vol_path=url, chunk_size=(32, 32, 16),
                                     max_mip=1).close()
    kw = dict(mip=1, cdn_cache=False, compress="gzip", compress_level=3, green_threads=False, progress=False)
    theirs = CV(url, **kw)
    with aiovolume.CloudVolume(url, **kw) as ours:
        for name in ("cdn_cache", "compress", "compress_level", "green", "mip", "progress", "cache_locking",
                     "spatial_index_db"):
            assert getattr(ours.config, name) == getattr(theirs.config, name), name
        ours.config.mip = 0
        assert ours.mip == 0 and ours.config.mip == 0
        ours.config.progress = True
        assert ours.progress is True
        with pytest.raises(AttributeError, match="no 'nonsense'"):
            ours.config.nonsense
        assert ours.pid == os.getpid() == theirs.pid
