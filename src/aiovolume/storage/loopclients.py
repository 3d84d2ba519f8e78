"""Network clients bound to the event loop that uses them (aiohttp/aiobotocore sessions).

Clients are made lazily inside the running loop, replaced when a store is used from another
loop (their own loop closes the old ones, if it still runs), and closed with the store. A
store used under ``asyncio.run`` and never closed still has its clients closed: each
connection registers an async generator with its loop, and the loop's
``shutdown_asyncgens()`` (``asyncio.run``, ``asyncio.Runner``) finalises it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncGenerator
from typing import Awaitable, Callable, Generic, Protocol, TypeVar


class _Conn(Protocol):
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack
    abandoned: bool  # set by abandon(): the stack must not be awaited any more

    def abandon(self) -> None:
        """Close transports synchronously: the loop is gone, nothing can be awaited."""


C = TypeVar("C", bound=_Conn)


class LoopClients(Generic[C]):
    """Holds one connection object (``loop``, ``stack``, ``abandoned``, ``abandon()``) per store."""

    def __init__(self, connect: Callable[[asyncio.AbstractEventLoop], Awaitable[C]]) -> None:
        self._connect = connect
        self.current: C | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._orphans: list[concurrent.futures.Future[None] | None] = []

    async def get(self, check_open: Callable[[], None]) -> C:
        check_open()
        loop = asyncio.get_running_loop()
        conn = self.current
        if conn is not None and conn.loop is loop:
            return conn
        if self._lock_loop is not loop:  # an asyncio.Lock belongs to one loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        assert self._lock is not None
        async with self._lock:
            conn = self.current
            if conn is not None and conn.loop is loop:
                return conn
            if conn is not None:  # the store moved to another loop: drop the old clients
                self._orphans.append(self._drop())
            conn = await self._connect(loop)
            guard = _closes_at_loop_shutdown(conn)
            await guard.__anext__()
            try:
                check_open()  # closed while we connected: do not keep what nobody will close
            except BaseException:
                await guard.aclose()
                raise
            self.current, self._guard = conn, guard
            return conn

    async def close(self) -> None:
        """Close the clients. Call it in the loop that used the store: clients of a loop that
        is already closed cannot be closed any more (aiohttp then warns about them)."""
        conn, guard = self.current, self._guard
        if conn is not None and guard is not None and conn.loop is asyncio.get_running_loop():
            self.current = self._guard = None
            await guard.aclose()  # its finally closes the clients
        elif conn is not None:
            self._orphans.append(self._drop())
        orphans, self._orphans = [f for f in self._orphans if f is not None], []
        if orphans:  # clients closing on their own loop: wait for them (briefly), never block
            await asyncio.wait([asyncio.wrap_future(f) for f in orphans], timeout=10)

    def _drop(self) -> concurrent.futures.Future[None] | None:
        """Forget the current clients and close them on their own loop, if it still runs."""
        conn, guard = self.current, self._guard
        self.current = self._guard = None
        if conn is None or guard is None:
            return None
        loop = conn.loop
        if not loop.is_closed() and loop.is_running():
            try:
                return asyncio.run_coroutine_threadsafe(guard.aclose(), loop)
            except RuntimeError:  # the loop closed meanwhile
                pass
        # The loop is stopped or closed: nothing can await the close. Close the transports
        # synchronously, then run the guard's finally, which then awaits nothing.
        conn.abandon()
        _finish(guard)
        return None


async def _closes_at_loop_shutdown(conn: _Conn) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if not conn.abandoned:
            await conn.stack.aclose()


def _finish(guard: AsyncGenerator[None, None]) -> None:
    """Run an abandoned guard's ``finally`` now, without a loop."""
    closing = guard.aclose()
    try:
        closing.send(None)
    except (StopIteration, RuntimeError):
        pass  # finished (or already running its finally elsewhere)
    else:  # pragma: no cover - the finally awaited something after all
        closing.close()
