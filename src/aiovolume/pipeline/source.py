"""The seam between *which chunks* a request needs and *how their bytes arrive*.

A :class:`ChunkSource` is one scale of a layer seen as chunks: ``plan(region)`` names the
chunks a region touches (grid positions, clipped shapes, where each lands), and the fetch and
store methods move their stored bytes. The read and write algorithms (``read.py``,
``write.py``) know only sources, tasks and outcomes, so each way of storing chunks is one
source and nothing else:

- :class:`UnshardedSource`: one object per chunk, named by ``format/chunks.py``.
- :class:`~.sharded.ShardedSource`: chunks packed into shard files (``format/sharding.py``),
  grouped by shard, index and data ranges through ``Store.get_ranges``.
- :class:`~.cachedsource.CachedSource`: wraps another source with the on-disk cache.
- :class:`~.bosssource.BossSource`: a BOSS channel, one chunk per 512x512x16 cuboid through
  its cutout service (``storage/boss.py``).

Methods take :class:`ChunkTask` s (which carry the grid position and the chunk's name) rather
than bare positions: every caller holds a plan, and a sharded source needs the positions while
error messages and the decoded-chunk LRU need the names. A missing chunk is ``None``.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

from ..format.chunks import grid_chunk_key
from ..format.info import ScaleInfo
from ..geometry import Bbox
from ..storage.base import Blob, PutItem, Store
from .schedule import GROUP
from .tasks import ChunkPlan, ChunkTask, Position

if TYPE_CHECKING:
    from .worker import EncodeItem, EncodeSpec

# (source array, encode spec, a group's items, cache_control) -> tasks left as background, or
# None: not this group (it takes the general path)
GroupWriter = Callable[[Any, "EncodeSpec", Sequence["EncodeItem"], "str | None"], "list[ChunkTask] | None"]


class Budget(NamedTuple):
    """How much a blocking :meth:`ChunkSource.fetch_now` may spend.

    ``wait``: it may wait for a disk (codec threads); else only bytes the OS has at hand
    (the page cache) are read, as in an event loop or a caller's thread. ``seconds``: once this
    long has passed, the rest is left (the first chunk is always tried). ``fetch=False``: the
    source is not asked at all (a read served by the decoded-chunk LRU alone).
    """

    wait: bool
    seconds: float = math.inf
    fetch: bool = True


#: a codec thread's budget: read everything, waiting where needed
WAIT = Budget(True)
#: ask nothing of the source (a read served from the decoded-chunk LRU only)
NOTHING = Budget(False, 0.0, fetch=False)

#: called with each chunk read by fetch_now; the Blob is valid only during the call (it may
#: view a buffer the next read reuses). Returning False declines it: it and the rest are left.
Consume = Callable[[ChunkTask, "Blob | None"], bool]
Window = "tuple[int, int, int] | None"

#: now-reads over budget this many times (less FAST_CREDIT for each one within it): the source
#: stops offering them (e.g. a file:// mount whose metadata goes over a network) for
#: SLOW_RETRY_S, then tries once more. Three hiccups used to stop them for good: under load
#: (64 cutouts in flight, codec threads holding the GIL) a volume lost its in-loop reads within
#: its first thousand cutouts and every later one paid a thread hop.
SLOW_LIMIT = 3
FAST_CREDIT = 0.25
SLOW_RETRY_S = 5.0


class ChunkSource(ABC):
    """One scale of a layer as chunks; see the module docstring."""

    url: str
    scale: ScaleInfo
    #: ``chunk_name(x0, x1, y0, y1, z0, z1) -> str``: the chunk's name, unique within the layer (the
    #: decoded-chunk LRU is keyed by it) and shown in errors; set by each source (an attribute, not
    #: a method: planning calls it for every chunk)
    chunk_name: Callable[[int, int, int, int, int, int], str]
    #: fetch_now can read without waiting (page cache); False: fetch_now(wait=False) reads nothing
    reads_now: bool = False
    #: fetch_now(WAIT) is a cheap blocking local read, worth doing inside a codec thread's hop
    reads_blocking: bool = False
    #: local reads must keep ``groups`` (one stored file per group, e.g. a shard) rather than
    #: being split evenly over the codec threads
    groups_by_file: bool = False
    #: writes must use ``chunk_compression``'s transport (BOSS's blosc): a transfer never keeps
    #: the source's stored compression for them
    fixed_transport: bool = False

    def __init__(self, scale: ScaleInfo) -> None:
        self.scale = scale
        self._now_lock = threading.Lock()
        self._slow = 0.0  # now-reads that ran over budget, less FAST_CREDIT per one within it
        self._retry_at = 0.0  # time.monotonic() at which a source over SLOW_LIMIT tries again
        self._declined = False  # a consumer declined now-read bytes (transport-compressed chunks)

    # -- which chunks ------------------------------------------------------------------------
    def plan(self, region: Bbox) -> ChunkPlan:
        """The chunks meeting ``region`` clipped to the volume, x fastest.

        Plain integer arithmetic: numpy's per-call overhead was most of a small read's
        planning time (profiled on 32^3 cutouts); ``format.chunks.chunk_grid`` is the reference.
        """
        scale = self.scale
        vmin = [int(v) for v in scale.voxel_offset]
        vmax = [a + int(s) for a, s in zip(vmin, scale.size)]
        chunk = [int(c) for c in scale.chunk_size]
        rmin = [int(v) for v in region.minpt.tolist()]  # tolist: numpy scalars are slow to convert
        rmax = [int(v) for v in region.maxpt.tolist()]
        axes = []  # per axis: [(grid index, start, stop, part in chunk, part in region)]
        covers = True
        for a in range(3):
            lo, hi = max(rmin[a], vmin[a]), min(rmax[a], vmax[a])
            if hi <= lo:
                return ChunkPlan([], any(rmax[b] <= rmin[b] for b in range(3)))
            covers = covers and (lo, hi) == (rmin[a], rmax[a])
            g = (lo - vmin[a]) // chunk[a]
            spans = []
            for start in range(vmin[a] + g * chunk[a], hi, chunk[a]):
                stop = min(start + chunk[a], vmax[a])
                a0, a1 = max(start, rmin[a]), min(stop, rmax[a])
                spans.append((g, start, stop, (a0 - start, a1 - start), (a0 - rmin[a], a1 - rmin[a])))
                g += 1
            axes.append(spans)
        name, tasks = self.chunk_name, []
        new = tuple.__new__  # ChunkTask(...) through its Python-level __new__ was a tenth of planning
        for gz, z0, z1, cz, rz in axes[2]:
            for gy, y0, y1, cy, ry in axes[1]:
                for gx, x0, x1, cx, rx in axes[0]:  # x fastest
                    shape = (x1 - x0, y1 - y0, z1 - z0)
                    full = cx == (0, shape[0]) and cy == (0, shape[1]) and cz == (0, shape[2])
                    tasks.append(new(ChunkTask, ((gx, gy, gz), name(x0, x1, y0, y1, z0, z1), shape, (cx, cy, cz),
                                                 (rx, ry, rz), full)))
        return ChunkPlan(tasks, covers)

    def fetch_concurrency(self) -> int:
        """Chunks worth having in flight at once (fetch_many groups are sized from it)."""
        return 64

    def groups(self, tasks: Sequence[ChunkTask]) -> list[Sequence[ChunkTask]]:
        """How the read and write algorithms batch tasks into fetch/decode hops: GROUP chunks at a
        time; a sharded source groups by shard file."""
        return [tasks[i:i + GROUP] for i in range(0, len(tasks), GROUP)]

    def chunk_compression(self, requested: str | None) -> str | None:
        """The transport compression chunk writes use: what the user asked for (``compress``), or
        what the layout dictates (a shard's ``data_encoding``)."""
        return requested


    # -- reads -------------------------------------------------------------------------------
    @abstractmethod
    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        """Stored bytes (and transport encoding) of every task's chunk; None where missing."""

    async def fetch_fresh_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        """:meth:`fetch_many` from where the chunks are stored, past any copy (a cache drops its
        copy here): for chunks whose bytes did not decode, and for chunks a write merges into
        (merging into a stale copy would undo another writer's voxels)."""
        return await self.fetch_many(tasks)

    def fetch_now(self, tasks: Sequence[ChunkTask], budget: Budget, consume: Consume,
                  windows: Sequence[Window] | None = None) -> list[ChunkTask]:
        """Read chunks in this thread within ``budget``, handing each to ``consume``; return the
        tasks left unread (the default reads nothing). ``windows[i]``: ``(size, start, stop)``,
        only those bytes of task i are needed if the chunk is stored plain and is ``size`` long."""
        return list(tasks)

    @property
    def offers_now_reads(self) -> bool:
        """Whether now-reads (``wait=False``) are worth trying: possible, and not shown useless."""
        if not self.reads_now or self._declined:
            return False
        return self._slow < SLOW_LIMIT or time.monotonic() >= self._retry_at

    def _note_slow(self) -> None:
        with self._now_lock:  # fetch_now runs in several threads at once
            # capped: once tried again, one more slow read stops it, one fast read resumes it
            self._slow = min(self._slow + 1, SLOW_LIMIT)
            if self._slow >= SLOW_LIMIT:
                self._retry_at = time.monotonic() + SLOW_RETRY_S

    def _note_fast(self) -> None:
        if self._slow:
            with self._now_lock:
                self._slow = max(0.0, self._slow - FAST_CREDIT)

    def _note_declined(self) -> None:
        self._declined = True

    @abstractmethod
    async def exists_many(self, tasks: Sequence[ChunkTask]) -> list[bool]:
        """Whether each task's chunk is stored."""

    # -- writes ------------------------------------------------------------------------------
    @abstractmethod
    async def store_many(self, items: Sequence[tuple[ChunkTask, bytes]], *, content_encoding: str | None,
                         cache_control: str | None) -> None:
        """Store every chunk atomically (no reader ever sees part of one)."""

    def store_now(self) -> Callable[[Sequence[tuple[ChunkTask, bytes]], str | None, str | None], None] | None:
        """A blocking, thread-safe ``store(items, content_encoding, cache_control)`` for local
        stores (encode and write in one codec-thread hop), or None."""
        return None

    def group_writer(self) -> GroupWriter | None:
        """A blocking, thread-safe encode-and-store of one whole group (one of ``groups``) in a
        codec thread, for sources that assemble a group into one object (a whole shard), or None.
        Called on the event loop."""
        return None

    @abstractmethod
    async def delete_many(self, tasks: Sequence[ChunkTask]) -> None:
        """Remove the tasks' chunks; missing ones are not an error."""


class UnshardedSource(ChunkSource):
    """Today's layout: chunk ``x0-x1_y0-y1_z0-z1`` is the object ``<scale key>/<that name>``."""

    def __init__(self, store: Store, scale: ScaleInfo) -> None:
        super().__init__(scale)
        self.store = store
        self.url = store.url
        self._reader = store.blocking_reader()
        self.reads_blocking = self._reader is not None
        self.reads_now = self.reads_blocking and store.reads_without_waiting
        self.chunk_name = functools.partial(grid_chunk_key, scale.key)  # type: ignore[method-assign]

    def fetch_concurrency(self) -> int:
        return self.store.options.concurrency_for(self.store.scheme)


    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        blobs = await self.store.get_many([t.key for t in tasks])
        return {t.position: b for t, b in zip(tasks, blobs)}

    def fetch_now(self, tasks: Sequence[ChunkTask], budget: Budget, consume: Consume,
                  windows: Sequence[Window] | None = None) -> list[ChunkTask]:
        read = self._reader
        if read is None or not budget.fetch or not (budget.wait or self.reads_now):
            return list(tasks)
        nowait = not budget.wait
        deadline = time.perf_counter() + budget.seconds if budget.seconds != math.inf else None
        left: list[ChunkTask] = []
        for n, task in enumerate(tasks):
            if deadline is not None and n and time.perf_counter() > deadline:
                self._note_slow()
                return left + list(tasks[n:])
            try:
                blob = read(task.key, None if windows is None else windows[n], nowait)
            except BlockingIOError:  # not in the page cache: a thread will wait for it
                left.append(task)
                continue
            if not consume(task, blob):
                self._note_declined()
                return left + list(tasks[n:])
        if deadline is not None:
            if time.perf_counter() > deadline:
                self._note_slow()
            else:
                self._note_fast()
        return left

    async def exists_many(self, tasks: Sequence[ChunkTask]) -> list[bool]:
        return await self.store.exists_many([t.key for t in tasks])

    async def store_many(self, items: Sequence[tuple[ChunkTask, bytes]], *, content_encoding: str | None,
                         cache_control: str | None) -> None:
        await self.store.put_many([PutItem(t.key, data, content_encoding=content_encoding,
                                           cache_control=cache_control) for t, data in items])

    def store_now(self) -> Callable[[Sequence[tuple[ChunkTask, bytes]], str | None, str | None], None] | None:
        writer = self.store.blocking_writer()
        if writer is None:
            return None

        def store(items: Sequence[tuple[ChunkTask, bytes]], encoding: str | None, cache_control: str | None) -> None:
            writer([PutItem(t.key, data, content_encoding=encoding, cache_control=cache_control) for t, data in items])

        return store

    async def delete_many(self, tasks: Sequence[ChunkTask]) -> None:
        await self.store.delete_many([t.key for t in tasks])
