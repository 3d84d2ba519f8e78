"""The clients under test. Each worker process instantiates exactly one (imports are lazy).

Interface (only ``read`` / ``write`` / ``cutouts`` are timed):

* ``open(url, write=False, compress=None)`` -> handle (untimed)
* ``read(h, box)`` -> array of the box; ``write(h, box, data)``;
  ``cutouts(h, boxes)`` -> list of arrays (many small reads, the client's idiomatic way)
* ``close(h)``

``url`` is ``file:///...`` or ``http://127.0.0.1:PORT/ds/<layer>``; boxes are ``((x0, y0, z0),
(x1, y1, z1))``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

CUTOUT_CONCURRENCY = 64


def _slices(box: Any) -> tuple[slice, slice, slice]:
    lo, hi = box
    return tuple(slice(a, b) for a, b in zip(lo, hi))  # type: ignore[return-value]


class Client:
    name = ""
    description = ""

    def open(self, url: str, write: bool = False, compress: bool | None = None, cache_bytes: int = 0) -> Any:
        """``cache_bytes``: the client's own chunk cache (0 = none, every client's default)."""
        raise NotImplementedError

    def read(self, h: Any, box: Any) -> Any:
        raise NotImplementedError

    def write(self, h: Any, box: Any, data: np.ndarray) -> None:
        raise NotImplementedError

    def cutouts(self, h: Any, boxes: list[Any]) -> list[Any]:
        return [self.read(h, b) for b in boxes]

    def close(self, h: Any) -> None:
        pass


class AioFacade(Client):
    """``aiovolume.CloudVolume(url)`` (blocking facade), ``vol[x0:x1, ...]``."""

    def __init__(self, name: str = "aiovolume", parallel: int = 1, **options: Any) -> None:
        import aiovolume

        self.name = name
        self._mod = aiovolume
        self._parallel = parallel
        self._options = aiovolume.Options(**options) if options else None
        self.description = ("aiovolume.CloudVolume(url" + (f", parallel={parallel})" if parallel != 1 else ")")
                            + (f", Options({options})" if options else ", default options"))

    def open(self, url: str, write: bool = False, compress: bool | None = None, cache_bytes: int = 0) -> Any:
        kw: dict[str, Any] = {"options": self._options} if self._options else {}
        if write:
            kw["compress"] = compress
        return self._mod.CloudVolume(url, lru_bytes=cache_bytes, parallel=self._parallel, **kw)

    def read(self, h: Any, box: Any) -> Any:
        return h[_slices(box)]

    def write(self, h: Any, box: Any, data: np.ndarray) -> None:
        h[_slices(box)] = data

    def close(self, h: Any) -> None:
        h.close()


class AioAsync(Client):
    """``await Volume.download(bbox)`` on an event loop owned by the worker; many small reads
    as ``asyncio.gather`` under an ``asyncio.Semaphore(64)``."""

    name = "aiovolume-async"
    description = "await aiovolume.Volume.download(Bbox) / upload; cutouts: gather + Semaphore(64)"

    def __init__(self) -> None:
        import aiovolume

        self._mod = aiovolume
        self._loop = asyncio.new_event_loop()

    def open(self, url: str, write: bool = False, compress: bool | None = None, cache_bytes: int = 0) -> Any:
        kw = {"compress": compress} if write else {}
        return self._loop.run_until_complete(self._mod.Volume.open(url, lru_bytes=cache_bytes, **kw))

    def _bbox(self, box: Any) -> Any:
        return self._mod.Bbox(box[0], box[1])

    def read(self, h: Any, box: Any) -> Any:
        return self._loop.run_until_complete(h.download(self._bbox(box)))

    def write(self, h: Any, box: Any, data: np.ndarray) -> None:
        self._loop.run_until_complete(h.upload(self._bbox(box), data))

    def cutouts(self, h: Any, boxes: list[Any]) -> list[Any]:
        async def many() -> list[Any]:
            sem = asyncio.Semaphore(CUTOUT_CONCURRENCY)

            async def one(b: Any) -> Any:
                async with sem:
                    return await h.download(b)

            return await asyncio.gather(*(one(self._bbox(b)) for b in boxes))

        return self._loop.run_until_complete(many())

    def close(self, h: Any) -> None:
        self._loop.run_until_complete(h.close())


class CloudVolumeClient(Client):
    name = "cloud-volume"
    description = ("cloudvolume.CloudVolume(url, parallel=1, cache=False, lru_bytes=0, progress=False, "
                   "fill_missing=False); cutouts one after another")

    def __init__(self) -> None:
        import cloudvolume

        self._cls = cloudvolume.CloudVolume

    def open(self, url: str, write: bool = False, compress: bool | None = None, cache_bytes: int = 0) -> Any:
        kw = {"compress": compress} if write else {}
        return self._cls(url, parallel=1, cache=False, lru_bytes=cache_bytes, progress=False, fill_missing=False,
                         **kw)

    def read(self, h: Any, box: Any) -> Any:
        return h[_slices(box)]

    def write(self, h: Any, box: Any, data: np.ndarray) -> None:
        if h.image.is_sharded(h.mip):
            self._write_shards(h, box, data)
        else:
            h[_slices(box)] = data

    @staticmethod
    def _write_shards(h: Any, box: Any, data: np.ndarray) -> None:
        """What a cloud-volume 12.15.2 user must do to write a sharded layer: one ``vol[bbox] =
        img`` per shard. Its ``_upload_shard`` builds ONE shard file from whatever chunks ``bbox``
        holds (``make_shard``) and names it after the first chunk, so a bbox spanning several
        shards writes a wrong file, and a bbox covering part of a shard replaces that shard with
        only those chunks. Refuses boxes that do not cover whole shards."""
        shard = [int(v) for v in h.image.shard_shape(h.mip)]
        size = [int(v) for v in h.meta.volume_size(h.mip)]
        off = [int(v) for v in h.meta.voxel_offset(h.mip)]
        lo, hi = [int(v) for v in box[0]], [int(v) for v in box[1]]
        for a, b, o, n, s in zip(lo, hi, off, size, shard):
            if (a - o) % s or not (b == o + n or (b - o) % s == 0):
                raise ValueError(f"box {box} does not cover whole shards of {shard} voxels")
        import itertools

        starts = [range(a, b, s) for a, b, s in zip(lo, hi, shard)]
        for corner in itertools.product(*starts):
            end = [min(c + s, b) for c, s, b in zip(corner, shard, hi)]
            part = data[tuple(slice(c - a, e - a) for c, e, a in zip(corner, end, lo))]
            h[tuple(slice(c, e) for c, e in zip(corner, end))] = part


class TensorStoreClient(Client):
    name = "tensorstore"
    description = ("tensorstore neuroglancer_precomputed, file/http kvstore, cache_pool total_bytes_limit 0; "
                   "cutouts: 64 read futures in flight")

    def __init__(self) -> None:
        import tensorstore

        self._ts = tensorstore

    def open(self, url: str, write: bool = False, compress: bool | None = None, cache_bytes: int = 0) -> Any:
        # tensorstore has no gzip for unsharded raw Precomputed: writes are always uncompressed
        if url.startswith("file://"):
            kv = {"driver": "file", "path": url[len("file://"):] + "/"}
        else:
            scheme, _, rest = url.partition("://")
            host, _, path = rest.partition("/")
            kv = {"driver": "http", "base_url": f"{scheme}://{host}", "path": "/" + path + "/"}
        ctx = self._ts.Context({"cache_pool": {"total_bytes_limit": cache_bytes}})
        spec = {"driver": "neuroglancer_precomputed", "kvstore": kv}
        return self._ts.open(spec, context=ctx, read=True, write=write).result()

    def read(self, h: Any, box: Any) -> Any:
        return h[_slices(box)].read().result()

    def write(self, h: Any, box: Any, data: np.ndarray) -> None:
        h[_slices(box)].write(data if data.ndim == 4 else data[..., np.newaxis]).result()

    def cutouts(self, h: Any, boxes: list[Any]) -> list[Any]:
        out: list[Any] = []
        pending: list[Any] = []
        for b in boxes:
            if len(pending) >= CUTOUT_CONCURRENCY:
                out.append(pending.pop(0).result())
            pending.append(h[_slices(b)].read())
        out.extend(f.result() for f in pending)
        return out


# name -> factory. The first three are the default scoreboard; the others are diagnostics
# for --clients (aiovolume with a forced codec executor).
FACTORIES: dict[str, Any] = {
    "aiovolume": lambda: AioFacade("aiovolume"),
    "aiovolume-async": AioAsync,
    "cloud-volume": CloudVolumeClient,
    "tensorstore": TensorStoreClient,
    "aiovolume-process": lambda: AioFacade("aiovolume-process", codec_executor="process"),
    "aiovolume-thread": lambda: AioFacade("aiovolume-thread", codec_executor="thread"),
    "aiovolume-inline": lambda: AioFacade("aiovolume-inline", codec_executor="inline"),
    "aiovolume-parallel2": lambda: AioFacade("aiovolume-parallel2", parallel=2),
}
AIOVOLUME_CLIENTS = tuple(n for n in FACTORIES if n.startswith("aiovolume"))
