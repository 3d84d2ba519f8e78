"""CloudVolume's shared-memory API on :class:`aiovolume.Volume` (a mixin over its download/upload).

A location is a POSIX shared-memory name, the file ``/dev/shm/<location>`` holding the bare
array bytes (Fortran order unless told otherwise), exactly as CloudVolume's
``cloudvolume.sharedmemory.ndarray`` and Python's ``multiprocessing.shared_memory`` keep it: any of
them can attach by name and read the array. As in CloudVolume, the caller owns the segment's
lifetime: nothing here unlinks a location it filled (``vol.unlink_shared_memory()`` or
``aiovolume.sharedmem.unlink(location)`` do).

>>> arr = await vol.download_to_shared_memory(np.s_[0:512, 0:512, 0:64])   # doctest: +SKIP
>>> vol.shared_memory_id      # another process: sharedmemory.ndarray(shape, dtype, location=...)
'precomputed-shm-...'
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

import numpy as np

from .exceptions import (
    AlignmentError, DtypeError, OptionError, ResourceLimitError, ShapeMismatchError,
)
from .pipeline.read import ReadJob, finish_read_into, start_read_into
from .geometry import Bbox
from .pipeline.shm import open_segment, segment_name, segment_path, segment_size, shm_free_bytes, unlink_segment


def unlink(location: str) -> bool:
    """Remove shared-memory ``location``; False when it did not exist (CloudVolume's ``sharedmemory.unlink``)."""
    return unlink_segment(location)


def check_room(location: str, nbytes: int) -> None:
    """ResourceLimitError unless /dev/shm can take ``nbytes`` more at ``location`` (what is there
    already is reused). A full tmpfs kills the writer with SIGBUS, not an error, hence the check."""
    have = segment_size(location) or 0
    free = shm_free_bytes()
    if nbytes - have > free:
        raise ResourceLimitError(
            f"shared memory {location!r} needs {nbytes:,} bytes but {segment_path(location)} has only "
            f"{free + have:,} available (Docker's default /dev/shm is 64 MB: run with --shm-size, "
            "or read a smaller region); nothing was read"
        )


def array_over(buffer: Any, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    """A Fortran-ordered ``shape`` array over the start of a ``SharedMemory``'s buffer."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(buffer) < nbytes:
        raise ShapeMismatchError(
            f"{what} holds {len(buffer):,} bytes; the region needs {nbytes:,} ({shape} x, y, z, channels of {dtype})"
        )
    return np.ndarray(shape, dtype=dtype, buffer=buffer, order="F")  # type: ignore[call-overload]


def check_out(out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if not isinstance(out, np.ndarray):
        raise OptionError(f"out= must be a numpy array or a multiprocessing SharedMemory, not {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        raise ShapeMismatchError(f"out= has shape {out.shape}; the region is {shape} (x, y, z, channels)")
    if out.dtype != dtype:
        raise DtypeError(f"out= has dtype {out.dtype}; the layer's is {dtype}")
    if not out.flags.writeable:
        raise OptionError("out= is read-only")


class _Pending(NamedTuple):  # what Volume._cutout reads of a PendingDownload
    job: Any
    req: Any
    region: Bbox
    mip: int


class SharedMemoryMixin:
    """``download_to_shared_memory``, ``upload_from_shared_memory``, ``unlink_shared_memory``,
    ``shared_memory_id`` and ``generate_shared_memory_location`` for :class:`aiovolume.Volume`."""

    _shm_id: str | None = None

    def generate_shared_memory_location(self) -> str:
        """A fresh location name, ``precomputed-shm-<uuid4>`` as CloudVolume's."""
        return "precomputed-shm-" + str(uuid.uuid4())

    @property
    def shared_memory_id(self) -> str:
        """This volume's default location (made once per volume, settable, as in CloudVolume)."""
        if self._shm_id is None:
            self._shm_id = self.generate_shared_memory_location()
        return self._shm_id

    @shared_memory_id.setter
    def shared_memory_id(self, value: str) -> None:
        segment_path(value)  # a bad name fails here, not at the first download
        self._shm_id = value

    def unlink_shared_memory(self) -> bool:
        """Unlink ``shared_memory_id``; False when it did not exist (arrays already mapped stay valid)."""
        return unlink_segment(self.shared_memory_id)

    async def _download_out(self, bbox: Any, mip: Any, out: Any) -> Any:
        """``Volume.download(bbox, mip, out=out)``: a VolumeCutout over ``out``."""
        vol: Any = self
        mip_i = vol._data_mip(mip)
        req = vol._request(bbox, mip_i)
        region = vol._bounded_region(req.bbox, mip_i)
        shape = (*(int(s) for s in region.size3()), int(vol._info.num_channels))
        dtype = np.dtype(vol._info.data_type)
        name = None if isinstance(out, np.ndarray) else getattr(out, "name", None)
        if name is not None and hasattr(out, "buf"):  # a multiprocessing SharedMemory
            arr = array_over(out.buf, shape, dtype, f"shared memory {name!r}")
        else:
            check_out(out, shape, dtype)
            arr, name = out, None
        job = await self._download_into(req, region, mip_i, arr, name)
        return vol._cutout(arr, _Pending(job, req, region, mip_i))

    async def _download_into(self, req: Any, region: Bbox, mip_i: int, out: np.ndarray, name: str | None) -> ReadJob:
        """Read ``region`` into ``out`` (its whole shape, every channel); ``name``: out's shared-memory segment."""
        vol: Any = self
        job = start_read_into(
            vol._source(mip_i), vol._format(mip_i), region, out, name, fill_missing=vol.fill_missing,
            background=vol.background_color, options=vol._engine, cache=vol.lru,
            on_progress=vol._progress(region, vol._info.scales[mip_i]),
        )
        await finish_read_into(job, out)
        return job

    def _shared_source(self, req: Any, source: Any, data: Any) -> np.ndarray:
        """The array ``Volume.upload(bbox, source=shm)`` writes."""
        vol: Any = self
        if source is None:
            raise OptionError("upload() needs data (an array or a scalar), or source=SharedMemory")
        if data is not None:
            raise OptionError("upload(): pass data or source=, not both")
        if not hasattr(source, "buf"):
            raise OptionError(f"source= must be a multiprocessing SharedMemory, not {type(source).__name__}")
        shape = (*(int(s) for s in req.bbox.size3()), int(vol._info.num_channels))
        return array_over(source.buf, shape, np.dtype(vol._info.data_type),
                          f"shared memory {getattr(source, 'name', '?')!r}")

    async def download_to_shared_memory(self, slices: Any, location: str | None = None, mip: Any = None) -> np.ndarray:
        """Read ``slices`` into shared memory ``location`` (default ``shared_memory_id``) and
        return the array mapped there: ``(x, y, z, c)``, Fortran order, the layer's dtype.

        The segment holds the whole region at every channel; a strided or channel-subset request
        returns a view of it, as in CloudVolume. It is created (or resized) and not unlinked:
        another process attaches by name; unlink it when done. ResourceLimitError before any I/O
        when /dev/shm cannot hold it. Differences from CloudVolume: sharded layers are read into
        shared memory too (CloudVolume returns an ordinary array and writes nothing there), and
        a read that fails removes a segment it created.
        """
        vol: Any = self
        location = vol.shared_memory_id if location is None else location
        mip_i = vol._data_mip(mip)
        req = vol._request(slices, mip_i)
        region = vol._bounded_region(req.bbox, mip_i)
        shape = (*(int(s) for s in region.size3()), int(vol._info.num_channels))
        dtype = np.dtype(vol._info.data_type)
        check_room(location, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        existed = segment_size(location) is not None
        _, arr = open_segment(location, shape, dtype, order="F")  # the array holds the mapping
        try:
            await vol._download_into(req, region, mip_i, arr, segment_name(location))
        except BaseException:
            if not existed:
                unlink_segment(location)
            raise
        sx, sy, sz = req.steps
        return arr[::sx, ::sy, ::sz, req.channels]

    async def upload_from_shared_memory(self, location: str, bbox: Any, order: str = "F",
                                        cutout_bbox: Any = None) -> None:
        """Write the array in shared memory ``location`` into the volume at the current mip.

        ``bbox``: the region the whole array represents (its shape is ``bbox`` x channels, the
        layer's dtype, ``order``); ``cutout_bbox`` (volume coordinates, inside ``bbox``): write
        only that part. The segment is only read, never unlinked. SharedMemoryReadError when it
        is missing or its size does not match.
        """
        await self._upload_from_segment(location, bbox, order, cutout_bbox, None)

    async def _upload_from_segment(self, location: str, bbox: Any, order: str, cutout_bbox: Any, mip: Any) -> None:
        vol: Any = self
        if order not in ("F", "C"):
            raise OptionError(f"order={order!r}: 'F' or 'C'")
        mip_i = vol._write_mip(mip)
        res = vol._info.scales[mip_i].resolution
        box = Bbox.create(bbox, resolution=res).astype(np.int64)
        cut = box.clone() if cutout_bbox is None else Bbox.create(cutout_bbox, resolution=res).astype(np.int64)
        if not box.contains_bbox(cut):
            raise AlignmentError(f"cutout_bbox {cut} is not inside the shared array's bbox {box}; nothing was written")
        if vol.autocrop:
            cut = Bbox.intersection(cut, vol._info.scales[mip_i].bounds)
        if cut.subvoxel():
            return
        shape = (*(int(s) for s in box.size3()), int(vol._info.num_channels))
        mm, arr = open_segment(location, shape, np.dtype(vol._info.data_type), order=order, readonly=True)
        del mm  # never closed by hand: numpy holds no buffer export, so views would outlive it (SIGSEGV)
        lo, hi = cut.minpt - box.minpt, cut.maxpt - box.minpt
        await vol.upload(cut, arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :], mip=mip_i)
