"""The async ``Volume``: one Precomputed layer at one mip, read and written chunk-parallel.

Example::

    async with Volume("file:///data/layer", fill_missing=True) as vol:
        img = await vol.download(Bbox((0, 0, 0), (512, 512, 64)))
        await vol.upload(Bbox((0, 0, 0), (512, 512, 64)), img)
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any, NamedTuple, Sequence

import numpy as np

from . import cvargs
from .cvargs import engine_options
from .casting import cast_exactly, cast_scalar
from .cutout import VolumeCutout
from .daskarray import DaskArrays
from .diskcache import CacheOptions, DiskCache
from .exceptions import (
    AlignmentError, CyclicRedirect, DimensionError, EmptyRequestException, InfoError, OptionError,
    OutOfBoundsError, ReadOnlyException, ShapeMismatchError, TooManyRedirects, UnsupportedFeatureError,
    VolumeClosedError,
)
from .format import info as fmtinfo
from .format.chunks import alignment_message, chunk_count, is_aligned, pad_to_grid
from .format.provenance import as_provenance
from .fromnumpy import from_numpy as _from_numpy
from .geometry import Bbox, SliceRequest, coerce_key, normalize_slices
from .imageview import ImageView
from .layermeta import LayerMetadata
from .meta import MetaView
from .options import DEFAULT_OPTIONS, Options
from .mesh import MeshSource
from .pipeline.chunkcache import ChunkCache
from .volume_process import ProcessLocal, closed, opened
from .pipeline.layerformat import ChunkFormat, chunk_format, resolve_compress
from .pipeline.metadata import load_info
from .pipeline.read import ReadJob, finish_read, read_here, read_in_loop, start_read
from .pipeline.shardindex import ShardIndexCache
from .pipeline.bosssource import BossSource
from .pipeline.sharded import ShardedSource
from .pipeline.source import ChunkSource, UnshardedSource
from .pipeline.write import write_region
from .volume_viewer import ViewerMixin
from .skeleton import SkeletonSource
from .sharedmem import SharedMemoryMixin
from .progress import ProgressBar, close_bar, progress_bar
from .storage import CloudPath, Store, open_store, parse_cloudpath
from .storage.paths import to_https
from .volume_cache import CacheAndProvenance
from .volume_extras import VolumeExtras

def _bounds_of(scale: Any) -> Bbox:
    """``scale.bounds``, built once per offset and size: only read here, never handed out."""
    return _bounds(tuple(scale.voxel_offset), tuple(scale.size))


@functools.lru_cache(maxsize=64)
def _bounds(offset: tuple[int, int, int], size: tuple[int, int, int]) -> Bbox:
    return Bbox(offset, np.add(offset, size, dtype=np.int64), dtype=np.int64)


class Volume(LayerMetadata, VolumeExtras, SharedMemoryMixin, CacheAndProvenance, ViewerMixin, DaskArrays,
             ProcessLocal):
    """An async Precomputed layer. The constructor is CloudVolume 12.15's, argument for argument.

    Honoured as in CloudVolume: ``mip, bounded, autocrop, fill_missing, cdn_cache, progress, info,
    compress, compress_level, non_aligned_writes, overwrite_partial_chunks, delete_black_uploads,
    background_color, use_https, max_redirects, mesh_dir, skel_dir, secrets, lru_bytes``.

    Differences a CloudVolume user should know:

    * ``parallel`` (int, or True = one per core): ``parallel=1`` (the default) leaves the engine
      as it is, which is already parallel: I/O is concurrent (``Options.concurrency``), most codecs
      decode in threads, and the crash-prone ones (fpzip, kempressed, compresso, crackle) in
      ``Options.decode_workers`` processes (default: one per core). CloudVolume's ``parallel=1``
      is therefore *not* mapped onto ``decode_workers`` (that would turn the process pool off).
      ``parallel=N`` (N > 1) decodes and encodes the crash-prone codecs in N worker processes
      writing into shared memory, and png too. Measured at N=2 on 2 cores (512x512x64, 64^3
      chunks, threads against 2 processes, interleaved): png reads took 0.71-0.96x the time in
      processes and writes 0.93-1.03x, while raw/gzip (reads 1.1-1.2x, writes 1.5-1.9x), jpeg
      (1.2x, 1.8x) and compressed_segmentation (1.2x, 1.75x) were slower in processes, so they
      stay in threads; on 2 cores ``parallel=2`` reads and writes raw, gzip, compressed_segmentation
      and fpzip layers at the speed of ``parallel=1`` (same engine). Reads and writes are exact at
      any ``parallel`` (CloudVolume's ``parallel=2`` misplaces voxels here). An explicit
      ``options=Options(decode_workers=..., process_codecs=...)`` wins over it.
      ``download(parallel=...)`` per call is accepted and ignored: the volume's applies.
    * ``codec_threads`` is kept as ``vol.codec_threads``; our codecs decode one chunk per thread and
      many chunks at once, so there is no per-chunk thread count to set.
    * ``green_threads=True`` is accepted and has no effect (logged once): there is no gevent here.
    * ``lru_encoding``: ``"same"`` or ``"raw"``; the LRU always holds decoded chunks (CloudVolume's
      ``"raw"``: more memory, no decode on a hit). Other encodings raise UnsupportedFeatureError.
    * ``cache``: True, a base directory, or ``CacheOptions(path, max_bytes)`` (a size cap);
      CloudVolume's layout, so either library reuses the other's cache (``diskcache.py``); a
      sharded scale's chunks are cached one file each by Morton code (``DiskCache.wrap``).
      ``cache_locking`` is stored only: every cache file is
      written atomically (temp file + rename), so readers never need a lock.
    * ``provenance``: validated when given (ProvenanceError); otherwise read by
      ``await vol.refresh_provenance()`` (the blocking CloudVolume reads it on first use, not
      on open: one request fewer per volume).
    * ``spatial_index_db``: a sqlite database (``vol.mesh.spatial_index.to_sqlite``) the mesh spatial
      index reads instead of every index file; MySQL/PostgreSQL URLs raise UnsupportedFeatureError.
    * ``agglomerate`` and ``timestamp`` are graphene-only: stored, unused (graphene is refused).
    * ``options`` (keyword only) is aiovolume's own engine tuning.
    * ``progress`` defaults to False here: the async API never shows a bar unless asked. The
      ``CloudVolume`` facade keeps CloudVolume's default (on in an interactive session).
    """

    def __init__(
        self,
        cloudpath: str,
        mip: int | Sequence[float] = 0,
        bounded: bool = True,
        autocrop: bool = False,
        fill_missing: bool = False,
        cache: "bool | str | CacheOptions" = False,
        compress_cache: bool | None = None,
        cdn_cache: bool | int | str = True,
        progress: bool = False,
        info: dict | None = None,
        provenance: dict | str | None = None,
        compress: bool | str | None = None,
        compress_level: int | None = None,
        non_aligned_writes: bool = False,
        overwrite_partial_chunks: bool = False,
        parallel: int | bool = 1,
        delete_black_uploads: bool = False,
        background_color: float = 0,
        green_threads: bool = False,
        use_https: bool = False,
        max_redirects: int = 10,
        mesh_dir: str | None = None,
        skel_dir: str | None = None,
        agglomerate: bool = False,
        secrets: Any = None,
        spatial_index_db: str | None = None,
        lru_bytes: int = 0,
        cache_locking: bool = True,
        lru_encoding: str = "same",
        timestamp: int | None = None,
        codec_threads: int = 1,
        *,
        options: Options | None = None,
    ) -> None:
        cvargs.check_pending(spatial_index_db, lru_encoding)
        path = parse_cloudpath(cloudpath)
        self._path: CloudPath = to_https(path) if use_https else path
        self._requested_mip = mip
        self.bounded = bool(bounded)
        self.autocrop = bool(autocrop)
        self.fill_missing = bool(fill_missing)
        self._disk_cache = DiskCache(self, cache, compress_cache)
        self._provenance = None if provenance is None else as_provenance(provenance, "provenance=")
        self.cache_locking = bool(cache_locking)
        self.cdn_cache = cdn_cache
        self.progress = bool(progress)
        self.compress = compress
        self.compress_level = compress_level
        self.non_aligned_writes = bool(non_aligned_writes)
        self.overwrite_partial_chunks = bool(overwrite_partial_chunks)
        self.parallel = parallel
        self.codec_threads = codec_threads
        self.delete_black_uploads = bool(delete_black_uploads)
        self.background_color = background_color
        self.green_threads = bool(green_threads)
        if self.green_threads:
            cvargs.say_green_threads()
        self.use_https = bool(use_https)
        if isinstance(max_redirects, bool) or not isinstance(max_redirects, (int, np.integer)):
            raise OptionError(f"max_redirects={max_redirects!r} must be an integer (<= 0: do not follow redirects)")
        self.max_redirects = int(max_redirects)
        self.mesh_dir = None if mesh_dir is None else str(mesh_dir)
        self.skel_dir = None if skel_dir is None else str(skel_dir)
        self.agglomerate = bool(agglomerate)
        self.timestamp = timestamp
        self.secrets = secrets
        self.spatial_index_db = spatial_index_db
        self.lru_encoding = lru_encoding
        self.options = options or DEFAULT_OPTIONS
        self._given_info = info
        # decoded chunks kept between reads (CloudVolume's lru_bytes); 0 = none, as there
        self.lru = ChunkCache(lru_bytes) if lru_bytes else None
        self._store: Store | None = None
        # where the chunks live when the info redirected elsewhere (None: at cloudpath)
        self._store_url: str | None = None
        # an unpickled (or forked) volume opens a fresh store on first use; see __setstate__
        self._reopen = False
        self._sources: dict[int, ChunkSource] = {}
        self._formats: dict[int, tuple[Any, Any, ChunkFormat]] = {}
        self._read_only = False
        self._mip = 0
        resolve_compress(compress, "raw")  # reject a bad compress= before any I/O

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    async def open(cls, cloudpath: str, **kwargs: Any) -> "Volume":
        """Open a layer and load its info; ``await vol.close()`` when done."""
        vol = cls(cloudpath, **kwargs)
        await vol._open()
        return vol

    async def _open(self) -> None:
        """Open the store and load the info; on any failure close what was opened, so a
        failed open leaves no threads or sessions behind (the caller never gets the Volume)."""
        if self._store is not None:
            return
        if self._reopen and "_info" in self.__dict__:  # unpickled: the info came with it
            self.store
            return
        self._store_url = None  # (re)opening follows the info's redirects again
        self._store = self._new_store()
        self._read_only = self._store.read_only
        try:
            if self._given_info is not None:
                # a copy becomes the live info: CloudVolume adopts the caller's dict itself, so
                # add_scale/reset_scales on one volume changed the template of the next
                given = copy.deepcopy(self._given_info)
                self._adopt_info(fmtinfo.parse_info(given, self.info_cloudpath), given)
            else:
                await self.refresh_info()
            if self.mesh_dir:  # CloudVolume overrides the info's directories in memory
                self._info_live["mesh"] = self.mesh_dir
            if self.skel_dir:
                self._info_live["skeletons"] = self.skel_dir
            self._mip = fmtinfo.scale_index(self._sync_info(), self._requested_mip)
        except BaseException:  # also cancellation and Ctrl-C in the facade
            await self.close()
            raise

    async def close(self) -> None:
        """Close the store (its threads and network clients). Idempotent."""
        self._reopen = False
        closed(self)
        await self._disk_cache.close()
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def __aenter__(self) -> "Volume":
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            if not self._reopen:
                raise VolumeClosedError(
                    f"{self.cloudpath} is not open: use `async with Volume(...)` or `await Volume.open(...)`"
                )
            self._reopen = False
            self._store = self._new_store()
        return self._store

    def _new_store(self) -> Store:
        # Stores are lazy: their threads and network clients start inside the loop that uses them.
        store = open_store(self._store_url or self._path, self.options, secrets=cvargs.secrets_for(self, self._store_url))
        opened(self)
        return store

    # -- paths ---------------------------------------------------------------------------
    @property
    def cloudpath(self) -> str:
        return self._path.url

    layer_cloudpath = cloudpath

    @property
    def info_cloudpath(self) -> str:
        return self._path.url + "/info"

    @property
    def base_cloudpath(self) -> str:
        return self._path.base_cloudpath

    @property
    def dataset_name(self) -> str:
        return self._path.dataset_name

    @property
    def layer(self) -> str:
        return self._path.layer

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def meta(self) -> MetaView:
        """CloudVolume's ``vol.meta``: the metadata view (its I/O methods are coroutines here)."""
        return MetaView(self)

    @property
    def image(self) -> ImageView:
        """CloudVolume's ``vol.image``: the image-source view (its I/O methods are coroutines here)."""
        return ImageView(self)

    @property
    def parallel(self) -> int:
        """CloudVolume's process count (see the class docstring); True = one per core."""
        return self._parallel

    @parallel.setter
    def parallel(self, value: int | bool) -> None:
        self._parallel = cvargs.num_threads(value, "parallel")
        if "_options" in self.__dict__:
            self._engine = engine_options(self._options, self._parallel)

    @property
    def options(self) -> Options:
        """aiovolume's engine tuning (:class:`aiovolume.Options`)."""
        return self._options

    @options.setter
    def options(self, value: Options) -> None:
        if not isinstance(value, Options):
            raise OptionError(f"options={value!r} must be an aiovolume.Options (e.g. Options(decode_workers=0))")
        self._options = value
        # what reads and writes run with: the options and ``parallel`` together, made once here
        self._engine = engine_options(value, self.__dict__.get("_parallel", 1))

    @property
    def codec_threads(self) -> int:
        """Threads per codec call in CloudVolume (jpeg-xl); stored only: we decode chunks in parallel."""
        return self._codec_threads

    @codec_threads.setter
    def codec_threads(self, value: int | bool) -> None:
        self._codec_threads = cvargs.num_threads(value, "codec_threads")

    @property
    def basepath(self) -> str:
        """The path above the layer without the protocol, e.g. ``bucket/dataset`` or ``/data/dataset``."""
        return cvargs.basepath(self._path.scheme, self._path.components)

    @property
    def layerpath(self) -> str:
        """``basepath`` plus the layer, e.g. ``bucket/dataset/layer``."""
        return cvargs.layerpath(self._path.scheme, self._path.components)

    @property
    def config(self) -> "cvargs.VolumeConfig":
        """CloudVolume's ``vol.config``: the shared options as one live object."""
        return cvargs.VolumeConfig(self)

    @property
    def pid(self) -> int:
        """CloudVolume's ``vol.pid``: the process using this volume (a pickled copy reopens in its own)."""
        return os.getpid()

    @property
    def ndim(self) -> int:
        """4: x, y, z and channel, as ``len(vol.shape)``."""
        return 4

    @property
    def mesh(self) -> MeshSource:
        """The layer's meshes (``await vol.mesh.get(segids)``); see :mod:`aiovolume.mesh`."""
        if getattr(self, "_mesh", None) is None:
            self._mesh = MeshSource(self)
        return self._mesh

    @property
    def skeleton(self) -> SkeletonSource:
        """The layer's skeletons: ``await vol.skeleton.get(segids)``, ``upload``, ``delete``, ``meta``."""
        if getattr(self, "_skeleton", None) is None:
            self._skeleton = SkeletonSource(self)
        return self._skeleton

    # -- info --------------------------------------------------------------------------
    async def refresh_info(self) -> dict[str, Any]:
        """Reload the info from storage, following ``redirect``s like CloudVolume (up to
        ``max_redirects`` hops; ``max_redirects <= 0`` reads this layer's info and follows none;
        with ``use_https`` the targets are rewritten to HTTPS too).

        All or nothing: if the chain fails part way, the stores it opened are closed and the
        volume keeps its store, info and writability.
        """
        cached = await self._disk_cache.read("info")
        if cached is not None:  # CloudVolume: a cached info is used as it is, redirects and all
            try:
                self._adopt_info(fmtinfo.info_from_json(cached, self._disk_cache.path + "/info"))
                return self.info
            except InfoError:
                self._disk_cache.flush_info()  # a damaged copy: read the layer's instead
        start = self.store
        store, seen = start, [start.url]
        try:
            for _ in range(max(self.max_redirects, 0) + 1):
                info = await load_info(store)
                target = info.extra.get("redirect")
                if not target or self.max_redirects <= 0:
                    break
                target_path = parse_cloudpath(target)
                target_url = (to_https(target_path) if self.use_https else target_path).url
                if target_url == store.url:
                    break
                if target_url in seen:
                    raise CyclicRedirect(f"info redirects loop: {' -> '.join(seen + [target_url])}")
                seen.append(target_url)
                hop, store = store, open_store(target_url, self.options, secrets=cvargs.secrets_for(self, target_url))
                if hop is not start:
                    await hop.close()
            else:
                raise TooManyRedirects(f"more than {self.max_redirects} info redirects: {' -> '.join(seen)}")
        except BaseException:
            if store is not start:
                await store.close()
            raise
        if store is not start:
            self._store, self._store_url = store, store.url
            self._read_only = True  # CloudVolume: a redirected layer is read-only
            await start.close()
        self._adopt_info(info)
        if store is start:  # a redirected info is not cached: the next open follows the redirects again
            await self._disk_cache.keep("info", fmtinfo.info_to_json(info))
        return self.info

    async def commit_info(self) -> None:
        """Validate the live info (with the edits made to ``vol.info``) and write it to ``<layer>/info``."""
        self._check_writable()
        data = fmtinfo.info_to_json(self._sync_info())
        await self.store.put("info", data, content_type="application/json", cache_control="no-cache")
        await self._disk_cache.keep("info", data)

    async def reset_scales(self) -> None:
        """Keep only mip 0 and commit the info, as CloudVolume's ``vol.reset_scales()`` does
        (``vol.meta.reset_scales()`` changes only the info in memory)."""
        self._reset_scales_in_memory()
        await self.commit_info()

    def _info_changed(self) -> None:
        # what was derived from the old info: per-scale sources and formats, decoded chunks
        self._sources.clear()
        self._formats.clear()
        self._shard_indexes = None  # a changed sharding spec reads the same shard files differently
        if self.lru is not None:
            self.lru.clear()

    # -- reads -------------------------------------------------------------------------
    async def download(
        self, bbox: Any, mip: int | Sequence[float] | None = None, parallel: int | None = None,
        segids: Sequence[Any] | None = None, preserve_zeros: bool = False, agglomerate: bool | None = None,
        timestamp: int | None = None, stop_layer: int | None = None, renumber: bool = False,
        coord_resolution: Sequence[float] | None = None, label: Any = None, crackle: bool = False,
        *, out: Any = None,
    ) -> "VolumeCutout | tuple[VolumeCutout, dict]":
        """Read a region (Bbox, slices or ``np.s_[...]``) as an ``(x, y, z, c)`` VolumeCutout.

        CloudVolume's extra arguments (``volume_extras``): ``segids`` keeps only those labels
        (others 0, or the dtype's max with ``preserve_zeros``); ``label=L`` gives a boolean image
        of ``== L``; ``renumber=True`` returns ``(cutout, {original: new})`` with labels 1, 2, ...;
        ``coord_resolution`` reads ``bbox`` as voxels of that resolution. ``parallel``,
        ``agglomerate``, ``timestamp`` and ``stop_layer`` are accepted and ignored; ``crackle=True``
        is refused (UnsupportedFeatureError).

        ``out`` (aiovolume's own): read into this array instead of a new one, or into a
        ``multiprocessing.shared_memory.SharedMemory`` (from its first byte; worker processes then
        decode straight into it). It must hold the whole region at every channel: ``(x, y, z, c)``,
        the layer's dtype (Fortran order for a SharedMemory); a strided or channel-subset request
        returns a view of it.
        """
        if segids is not None or renumber or coord_resolution is not None or label is not None or crackle \
                or out is not None:
            if out is not None:
                if segids is not None or renumber or coord_resolution is not None or label is not None or crackle:
                    raise UnsupportedFeatureError("download(out=...) reads the plain image: it cannot be combined "
                                                  "with segids, renumber, coord_resolution, label or crackle")
                return await self._download_out(bbox, mip, out)
            if crackle:
                raise UnsupportedFeatureError("download(crackle=True) is not supported by aiovolume; "
                                              "read the image and encode it with crackle.compress()")
            return await self._download_extra(bbox, mip, segids, preserve_zeros, renumber, coord_resolution, label)
        pending = self._start_download(bbox, mip)
        if pending.job.on_progress is None and read_in_loop(pending.job):  # small page-cached reads: done without another await
            return self._cutout(pending.job.out, pending)  # type: ignore[arg-type]
        return await self.finish_download(pending)

    def download_here(self, bbox: Any, mip: int | Sequence[float] | None = None) -> "VolumeCutout | PendingDownload":
        """:meth:`download` started in the calling thread: the cutout, or what is left to finish.

        For the blocking facade: a local raw read whose bytes are in the page cache is a copy,
        and handing it to the event loop and a thread and back cost more than the copy
        (``pipeline.read.read_here``). Whatever it could not do (chunks on disk only,
        compressed, corrupt) is finished by :meth:`finish_download` without redoing the rest.
        """
        pending = self._start_download(bbox, mip)
        if not self.progress and read_here(pending.job):
            return self._cutout(pending.job.out, pending)  # type: ignore[arg-type]
        return pending

    async def finish_download(self, pending: "PendingDownload") -> VolumeCutout:
        if pending.job.on_progress is None:
            return self._cutout(await finish_read(pending.job), pending)
        try:
            return self._cutout(await finish_read(pending.job), pending)
        finally:
            close_bar(pending.job.on_progress)

    def _start_download(self, bbox: Any, mip: int | Sequence[float] | None) -> "PendingDownload":
        info = self._sync_info()
        mip_i = self._mip if mip is None else fmtinfo.scale_index(info, mip)
        source = self._source(mip_i)  # refuses scales whose bytes live elsewhere, before any parsing
        req = self._request(bbox, mip_i)
        region = self._bounded_region(req.bbox, mip_i)
        job = start_read(
            source, self._format(mip_i), region, fill_missing=self.fill_missing,
            background=self.background_color, options=self._engine, cache=self.lru,
            on_progress=self._progress(region, self._info.scales[mip_i]),
        )
        return PendingDownload(job, req, region, mip_i)

    def _cutout(self, img: np.ndarray, pending: "PendingDownload") -> VolumeCutout:
        sx, sy, sz = pending.req.steps
        img = img[::sx, ::sy, ::sz, pending.req.channels]
        return VolumeCutout(img, self.dataset_name, self.layer, pending.mip, self._info.type, pending.region,
                            self.cloudpath)

    async def download_point(
        self, pt: Sequence[float], size: int | Sequence[int] = 256, mip: int | Sequence[float] | None = None,
        coord_resolution: Sequence[float] | None = None,
    ) -> VolumeCutout:
        """Read a box of ``size`` voxels centred on ``pt`` (mip-0 coordinates, or ``coord_resolution``)."""
        mip_i = self.to_mip(mip)
        res = np.asarray(coord_resolution if coord_resolution is not None else self.mip_resolution(0), float)
        center = np.asarray(pt, dtype=float) * res / np.asarray(self.mip_resolution(mip_i), float)
        size3 = np.broadcast_to(np.asarray(size, dtype=np.int64), (3,))
        lo = np.floor(center - size3 / 2).astype(np.int64)
        return await self.download(Bbox(lo, lo + size3), mip=mip_i)

    async def exists(self, bbox: Any, mip: int | Sequence[float] | None = None) -> dict[str, bool]:
        """``{chunk_key: exists}`` for every chunk the region touches, like CloudVolume."""
        mip_i = self._data_mip(mip)
        region = self._bounded_region(self._request(bbox, mip_i).bbox, mip_i)
        source = self._source(mip_i)
        tasks = source.plan(region).tasks
        return {t.key: found for t, found in zip(tasks, await source.exists_many(tasks))}

    # -- writes ------------------------------------------------------------------------
    async def upload(self, bbox: Any, data: Any = None, mip: int | Sequence[float] | None = None, *,
                     source: Any = None) -> None:
        """Write ``data`` (3-D, 4-D or a scalar) into a region. Region first, then data.

        ``source`` instead of ``data``: a ``multiprocessing.shared_memory.SharedMemory`` holding the
        region's ``(x, y, z, c)`` array from its first byte, Fortran order, the layer's dtype.
        """
        self._check_writable()
        mip_i = self._write_mip(mip)
        req = self._request(bbox, mip_i)
        if source is not None or data is None:
            data = self._shared_source(req, source, data)
        if req.steps != (1, 1, 1):
            raise DimensionError(f"strided writes are not supported (steps {req.steps})")
        if (req.channels.start, req.channels.stop, req.channels.step) != (0, self._info.num_channels, 1):
            raise DimensionError("writes must cover every channel of the layer")
        scale = self._info.scales[mip_i]
        region = req.bbox
        array = self._prepare_array(data, region)
        if not scale.bounds.contains_bbox(region):
            if self.bounded and not self.autocrop:
                raise OutOfBoundsError(
                    f"write region {region} is outside the volume bounds {scale.bounds} at mip {mip_i} "
                    f"of {self.cloudpath}; pass autocrop=True (or bounded=False) to write only the part inside"
                )
            inside = Bbox.intersection(region, scale.bounds)
            if inside.empty():
                return
            lo, hi = inside.minpt - region.minpt, inside.maxpt - region.minpt
            array = array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :]
            region = inside
        if region.empty():
            return
        aligned = is_aligned(region, scale.bounds, scale.chunk_size)
        if self.overwrite_partial_chunks and not self.non_aligned_writes:
            raise OptionError("overwrite_partial_chunks=True needs non_aligned_writes=True (it only changes how "
                              "the partial edge chunks of a non-aligned write are made); nothing was written")
        if not self.non_aligned_writes and not aligned:
            raise AlignmentError(alignment_message(region, scale, mip_i))
        if self.overwrite_partial_chunks and not aligned:
            # CloudVolume: the edge chunks are made from background_color, not read and merged
            region, array = pad_to_grid(region, array, scale, self.background_color)
        fmt = self._format(mip_i)
        source = self._source(mip_i)
        bar = self._progress(region, scale, "Uploading")
        try:
            await write_region(
                source, fmt, region, array,
                compress=source.chunk_compression(resolve_compress(self.compress, fmt.encoding)),
                compress_level=self.compress_level,
                background=self.background_color, delete_black_uploads=self.delete_black_uploads,
                cache_control=self._cache_control_header(), options=self._engine,
                on_progress=bar,
            )
        finally:
            close_bar(bar)
            self._forget(mip_i, region)

    async def delete(self, bbox: Any, mip: int | Sequence[float] | None = None) -> None:
        """Delete the chunks of a chunk-aligned region (never part of a chunk)."""
        self._check_writable()
        mip_i = self._write_mip(mip)
        scale = self._info.scales[mip_i]
        region = self._bounded_region(self._request(bbox, mip_i).bbox, mip_i)
        if not is_aligned(region, scale.bounds, scale.chunk_size):
            raise AlignmentError(alignment_message(region, scale, mip_i, verb="delete"))
        source = self._source(mip_i)
        tasks = source.plan(region).tasks
        bar = self._progress(region, scale, "Deleting")
        try:
            if bar is None:
                await source.delete_many(tasks)
            else:  # group by group, so the bar moves
                for group in source.groups(tasks):
                    await source.delete_many(group)
                    bar(len(group))
        finally:
            close_bar(bar)
            self._forget(mip_i, region)

    # -- helpers -------------------------------------------------------------------------
    def _forget(self, mip: int, region: Bbox) -> None:
        """Drop written or deleted chunks from the chunk cache (also after a failed write)."""
        if self.lru is not None:
            self.lru.discard(self._source(mip).plan(region).keys)

    _shard_indexes: ShardIndexCache | None = None  # shard/minishard indexes, shared by every sharded scale

    def _source(self, mip: int) -> ChunkSource:
        """The chunks of scale ``mip``: made once per store and scale (both can change)."""
        scale, store = self._info.scales[mip], self.store
        cached = self._sources.get(mip)
        if cached is not None and cached.scale is scale and cached.store is store:  # type: ignore[attr-defined]
            return cached
        why = fmtinfo.unsupported_storage(self._info, mip)
        if why is not None:
            raise UnsupportedFeatureError(f"{self.cloudpath}: {why}; nothing was read or written")
        if store.scheme == "boss":  # one chunk per BOSS cuboid, through its cutout service
            source: ChunkSource = BossSource(store, scale, mip, self.dtype.itemsize)
        elif scale.sharding is not None:
            if self._shard_indexes is None:
                self._shard_indexes = ShardIndexCache()
            voxel_bytes = np.dtype(self._info.data_type).itemsize * self._info.num_channels
            source = ShardedSource(store, scale, self._shard_indexes, voxel_bytes)
        else:
            source = UnshardedSource(store, scale)
        if self._disk_cache.enabled:
            source = self._disk_cache.wrap(source, mip)
        self._sources[mip] = source
        return source

    def _data_mip(self, mip: int | Sequence[float] | None) -> int:
        """``to_mip`` for reads, writes, deletes and ``exists``: refuses scales whose bytes live elsewhere."""
        info = self._sync_info()
        mip_i = self._mip if mip is None else fmtinfo.scale_index(info, mip)
        self._source(mip_i)
        return mip_i

    def _write_mip(self, mip: int | Sequence[float] | None) -> int:
        """``_data_mip`` for uploads and deletes: also refuses mips locked by ``meta.lock_mips``."""
        mip_i = self._data_mip(mip)
        if self._info.scales[mip_i].extra.get("locked"):
            raise ReadOnlyException(
                f"mip {mip_i} of {self.cloudpath} is write-locked (\"locked\": true in its info scale); "
                f"if it should not be, run vol.meta.unlock_mips({mip_i}). Nothing was written"
            )
        return mip_i

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyException(f"{self.cloudpath} is read-only (http(s) source or redirected info)")

    def _format(self, mip: int) -> ChunkFormat:
        """The codec parameters of scale ``mip``, built once per scale (every read needs them)."""
        scale = self._info.scales[mip]
        cached = self._formats.get(mip)
        if cached is not None and cached[0] is scale and cached[1] is self._info:
            return cached[2]
        fmt = chunk_format(self._info, scale, f"{self.cloudpath} mip {mip}")
        self._formats[mip] = (scale, self._info, fmt)
        return fmt

    def _request(self, key: Any, mip: int) -> SliceRequest:
        """What a key asks of scale ``mip``: slices, numbers, ``...``, lists of them, a Bbox
        (ours or ``cloudvolume.lib.Bbox``, also in nm), a 6-list, a dict or a Vec, as CloudVolume."""
        scale = self._info.scales[mip]
        bounds = _bounds_of(scale)
        if isinstance(key, Bbox):
            key = key.astype(np.int64)  # CloudVolume truncates float boxes too
        elif not isinstance(key, tuple) or len(key) == 6:  # the common slice tuple goes straight on
            key = coerce_key(key, bounds, scale.resolution)
        return normalize_slices(key, bounds, self._info.num_channels)

    def _bounded_region(self, region: Bbox, mip: int) -> Bbox:
        bounds = _bounds_of(self._info.scales[mip])
        if bounds.contains_bbox(region):
            return region
        if self.autocrop:
            cropped = Bbox.intersection(region, bounds)
            if cropped.empty():
                raise EmptyRequestException(f"{region} does not intersect the bounds {bounds} at mip {mip}")
            return cropped
        if self.bounded:
            raise OutOfBoundsError(
                f"requested {region} is outside the volume bounds {bounds} at mip {mip} of "
                f"{self.cloudpath}; pass bounded=False to fill the outside with background_color, "
                "or autocrop=True to crop the request"
            )
        return region

    def _prepare_array(self, data: Any, region: Bbox) -> np.ndarray:
        shape = (*(int(s) for s in region.size3()), self._info.num_channels)
        if np.isscalar(data) or (isinstance(data, np.ndarray) and data.ndim == 0):
            return np.full(shape, cast_scalar(data, self.dtype), dtype=self.dtype, order="F")
        array = np.asanyarray(data)
        if array.ndim == 3 and self.num_channels == 1:
            array = array[..., np.newaxis]
        if tuple(array.shape) != shape:
            raise ShapeMismatchError(
                f"array shape {tuple(np.shape(data))} does not match the region {region} "
                f"(shape {shape}, x y z channels); nothing was written"
            )
        if array.dtype != self.dtype:  # exact casts only: a value that would change is refused
            array = cast_exactly(array, self.dtype, origin=region.minpt.tolist())
        return np.asarray(array)

    def _progress(self, region: Bbox, scale: fmtinfo.ScaleInfo, verb: str = "Downloading") -> ProgressBar | None:
        """A tqdm bar over the chunks of ``region`` when ``progress`` is on (None for no chunks)."""
        if not self.progress:
            return None
        total = chunk_count(region, scale.bounds, scale.chunk_size)
        return progress_bar(True, total, f"{verb} {self.layer}", self._chunk_bytes(scale)) if total else None

    def _chunk_bytes(self, scale: fmtinfo.ScaleInfo) -> int:
        """Decoded bytes of one whole chunk of ``scale`` (a progress bar's MiB/s)."""
        return int(np.prod(scale.chunk_size)) * self.dtype.itemsize * self._info.num_channels

    def _cache_control_header(self) -> str | None:
        """The Cache-Control header this volume's writes carry (from ``cdn_cache``)."""
        return cvargs.cache_control(self.cdn_cache)

    def __repr__(self) -> str:
        return f"Volume({self.cloudpath!r}, mip={self._mip})"

    create_new_info = staticmethod(fmtinfo.create_new_info)
    # ``await Volume.from_numpy(arr, vol_path, ...)``: a new layer from an array, returned open
    from_numpy = classmethod(_from_numpy)


class PendingDownload(NamedTuple):
    """A download started by :meth:`Volume.download_here` that :meth:`Volume.finish_download` ends."""

    job: ReadJob
    req: SliceRequest
    region: Bbox
    mip: int
