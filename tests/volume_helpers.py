"""Small builders shared by the volume tests."""

from __future__ import annotations

import numpy as np

from aiovolume.format.info import create_new_info


def make_info(dtype="uint8", channels=1, size=(130, 100, 40), offset=(0, 0, 0), chunk=(64, 64, 16),
              layer_type="image", encoding="raw", max_mip=0):
    return create_new_info(
        num_channels=channels, layer_type=layer_type, data_type=dtype, encoding=encoding,
        resolution=[4, 4, 40], voxel_offset=list(offset), volume_size=list(size),
        chunk_size=list(chunk), max_mip=max_mip,
    )


def random_volume(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.normal(0, 1000, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
