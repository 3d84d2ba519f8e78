"""Structured fan-out that raises one plain exception, never an ExceptionGroup."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

from ..taskgroup import TaskGroup

T = TypeVar("T")

__all__ = ["TaskGroup", "map_bounded", "run_all"]


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
