"""A whole shard file built in one codec-thread hop, for writes that cover every chunk of a shard.

Raw chunks (raw ``encoding``, raw ``data_encoding``) are cut from the source array straight into
their place in the shard file: one copy of the voxels (numpy's assignment, which releases the
GIL), where encoding each chunk to bytes and then joining them into a shard cost three (S6
write, issue 13). Other encodings are encoded chunk by chunk and assembled by ``encode_shard``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..format.sharding import ShardingSpec, encode_shard, shard_layout
from .placement import slices_of
from .worker import EncodeItem, EncodeSpec, encode_batch


def build_shard(spec: ShardingSpec, src: np.ndarray, encode: EncodeSpec, items: Sequence[EncodeItem],
                codes: Sequence[int]) -> bytes | memoryview | None:
    """The shard file of the items' chunks, without the all-background ones when
    ``delete_black_uploads`` (None: every chunk is background). ``codes[i]`` is the key of
    ``items[i]``; no item is a merge (the write covers each chunk)."""
    keys = {code: it for code, it in zip(codes, items)
            if not encode.skip_background or np.any(src[slices_of(it.task.in_region)] != encode.background)}
    if not keys:
        return None
    if encode.fmt.encoding == "raw" and encode.method is None:
        return _raw_in_place(spec, src, encode, keys)
    payloads = encode_batch(src, encode, list(keys.values()))
    return encode_shard(spec, dict(zip(keys, payloads)))  # type: ignore[arg-type]


def _raw_in_place(spec: ShardingSpec, src: np.ndarray, encode: EncodeSpec,
                  keys: dict[int, EncodeItem]) -> memoryview:
    fmt = encode.fmt
    dtype = np.dtype(fmt.np_dtype)
    shapes = {k: (*it.task.shape, fmt.num_channels) for k, it in keys.items()}
    layout = shard_layout(spec, {k: math.prod(s) * dtype.itemsize for k, s in shapes.items()})
    out = np.empty(layout.size, dtype=np.uint8)
    out[:len(layout.head)] = np.frombuffer(layout.head, dtype=np.uint8)
    for key, offset in zip(layout.keys, layout.offsets):
        shape = shapes[key]
        n = math.prod(shape) * dtype.itemsize
        # a raw chunk is its (x, y, z, c) voxels in Fortran order
        place = out[offset:offset + n].view(dtype).reshape(shape, order="F")
        place[...] = src[slices_of(keys[key].task.in_region)]
    out[layout.size - len(layout.tail):] = np.frombuffer(layout.tail, dtype=np.uint8)
    return memoryview(out)
