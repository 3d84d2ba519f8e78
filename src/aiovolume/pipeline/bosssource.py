"""A BOSS channel's scale as chunks: one chunk per BOSS cuboid, moved by the cutout service.

The info of a ``boss://`` layer (``storage/bossapi.py``) says encoding ``raw`` and chunks of
512x512x16, BOSS's cuboid, starting at the frame's offset. So the read and write algorithms run
unchanged: each chunk is one cutout request (at most 32 MiB uncompressed, far under BOSS's
500 MB limit), all of them concurrent up to ``Options.concurrency["boss"]``, each retried by the
store's retry policy. A cutout's body is blosc over a C-order ``(z, y, x)`` array, whose bytes
are exactly a raw chunk's Fortran-order ``(x, y, z)`` bytes: fetched bodies are handed to the
decoders as transport encoding ``"blosc"``, and writes compress their raw chunks with blosc
(``chunk_compression``), so no voxel is reordered anywhere.

``delete`` zeroes the chunks (BOSS's ``cutout/to_black``); ``exists`` is not offered (BOSS cannot
tell stored cuboids from empty ones).

Example (what ``Volume._source`` does for a ``boss://`` layer)::

    source = BossSource(store, scale, mip, np.dtype(info.data_type).itemsize)
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from ..exceptions import UnsupportedFeatureError
from ..format.chunks import grid_chunk_key
from ..format.info import ScaleInfo
from ..storage.base import Blob, bounded_map
from .source import ChunkSource
from .tasks import ChunkTask, Position

#: BOSS's cuboid (x, y, z); see storage/bossapi.py
CUBOID = (512, 512, 16)

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

    async def fetch_many(self, tasks: Sequence[ChunkTask]) -> dict[Position, Blob | None]:
        async def one(task: ChunkTask) -> Blob:
            return Blob(await self.store.get_cutout(self.resolution, self._box(task)), "blosc")

        blobs = await bounded_map(one, tasks, self.fetch_concurrency())
        return {t.position: b for t, b in zip(tasks, blobs)}

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
