"""Structured fan-out that raises one plain exception, never an ExceptionGroup."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")


def _first_error(group: BaseExceptionGroup) -> BaseException:
    # the first failure cancels its siblings; report the failure, not a cancellation
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            leaves.append(e)

    walk(group)
    for exc in leaves:
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return leaves[0]


class TaskGroup:
    """``asyncio.TaskGroup`` whose failure is raised as the first plain exception (typed errors
    reach callers and their ``except`` clauses as themselves, never inside an ExceptionGroup)."""

    async def __aenter__(self) -> asyncio.TaskGroup:
        self._group = asyncio.TaskGroup()
        return await self._group.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            return await self._group.__aexit__(*exc)
        except BaseExceptionGroup as group:
            raise _first_error(group) from None


async def run_all(coros: Iterable[Awaitable[Any]]) -> None:
    """Run every coroutine concurrently; the first failure cancels the rest and is raised."""
    async with TaskGroup() as tg:
        for coro in coros:
            tg.create_task(coro)  # type: ignore[arg-type]


async def map_bounded(fn: Callable[[T], Awaitable[Any]], items: Sequence[T], limit: int) -> None:
    """``fn(item)`` for every item with at most ``limit`` running at once."""
    sem = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> None:
        async with sem:
            await fn(item)

    await run_all(one(item) for item in items)
