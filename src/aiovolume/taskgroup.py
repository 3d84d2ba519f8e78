"""``asyncio.TaskGroup`` that raises one plain exception, never an ExceptionGroup.

Low in the layers (it imports nothing of the package), so the stores' fan-outs
(``storage.base.bounded_map``) and the pipeline's (``pipeline.fanout``) share it.
"""

from __future__ import annotations

import asyncio
from typing import Any


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first failure in ``group`` (depth first), not a cancellation it caused, if there is one."""
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
            raise first_error(group) from None
