"""The write algorithm: plan -> (fetch chunks to merge) -> encode -> store, in groups.

Chunks only partly covered by the region (allowed with ``non_aligned_writes``) are merged
with their stored content (read-modify-write), so neighbouring voxels are never lost. Every
chunk is stored atomically by the source; nothing is written before the plan is validated.
Encodes run where ``schedule.choose_mode`` says; for local sources a codec thread encodes
and stores its group in one hop (``ChunkSource.store_now``).
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from functools import partial
from typing import Awaitable, Callable, Sequence

import numpy as np

from ..codecs import ChunkFormat
from ..geometry import Bbox
from ..options import Options
from . import worker
from .executor import codec_threads, process_pool, thread_pool
from .fanout import map_bounded
from .schedule import GROUP, choose_mode, interleave_spans
from .shm import SharedArray
from .source import ChunkSource
from .tasks import ChunkTask
from .worker import EncodeItem, EncodeSpec

# encodes a group's items; returns the tasks whose chunks are all background (to delete)
Encoder = Callable[[list[EncodeItem]], Awaitable[list[ChunkTask]]]


async def write_region(
    source: ChunkSource, fmt: ChunkFormat, region: Bbox, data: np.ndarray, *, compress: str | None,
    compress_level: int | None, background: float = 0, delete_black_uploads: bool = False,
    cache_control: str | None = None, options: Options, on_progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``data`` (``(x, y, z, c)``, already the layer's dtype) into ``region``.

    The caller has checked bounds, shape, dtype and alignment.
    """
    plan = source.plan(region)
    mode = choose_mode(options, fmt, data.nbytes)
    level = options.gzip_level if compress_level is None else compress_level
    spec = EncodeSpec(fmt, compress, level, background, delete_black_uploads)
    store_now = source.store_now() if mode == "thread" else None
    with ExitStack() as stack:
        encode = _encoder(stack, source, mode, data, spec, options, store_now, cache_control)

        async def do_group(group: Sequence[ChunkTask]) -> None:
            merging = [t for t in group if not t.full]
            stored = await source.fetch_fresh_many(merging) if merging else {}
            items = []
            for task in group:
                blob = stored.get(task.position)
                items.append(EncodeItem(task, not task.full, None if blob is None else blob.data,
                                        None if blob is None else blob.encoding))
            background_only = await encode(items)
            if background_only:
                await source.delete_many(background_only)
            if on_progress is not None:
                on_progress(len(group))

        groups = source.groups(plan.tasks)
        if store_now is not None:
            threads = codec_threads()
            await map_bounded(do_group, interleave_spans(groups, threads), 2 * threads)
        else:
            await map_bounded(do_group, groups, max(4, source.fetch_concurrency() // GROUP))


def _encoder(stack: ExitStack, source: ChunkSource, mode: str, data: np.ndarray, spec: EncodeSpec,
             options: Options, store_now: Callable | None, cache_control: str | None) -> Encoder:
    """How a group is encoded and stored in this mode (the loop never blocks on an encode)."""
    loop = asyncio.get_running_loop()
    if store_now is not None:  # local store: encode and store in the same codec-thread hop
        def encode_store(items: list[EncodeItem]) -> list[ChunkTask]:
            # each chunk is written as soon as it is encoded, from this thread's scratch buffer
            # (raw: cut straight into it, or not copied at all when already laid out as stored)
            background = []
            for item, payload in worker.encode_each(data, spec, items, transient=True):
                if payload is None:
                    background.append(item.task)
                else:
                    store_now([(item.task, payload)], spec.method, cache_control)
            return background

        return lambda items: loop.run_in_executor(thread_pool(), encode_store, items)
    if mode == "process":
        shared = stack.enter_context(SharedArray(data.shape, data.dtype))
        shared.array[...] = data  # one copy; workers cut their chunks from it
        pool = process_pool(options.resolved_decode_workers())
        run = partial(pool.run_batch, worker.encode_batch_shm, (shared.name, data.shape, data.dtype.str, spec),
                      key_of=lambda it: it.task.key)
    elif mode == "thread":
        run = lambda items: loop.run_in_executor(thread_pool(), worker.encode_batch, data, spec, items)  # noqa: E731
    else:
        async def run(items: list[EncodeItem]) -> list[bytes | None]:  # type: ignore[misc]
            return worker.encode_batch(data, spec, items)

    group_now = source.group_writer() if mode == "thread" else None

    async def encode_then_store(items: list[EncodeItem]) -> list[ChunkTask]:
        if group_now is not None and not any(it.merge for it in items):
            left = await loop.run_in_executor(thread_pool(), group_now, data, spec, items, cache_control)
            if left is not None:
                return left
        payloads = await run(items)
        puts = [(it.task, p) for it, p in zip(items, payloads) if p is not None]
        if puts:
            await source.store_many(puts, content_encoding=spec.method, cache_control=cache_control)
        return [it.task for it, p in zip(items, payloads) if p is None]

    return encode_then_store
