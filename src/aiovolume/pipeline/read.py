"""Download plan: fetch every chunk of a region concurrently and decode it into the output.

Fetches go in groups (one executor hop per group on file://); each group's compressed bytes
go to the codec executor as one batch that writes straight into the output array — a
shared-memory segment when decoding in processes, so only small status crosses back.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from contextlib import ExitStack
from functools import partial
from typing import Callable, Sequence

import numpy as np

from ..codecs import ChunkFormat, prefers_processes
from ..exceptions import DecodingError, EmptyVolumeException
from ..format.info import ScaleInfo
from ..geometry import Bbox
from ..options import Options
from ..storage.base import Blob, Store
from . import worker
from .chunkcache import ChunkCache
from .executor import codec_threads, process_pool, processes_allowed, thread_pool
from .fanout import batched, map_bounded
from .plan import ChunkPlan, plan_chunks
from .shm import SharedArray, shm_available

GROUP = 16  # chunks per fetch hop / decode batch
INLINE_CACHED_BYTES = 4 << 20  # reads this small, all from the chunk cache, copy in the event loop
INLINE_BYTES = 1 << 20  # raw reads this small (and of so few chunks) may read in the event loop
INLINE_CHUNKS = 8
# Blocking callers' raw reads up to this size may run in their own thread. Measured crossover
# (facade, aligned reads, 2 cores): 8 MiB 4.1 ms here against 5.0 through threads; 16 MiB
# 8.0 against 6.5; S7's 8.6 MiB cutout 2.95 against 4.85.
HERE_BYTES = 12 << 20
# INLINE_MISSES reads "now" (see _read_now) taking longer than this per chunk (page-cache reads
# take 10-100 us): that store's reads all go to threads
INLINE_SLOW_S = 0.001
INLINE_MISSES = 3
_inline_misses: "weakref.WeakKeyDictionary[Store, int]" = weakref.WeakKeyDictionary()


def choose_mode(options: Options, fmt: ChunkFormat, nbytes: int) -> str:
    """'process', 'thread' or 'inline' for this request.

    "auto": codecs that can crash on corrupt input or hold the GIL for long (``prefers_processes``:
    fpzip, kempressed, compresso, crackle) run in worker processes; raw/gzip, jpeg, png and
    compressed_segmentation never crash after validation and measured faster in threads (benchmarks/).
    ``decode_workers=0`` or an explicit executor is the user's choice, and then only each codec's
    input validation guards the process.
    """
    if options.codec_executor != "auto":
        mode = options.codec_executor
    elif options.resolved_decode_workers() == 0 or not prefers_processes(fmt.encoding):
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
    cache: ChunkCache | None = None,
) -> np.ndarray:
    """Return region's voxels as an ``(x, y, z, c)`` Fortran-ordered array.

    Voxels outside the volume, and of missing chunks when ``fill_missing``, are ``background``.
    ``cache`` (decoded chunks, CloudVolume's ``lru_bytes``) serves and keeps chunks decoded in
    this process, i.e. not those of codecs decoded in worker processes.
    """
    plan, shape, dtype, nbytes = _layout(scale, fmt, region)
    mode = choose_mode(options, fmt, nbytes)
    early = None  # a small raw read tried here, from the page cache: (out, results)
    if mode == "thread" and inline_candidate(store, fmt, nbytes, len(plan)):
        out = _allocate(shape, dtype, plan.covers, background)
        results = _read_now(store, fmt, store.blocking_reader(), out, plan, cache)
        if all(r is None for r in results):  # the usual case: done before any of the machinery
            if on_progress is not None:
                on_progress(len(plan))
            return out
        early = (out, results)
    loop = asyncio.get_running_loop()

    if mode == "process":
        cache = None
    with ExitStack() as stack:
        if mode == "process":
            shared = stack.enter_context(SharedArray(shape, dtype))  # unlinked on exit, always
            out = shared.array
            pool = process_pool(options.resolved_decode_workers())
            run = partial(
                pool.run_batch, worker.decode_into_shm, (shared.name, shape, dtype.str, fmt), crash_result=str
            )
        else:
            out = early[0] if early is not None else _allocate(shape, dtype, plan.covers, background)
            if mode == "thread":
                run = lambda tasks, key_of: loop.run_in_executor(  # noqa: E731
                    thread_pool(), worker.decode_into, out, fmt, tasks, cache
                )
            else:
                async def run(tasks, key_of):  # type: ignore[misc]
                    return worker.decode_into(out, fmt, tasks, cache)
        if mode == "process" and background and not plan.covers:
            out[...] = background

        def task_of(i: int, blob: Blob | None) -> tuple | None:
            if blob is None:
                missing(i)
                return None
            return (plan.keys[i], blob.data, blob.encoding, plan.shapes[i], plan.in_chunk[i], plan.in_region[i])

        async def refetch(i: int, error: str) -> None:
            # Bytes that fail to decode may have been damaged in transit where no checksum
            # covers them (plain HTTP, stores without hashes): fetch again, like any retry.
            for _ in range(1, options.retry.max_attempts):
                task = task_of(i, await store.get(plan.keys[i]))
                if task is None:
                    return
                (error,) = await run([task], key_of=_task_key)
                if error is None:
                    return
            raise DecodingError(f"{error} (in {options.retry.max_attempts} fetches from {store.url})")

        def missing(i: int) -> None:
            if not fill_missing:
                raise EmptyVolumeException(
                    f"chunk {store.url}/{plan.keys[i]} is missing; pass fill_missing=True "
                    f"to fill missing chunks with {background}"
                )
            out[worker.slices_of(plan.in_region[i])] = background  # out may be uninitialised there

        async def settle(idx: Sequence[int], results: list) -> None:
            for i, result in zip(idx, results):
                if result is False:
                    missing(i)
                elif result is not None:
                    await refetch(i, result)
            if on_progress is not None:
                on_progress(len(idx))

        async def do_local_group(idx: Sequence[int]) -> None:
            # local store, codec in threads: read and decode in the same hop
            results = await loop.run_in_executor(
                thread_pool(), worker.fetch_decode_into, out, fmt, reader, _local_tasks(plan, idx), cache
            )
            await settle(idx, results)

        def cached_task(i: int) -> tuple:
            # no payload: decode_into copies the chunk from the cache
            return (plan.keys[i], None, None, plan.shapes[i], plan.in_chunk[i], plan.in_region[i])

        async def do_group(idx: range) -> None:
            cached = {i for i in idx if cache is not None and plan.keys[i] in cache}
            fetch = [i for i in idx if i not in cached]
            blobs = await store.get_many([plan.keys[i] for i in fetch])
            found = [(i, t) for i, t in ((i, task_of(i, b)) for i, b in zip(fetch, blobs)) if t is not None]
            found += [(i, cached_task(i)) for i in sorted(cached)]
            if found:
                errors = await run([t for _, t in found], key_of=_task_key)
                for (i, _), error in zip(found, errors):
                    if error is not None:
                        await refetch(i, error)
            if on_progress is not None:
                on_progress(len(idx))

        if cache is not None and out.nbytes <= INLINE_CACHED_BYTES and all(k in cache for k in plan.keys):
            # a small read of cached chunks only: copying here beats any hop to a thread
            hits = [cached_task(i) for i in range(len(plan))]
            for i, error in enumerate(worker.decode_into(out, fmt, hits, cache)):
                if error is not None:  # evicted meanwhile
                    await refetch(i, error)
            if on_progress is not None:
                on_progress(len(plan))
            return out
        reader = store.blocking_reader() if mode == "thread" else None
        if reader is not None:
            todo: Sequence[int] = range(len(plan))
            if early is not None:  # finish what the early read did, and do what it left
                results = early[1]
                left = {i for i, r in enumerate(results) if r is worker.DEFERRED or r is worker.COMPRESSED}
                done = [i for i in range(len(plan)) if i not in left]
                await settle(done, [results[i] for i in done])
                todo = sorted(left)
            threads = codec_threads()
            groups = batched(todo, local_group_size(len(todo), threads))
            if len(groups) == 1:  # small reads: no task machinery
                await do_local_group(groups[0])
            elif groups:
                await map_bounded(do_local_group, interleave_spans(groups, threads), 2 * threads)
        else:
            groups = batched(range(len(plan)), GROUP)
            await map_bounded(do_group, groups, max(4, options.concurrency_for(store.scheme) // GROUP))
        return out


def read_region_here(
    store: Store,
    scale: ScaleInfo,
    fmt: ChunkFormat,
    region: Bbox,
    *,
    fill_missing: bool,
    background: float = 0,
    options: Options,
    cache: ChunkCache | None = None,
) -> np.ndarray | None:
    """:func:`read_region`, done in the calling thread; None when it cannot be all done here.

    For blocking callers, which wait anyway: a local read of raw chunks (a copy, no decoding)
    up to HERE_BYTES whose bytes are all in the page cache. On 2 cores, two threads copying
    raw chunks ran no faster than one (memory-bound: each used 1.6x the CPU per byte), so
    the hand-offs to the loop and the threads were pure cost (S7-raw: 4.7 ms against 3 ms).
    Anything else (a chunk on disk only, compressed, corrupt or missing without
    ``fill_missing``) is None, and the caller takes read_region, which handles it all.
    """
    reader = store.blocking_reader()
    if reader is None or not may_read_now(store, fmt):
        return None
    plan, shape, dtype, nbytes = _layout(scale, fmt, region)
    if nbytes > HERE_BYTES or choose_mode(options, fmt, nbytes) != "thread":
        return None
    out = _allocate(shape, dtype, plan.covers, background)
    for i, result in enumerate(_read_now(store, fmt, reader, out, plan, cache)):
        if result is None:
            continue
        if result is False and fill_missing:
            out[worker.slices_of(plan.in_region[i])] = background
            continue
        return None
    return out


def _layout(scale: ScaleInfo, fmt: ChunkFormat, region: Bbox) -> tuple[ChunkPlan, tuple, np.dtype, int]:
    """The chunk plan of a read, and its output's shape, dtype and size in bytes."""
    shape = (*(int(s) for s in region.size3()), fmt.num_channels)
    dtype = np.dtype(fmt.dtype)
    return plan_chunks(scale, region), shape, dtype, math.prod(shape) * dtype.itemsize


def may_read_now(store: Store, fmt: ChunkFormat) -> bool:
    """Whether reads of this layer may be tried in the loop's or the caller's thread at all."""
    return fmt.encoding == "raw" and store.reads_without_waiting and _inline_misses.get(store, 0) < INLINE_MISSES


def _local_tasks(plan: ChunkPlan, idx: Sequence[int]) -> list[tuple]:
    """fetch_decode_into's ``(key, shape, src, dst)`` tasks for these chunks of the plan."""
    return [(plan.keys[i], plan.shapes[i], plan.in_chunk[i], plan.in_region[i]) for i in idx]


def _read_now(store: Store, fmt: ChunkFormat, reader: Callable, out: np.ndarray, plan: ChunkPlan,
              cache: ChunkCache | None) -> list:
    """fetch_decode_into every chunk of ``plan`` from the page cache (``nowait``), in this thread,
    and remember when ``store`` turns out not worth it: compressed chunks, or slow reads."""
    started = time.perf_counter()
    results = worker.fetch_decode_into(out, fmt, reader, _local_tasks(plan, range(len(plan))), cache, nowait=True)
    if worker.COMPRESSED in results:  # decoding work: this layer's reads go to threads
        _inline_misses[store] = INLINE_MISSES
    elif time.perf_counter() - started > INLINE_SLOW_S * max(1, len(plan)):  # e.g. metadata over a network
        _inline_misses[store] = _inline_misses.get(store, 0) + 1
    return results


def inline_candidate(store: Store, fmt: ChunkFormat, nbytes: int, chunks: int) -> bool:
    """Whether a local read is small and cheap enough to do in the event loop thread.

    Handing a small read to a thread and back cost more CPU than the read (profiled on S8-raw,
    1000 32^3 cutouts of plain raw chunks: 0.48 ms of CPU per cutout through a thread, 0.22
    here). Only raw chunks (a copy, no decoding) and outputs up to INLINE_BYTES qualify, only
    bytes already in the page cache are read (``nowait``), and a store is not read here again
    once its chunks turn out transport-compressed or its reads here were slow INLINE_MISSES
    times (file metadata over a network, say).
    """
    return nbytes <= INLINE_BYTES and chunks <= INLINE_CHUNKS and may_read_now(store, fmt)


_HUGE_PAGE = 2 << 20
HUGE_ALIGN_FROM = 4 << 20  # numpy's threshold for madvise(MADV_HUGEPAGE)


def _allocate(shape: tuple, dtype: np.dtype, covered: bool, background: float) -> np.ndarray:
    """The output array: uninitialised where chunks will cover all of it, else background.

    Zeroing is not free: past glibc's mmap threshold (which grows to 32 MiB as large blocks
    are freed) calloc memsets reused heap memory, and numpy drops the GIL around it (profiled:
    a 9 MiB zero fill was a tenth of a 300x300x100 raw read, serial, before any copy).
    Every voxel not written by a chunk is filled: missing chunks by ``missing``, the region
    outside the volume here.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < HUGE_ALIGN_FROM:
        if covered:
            return np.empty(shape, dtype=dtype, order="F")
        return np.full(shape, background, dtype=dtype, order="F") if background else \
            np.zeros(shape, dtype=dtype, order="F")
    # Start on a 2 MiB boundary: numpy asks for transparent huge pages from 4 MiB up, but only
    # whole aligned 2 MiB ranges get them, and the rest of a fresh buffer faults in 4 KiB at a
    # time (measured on a 9 MiB output: 633 faults and 1.74 ms to fill it; aligned, 0.61 ms).
    raw = np.empty(nbytes + _HUGE_PAGE, dtype=np.uint8)
    skip = -raw.ctypes.data % _HUGE_PAGE
    out = raw[skip : skip + nbytes].view(dtype).reshape(shape, order="F")
    if not covered:
        out[...] = background
    return out


def local_group_size(n: int, threads: int) -> int:
    """Chunks per codec-thread hop for a local read of ``n`` chunks.

    A few chunks: one hop (concurrent small reads already keep the threads busy, and every hop
    costs thread wake-ups). Up to a few groups' worth: one contiguous share per thread, which
    measured faster than finer groups (S7: 24 ms against 26; no tail where one thread idles).
    Large reads: GROUP-sized hops, so progress, cancellation and balance stay fine-grained.
    """
    if n <= 4:
        return max(1, n)
    if n <= 2 * threads * GROUP:
        return -(-n // threads)
    return GROUP


def interleave_spans(groups: list, k: int) -> list:
    """Groups reordered as k contiguous spans taken in turn: [0, n/k, 1, n/k+1, ...].

    Groups run side by side then write far-apart parts of the output; neighbouring groups
    share its (huge) pages, and threads faulting in the same page wait for each other
    (profiled: two threads ran at the speed of one).
    """
    span = -(-len(groups) // max(1, k))
    return [groups[j] for i in range(span) for j in range(i, len(groups), span)]


def _task_key(task: tuple) -> str:
    return task[0]
