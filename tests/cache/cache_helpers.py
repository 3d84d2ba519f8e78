"""Layers for the disk-cache tests: a small raw layer with three mips, written without a cache."""

from __future__ import annotations

import os

import numpy as np

from aiovolume import CloudVolume
from aiovolume.format.info import create_new_info

SIZE, CHUNK = (128, 128, 16), (16, 16, 8)


def make_layer(root, name="layer", mips=3, encoding="raw", seed=0):
    """A ``file://`` layer (``SIZE``, ``CHUNK``, factor 2 2 1 per mip) filled with random data at
    every mip; returns its URL and ``{mip: array}``."""
    url = f"file://{root}/ds/{name}"
    info = create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding=encoding,
                           resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=list(SIZE),
                           chunk_size=list(CHUNK), max_mip=mips - 1)
    rng = np.random.default_rng(seed)
    data = {}
    with CloudVolume(url, info=info, progress=False) as vol:
        vol.commit_info()
        for mip in range(mips):
            shape = tuple(int(s) for s in vol.mip_volume_size(mip))
            data[mip] = rng.integers(0, 255, size=(*shape, 1), dtype=np.uint8, endpoint=True)
            vol.upload(vol.mip_bounds(mip), data[mip], mip=mip)
    return url, data


def layer_dir(url):
    return url[len("file://"):]


def chunk_files(directory):
    """File names in ``directory`` (none if it does not exist), temp files included."""
    return set(os.listdir(directory)) if os.path.isdir(directory) else set()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def fill_cache_worker(url, base, seed, barrier, out):
    """In a child process: read every chunk of every mip through the cache, in a shuffled order,
    starting together with the other workers; put ``(seed, {mip: array})`` on ``out``."""
    rng = np.random.default_rng(seed)
    with CloudVolume(url, cache=base, progress=False) as vol:
        got = {}
        barrier.wait()
        for mip in range(len(vol.available_mips)):
            bounds = vol.mip_bounds(mip)
            shape = tuple(int(s) for s in bounds.size3())
            img = np.zeros((*shape, 1), np.uint8)
            boxes = [(x, y, z) for x in range(0, shape[0], CHUNK[0]) for y in range(0, shape[1], CHUNK[1])
                     for z in range(0, shape[2], CHUNK[2])]
            for i in rng.permutation(len(boxes)):
                x, y, z = boxes[i]
                img[x:x + CHUNK[0], y:y + CHUNK[1], z:z + CHUNK[2]] = vol.download(
                    np.s_[x:x + CHUNK[0], y:y + CHUNK[1], z:z + CHUNK[2]], mip=mip)
            got[mip] = img
    out.put((seed, got))


SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
            "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}


def make_sharded_layer(root, name="sharded"):
    """A one-mip layer (``SIZE``, ``CHUNK``: 8 x 8 x 2 chunks) stored in 4 shard files."""
    url = f"file://{root}/ds/{name}"
    info = create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
                           resolution=[4, 4, 40], voxel_offset=[0, 0, 0], volume_size=list(SIZE),
                           chunk_size=list(CHUNK))
    info["scales"][0]["sharding"] = dict(SHARDING)
    data = np.random.default_rng(5).integers(0, 255, size=(*SIZE, 1), dtype=np.uint8, endpoint=True)
    with CloudVolume(url, info=info, progress=False) as vol:
        vol.commit_info()
        vol[:, :, :] = data
    return url, data
