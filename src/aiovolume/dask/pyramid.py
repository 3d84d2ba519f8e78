"""``downsample``: build a layer's pyramid (mips ``mip+1 .. mip+num_mips``) on dask.

The plan is made on the client: the new scales are added to the info (``ceil(size / factor)``,
``resolution * factor``, ``voxel_offset // factor``; sharded when the source scale is, or when
asked) and committed; the source scale is cut into blocks aligned to every output's write unit
(chunk, or shard) times ``factor**j``, so each output chunk is written by exactly one task and no
lock is needed; blocks grow by doubling up to ``memory_target`` bytes. Each task reads its block
once and reduces every mip from it (:func:`aiovolume.pipeline.downsample.pyramid`).
"""

from __future__ import annotations

import math
import os
import uuid
from typing import Any, Sequence

import numpy as np

from ..daskarray import VolumeArray, write_unit
from ..exceptions import AlignmentError, OptionError
from ..format.sharding import compute_shard_params
from ..geometry import Bbox
from ..pipeline.downsample import pyramid
from ..pipeline.fanout import run_all
from ..sync import run
from ..volume import Volume

__all__ = ["downsample", "plan_blocks"]

# source bytes per block: the task holds the block, its mips and the reduction's temporaries
_MEMORY_TARGET = 128 << 20


def downsample(cloudpath: str, mip: int = 0, num_mips: int = 1, factor: Sequence[int] = (2, 2, 1),
               method: str | None = None, sparse: bool = False, chunk_size: Sequence[int] | None = None,
               sharded: bool | None = None, client: Any = None, *, fill_missing: bool = False,
               memory_target: int = _MEMORY_TARGET) -> list[int]:
    """Add mips ``mip+1 .. mip+num_mips`` to the layer at ``cloudpath`` and fill them from ``mip``.

    ``method``: None = "average" for images, "mode" for segmentation (ties: the smallest id);
    ``sparse=True`` keeps zeros from winning (mode) or from darkening means (average). Mip ``j``
    is reduced from the source block over ``factor**j`` voxels, never from mip ``j-1``'s rounded
    values. ``chunk_size`` of the new scales defaults to the source scale's; ``sharded`` (None:
    as the source scale) shards them with ``compute_shard_params``. The tasks run on ``client``
    (a ``distributed.Client``) when given, else on dask's active scheduler (threads by default).
    The source's voxel_offset must be a multiple of ``factor**num_mips`` (else output chunks
    would straddle blocks). Returns the mips written.

    >>> downsample("file:///data/image", num_mips=3)                  # doctest: +SKIP
    [1, 2, 3]
    """
    import dask

    factor3 = _factor(factor)
    if isinstance(num_mips, bool) or not isinstance(num_mips, (int, np.integer)) or num_mips < 1:
        raise OptionError(f"downsample: num_mips must be a positive integer, got {num_mips!r}")
    vol = run(Volume.open(cloudpath, mip=mip, fill_missing=fill_missing, progress=False))
    try:
        mip = vol.mip
        if method is None:
            method = "average" if vol.layer_type == "image" else "mode"
        if method not in ("average", "mode"):
            raise OptionError(f"downsample: method must be None, 'average' or 'mode', got {method!r}")
        mips = _add_scales(vol, mip, factor3, int(num_mips), chunk_size, sharded)
        run(vol.commit_info())
        blocks = plan_blocks(vol, mip, mips, factor3, memory_target, 2 * _parallelism(client))
        handle = VolumeArray(vol, mip)
    finally:
        run(vol.close())
    token = uuid.uuid4().hex
    tasks = [dask.delayed(_block, pure=False)(handle, mip, mips, factor3, method, sparse, b,
                                               dask_key_name=f"aiovolume-downsample-{token}-{i}")
             for i, b in enumerate(blocks)]
    if client is not None:
        client.gather(client.compute(tasks))
    else:
        dask.compute(*tasks)
    return mips


def _factor(factor: Any) -> tuple[int, int, int]:
    try:
        f = tuple(int(x) for x in factor)
        exact = all(int(x) == x for x in factor)
    except (TypeError, ValueError):
        f, exact = (), False
    if len(f) != 3 or not exact or min(f) < 1:
        raise OptionError(f"downsample: factor must be 3 positive integers (x, y, z), got {factor!r}")
    return f  # type: ignore[return-value]


def _add_scales(vol: Any, mip: int, factor: tuple[int, int, int], num_mips: int,
                chunk_size: Sequence[int] | None, sharded: bool | None) -> list[int]:
    """Add (or replace) the scales in the live info; returns their mip indices, coarsest last."""
    source = vol.info["scales"][mip]
    offset = [int(o) for o in source.get("voxel_offset", (0, 0, 0))]
    top = [f ** num_mips for f in factor]
    if any(o % t for o, t in zip(offset, top)):
        raise AlignmentError(
            f"downsample: the voxel_offset {offset} of mip {mip} of {vol.cloudpath} is not a multiple of "
            f"factor**num_mips = {top}, so the mips' chunk grids would not line up with the source's; "
            "use fewer mips or a factor that divides the offset")
    if sharded is None:
        sharded = "sharding" in source
    ratio = [int(r) for r in vol.mip_downsample_ratio(mip)]
    chunk = [int(c) for c in (chunk_size if chunk_size is not None else source["chunk_sizes"][0])]
    mips = []
    for j in range(1, num_mips + 1):
        scale = vol.add_scale([r * f ** j for r, f in zip(ratio, factor)], chunk_size=chunk)
        scale.pop("sharding", None)
        if sharded:
            scale["sharding"] = compute_shard_params(
                scale["size"], chunk, vol.info["data_type"], vol.info["num_channels"], scale["encoding"]).to_json()
        index = next(i for i, s in enumerate(vol.info["scales"]) if s["resolution"] == scale["resolution"])
        mips.append(index)
    vol._sync_info()
    return mips


def _parallelism(client: Any) -> int:
    """Tasks that can run at once: the cluster's threads, else this machine's cores (dask's threads)."""
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # a client that cannot say: assume a small cluster
            return 4
    return os.cpu_count() or 1


def plan_blocks(vol: Any, mip: int, mips: Sequence[int], factor: Sequence[int],
                memory_target: int = _MEMORY_TARGET, min_blocks: int = 1) -> list[Bbox]:
    """The source blocks (global coordinates of scale ``mip``): edges a multiple of every output's
    write unit times ``factor**j`` and of the source chunk, doubled (x, y, then z) while the block
    stays within ``memory_target`` bytes and smaller than the volume, and while at least
    ``min_blocks`` blocks remain (so every worker gets work)."""
    bounds = vol.mip_bounds(mip)
    size = [int(s) for s in bounds.size3()]
    edge = [int(c) for c in vol.mip_chunk_size(mip)]
    for j, m in enumerate(mips, 1):
        unit, _ = write_unit(vol, m)
        edge = [math.lcm(e, u * f ** j) for e, u, f in zip(edge, unit, factor)]
    voxel_bytes = np.dtype(vol.dtype).itemsize * int(vol.num_channels)

    def count(e: Sequence[int]) -> int:
        return math.prod(-(-n // k) for n, k in zip(size, e))

    grew = True
    while grew:
        grew = False
        for axis in (0, 1, 2):
            bigger = [e * (2 if a == axis else 1) for a, e in enumerate(edge)]
            if edge[axis] < size[axis] and math.prod(bigger) * voxel_bytes <= memory_target and \
                    count(bigger) >= min(min_blocks, count(edge)):
                edge = bigger
                grew = True
    lo = [int(v) for v in bounds.minpt]
    hi = [int(v) for v in bounds.maxpt]
    out = []
    for z in range(lo[2], hi[2], edge[2]):
        for y in range(lo[1], hi[1], edge[1]):
            for x in range(lo[0], hi[0], edge[0]):
                start = (x, y, z)
                out.append(Bbox(start, [min(s + e, h) for s, e, h in zip(start, edge, hi)]))
    return out


def _block(handle: VolumeArray, mip: int, mips: Sequence[int], factor: Sequence[int], method: str,
           sparse: bool, block: Bbox) -> None:
    """One task: read the block once, write every mip of it."""
    with handle.volume() as vol:
        img = np.asarray(run(vol.download(block, mip=mip)))
        writes = []
        for j, (m, level) in enumerate(zip(mips, pyramid(img, factor, len(mips), method, sparse)), 1):
            f = [x ** j for x in factor]
            lo = [int(v) // x for v, x in zip(block.minpt, f)]
            writes.append(vol.upload(Bbox(lo, [a + s for a, s in zip(lo, level.shape[:3])]), level, mip=m))
        run(run_all(writes))  # the mips' writes side by side, in one hop to the loop
