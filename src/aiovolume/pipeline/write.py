"""Upload plan: cut the region into chunks, encode them off the loop, PUT them concurrently.

Chunks only partly covered by the region (allowed with ``non_aligned_writes``) are merged
with their stored content (read-modify-write), so neighbouring voxels are never lost.
Every chunk PUT is atomic in the store; nothing is written before the plan is validated.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from functools import partial
from typing import Callable

import numpy as np

from ..codecs import ChunkFormat
from ..format.info import ScaleInfo
from ..geometry import Bbox
from ..options import Options
from ..storage.base import PutItem, Store
from . import worker
from .worker import WRITTEN
from .executor import codec_threads, process_pool, thread_pool
from .fanout import batched, map_bounded
from .plan import plan_chunks
from .read import GROUP, choose_mode, interleave_spans
from .shm import SharedArray


async def write_region(
    store: Store,
    scale: ScaleInfo,
    fmt: ChunkFormat,
    region: Bbox,
    data: np.ndarray,
    *,
    compress: str | None,
    compress_level: int | None,
    background: float = 0,
    delete_black_uploads: bool = False,
    cache_control: str | None = None,
    options: Options,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``data`` (``(x, y, z, c)``, already the layer's dtype) into ``region``.

    The caller has checked bounds, shape, dtype and alignment.
    """
    plan = plan_chunks(scale, region)
    mode = choose_mode(options, fmt, data.nbytes)
    loop = asyncio.get_running_loop()
    level = options.gzip_level if compress_level is None else compress_level
    common = (fmt, compress, level, background, delete_black_uploads)

    writer = store.blocking_writer() if mode == "thread" else None

    def write(pairs: list[tuple[str, bytes]]) -> None:
        writer([PutItem(k, d, content_encoding=compress, cache_control=cache_control) for k, d in pairs])

    with ExitStack() as stack:
        if mode == "process":
            shared = stack.enter_context(SharedArray(data.shape, data.dtype))
            shared.array[...] = data  # one copy; workers cut their chunks from it
            pool = process_pool(options.resolved_decode_workers())
            encode = partial(pool.run_batch, worker.encode_from_shm, (shared.name, data.shape, data.dtype.str, *common))
        elif writer is not None:  # local store: encode and write in the same codec-thread hop
            encode = lambda tasks, key_of: loop.run_in_executor(  # noqa: E731
                thread_pool(), worker.encode_write, data, *common, write, tasks
            )
        elif mode == "thread":
            encode = lambda tasks, key_of: loop.run_in_executor(  # noqa: E731
                thread_pool(), worker.encode_from, data, *common, tasks
            )
        else:
            async def encode(tasks, key_of):  # type: ignore[misc]
                return worker.encode_from(data, *common, tasks)

        async def do_group(idx: range) -> None:
            partial_idx = [i for i in idx if not plan.full[i]]
            existing: dict[int, tuple] = {}
            if partial_idx:
                blobs = await store.get_many([plan.keys[i] for i in partial_idx])
                existing = {i: ((b.data, b.encoding) if b is not None else ()) for i, b in zip(partial_idx, blobs)}
            tasks = [
                (plan.keys[i], plan.in_region[i], plan.shapes[i], plan.in_chunk[i], existing.get(i))
                for i in idx
            ]
            encoded = await encode(tasks, key_of=_task_key)
            puts, deletes = [], []
            for task, payload in zip(tasks, encoded):
                if payload is None:
                    deletes.append(task[0])
                elif payload is not WRITTEN:
                    puts.append(PutItem(task[0], payload, content_encoding=compress, cache_control=cache_control))
            if puts:
                await store.put_many(puts)
            if deletes:
                await store.delete_many(deletes)
            if on_progress is not None:
                on_progress(len(idx))

        groups = batched(range(len(plan)), GROUP)
        if writer is not None:
            threads = codec_threads()
            await map_bounded(do_group, interleave_spans(groups, threads), 2 * threads)
        else:
            await map_bounded(do_group, groups, max(4, options.concurrency_for(store.scheme) // GROUP))


def _task_key(task: tuple) -> str:
    return task[0]
