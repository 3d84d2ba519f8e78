"""Download plan: fetch every chunk of a region concurrently and decode it into the output.

Fetches go in groups (one executor hop per group on file://); each group's compressed bytes
go to the codec executor as one batch that writes straight into the output array — a
shared-memory segment when decoding in processes, so only small status crosses back.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from functools import partial
from typing import Callable

import numpy as np

from ..codecs import ChunkFormat
from ..exceptions import EmptyVolumeException
from ..format.info import ScaleInfo
from ..geometry import Bbox
from ..options import Options
from ..storage.base import Store
from . import worker
from .executor import process_pool, processes_allowed, thread_pool
from .fanout import batched, map_bounded
from .plan import plan_chunks
from .shm import SharedArray, shm_available

GROUP = 16  # chunks per fetch hop / decode batch


def choose_mode(options: Options, fmt: ChunkFormat, nbytes: int) -> str:
    """'process', 'thread' or 'inline' for this request."""
    if options.codec_executor != "auto":
        mode = options.codec_executor
    elif options.resolved_decode_workers() == 0:
        mode = "thread"
    else:
        mode = "process"
    if mode == "process" and not (processes_allowed() and shm_available(nbytes)):
        return "thread"
    return mode


async def read_region(
    store: Store,
    scale: ScaleInfo,
    fmt: ChunkFormat,
    region: Bbox,
    *,
    fill_missing: bool,
    background: float = 0,
    options: Options,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Return region's voxels as an ``(x, y, z, c)`` Fortran-ordered array.

    Voxels outside the volume, and of missing chunks when ``fill_missing``, are ``background``.
    """
    plan = plan_chunks(scale, region)
    shape = (*(int(s) for s in region.size3()), fmt.num_channels)
    dtype = np.dtype(fmt.dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    mode = choose_mode(options, fmt, nbytes)
    loop = asyncio.get_running_loop()

    with ExitStack() as stack:
        if mode == "process":
            shared = stack.enter_context(SharedArray(shape, dtype))  # unlinked on exit, always
            out = shared.array
            pool = process_pool(options.resolved_decode_workers())
            run = partial(pool.run_batch, worker.decode_into_shm, (shared.name, shape, dtype.str, fmt))
        else:
            out = np.zeros(shape, dtype=dtype, order="F")
            if mode == "thread":
                run = lambda tasks, key_of: loop.run_in_executor(  # noqa: E731
                    thread_pool(), worker.decode_into, out, fmt, tasks
                )
            else:
                async def run(tasks, key_of):  # type: ignore[misc]
                    worker.decode_into(out, fmt, tasks)
        if background:
            out[...] = background

        async def do_group(idx: range) -> None:
            keys = [plan.keys[i] for i in idx]
            blobs = await store.get_many(keys)
            tasks = []
            for i, blob in zip(idx, blobs):
                if blob is None:
                    if not fill_missing:
                        raise EmptyVolumeException(
                            f"chunk {store.url}/{plan.keys[i]} is missing; pass fill_missing=True "
                            f"to fill missing chunks with {background}"
                        )
                    continue
                tasks.append((plan.keys[i], blob.data, blob.encoding, plan.shapes[i], plan.in_chunk[i], plan.in_region[i]))
            if tasks:
                await run(tasks, key_of=_task_key)
            if on_progress is not None:
                on_progress(len(idx))

        groups = batched(range(len(plan)), GROUP)
        await map_bounded(do_group, groups, max(4, options.concurrency_for(store.scheme) // GROUP))
        return out


def _task_key(task: tuple) -> str:
    return task[0]
