"""Builders shared by the transfer tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aiovolume import Volume
from volume_helpers import make_info, random_volume

SIZE = (130, 100, 40)  # edge chunks on every axis with 64x64x16 chunks
OFFSET = (-70, 5, -16)


def url(tmp_path: Path, name: str) -> str:
    return "file://" + str(tmp_path / name)


def stored_files(layer_dir: Path, key: str = "4_4_40") -> dict[str, bytes]:
    """``{file name: bytes}`` of a scale directory, as on disk."""
    root = layer_dir / key
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def labels(shape, seed=0) -> np.ndarray:
    """Segmentation-like uint32 labels: few distinct values in blobs (compresses like real labels)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 50, size=tuple(-(-s // 8) for s in shape[:3]), dtype=np.uint32)
    img = np.repeat(np.repeat(np.repeat(coarse, 8, 0), 8, 1), 8, 2)[:shape[0], :shape[1], :shape[2]]
    return np.asfortranarray(img[..., np.newaxis])


async def make_layer(path: str, dtype: str = "uint8", encoding: str = "raw", sharded: bool = False,
                     compress=None, data: np.ndarray | None = None, layer_type: str = "image",
                     size=SIZE, offset=OFFSET, chunk=(64, 64, 16)) -> np.ndarray:
    info = make_info(dtype, 1, size=size, offset=offset, chunk=chunk, encoding=encoding, layer_type=layer_type)
    if sharded:
        from aiovolume.format.sharding import compute_shard_params

        scale = info["scales"][0]
        # small shards: several per layer, so whole-shard and partial-shard paths both run
        spec = compute_shard_params(scale["size"], scale["chunk_sizes"][0], dtype, 1, encoding,
                                    max_shard_bytes=4 * 64 * 64 * 16 * np.dtype(dtype).itemsize)
        scale["sharding"] = spec.to_json()
    if data is None:
        data = labels((*size, 1)) if dtype == "uint32" else random_volume((*size, 1), dtype, seed=1)
    async with Volume(path, info=info, compress=compress) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    return data


def layer_dir(path: str) -> Path:
    return Path(path.removeprefix("file://"))


def nbytes_on_disk(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(layer_dir(path)) for f in fs)
