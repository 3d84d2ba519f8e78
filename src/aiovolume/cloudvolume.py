"""``CloudVolume``: the blocking, drop-in facade over the async :class:`Volume`.

Every method that does I/O is a one-line call into ``Volume`` through the bridge loop
(:mod:`aiovolume.sync`); metadata properties read the same ``Volume`` directly.

    >>> from aiovolume import CloudVolume           # doctest: +SKIP
    >>> vol = CloudVolume("file:///data/layer")      # doctest: +SKIP
    >>> img = vol[0:512, 0:512, 0:64]                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import cvargs
from .cloudmesh import CloudMeshSource
from .cloudskeleton import CloudSkeletonSource
from .cutout import VolumeCutout
from .format.info import create_new_info
from .geometry import Bbox
from .sync import run
from .syncviews import BlockingImageView, BlockingMetaView, provenance_of
from .volume import Volume


# progress= is CloudVolume's 9th argument: 8th after cloudpath
_PROGRESS_POSITION = 8


class _Delegate:
    """A property forwarded to the wrapped Volume (read, and write where Volume allows)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj._vol, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj._vol, self.name, value)


class CloudVolume:
    """Blocking access to a Precomputed layer, with CloudVolume's constructor and API.

    ``CloudVolume(cloudpath, mip=0, bounded=True, autocrop=False, fill_missing=False, cache=False,
    compress_cache=None, cdn_cache=True, progress=INTERACTIVE, info=None, provenance=None,
    compress=None, compress_level=None, non_aligned_writes=False, overwrite_partial_chunks=False,
    parallel=1, delete_black_uploads=False, background_color=0, green_threads=False,
    use_https=False, max_redirects=10, mesh_dir=None, skel_dir=None, agglomerate=False,
    secrets=None, spatial_index_db=None, lru_bytes=0, cache_locking=True, lru_encoding="same",
    timestamp=None, codec_threads=1, *, options=None)`` — CloudVolume 12.15's arguments in its
    order; see :class:`aiovolume.Volume` for how each is honoured. ``vol.meta`` and ``vol.image``
    are the blocking metadata and image-source views.
    """

    create_new_info = staticmethod(create_new_info)

    def __init__(self, cloudpath: str, *args: Any, **kwargs: Any) -> None:
        if len(args) < _PROGRESS_POSITION and "progress" not in kwargs:
            kwargs["progress"] = cvargs.INTERACTIVE  # CloudVolume's default; the async Volume's is False
        self._vol = Volume(cloudpath, *args, **kwargs)
        run(self._vol._open())

    @classmethod
    def _wrap(cls, vol: Volume) -> "CloudVolume":
        """The facade over an already open Volume (from_numpy, memory_cutout)."""
        obj = cls.__new__(cls)
        obj._vol = vol
        return obj

    @classmethod
    def from_numpy(cls, arr: Any, vol_path: str | None = None, resolution: Sequence[float] = (4, 4, 40),
                   voxel_offset: Sequence[int] = (0, 0, 0), chunk_size: Sequence[int] = (128, 128, 64),
                   layer_type: str | None = None, max_mip: int = 0, encoding: str = "raw",
                   compress: bool | str | None = None, progress: bool = False,
                   encoding_level: int | None = None, encoding_effort: int | None = None) -> "CloudVolume":
        """A new layer holding ``arr``, with mips 1..max_mip written; see :meth:`Volume.from_numpy`."""
        return cls._wrap(run(Volume.from_numpy(arr, vol_path, resolution, voxel_offset, chunk_size, layer_type,
                                               max_mip, encoding, compress, progress, encoding_level, encoding_effort)))

    @property
    def meta(self) -> BlockingMetaView:
        """CloudVolume's ``vol.meta`` (PrecomputedMetadata's names), blocking."""
        return BlockingMetaView(self._vol)

    @property
    def image(self) -> BlockingImageView:
        """CloudVolume's ``vol.image`` (PrecomputedImageSource's names), blocking."""
        return BlockingImageView(self._vol, self._wrap)

    # -- I/O: one line each ---------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        if _is_point_lists(key):  # vol[[x1, x2], [y1, y2], [z1, z2]]: values at those voxels
            return self.coordinate_indexing(key)
        return self.download(key)

    def __setitem__(self, key: Any, data: Any) -> None:
        run(self._vol.upload(key, data))

    def download(self, bbox: Any, mip: int | Sequence[float] | None = None, parallel: int | None = None,
                 segids: Sequence[Any] | None = None, preserve_zeros: bool = False, agglomerate: bool | None = None,
                 timestamp: int | None = None, stop_layer: int | None = None, renumber: bool = False,
                 coord_resolution: Sequence[float] | None = None, label: Any = None, crackle: bool = False) -> Any:
        if segids is not None or renumber or coord_resolution is not None or label is not None or crackle:
            return run(self._vol.download(bbox, mip, parallel, segids, preserve_zeros, agglomerate, timestamp,
                                          stop_layer, renumber, coord_resolution, label, crackle))
        started = self._vol.download_here(bbox, mip=mip)  # local page-cached raw reads: no hand-offs
        return started if isinstance(started, VolumeCutout) else run(self._vol.finish_download(started))

    def unique(self, bbox: Any, mip: Any = None, agglomerate: bool | None = None, timestamp: int | None = None,
               stop_layer: int | None = None, coord_resolution: Sequence[float] | None = None) -> set:
        return run(self._vol.unique(bbox, mip, agglomerate, timestamp, stop_layer, coord_resolution))

    def scattered_points(self, pts: Any, mip: Any = None, coord_resolution: Sequence[float] | None = None) -> dict:
        return run(self._vol.scattered_points(pts, mip=mip, coord_resolution=coord_resolution))

    def download_points(self, points: Any, mip: Any = None) -> dict:
        return run(self._vol.download_points(points, mip=mip))

    def coordinate_indexing(self, slices: Any) -> np.ndarray:
        return run(self._vol.coordinate_indexing(slices))

    def download_files(self, bbox: Any, mip: Any = None, parallel: int | None = None, segids: Any = None,
                       agglomerate: bool | None = None, timestamp: int | None = None, stop_layer: int | None = None,
                       coord_resolution: Sequence[float] | None = None, cache_only: bool = False,
                       decompress: bool = True) -> dict[str, bytes | None]:
        return run(self._vol.download_files(bbox, mip, parallel, segids, agglomerate, timestamp, stop_layer,
                                            coord_resolution, cache_only, decompress))

    def memory_cutout(self, bbox: Any, mip: Any = None, encoding: str | None = None, compress: Any = None,
                      compress_level: int | None = None, **graphene: Any) -> "CloudVolume":
        return self._wrap(run(self._vol.memory_cutout(bbox, mip, encoding, compress, compress_level, **graphene)))

    def download_to_file(self, path: str, bbox: Any, mip: Any = None) -> VolumeCutout:
        return run(self._vol.download_to_file(path, bbox, mip=mip))

    def upload_from_file(self, location: str, bbox: Any, order: str = "F", cutout_bbox: Any = None) -> None:
        return run(self._vol.upload_from_file(location, bbox, order=order, cutout_bbox=cutout_bbox))

    def download_point(self, pt: Sequence[float], size: Any = 256, mip: Any = None,
                       coord_resolution: Sequence[float] | None = None) -> VolumeCutout:
        return run(self._vol.download_point(pt, size=size, mip=mip, coord_resolution=coord_resolution))

    def upload(self, bbox: Any, data: Any, mip: int | Sequence[float] | None = None) -> None:
        return run(self._vol.upload(bbox, data, mip=mip))

    def exists(self, bbox: Any, mip: int | Sequence[float] | None = None) -> dict[str, bool]:
        return run(self._vol.exists(bbox, mip=mip))

    def delete(self, bbox: Any, mip: int | Sequence[float] | None = None) -> None:
        return run(self._vol.delete(bbox, mip=mip))

    def commit_info(self) -> None:
        return run(self._vol.commit_info())

    def refresh_info(self) -> dict[str, Any]:
        return run(self._vol.refresh_info())

    def reset_scales(self) -> None:
        return run(self._vol.reset_scales())

    @property
    def provenance(self) -> Any:
        """The layer's provenance, read on first use (CloudVolume reads it when it opens)."""
        return provenance_of(self._vol)

    @provenance.setter
    def provenance(self, value: Any) -> None:
        self._vol.provenance = value

    def refresh_provenance(self) -> Any:
        return run(self._vol.refresh_provenance())

    def commit_provenance(self) -> None:
        return run(self._vol.commit_provenance())

    def transfer_to(self, cloudpath: str, bbox: Any, block_size: int | None = None, compress: Any = "auto",
                    encoding: str | None = None, sharded: bool | None = None, *, mip: Any = None,
                    compress_level: int | None = None) -> "CloudVolume":
        """Copy a region to another layer and return it; see :meth:`aiovolume.Volume.transfer_to`."""
        return self._wrap(run(self._vol.transfer_to(cloudpath, bbox, block_size, compress, encoding, sharded,
                                                    mip=mip, compress_level=compress_level)))

    def download_to_shared_memory(self, slices: Any, location: str | None = None, mip: Any = None) -> Any:
        return run(self._vol.download_to_shared_memory(slices, location, mip))

    def upload_from_shared_memory(self, location: str, bbox: Any, order: str = "F", cutout_bbox: Any = None) -> None:
        return run(self._vol.upload_from_shared_memory(location, bbox, order, cutout_bbox))

    def unlink_shared_memory(self) -> bool:
        return self._vol.unlink_shared_memory()

    def generate_shared_memory_location(self) -> str:
        return self._vol.generate_shared_memory_location()

    def viewer(self, port: int = 1337) -> None:
        """Serve this layer to Neuroglancer on 127.0.0.1:``port`` until Ctrl-C (prints a link)."""
        from .viewer.ngserve import announce

        server = run(self._vol.start_viewer(port))
        try:
            announce(server)
            run(server.serve_forever())
        except KeyboardInterrupt:
            print("")
        finally:
            run(server.close())

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        return self._vol.to_dask(chunks, name)

    def close(self) -> None:
        return run(self._vol.close())

    def __enter__(self) -> "CloudVolume":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def mesh(self) -> CloudMeshSource:
        """The layer's meshes, blocking (``vol.mesh.get(segids)``)."""
        return CloudMeshSource(self._vol.mesh)

    @property
    def skeleton(self) -> CloudSkeletonSource:
        """Blocking ``vol.skeleton.get/upload/upload_raw/delete/meta`` (see aiovolume.skeleton)."""
        if self.__dict__.get("_skeleton") is None:
            self._skeleton = CloudSkeletonSource(self._vol.skeleton)
        return self._skeleton

    # -- metadata: no I/O, straight through ----------------------------------------------
    def add_scale(self, factor: Sequence[int], encoding: str | None = None,
                  chunk_size: Sequence[int] | None = None, info: dict | None = None) -> dict[str, Any]:
        return self._vol.add_scale(factor, encoding=encoding, chunk_size=chunk_size, info=info)

    def bbox_to_mip(self, bbox: Any, mip: Any, to_mip: Any) -> Bbox:
        return self._vol.bbox_to_mip(bbox, mip, to_mip)

    def point_to_mip(self, pt: Sequence[float], mip: Any, to_mip: Any) -> Any:
        return self._vol.point_to_mip(pt, mip, to_mip)

    def slices_from_global_coords(self, slices: Any) -> tuple[slice, ...]:
        return self._vol.slices_from_global_coords(slices)

    def slices_to_global_coords(self, slices: Any) -> tuple[slice, ...]:
        return self._vol.slices_to_global_coords(slices)

    def to_mip(self, mip: Any) -> int:
        return self._vol.to_mip(mip)

    def __getattr__(self, name: str) -> Any:
        # mip_* helpers (mip_shape, mip_bounds, ...) are pure metadata reads
        if name.startswith("mip_") and "_vol" in self.__dict__:
            return getattr(self._vol, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"CloudVolume({self.cloudpath!r}, mip={self.mip})"


def _is_point_lists(key: Any) -> bool:
    """Three lists/arrays of coordinates (CloudVolume's limited fancy indexing), not slices."""
    return isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, (list, tuple, np.ndarray)) for k in key)


# Metadata and option attributes, forwarded to the Volume (settable where Volume allows it).
_FORWARDED = (
    "mip", "bounded", "autocrop", "fill_missing", "info", "available_mips", "available_resolutions",
    "dataset_name", "layer", "base_cloudpath", "layer_cloudpath", "cloudpath", "info_cloudpath",
    "scales", "scale", "shape", "volume_size", "num_channels", "layer_type", "data_type", "dtype",
    "encoding", "resolution", "voxel_offset", "chunk_size", "downsample_ratio", "underlying", "key",
    "bounds", "compressed_segmentation_block_size", "progress", "compress", "compress_level",
    "cdn_cache", "non_aligned_writes", "parallel", "delete_black_uploads", "background_color",
    "read_only", "options", "lru",
    # the rest of CloudVolume's constructor arguments, and its path and placeholder properties
    "overwrite_partial_chunks", "green_threads", "use_https", "max_redirects", "mesh_dir", "skel_dir",
    "agglomerate", "timestamp", "secrets", "spatial_index_db", "lru_encoding", "codec_threads",
    "compress_cache", "cache_locking", "basepath", "layerpath", "cache_path", "ndim", "config", "pid",
    "cache", "shared_memory_id",
)
for _name in _FORWARDED:
    setattr(CloudVolume, _name, _Delegate(_name))
del _name
