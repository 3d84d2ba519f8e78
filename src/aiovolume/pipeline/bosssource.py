"""A BOSS channel's scale as chunks: one chunk per BOSS cuboid, moved by the cutout service.

The info of a ``boss://`` layer (``storage/bossapi.py``) says encoding ``raw`` and chunks of
512x512x16, BOSS's cuboid, starting at the frame's offset. So the read and write algorithms run
unchanged. A cutout's body is blosc over a C-order ``(z, y, x)`` array, whose bytes are exactly
a raw chunk's Fortran-order ``(x, y, z)`` bytes, so no voxel is reordered anywhere:

- reads: chunks side by side along x are fetched as one request of at most ``REQUEST_BYTES``
  (32 MiB uncompressed, far under BOSS's 500 MB limit: 8 uint8 cuboids, 4 uint16, 1 uint64),
  whose edges are cuboid edges; its body is decompressed and cut into the chunks' raw bytes in a
  codec thread (one copy). A lone chunk is one request whose body goes to the decoders as
  transport encoding ``"blosc"``. Requests run concurrently up to ``Options.concurrency["boss"]``,
  each retried by the store's retry policy. Measured against the test server (1024x1024x64): one
  request per uint8 cuboid was ~2x slower than intern's larger requests (per-request overhead),
  while uint64 reads took 0.78 s at a 32 MiB cap, 1.1 s at 64 MiB and 1.6 s at 128 MiB.
- writes: one request per chunk, its raw bytes compressed with blosc by the encoders
  (``chunk_compression``).

``delete`` zeroes the chunks (BOSS's ``cutout/to_black``); ``exists`` is not offered (BOSS cannot
tell stored cuboids from empty ones).

Example (what ``Volume._source`` does for a ``boss://`` layer)::

    source = BossSource(store, scale, mip, np.dtype(info.data_type).itemsize)
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Sequence

import numpy as np

from ..codecs.compression import BLOSC, decompress
from ..exceptions import DecodingError, UnsupportedFeatureError
from ..format.chunks import grid_chunk_key
from ..format.info import ScaleInfo
from ..storage.base import Blob, bounded_map
from .executor import thread_pool
from .source import ChunkSource
from .tasks import ChunkTask, Position

#: BOSS's cuboid (x, y, z); see storage/bossapi.py
CUBOID = (512, 512, 16)
#: voxel bytes one read request may carry (BOSS refuses requests over 500 MB uncompressed)
REQUEST_BYTES = 32 << 20

Box = tuple[int, int, int, int, int, int]


class BossSource(ChunkSource):
    """One resolution level of a BOSS channel (``store``: a ``storage.boss.BossStore``)."""

    fixed_transport = True  # the cutout service takes blosc bodies only

    def __init__(self, store: Any, scale: ScaleInfo, resolution: int, itemsize: int) -> None:
        where = f"{store.url} resolution {resolution}"
        if scale.sharding is not None:
            raise UnsupportedFeatureError(f"{where}: BOSS channels are not sharded (the info's scale says sharding)")
        if scale.encoding != "raw":
            raise UnsupportedFeatureError(f"{where}: BOSS serves raw voxels; the info says encoding {scale.encoding!r}")
        if tuple(int(c) for c in scale.chunk_size) != CUBOID:
            raise UnsupportedFeatureError(f"{where}: BOSS chunks are {CUBOID} cuboids, the info says "
                                          f"{tuple(scale.chunk_size)}")
        super().__init__(scale)
        self.store = store
        self.url = store.url
        self.resolution = int(resolution)
        self.itemsize = int(itemsize)
        self.chunk_name = functools.partial(grid_chunk_key, scale.key)  # type: ignore[method-assign]
        self._origin = tuple(int(v) for v in scale.voxel_offset)

    def fetch_concurrency(self) -> int:
        return self.store.options.concurrency_for("boss")

    def chunk_compression(self, requested: str | None) -> str | None:
        # the cutout service takes blosc bodies whatever ``compress=`` says
        return f"blosc-{self.itemsize}"

    def _box(self, task: ChunkTask) -> Box:
        (gx, gy, gz), shape = task.position, task.shape
        x0, y0, z0 = (o + g * c for o, g, c in zip(self._origin, (gx, gy, gz), CUBOID))
        return (x0, x0 + shape[0], y0, y0 + shape[1], z0, z0 + shape[2])

    def runs(self, tasks: Sequence[ChunkTask]) -> list[list[ChunkTask]]:
        """``tasks`` as runs of chunks side by side along x, each at most ``REQUEST_BYTES``."""
        cap = max(1, REQUEST_BYTES // (CUBOID[0] * CUBOID[1] * CUBOID[2] * self.itemsize))
        runs: list[list[ChunkTask]] = []
        for task in sorted(tasks, key=lambda t: (t.position[2], t.position[1], t.position[0])):
            last = runs[-1][-1].position if runs else None
            x, y, z = task.position
            if last is not None and (last[0] + 1, last[1], last[2]) == (x, y, z) and len(runs[-1]) < cap:
                runs[-1].append(task)
            else:
                runs.append([task])
        return runs

    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        async def one(run: list[ChunkTask]) -> list[Blob]:
            first, last = self._box(run[0]), self._box(run[-1])
            box = (first[0], last[1], *first[2:])
            body = await self.store.get_cutout(self.resolution, box)
            if len(run) == 1:
                return [Blob(body, BLOSC)]
            widths = [t.shape[0] for t in run]
            loop = asyncio.get_running_loop()
            try:
                parts = await loop.run_in_executor(thread_pool(), _split_x, body, widths, run[0].shape, self.itemsize)
            except DecodingError:  # damaged in transit: ask once more, then give up
                body = await self.store.get_cutout(self.resolution, box)
                try:
                    parts = await loop.run_in_executor(thread_pool(), _split_x, body, widths, run[0].shape,
                                                       self.itemsize)
                except DecodingError as exc:
                    raise DecodingError(f"{self.url} resolution {self.resolution} cutout {box}: {exc}") from None
            return [Blob(p, None) for p in parts]

        runs = self.runs(tasks)
        fetched = await bounded_map(one, runs, self.fetch_concurrency())
        return {t.position: b for run, blobs in zip(runs, fetched) for t, b in zip(run, blobs)}

    async def exists_many(self, tasks: Sequence[ChunkTask]) -> list[bool]:
        raise UnsupportedFeatureError(
            f"{self.url}: BOSS cannot tell which cuboids were written (unwritten ones read as 0); "
            "read the region instead"
        )

    async def store_many(self, items: Sequence[tuple[ChunkTask, bytes]], *, content_encoding: str | None,
                         cache_control: str | None) -> None:
        async def one(item: tuple[ChunkTask, bytes]) -> None:
            await self.store.post_cutout(self.resolution, self._box(item[0]), item[1])

        await bounded_map(one, items, self.fetch_concurrency())

    async def delete_many(self, tasks: Sequence[ChunkTask]) -> None:
        async def one(task: ChunkTask) -> None:
            await self.store.black_out(self.resolution, self._box(task))

        await bounded_map(one, tasks, self.fetch_concurrency())


def _split_x(body: bytes, widths: Sequence[int], shape: tuple[int, int, int], itemsize: int) -> list[bytes]:
    """A blosc cutout of chunks side by side along x (each ``widths[i]`` wide, ``shape``'s y and z)
    cut into each chunk's raw bytes (C-order (z, y, x) = Fortran-order (x, y, z))."""
    raw = decompress(body, BLOSC)
    _, height, depth = shape
    row = sum(widths) * itemsize
    if len(raw) != depth * height * row:
        raise DecodingError(f"the cutout holds {len(raw)} bytes, not {depth * height * row} "
                            f"({sum(widths)}x{height}x{depth} voxels of {itemsize} bytes)")
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(depth, height, row)
    parts, start = [], 0
    for w in widths:
        parts.append(planes[:, :, start:start + w * itemsize].tobytes())
        start += w * itemsize
    return parts
