"""Shared by the shared-memory tests: a small layer, and locations that must be gone afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from aiovolume import CloudVolume
from aiovolume.format.info import create_new_info

SIZE = (100, 90, 40)
CHUNK = (32, 32, 16)  # edge-clipped chunks on every axis


def make_layer(path, dtype="uint16", channels=2, encoding="raw", layer_type="image", compress=None, seed=0,
               **kwargs):
    """A written layer and its data (x, y, z, c)."""
    info = create_new_info(num_channels=channels, layer_type=layer_type, data_type=dtype, encoding=encoding,
                           resolution=[4, 4, 40], voxel_offset=[3, -5, 7], volume_size=list(SIZE),
                           chunk_size=list(CHUNK))
    vol = CloudVolume("file://" + str(path), info=info, progress=False, compress=compress, **kwargs)
    vol.commit_info()
    data = pattern((*SIZE, channels), dtype, seed)
    vol[:, :, :] = data
    return vol, data


def pattern(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x, y, z, c = np.indices(shape)
        return (np.sin(x / 7.0) * 100 + y - z * 3.5 + c + rng.normal(0, 1, shape)).astype(dt)
    x, y, z, c = np.indices(shape)
    labels = 1 + x // 9 + 11 * (y // 7) + 300 * (z // 5) + 7000 * c
    return (labels + rng.integers(0, 2, shape)).astype(dt) if dt.itemsize > 1 else rng.integers(0, 255, shape).astype(dt)


def in_dev_shm(location: str) -> bool:
    return os.path.exists("/dev/shm/" + location.lstrip("/"))


def run_child(code: str) -> str:
    """Run ``code`` in a fresh Python process; its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _locations() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("precomputed-shm-")}


@pytest.fixture(autouse=True)
def no_leftover_locations():
    """Import into a test module: every CloudVolume-style location a test makes is gone after it."""
    before = _locations()
    yield
    left = _locations() - before
    for name in left:  # remove them, so one failure does not fail every later test
        os.unlink("/dev/shm/" + name)
    assert not left, f"left in /dev/shm: {sorted(left)}"
