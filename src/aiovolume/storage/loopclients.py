"""Network clients bound to the event loop that uses them (aiohttp/aiobotocore sessions).

Clients are made lazily inside the running loop, replaced when a store is used from another
loop (their own loop closes the old ones, if it still runs), and closed with the store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Awaitable, Callable, Generic, Protocol, TypeVar


class _Conn(Protocol):
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack


C = TypeVar("C", bound=_Conn)


class LoopClients(Generic[C]):
    """Holds one connection object (with ``loop`` and ``stack``) per store."""

    def __init__(self, connect: Callable[[asyncio.AbstractEventLoop], Awaitable[C]]) -> None:
        self._connect = connect
        self.current: C | None = None
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
                self.current = None
                self._orphans.append(_close_elsewhere(conn))
            conn = await self._connect(loop)
            check_open()
            self.current = conn
            return conn

    async def close(self) -> None:
        """Close the clients. Call it in the loop that used the store: clients of a loop that
        is already closed cannot be closed any more (aiohttp then warns about them)."""
        conn, self.current = self.current, None
        if conn is not None:
            if conn.loop is asyncio.get_running_loop():
                await conn.stack.aclose()
            else:
                self._orphans.append(_close_elsewhere(conn))
        orphans, self._orphans = [f for f in self._orphans if f is not None], []
        if orphans:  # clients closing on their own loop: wait for them (briefly), never block
            await asyncio.wait([asyncio.wrap_future(f) for f in orphans], timeout=10)


def _close_elsewhere(conn: _Conn) -> concurrent.futures.Future[None] | None:
    """Close clients that belong to another loop, on that loop, if it still runs."""
    if conn.loop.is_closed() or not conn.loop.is_running():
        return None
    try:
        return asyncio.run_coroutine_threadsafe(conn.stack.aclose(), conn.loop)
    except RuntimeError:
        return None
