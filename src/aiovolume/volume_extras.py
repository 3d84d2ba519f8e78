"""CloudVolume's less common data methods, as a mixin of :class:`aiovolume.Volume`.

Thin layers over ``Volume.download`` / ``Volume.upload`` and the chunk sources: the download
arguments ``segids``, ``preserve_zeros``, ``renumber``, ``label`` and ``coord_resolution``,
``unique``, ``scattered_points`` / ``download_points`` / ``coordinate_indexing``,
``download_files``, ``memory_cutout``, ``download_to_file`` and ``upload_from_file``.
The plain ``download(bbox, mip)`` never comes through here.

    >>> async with Volume("file:///data/seg") as vol:           # doctest: +SKIP
    ...     img, mapping = await vol.download(vol.bounds, renumber=True)
"""

from __future__ import annotations

import copy
import os
import uuid
import weakref
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from . import labels
from .cutout import VolumeCutout
from .exceptions import (
    AlignmentError, InfoUnavailableError, OutOfBoundsError, SharedMemoryReadError, SubvoxelVolumeError,
)
from .format.chunks import expand_to_grid
from .format.sharding import compute_shard_params
from .geometry import Bbox
from .pipeline import transfer
from .pipeline.chunkfiles import fetch_files
from .pipeline.fanout import map_bounded
from .pipeline.layerformat import resolve_compress
from .progress import close_bar, progress_bar
from .storage.memory import MemoryStore

# point groups (one chunk each) read at once by download_points
_POINT_READS = 16


class VolumeExtras:
    """Mixin of :class:`aiovolume.Volume`: uses its ``download``/``upload`` coroutines, metadata
    (``_info``, ``mip_*``, ``bounds``, options) and request helpers (``_request``,
    ``_bounded_region``, ``_data_mip``, ``_source``, ``_format``); nothing else."""

    # -- download(segids=, renumber=, label=, coord_resolution=) -------------------------------
    async def _download_extra(self, bbox: Any, mip: Any, segids: Sequence[Any] | None, preserve_zeros: bool,
                              renumber: bool, coord_resolution: Sequence[float] | None,
                              label: Any) -> "VolumeCutout | tuple[VolumeCutout, dict]":
        """``download`` with CloudVolume's extra arguments: the plain read, then pure array steps.

        Unlike CloudVolume, ``segids`` is not modified (it appends 0 to the caller's list), and
        with ``renumber`` the mask applies to the original labels (CloudVolume masks the already
        renumbered image with the original ids).
        """
        mip_i = self.to_mip(mip)
        img = await self.download(self._in_voxels(bbox, mip_i, coord_resolution), mip_i)
        data: np.ndarray = img
        if segids is not None:
            data = labels.mask_except(data, segids, preserve_zeros)
        if label is not None:
            data = labels.label_image(data, label)
        mapping: dict[Any, int] = {}
        if renumber:
            if label is not None:  # a boolean image stays boolean, as in CloudVolume
                mapping = {0: 0, 1: 1} if data.any() else {0: 0}
            else:
                data, mapping = labels.renumber(data)
        out = data if data is img else _like(data, img)
        return (out, mapping) if renumber else out

    def _in_voxels(self, bbox: Any, mip: int, coord_resolution: Sequence[float] | None) -> Any:
        """``bbox`` given in voxels of ``coord_resolution`` -> voxels of ``mip`` (corners truncated, as
        CloudVolume does); unchanged without ``coord_resolution``."""
        if coord_resolution is None:
            return bbox
        box = Bbox.create(bbox, context=self.bounds)
        factor = np.asarray(self.mip_resolution(mip), float) / np.asarray(coord_resolution, float)
        box = (box / factor).astype(np.int64)
        bounds = self.mip_bounds(mip)
        if self.bounded and not bounds.contains_bbox(box):
            raise OutOfBoundsError(f"{bbox} at resolution {list(coord_resolution)} is {box} at mip {mip}, "
                                   f"which is not inside the bounds {bounds}")
        if box.subvoxel():
            raise SubvoxelVolumeError(f"{box} (after adjusting for coord_resolution) has zero or near zero size")
        return box

    def _region(self, bbox: Any, mip: int) -> Bbox:
        """The voxel region a request reads (bounds and autocrop applied), without steps or channels."""
        return self._bounded_region(self._request(bbox, mip).bbox, mip)

    def _slabs(self, region: Bbox, mip: int) -> Iterator[Bbox]:
        """``region`` cut along z at chunk boundaries, one chunk row per slab: bounded memory."""
        scale = self._info.scales[mip]
        cz, oz = int(scale.chunk_size[2]), int(scale.voxel_offset[2])
        z0, z1 = int(region.minpt[2]), int(region.maxpt[2])
        while z0 < z1:
            stop = min(z1, oz + ((z0 - oz) // cz + 1) * cz)
            yield Bbox((region.minpt[0], region.minpt[1], z0), (region.maxpt[0], region.maxpt[1], stop))
            z0 = stop

    # -- unique ----------------------------------------------------------------------------------
    async def unique(self, bbox: Any, mip: Any = None, agglomerate: bool | None = None,
                     timestamp: int | None = None, stop_layer: int | None = None,
                     coord_resolution: Sequence[float] | None = None) -> set:
        """The set of labels in a region, read one chunk row at a time (never the whole image).

        ``agglomerate``, ``timestamp`` and ``stop_layer`` are graphene arguments, ignored as in CloudVolume.
        """
        mip_i = self._data_mip(mip)
        region = self._region(self._in_voxels(bbox, mip_i, coord_resolution), mip_i)
        found: set = set()
        for slab in self._slabs(region, mip_i):
            found |= labels.unique_labels(await self.download(slab, mip_i))
        return found

    # -- single voxels -------------------------------------------------------------------------
    async def download_points(self, points: Iterable[Sequence[int]],
                              mip: Any = None) -> dict[tuple[int, int, int], Any]:
        """``{(x, y, z): value}`` of voxels given in ``mip`` coordinates (first channel).

        Points are grouped by chunk; each chunk is read once, groups concurrently.
        """
        mip_i = self._data_mip(mip)
        pts = np.asarray([tuple(p)[:3] for p in points], dtype=np.int64).reshape(-1, 3)
        if not len(pts):
            return {}
        scale = self._info.scales[mip_i]
        grid = (pts - np.asarray(scale.voxel_offset)) // np.asarray(scale.chunk_size)
        _, group_of = np.unique(grid, axis=0, return_inverse=True)
        groups = [pts[group_of.ravel() == g] for g in range(int(group_of.max()) + 1)]
        result: dict[tuple[int, int, int], Any] = {}

        async def read(group: np.ndarray) -> None:
            lo = group.min(axis=0)
            img = await self.download(Bbox(lo, group.max(axis=0) + 1), mip_i)
            for x, y, z in group.tolist():
                result[(x, y, z)] = img[x - lo[0], y - lo[1], z - lo[2], 0]

        await map_bounded(read, groups, _POINT_READS)
        return result

    async def scattered_points(self, pts: Iterable[Any], mip: Any = None,
                               coord_resolution: Sequence[float] | None = None) -> dict[tuple[int, int, int], Any]:
        """Values of voxels given in mip-0 coordinates (or ``coord_resolution``), keyed by their
        coordinates at ``mip``, as CloudVolume. A single ``(x, y, z)`` is accepted too."""
        pts = list(pts)
        if pts and isinstance(pts[0], (int, np.integer)):
            pts = [pts]
        mip_i = self.to_mip(mip)
        res0 = np.asarray(self.mip_resolution(0), np.float32)
        ratio = res0 / np.asarray(self.mip_resolution(mip_i), np.float32)
        if coord_resolution is not None:
            ratio = ratio / (res0 / np.asarray(coord_resolution, np.float32))
        if not pts:
            return {}
        at_mip = np.floor(np.asarray(pts, dtype=np.float64).reshape(-1, 3) * ratio).astype(np.int64)
        return await self.download_points(at_mip, mip_i)

    async def coordinate_indexing(self, slices: Sequence[Sequence[int]]) -> np.ndarray:
        """``vol[[x1, x2], [y1, y2], [z1, z2]]``: the values at (x1, y1, z1), (x2, y2, z2) as a 1-D array.

        Coordinates are voxels of the current mip, like every other index (CloudVolume takes them
        as mip-0 points and so fails above mip 0).
        """
        pts = list(zip(*(np.asarray(s, dtype=np.int64).ravel().tolist() for s in slices[:3])))
        found = await self.download_points(pts, self.mip)
        return np.array([found[p] for p in pts], dtype=self.dtype)

    # -- stored files ------------------------------------------------------------------------
    async def download_files(self, bbox: Any, mip: Any = None, parallel: int | None = None,
                             segids: Sequence[Any] | None = None, agglomerate: bool | None = None,
                             timestamp: int | None = None, stop_layer: int | None = None,
                             coord_resolution: Sequence[float] | None = None, cache_only: bool = False,
                             decompress: bool = True) -> dict[str, bytes | None]:
        """``{"<scale key>/<chunk name>": bytes}`` for every chunk the region touches, as stored
        (gunzipped etc. when ``decompress``), None for a missing chunk.

        ``segids``: other labels are set to 0 and each chunk re-encoded (CloudVolume's version of
        this raises). ``cache_only``: only fill the disk cache and return ``{}`` (nothing is read
        when the cache is off, as in CloudVolume).
        """
        mip_i = self._data_mip(mip)
        region = self._region(self._in_voxels(bbox, mip_i, coord_resolution), mip_i)
        source = self._source(mip_i)
        if cache_only:
            if self.cache.enabled:  # type: ignore[attr-defined]
                tasks = source.plan(region).tasks
                for group in source.groups(tasks):
                    await source.fetch_many(group)  # a CachedSource keeps what it fetches
            return {}
        return await fetch_files(source, source.plan(region).tasks, decompress_files=decompress,
                                 fmt=self._format(mip_i), segids=segids or None)

    # -- copies ------------------------------------------------------------------------------
    async def transfer_to(self, cloudpath: str, bbox: Any, block_size: int | None = None, compress: Any = "auto",
                          encoding: str | None = None, sharded: bool | None = None, *, mip: Any = None,
                          compress_level: int | None = None) -> Any:
        """Copy a region (grown to whole chunks, clamped to the bounds) of scale ``mip`` (default:
        the volume's) to the layer at ``cloudpath``, and return that layer as a Volume (it opens
        its store on first use; close it when done).

        The destination's info is created as a copy of this one when it has none (missing scales
        are appended otherwise); ``encoding`` changes the scale's encoding, ``sharded=True`` shards
        it (``format.sharding.compute_shard_params``), ``sharded=False`` unshards it. Chunks are
        copied as stored bytes when the two scales' codecs and grids match (whole shard files when
        both are sharded alike), else decoded and re-encoded; either way in blocks of
        ``block_size`` chunks (default about 8 MiB decoded, or one shard), so memory stays bounded
        whatever the region's size (CloudVolume holds every file of the region at once between
        sharded and unsharded layers). ``compress``: ``"auto"``/None keeps each copied chunk's
        transport compression (re-encoded chunks get the encoding's default: gzip for raw and
        segmentation); True/"gzip"/"br"/"zstd"/False convert every chunk. A sharded destination
        always stores its spec's ``data_encoding``. Missing chunks raise EmptyVolumeException
        unless ``fill_missing``, where they are skipped (CloudVolume writes empty files for them).
        Provenance is not copied (aiovolume does not handle provenance files yet).
        """
        mip_i = self._data_mip(mip)
        scale = self._info.scales[mip_i]
        region = expand_to_grid(self._region(bbox, mip_i), scale.bounds, scale.chunk_size)
        keep = compress is None or (isinstance(compress, str) and compress == "auto")
        resolve_compress(None if keep else compress, encoding or scale.encoding)  # a bad compress= before any I/O
        dest = await self._transfer_destination(cloudpath, mip_i, encoding, sharded, compress is False)
        try:
            region = Bbox.intersection(region, dest.mip_bounds(mip_i))
            if not region.empty():
                src = transfer.Side(self._source(mip_i), self._format(mip_i))
                dst = transfer.Side(dest._source(mip_i), dest._format(mip_i))
                default = resolve_compress(None if keep else compress, dst.fmt.encoding)
                settings = transfer.Settings(
                    transfer.KEEP if keep else default, default, compress_level, block_size, self.fill_missing,
                    self.background_color, dest._cache_control_header(), self.options)
                bar = progress_bar(self.progress, transfer.chunks_to_write(dst, region), f"Transferring {self.layer}",
                                   dest._chunk_bytes(dest._info.scales[mip_i]))
                try:
                    await transfer.transfer(src, dst, region, settings, bar)
                finally:
                    close_bar(bar)
                if dest.lru is not None:
                    dest.lru.clear()
        finally:
            await dest.close()
        dest._reopen = True  # no store held until the caller uses it
        dest.progress = self.progress
        return dest

    async def _transfer_destination(self, cloudpath: str, mip: int, encoding: str | None, sharded: bool | None,
                                    uncompressed: bool) -> Any:
        """The open destination of ``transfer_to``, its info created or amended and committed."""
        kwargs = dict(options=self.options, secrets=self.secrets, progress=False, cdn_cache=self.cdn_cache)
        try:
            dest = await type(self).open(cloudpath, **kwargs)
            changed = False
        except InfoUnavailableError:
            dest = await type(self).open(cloudpath, info=copy.deepcopy(self.info), **kwargs)
            changed = True
        try:
            info = dest.info  # the live dict: edits show on the next use
            while len(info["scales"]) <= mip:
                info["scales"].append(copy.deepcopy(self.info["scales"][len(info["scales"])]))
                changed = True
            scale = info["scales"][mip]
            if encoding is not None and scale["encoding"] != encoding:
                scale["encoding"] = encoding
                if encoding == "compressed_segmentation":
                    scale.setdefault("compressed_segmentation_block_size", [8, 8, 8])
                changed = True
            if sharded and "sharding" not in scale:
                spec = compute_shard_params(scale["size"], scale["chunk_sizes"][0], info["data_type"],
                                            info["num_channels"], scale["encoding"])
                scale["sharding"] = spec.to_json()
                if uncompressed:
                    scale["sharding"]["data_encoding"] = "raw"
                changed = True
            elif sharded is False and "sharding" in scale:
                del scale["sharding"]
                changed = True
            if changed:
                await dest.commit_info()
            dest.mip = mip
        except BaseException:
            await dest.close()
            raise
        return dest

    async def memory_cutout(self, bbox: Any, mip: Any = None, encoding: str | None = None,
                            compress: Any = None, compress_level: int | None = None, **graphene: Any) -> Any:
        """A new ``mem://`` volume (open, at ``mip``) holding the chunks of the region, grown to
        whole chunks: a :meth:`transfer_to` into memory, so chunks are copied as stored unless
        ``encoding``/``compress`` re-encode them. Its objects go when it is garbage collected."""
        mip_i = self._data_mip(mip)
        bucket = f"cutout-{uuid.uuid4().hex}"
        dest = await self.transfer_to(f"mem://{bucket}/{self.layer}", bbox, compress=compress, encoding=encoding,
                                      mip=mip_i, compress_level=compress_level)
        weakref.finalize(dest, MemoryStore.drop_bucket, bucket)
        dest.compress, dest.compress_level = compress, compress_level
        await dest._open()
        return dest

    async def download_to_file(self, path: str, bbox: Any, mip: Any = None) -> VolumeCutout:
        """Read a region into a new file at ``path`` (raw, Fortran order, x y z c: CloudVolume's
        layout, which its ``upload_from_file`` reads) and return it as a memory-mapped cutout."""
        mip_i = self._data_mip(mip)
        req = self._request(bbox, mip_i)
        region = self._bounded_region(req.bbox, mip_i)
        shape = (*(int(s) for s in region.size3()), self.num_channels)
        mapped = np.memmap(os.path.abspath(path), dtype=self.dtype, mode="w+", shape=shape, order="F")
        lo = int(region.minpt[2])
        for slab in self._slabs(region, mip_i):
            mapped[:, :, int(slab.minpt[2]) - lo:int(slab.maxpt[2]) - lo, :] = await self.download(slab, mip_i)
        mapped.flush()
        sx, sy, sz = req.steps
        cut = VolumeCutout(mapped, self.dataset_name, self.layer, mip_i, self.layer_type, region,
                           self.cloudpath)
        return cut[::sx, ::sy, ::sz, req.channels]

    async def upload_from_file(self, location: str, bbox: Any, order: str = "F", cutout_bbox: Any = None) -> None:
        """Write the part ``cutout_bbox`` (default: all) of the array in the file ``location``, which
        holds the region ``bbox`` (raw, x y z c in ``order``, as ``download_to_file`` writes it)."""
        box = Bbox.create(bbox, context=self.bounds)
        cut = box.clone() if cutout_bbox is None else Bbox.create(cutout_bbox, context=self.bounds)
        if not box.contains_bbox(cut):
            raise AlignmentError(f"the cutout {cut} is not inside the array's region {box}; nothing was written")
        if self.autocrop:
            cut = Bbox.intersection(cut, self.bounds)
        if cut.subvoxel():
            return
        shape = (*(int(s) for s in box.size3()), self.num_channels)
        nbytes = int(np.prod(shape)) * self.dtype.itemsize
        path = os.path.abspath(location)
        size = os.path.getsize(path) if os.path.exists(path) else None
        if size != nbytes:
            raise SharedMemoryReadError(
                f"{path} {'does not exist' if size is None else f'holds {size} bytes'}; a {shape} "
                f"{self.dtype} array in {box} needs {nbytes}. Nothing was written"
            )
        mapped = np.memmap(path, dtype=self.dtype, mode="r", shape=shape, order=order)
        delta = cut - box.minpt
        await self.upload(cut, mapped[delta.to_slices()])


def _like(data: np.ndarray, img: VolumeCutout) -> VolumeCutout:
    """``data`` as a VolumeCutout carrying ``img``'s provenance (layer, mip, bounds)."""
    return VolumeCutout(data, img.dataset_name, img.layer, img.mip, img.layer_type, img.bounds, img.cloudpath)
