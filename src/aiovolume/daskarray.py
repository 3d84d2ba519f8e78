"""One scale of a layer as an array dask can read blocks from and store blocks into.

:class:`VolumeArray` is what ``vol.to_dask()``, ``aiovolume.dask.from_cloudvolume`` and
``to_cloudvolume`` hand to ``dask.array``: ``(x, y, z[, channel])`` indices **0-based from the
scale's voxel_offset** (CloudVolume's own to_dask takes dask's 0-based indices as global
coordinates, so any layer with a non-zero voxel_offset raises OutOfBoundsError there).

How it behaves inside dask:

* It pickles as the volume's info and options (no store, no loop, no threads). In each process
  the first block it serves opens one Volume, shared by every task and thread of that process,
  through the process's own lazily started bridge loop (:mod:`aiovolume.sync`); the 8 most
  recently used arrays keep their Volume open, older idle ones are closed. dask calls
  ``__getitem__`` from its worker threads and needs an answer, so this module is the one place
  under the facade that blocks on the bridge (an import contract in pyproject.toml says so).
* Decodes and encodes run in the worker's threads: dask's workers are daemonic processes, which may
  not start a process pool, and dask already supplies the process parallelism. The volume copy is
  forced to ``decode_workers=0`` (no process codecs) and ``parallel=1``.
* Writes must be aligned (``non_aligned_writes`` is forced off in the copy): each task then writes
  whole chunks (whole shards on sharded scales with cuboid shards) that no other task touches, so
  ``da.store(..., lock=False)`` is safe. :func:`check_write_blocks` refuses other block layouts on
  the client, before any task runs, and says how to rechunk.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import uuid
from collections import OrderedDict
from typing import Any, Iterator, Sequence

import numpy as np

from .exceptions import AlignmentError, DimensionError
from .format.sharding import ShardingSpec, shard_shape
from .geometry import Bbox
from .sync import run

__all__ = ["VolumeArray", "DaskArrays", "check_write_blocks", "write_unit"]

# (pid, token) -> [the Volume every copy of one VolumeArray shares in that process, calls in flight];
# least recently used first. Each Volume holds a store (threads, sessions): beyond _MAX_LIVE, idle
# ones are closed.
_LIVE: "OrderedDict[tuple[int, str], list[Any]]" = OrderedDict()
_LIVE_LOCK = threading.Lock()
_MAX_LIVE = 8


def worker_copy(vol: Any) -> Any:
    """An unopened copy of ``vol`` (same info, options, mip) that decodes in threads and writes
    only whole chunks; it opens its store on first use in whatever process it lands in."""
    twin = pickle.loads(pickle.dumps(vol))
    twin.parallel = 1
    twin.options = twin.options.with_(decode_workers=0, process_codecs=frozenset(), codec_executor="auto")
    twin.non_aligned_writes = False
    twin.progress = False
    return twin


class VolumeArray:
    """Scale ``mip`` of a Volume as an ``(x, y, z, c)`` (or ``(x, y, z)``) array for dask.

    Only ``start:stop`` slices (step 1) are accepted; dask's ``from_array(..., fancy=False)`` and
    ``store`` only send those.
    """

    def __init__(self, vol: Any, mip: int, ndim: int = 4) -> None:
        if ndim not in (3, 4):
            raise DimensionError(f"a volume is a 3-D (x, y, z) or 4-D (x, y, z, channel) array, not {ndim}-D")
        self._vol = worker_copy(vol)
        # one per array: a new array (a new from_cloudvolume, to_dask or downsample call) sees the
        # layer afresh (no shard indexes or chunks cached by an earlier one)
        self._token = uuid.uuid4().hex
        self.mip = int(mip)
        self.offset = tuple(int(v) for v in vol.mip_voxel_offset(mip))
        size = tuple(int(v) for v in vol.mip_volume_size(mip))
        self.num_channels = int(vol.num_channels)
        self.shape: tuple[int, ...] = (*size, self.num_channels) if ndim == 4 else size
        self.dtype = np.dtype(vol.dtype)
        self.ndim = ndim
        self.cloudpath = vol.cloudpath

    @contextlib.contextmanager
    def volume(self) -> Iterator[Any]:
        """This process's Volume for the array, in use for the ``with`` block. Its store opens on
        first use and stays open while the array is among the ``_MAX_LIVE`` most recently used."""
        key = (os.getpid(), self._token)
        idle = []
        with _LIVE_LOCK:
            entry = _LIVE.get(key)
            if entry is None:  # a fresh copy: an evicted (closed) Volume does not reopen
                entry = _LIVE[key] = [pickle.loads(pickle.dumps(self._vol)), 0]
            _LIVE.move_to_end(key)
            entry[1] += 1
            for other in list(_LIVE):
                if len(_LIVE) <= _MAX_LIVE:
                    break
                if _LIVE[other][1] == 0 and other[0] == key[0]:
                    idle.append(_LIVE.pop(other)[0])
        try:
            for vol in idle:
                run(vol.close())
            yield entry[0]
        finally:
            with _LIVE_LOCK:
                entry[1] -= 1

    def _region(self, key: Any) -> tuple[Bbox, slice]:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.ndim:
            raise DimensionError(f"{len(key)} indices into a {self.ndim}-D volume array")
        key = key + (slice(None),) * (self.ndim - len(key))
        bounds = []
        for axis, (k, n) in enumerate(zip(key, self.shape)):
            if not isinstance(k, slice):
                raise DimensionError(f"volume arrays take start:stop slices only, got {k!r} on axis {axis}")
            start, stop, step = k.indices(n)
            if step != 1:
                raise DimensionError(f"volume arrays take slices of step 1, got {k!r} on axis {axis}")
            bounds.append((start, max(start, stop)))
        lo = [b[0] + o for b, o in zip(bounds[:3], self.offset)]
        hi = [b[1] + o for b, o in zip(bounds[:3], self.offset)]
        channels = slice(*bounds[3]) if self.ndim == 4 else slice(0, 1)
        return Bbox(lo, hi), channels

    def __getitem__(self, key: Any) -> np.ndarray:
        region, channels = self._region(key)
        if region.empty() or channels.start == channels.stop:
            shape = (*(int(v) for v in region.size3()), channels.stop - channels.start)
            out = np.zeros(shape, dtype=self.dtype, order="F")
        else:
            with self.volume() as vol:
                out = np.asarray(run(vol.download(region, mip=self.mip)))[..., channels]
        return out if self.ndim == 4 else out[..., 0]

    def __setitem__(self, key: Any, value: Any) -> None:
        region, channels = self._region(key)
        if self.ndim == 4 and (channels.start, channels.stop) != (0, self.num_channels):
            raise AlignmentError(f"a block written to {self.cloudpath} must hold all {self.num_channels} channels")
        if region.empty():
            return
        with self.volume() as vol:
            run(vol.upload(region, np.asarray(value), mip=self.mip))

    def __repr__(self) -> str:
        return f"<VolumeArray {self.cloudpath} mip={self.mip} shape={self.shape} dtype={self.dtype}>"


def write_unit(vol: Any, mip: int) -> tuple[tuple[int, int, int], str]:
    """The block edge a lock-free writer must respect: the chunk, or the shard's cuboid of chunks
    on a sharded scale whose shards are cuboids (other shard layouts: chunks, and the shard
    files' conditional writes settle tasks that share a shard)."""
    scale = vol._sync_info().scales[mip]
    chunk = tuple(int(c) for c in scale.chunk_size)
    if scale.sharding is not None:
        cuboid = shard_shape(ShardingSpec.from_json(scale.sharding), scale.grid_shape)
        if cuboid is not None:
            return tuple(c * s for c, s in zip(chunk, cuboid)), "shards"  # type: ignore[return-value]
    return chunk, "chunks"  # type: ignore[return-value]


def check_write_blocks(chunks: Sequence[Sequence[int]], shape: Sequence[int], unit: Sequence[int],
                       what: str, where: str) -> None:
    """Refuse a dask block layout whose blocks would share storage chunks (``what``: "chunks" or
    "shards" of ``unit`` voxels): every block boundary must fall on the grid or at the array's end."""
    ndim = len(chunks)
    for axis in range(3):
        edge = 0
        for block in chunks[axis][:-1]:
            edge += int(block)
            if edge % int(unit[axis]):
                raise AlignmentError(
                    f"{where}: the dask blocks do not line up with the storage {what} of "
                    f"{tuple(int(u) for u in unit)} voxels (a block boundary at {edge} on axis {'xyz'[axis]}), so "
                    f"two tasks would write the same {what[:-1]}; rechunk first, e.g. "
                    f"arr = arr.rechunk({suggest_blocks(chunks, unit, shape)})")
    if ndim == 4 and len(chunks[3]) != 1:
        raise AlignmentError(f"{where}: every block must hold all {shape[3]} channels (chunks store them "
                             f"together); rechunk first, e.g. arr = arr.rechunk({suggest_blocks(chunks, unit, shape)})")


def suggest_blocks(chunks: Sequence[Sequence[int]], unit: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """Block edges that are multiples of ``unit`` and close to the current largest block."""
    out = []
    for axis in range(3):
        biggest = max((int(b) for b in chunks[axis]), default=int(unit[axis]))
        out.append(int(unit[axis]) * max(1, round(biggest / int(unit[axis]))))
    if len(chunks) == 4:
        out.append(int(shape[3]))
    return tuple(out)


class DaskArrays:
    """Mixin for :class:`aiovolume.Volume`: ``vol.to_dask()``."""

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        """The volume's current mip as a lazy ``dask.array`` of shape ``(x, y, z, channel)``, 0-based
        from the scale's voxel_offset (CloudVolume's signature; unlike CloudVolume, a non-zero
        voxel_offset works). ``chunks`` defaults to the storage chunk size and all channels, so
        each block reads whole chunks; ``name`` to a token of the layer, mip and chunks.

        >>> arr = vol.to_dask()                               # doctest: +SKIP
        >>> arr[:, :, 0:64].mean().compute()                  # doctest: +SKIP
        """
        import dask.array as da
        from dask.base import tokenize

        vol: Any = self
        array = VolumeArray(vol, vol.mip)
        if chunks is None:
            chunks = (*(int(c) for c in vol.chunk_size), array.num_channels)
        if name is None:
            name = "to-dask-" + tokenize(vol.cloudpath, vol.mip, vol.info, chunks)
        meta = np.empty((0,) * array.ndim, dtype=array.dtype)
        return da.from_array(array, chunks=chunks, name=name, lock=False, fancy=False, meta=meta)
