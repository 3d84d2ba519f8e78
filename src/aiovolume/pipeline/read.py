"""The read algorithm: one job per request, started once, finished wherever its chunks can be read.

1. :func:`start_read` plans the chunks (``ChunkSource.plan``), picks where decodes run
   (``schedule.choose_mode``) and allocates the output (``placement.allocate``).
2. :func:`read_now` reads and places chunks in the current thread within a budget
   (``ChunkSource.fetch_now`` -> ``placement.decode_place``) and returns what it left. The
   blocking facade calls it in the caller's thread (:func:`read_here`), the loop for small
   reads (:func:`read_in_loop`), and codec threads for local reads (they may wait for a disk).
3. :func:`finish_read` does what is left: local chunks in codec-thread hops (read + decode in
   one hop); remote ones fetched concurrently (``ChunkSource.fetch_many``), then decoded in
   threads, inline, or in worker processes into shared memory. Corrupt chunks are fetched
   again; missing ones are background with ``fill_missing``, else EmptyVolumeException.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import numpy as np

from ..codecs import ChunkFormat
from ..exceptions import DecodingError, EmptyVolumeException
from ..geometry import Bbox
from ..options import Options
from ..storage.base import Blob
from . import worker
from .chunkcache import ChunkCache
from .executor import codec_threads, process_pool, thread_pool
from .fanout import map_bounded
from .placement import allocate, decode_place, fill, place_cached, raw_windows
from .schedule import GROUP, batched, choose_mode, interleave_spans, local_group_size
from .shm import SharedArray
from .source import NOTHING, WAIT, Budget, ChunkSource
from .tasks import COMPRESSED, DEFERRED, DONE, ChunkPlan, ChunkResult, ChunkTask, Outcome
from .worker import DecodeItem

INLINE_CACHED_BYTES = 4 << 20  # reads this small, all from the chunk cache, copy in the event loop
INLINE_BYTES = 1 << 20  # raw reads this small (and of so few chunks) may read in the event loop
INLINE_CHUNKS = 8
# Blocking callers' raw reads up to this size may run in their own thread. Measured crossover
# (facade, aligned reads, 2 cores): 8 MiB 4.1 ms here against 5.0 through threads; 16 MiB
# 8.0 against 6.5; S7's 8.6 MiB cutout 2.95 against 4.85.
HERE_BYTES = 12 << 20
# Page-cache reads take 10-100 us a chunk; a now-read slower than this per chunk gives up
# (a file:// mount whose metadata goes over a network), and ChunkSource stops offering them.
NOW_SECONDS_PER_CHUNK = 0.001

Left = tuple[ChunkTask, ChunkResult]
_CACHED = object()


@dataclass(eq=False, slots=True)
class ReadJob:
    """One read request: its plan, its output and what is still to do.

    ``todo``: chunks not read yet (or deferred); ``corrupt``: chunks read whose bytes did not
    decode, with why (finish_read fetches them again).
    """

    source: ChunkSource
    fmt: ChunkFormat
    plan: ChunkPlan
    shape: tuple[int, int, int, int]
    dtype: np.dtype
    mode: str  # where decodes run: "thread", "inline" or "process"
    fill_missing: bool
    background: float
    options: Options
    cache: ChunkCache | None
    on_progress: Callable[[int], None] | None
    nbytes: int
    todo: list[ChunkTask]
    corrupt: list[tuple[ChunkTask, str]] = field(default_factory=list)
    out: np.ndarray | None = None  # None until finish_read, for "process" (shared memory)
    shm_name: str | None = None  # the output's shared-memory segment, for "process"
    tried_now: bool = False  # a now-read was tried (read_here): the loop does not repeat it

    def missing(self, task: ChunkTask) -> None:
        if not self.fill_missing:
            raise EmptyVolumeException(
                f"chunk {self.source.url}/{task.key} is missing; pass fill_missing=True "
                f"to fill missing chunks with {self.background}"
            )
        fill(self.out, task, self.background)  # type: ignore[arg-type]  (out may be uninitialised there)

    def progress(self, n: int) -> None:
        if self.on_progress is not None and n:
            self.on_progress(n)


def start_read(source: ChunkSource, fmt: ChunkFormat, region: Bbox, *, fill_missing: bool, background: float,
               options: Options, cache: ChunkCache | None = None,
               on_progress: Callable[[int], None] | None = None) -> ReadJob:
    """Plan a read of ``region`` as an ``(x, y, z, c)`` Fortran-ordered array; no I/O yet.

    ``cache`` (decoded chunks, CloudVolume's ``lru_bytes``) serves and keeps chunks decoded in
    this process, i.e. not those of codecs decoded in worker processes.
    """
    job = _new_job(source, fmt, region, fill_missing, background, options, cache, on_progress)
    if job.mode != "process":
        job.out = allocate(job.shape, job.dtype, job.plan.covers, background)
    return job


def _new_job(source: ChunkSource, fmt: ChunkFormat, region: Bbox, fill_missing: bool, background: float,
             options: Options, cache: ChunkCache | None, on_progress: Callable[[int], None] | None) -> ReadJob:
    """The plan, output shape and decode mode of a read; its output is the caller's to set."""
    plan = source.plan(region)
    shape = (*(int(s) for s in region.size3()), fmt.num_channels)
    dtype = np.dtype(fmt.dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    mode = choose_mode(options, fmt, nbytes)
    return ReadJob(source, fmt, plan, shape, dtype, mode, fill_missing, background, options,  # type: ignore[arg-type]
                   None if mode == "process" else cache, on_progress, nbytes, plan.tasks)


def start_read_into(source: ChunkSource, fmt: ChunkFormat, region: Bbox, out: np.ndarray, out_name: str | None, *,
                    fill_missing: bool, background: float, options: Options, cache: ChunkCache | None = None,
                    on_progress: Callable[[int], None] | None = None) -> ReadJob:
    """:func:`start_read` into the caller's array ``out`` (the region's shape and the layer's dtype).

    ``out_name``: the shared-memory segment ``out`` fills from its start, Fortran-ordered; worker
    processes then decode straight into it. Without one, a "process" job decodes into a segment
    of its own and :func:`finish_read_into` copies the result into ``out``.
    """
    job = _new_job(source, fmt, region, fill_missing, background, options, cache, on_progress)
    if job.mode != "process" or out_name is not None:
        job.out, job.shm_name = out, out_name if job.mode == "process" else None
        if not job.plan.covers:  # a reused buffer holds old values where no chunk lands
            out[...] = background
    return job


async def finish_read_into(job: ReadJob, out: np.ndarray) -> np.ndarray:
    """:func:`finish_read` of a job from :func:`start_read_into`: ``out``, filled."""
    if job.out is None:  # decoded in a segment of its own
        out[...] = await finish_read(job)
        return out
    if job.mode != "process":
        return await finish_read(job)
    await _finish(job)
    return out


def read_now(job: ReadJob, tasks: Sequence[ChunkTask], budget: Budget) -> list[Left]:
    """Read and place ``tasks`` in this thread within ``budget``; return the chunks left.

    Left are: chunks deferred (on disk only, or over budget), transport-compressed chunks when
    the budget may not wait (decoding belongs in a codec thread), and corrupt ones.
    """
    out, fmt, cache = job.out, job.fmt, job.cache
    assert out is not None
    if cache is not None:
        tasks = [t for t in tasks if not place_cached(out, t, cache)]
    left: list[Left] = []
    declined: list[ChunkTask] = []

    def consume(task: ChunkTask, blob: Blob | None) -> bool:
        if blob is None:
            job.missing(task)
        elif not budget.wait and blob.encoding is not None:
            declined.append(task)
            return False
        else:
            result = decode_place(out, fmt, task, blob.data, blob.encoding, blob.span, cache)
            if result is not DONE:  # decode_place returns the DONE constant (in this process)
                left.append((task, result))
        return True

    windows = None if cache is not None else raw_windows(tasks, fmt, out.itemsize)
    rest = job.source.fetch_now(tasks, budget, consume, windows)
    if rest:
        left += [(t, COMPRESSED if declined and t is declined[0] else DEFERRED) for t in rest]
    return left


def _now_budget(n: int) -> Budget:
    if n < len(_NOW_BUDGETS) and _NOW_BUDGETS[n].seconds == NOW_SECONDS_PER_CHUNK * max(1, n):
        return _NOW_BUDGETS[n]  # one per small read: not worth building each time
    return Budget(False, NOW_SECONDS_PER_CHUNK * max(1, n))


_NOW_BUDGETS = [Budget(False, NOW_SECONDS_PER_CHUNK * max(1, n)) for n in range(INLINE_CHUNKS + 1)]


def read_here(job: ReadJob) -> bool:
    """For a blocking caller: do the job in its own thread if it is a small local raw read
    whose bytes are in the page cache (hand-offs to the loop and threads cost more than the
    copy: on 2 cores, two threads copying raw chunks ran no faster than one). True when done."""
    if not (job.mode == "thread" and job.fmt.encoding == "raw" and job.nbytes <= HERE_BYTES
            and job.source.offers_now_reads):
        return False
    job.tried_now = True
    _run_now(job, _now_budget(len(job.todo)))
    return not (job.todo or job.corrupt)


def read_in_loop(job: ReadJob) -> bool:
    """In the event loop: small raw reads from the page cache (handing one to a thread and back
    cost more CPU than the read: 0.48 ms per S8 cutout against 0.22 here), or small reads the
    decoded-chunk LRU holds whole. True when the job is done."""
    if job.out is None:
        return False
    n = len(job.todo)
    if not n:
        return not job.corrupt
    if job.fmt.encoding == "raw" and job.nbytes <= INLINE_BYTES and n <= INLINE_CHUNKS \
            and not job.tried_now and job.source.offers_now_reads:
        job.tried_now = True
        _run_now(job, _now_budget(n))
    elif job.cache is not None and job.nbytes <= INLINE_CACHED_BYTES \
            and all(t.key in job.cache for t in job.todo):
        _run_now(job, NOTHING)
    return not (job.todo or job.corrupt)


def _run_now(job: ReadJob, budget: Budget) -> None:
    todo = job.todo
    left = read_now(job, todo, budget)
    if not left:
        job.todo = []
    else:
        job.todo = [t for t, r in left if r.outcome is not Outcome.CORRUPT]
        job.corrupt += [(t, r.detail) for t, r in left if r.outcome is Outcome.CORRUPT]
    if job.on_progress is not None:
        job.progress(len(todo) - len(left))


async def finish_read(job: ReadJob) -> np.ndarray:
    """Do every chunk the job has left (in the loop first when that is cheapest) and return its output."""
    if job.mode != "process":
        if not read_in_loop(job):
            await _finish(job)
        return job.out  # type: ignore[return-value]
    with SharedArray(job.shape, job.dtype) as shared:  # unlinked on exit, always
        job.out, job.shm_name = shared.array, shared.name
        if job.background and not job.plan.covers:
            job.out[...] = job.background
        await _finish(job)
        return job.out


async def _finish(job: ReadJob) -> None:
    corrupt, todo = job.corrupt, job.todo
    job.corrupt, job.todo = [], []
    for task, error in corrupt:
        await _refetch(job, task, error)
    job.progress(len(corrupt))
    if not todo:
        return
    if job.mode == "thread" and job.source.reads_blocking:
        threads = codec_threads()
        groups = job.source.groups(todo) if job.source.groups_by_file else \
            batched(todo, local_group_size(len(todo), threads))
        if len(groups) == 1:  # small reads: no task machinery
            await _local_group(job, groups[0])
        else:
            await map_bounded(partial(_local_group, job), interleave_spans(groups, threads), 2 * threads)
    else:
        limit = max(4, job.source.fetch_concurrency() // GROUP)
        await map_bounded(partial(_remote_group, job), job.source.groups(todo), limit)


async def _local_group(job: ReadJob, group: Sequence[ChunkTask]) -> None:
    """Read and decode a group in one codec-thread hop (a store hop plus a codec hop cost more)."""
    left = await asyncio.get_running_loop().run_in_executor(thread_pool(), read_now, job, group, WAIT)
    deferred = [task for task, result in left if result.outcome is Outcome.DEFERRED]
    for task, result in left:
        if result.outcome is not Outcome.DEFERRED:
            await _refetch(job, task, result.detail)
    job.progress(len(group) - len(deferred))
    if deferred:  # what the source would not read here (e.g. a shard's ranges): its async path
        await _remote_group(job, deferred)


async def _remote_group(job: ReadJob, group: Sequence[ChunkTask]) -> None:
    cache = job.cache
    cached = [] if cache is None else [t for t in group if t.key in cache]
    blobs = await job.source.fetch_many([t for t in group if t.key not in cache] if cached else group)
    items = [DecodeItem(t, None, None) for t in cached]  # no bytes: placed from the LRU
    for task in group:
        blob = blobs.get(task.position, _CACHED)
        if blob is _CACHED:
            continue
        if blob is None:
            job.missing(task)
        else:
            items.append(DecodeItem(task, blob.data, blob.encoding, blob.span))
    if items:
        for item, result in zip(items, await _decode(job, items)):
            if result.outcome is not Outcome.DONE:
                await _refetch(job, item.task, result.detail)
    job.progress(len(group))


async def _refetch(job: ReadJob, task: ChunkTask, error: str) -> None:
    """Bytes that fail to decode may have been damaged in transit where no checksum covers them
    (plain HTTP, stores without hashes): fetch them again, like any retry."""
    attempts = job.options.retry.max_attempts
    for _ in range(1, attempts):
        blob = (await job.source.fetch_fresh_many([task])).get(task.position)
        if blob is None:
            job.missing(task)
            return
        (result,) = await _decode(job, [DecodeItem(task, blob.data, blob.encoding, blob.span)])
        if result.outcome is Outcome.DONE:
            return
        error = result.detail
    raise DecodingError(f"{error} (in {attempts} fetches from {job.source.url})")


async def _decode(job: ReadJob, items: list[DecodeItem]) -> list[ChunkResult]:
    """Decode items into the output where the job's mode says: a codec thread, here, or a worker process."""
    if job.mode == "thread":
        return await asyncio.get_running_loop().run_in_executor(
            thread_pool(), worker.decode_batch, job.out, job.fmt, items, job.cache)
    if job.mode == "inline":
        return worker.decode_batch(job.out, job.fmt, items, job.cache)  # type: ignore[arg-type]
    pool = process_pool(job.options.resolved_decode_workers())
    # views into a whole shard's bytes (shardfiles.entries) cannot be pickled: the chunk's own bytes go
    items = [it._replace(data=bytes(it.data)) if isinstance(it.data, memoryview) else it for it in items]
    return await pool.run_batch(worker.decode_batch_shm, (job.shm_name, job.shape, job.dtype.str, job.fmt), items,
                                key_of=lambda it: it.task.key, crash_result=_crashed)


def _crashed(message: str) -> ChunkResult:
    return ChunkResult(Outcome.CORRUPT, message)


async def read_region(source: ChunkSource, fmt: ChunkFormat, region: Bbox, *, fill_missing: bool,
                      background: float = 0, options: Options, cache: ChunkCache | None = None,
                      on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The whole algorithm for an async caller: start, the loop's now-read, finish."""
    job = start_read(source, fmt, region, fill_missing=fill_missing, background=background, options=options,
                     cache=cache, on_progress=on_progress)
    return await finish_read(job)
