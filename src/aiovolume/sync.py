"""The one background event loop that the blocking facade runs its coroutines on.

It knows nothing about volumes. Blocking callers (plain scripts, threads, a Jupyter cell whose
own loop is running) submit a coroutine and wait; the loop lives in a daemon thread, so the
caller's loop, if any, is never re-entered and cannot deadlock.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Any, Coroutine, TypeVar

from .exceptions import BlockingCallInLoopError

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_CANCEL_GRACE_S = 10.0


def get_loop() -> asyncio.AbstractEventLoop:
    """The bridge loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=serve, name="aiovolume-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def _forget_loop_after_fork() -> None:
    # The loop thread does not exist in a forked child (and _lock may have been held at the
    # fork): the child starts its own loop on first use.
    global _lock, _loop, _thread
    if _loop is not None:
        _inherited_loops.append(_loop)  # kept, not closed: its selector is the parent's
    _lock, _loop, _thread = threading.Lock(), None, None


_inherited_loops: list[asyncio.AbstractEventLoop] = []


os.register_at_fork(after_in_child=_forget_loop_after_fork)


def _close_clients_at_exit() -> None:
    """Finalise the bridge loop's async generators before the interpreter goes.

    Network clients close through an async generator registered with their loop
    (storage/loopclients.py); the bridge loop never ends on its own, so without this a plain
    script that read over http/s3/gs printed aiohttp's "Unclosed client session" at exit.
    """
    loop, thread = _loop, _thread
    if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(_EXIT_GRACE_S)
    except Exception:  # noqa: BLE001 - exiting anyway; a slow close must not hang or fail the exit
        pass


_EXIT_GRACE_S = 5.0
atexit.register(_close_clients_at_exit)


def in_loop_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the bridge loop and block until it is done.

    Ctrl-C cancels the work and waits (briefly) for its cleanup, e.g. unlinking shared
    memory, before the KeyboardInterrupt propagates.
    """
    if in_loop_thread():
        coro.close()
        raise BlockingCallInLoopError(
            "a blocking aiovolume call was made from inside aiovolume's own event loop; "
            "use the async Volume API there instead"
        )
    finished = threading.Event()

    async def tracked() -> T:
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(tracked(), get_loop())
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        finished.wait(_CANCEL_GRACE_S)
        raise
