"""Two processes filling one disk cache at the same time: both read exact data, and the cache
they leave holds only whole, correct chunks (every file is written by temp file + rename)."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np

from aiovolume import CloudVolume
from aiovolume.storage.file import TMP_PREFIX
from cache_helpers import fill_cache_worker, layer_dir, make_layer


def test_two_processes_fill_one_cache(tmp_path):
    url, data = make_layer(tmp_path / "origin")
    base = str(tmp_path / "cache")
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=fill_cache_worker, args=(url, base, seed, barrier, out)) for seed in (1, 2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for seed in (1, 2):
        for mip in range(3):
            np.testing.assert_array_equal(results[seed][mip], data[mip])
    with CloudVolume(url, cache=base, progress=False) as vol:
        assert vol.cache.num_files(all_mips=True) == [128, 32, 8]
        leftovers = [n for _, _, files in os.walk(vol.cache.path) for n in files if n.startswith(TMP_PREFIX)]
        assert leftovers == []
    # every cached chunk decodes to the right data on its own: read with the origin's chunks gone
    for key in ("4_4_40", "8_8_40", "16_16_40"):
        for name in os.listdir(os.path.join(layer_dir(url), key)):
            os.remove(os.path.join(layer_dir(url), key, name))
    with CloudVolume(url, cache=base, progress=False) as vol:
        for mip in range(3):
            np.testing.assert_array_equal(vol.download(vol.mip_bounds(mip), mip=mip), data[mip])
