"""The one owner of CPU work: a forkserver process pool plus a thread pool.

* Workers never re-run the user's ``__main__``: CloudVolume scripts are usually unguarded
  (no ``if __name__ == "__main__"``), and re-importing them in every worker would re-run the
  script there. We strip the main module from the workers' preparation data.
* A crashing codec (compressed_segmentation segfaults on corrupt input) breaks every future of
  the pool. The pool is replaced once per breakage, and the tasks of the failed batches are
  re-run one at a time in a private single-worker pool, so the guilty chunk is named and the
  innocent ones still decode.
* Inside daemonic processes (dask workers) child processes are not allowed: we use threads.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import io
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, spawn, util
from typing import Any, Callable, Sequence

from ..exceptions import DecodingError

# Imported once in the forkserver, so a worker restarted after a codec crash starts warm
# (a missing optional codec package is skipped here and reported when used).
_PRELOAD = [
    "numpy", "imagecodecs", "compressed_segmentation", "fpzip", "compresso", "crackle",
    "aiovolume.pipeline.worker", "aiovolume.codecs.raw", "aiovolume.codecs.jpeg", "aiovolume.codecs.png",
    "aiovolume.codecs.cseg", "aiovolume.codecs.fpzip_codec", "aiovolume.codecs.kempressed",
    "aiovolume.codecs.compresso_codec", "aiovolume.codecs.crackle_codec",
]


class _NoMainPopen(popen_forkserver.Popen):
    def _launch(self, process_obj: Any) -> None:
        # Same steps as the stdlib forkserver Popen, minus the main module.
        prep = spawn.get_preparation_data(process_obj._name)
        prep.pop("init_main_from_path", None)
        prep.pop("init_main_from_name", None)
        buf = io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            mp_context.reduction.dump(prep, buf)
            mp_context.reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _WorkerProcess(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _NoMainPopen:
        return _NoMainPopen(process_obj)


class _WorkerContext(mp_context.ForkServerContext):
    Process = _WorkerProcess


def _new_pool(workers: int, ctx: "_WorkerContext") -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    # CPython 3.11 spawns forkserver workers lazily, after waking the manager thread, so a
    # worker that dies right away (a codec crash) can go unnoticed and its future hangs
    # forever (seen here in ~1 of 10 crash runs). Starting every worker before the manager
    # thread, as the stdlib does for "fork", makes their sentinels known from the start.
    if hasattr(pool, "_safe_to_dynamically_spawn_children"):
        pool._safe_to_dynamically_spawn_children = False
    return pool


def processes_allowed() -> bool:
    return not multiprocessing.current_process().daemon


class ProcessPool:
    """A replaceable ProcessPoolExecutor with crash isolation."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._ctx = _WorkerContext()
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._pool is None:
                self._pool = _new_pool(self.workers, self._ctx)
                self._generation += 1
            return self._pool, self._generation

    def _discard(self, generation: int) -> None:
        with self._lock:
            if self._pool is not None and self._generation == generation:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    async def run_batch(
        self, fn: Callable[..., Any], args: tuple, tasks: Sequence[tuple], key_of: Callable[[tuple], str],
        crash_result: Callable[[str], Any] | None = None,
    ) -> list[Any]:
        """Run ``fn(*args, tasks)``, which returns one list item per task.

        After a worker crash, each task is re-run alone; a task that crashes alone yields
        ``crash_result(message)`` when given, else raises DecodingError naming it.
        """
        pool, generation = self._current()
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args, tasks))
        except BrokenProcessPool:
            self._discard(generation)
        return await asyncio.to_thread(self._isolate, fn, args, tasks, key_of, crash_result)

    def _isolate(
        self, fn: Callable[..., Any], args: tuple, tasks: Sequence[tuple], key_of: Callable[[tuple], str],
        crash_result: Callable[[str], Any] | None,
    ) -> list[Any]:
        results: list[Any] = []
        private = _new_pool(1, self._ctx)
        try:
            for task in tasks:
                try:
                    results.extend(private.submit(fn, *args, [task]).result())
                except BrokenProcessPool:
                    message = (
                        f"chunk {key_of(task)}: the decoder crashed the worker process "
                        "(corrupt or truncated data); the pool was restarted"
                    )
                    if crash_result is None:
                        raise DecodingError(message) from None
                    results.append(crash_result(message))
                    private.shutdown(wait=False, cancel_futures=True)
                    private = _new_pool(1, self._ctx)
        finally:
            private.shutdown(wait=False, cancel_futures=True)
        return results

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


_process_pools: dict[int, ProcessPool] = {}
_thread_pool: ThreadPoolExecutor | None = None
_registry_lock = threading.Lock()


def process_pool(workers: int) -> ProcessPool:
    with _registry_lock:
        pool = _process_pools.get(workers)
        if pool is None:
            pool = _process_pools[workers] = ProcessPool(workers)
        return pool


@functools.lru_cache(maxsize=1)
def codec_threads() -> int:
    return max(2, os.cpu_count() or 2)


def thread_pool() -> Executor:
    """Threads for codecs that release the GIL (zlib, libdeflate, libjpeg, libpng)."""
    global _thread_pool
    with _registry_lock:
        if _thread_pool is None:
            _thread_pool = ThreadPoolExecutor(codec_threads(), thread_name_prefix="aiovolume-codec")
        return _thread_pool


def _forget_pools_after_fork() -> None:
    # A forked child has none of the parent's pool threads or workers: submitting to the
    # inherited pools would wait forever. Start fresh ones on first use instead.
    global _thread_pool, _registry_lock
    _registry_lock = threading.Lock()
    _thread_pool = None
    _process_pools.clear()


os.register_at_fork(after_in_child=_forget_pools_after_fork)


@atexit.register
def shutdown_all() -> None:
    global _thread_pool
    with _registry_lock:
        pools = list(_process_pools.values())
        _process_pools.clear()
        tp, _thread_pool = _thread_pool, None
    for p in pools:
        p.shutdown()
    if tp is not None:
        tp.shutdown(wait=False, cancel_futures=True)
