"""``vol.image``: CloudVolume's ``PrecomputedImageSource`` names over a Volume.

A view, not a second engine: downloads, uploads, deletes and existence checks go through the
same :class:`aiovolume.Volume` methods as ``vol[...]``; the options (``fill_missing``,
``bounded``, ...) are the volume's own attributes, so setting one here sets it there. On
``Volume`` the I/O methods are coroutines; on the ``CloudVolume`` facade they block.

>>> img = await vol.image.download(Bbox((0, 0, 0), (64, 64, 64)), mip=0)   # doctest: +SKIP
>>> await vol.image.upload(img, (0, 0, 0), mip=0)                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .exceptions import ListingNotSupported, UnsupportedFeatureError
from .geometry import Bbox, Vec
from .sharedmem import unlink

_Mip = int | Sequence[float]
_MAX_PROBED_CHUNKS = 4096  # has_data without a listing (http): probe at most this many chunk names


def _option(name: str) -> property:
    def get(self: "ImageView") -> Any:
        return getattr(self._vol, name)

    def put(self: "ImageView", value: Any) -> None:
        setattr(self._vol, name, value)

    return property(get, put, doc=f"The volume's ``{name}`` (setting it here sets it there).")


class ImageView:
    """The image source of one layer, with ``PrecomputedImageSource``'s names (``vol.image``)."""

    fill_missing = _option("fill_missing")
    background_color = _option("background_color")
    bounded = _option("bounded")
    autocrop = _option("autocrop")
    non_aligned_writes = _option("non_aligned_writes")
    overwrite_partial_chunks = _option("overwrite_partial_chunks")
    delete_black_uploads = _option("delete_black_uploads")
    lru = _option("lru")
    lru_encoding = _option("lru_encoding")

    def __init__(self, vol: Any) -> None:
        self._vol = vol

    @property
    def meta(self) -> Any:
        return self._vol.meta

    @property
    def readonly(self) -> bool:
        return self._vol.read_only  # type: ignore[no-any-return]

    @property
    def lru_bytes(self) -> int:
        """The LRU's capacity in bytes (0: no LRU)."""
        return 0 if self._vol.lru is None else int(self._vol.lru.max_bytes)

    shared_memory_id = _option("shared_memory_id")

    def generate_shared_memory_location(self) -> str:
        return self._vol.generate_shared_memory_location()  # type: ignore[no-any-return]

    def unlink_shared_memory(self) -> bool:
        return self._vol.unlink_shared_memory()  # type: ignore[no-any-return]

    def grid_size(self, mip: _Mip | None = None) -> Vec:
        """Chunks along x, y, z at ``mip``."""
        info = self._vol._sync_info()
        return Vec(*info.scales[self._vol.to_mip(mip)].grid_shape)

    def is_sharded(self, mip: _Mip) -> bool:
        return self._vol.meta.is_sharded(mip)  # type: ignore[no-any-return]

    # -- I/O ----------------------------------------------------------------------------------
    async def download(self, bbox: Any, mip: _Mip | None = None, parallel: int = 1, location: str | None = None,
                       retain: bool = False, use_shared_memory: bool = False, use_file: bool = False,
                       order: str = "F", renumber: bool = False, label: int | None = None,
                       progress: Any = None) -> Any:
        """The cutout of ``bbox`` at ``mip`` (``parallel`` is ignored: the volume's ``parallel`` applies).

        ``use_shared_memory=True``: into shared memory ``location`` (default ``shared_memory_id``),
        as ``vol.download_to_shared_memory``; unlinked right away unless ``retain=True`` (the array
        stays valid). Files (``use_file``), ``renumber`` and ``label`` are the volume's own
        ``download`` arguments (``vol.download``); here they raise UnsupportedFeatureError.
        """
        if use_file:
            raise UnsupportedFeatureError("vol.image.download(use_file=True) is not supported by aiovolume yet")
        if use_shared_memory:
            if renumber or label is not None or order != "F":
                raise UnsupportedFeatureError("vol.image.download(use_shared_memory=True) supports order='F' only, "
                                              "without renumber or label")
            where = self._vol.shared_memory_id if location is None else location
            arr = await self._vol.download_to_shared_memory(bbox, where, mip)
            if not retain:
                unlink(where)
            return arr
        if renumber or label is not None or order != "F":
            raise UnsupportedFeatureError(
                "vol.image.download(renumber=, label=, order=) is not supported; use vol.download(...)"
            )
        return await self._vol.download(bbox, mip=mip)

    async def upload(self, image: Any, offset: Sequence[int], mip: _Mip | None = None, parallel: int = 1,
                     location: str | None = None, location_bbox: Any = None, order: str = "F",
                     use_shared_memory: bool = False, use_file: bool = False) -> None:
        """Write ``image`` (x, y, z[, c]) with its first voxel at ``offset`` (CloudVolume's order:
        image, offset, mip).

        ``use_shared_memory=True``: ``image`` is the part to write of the array in shared memory
        ``location`` (default ``shared_memory_id``) that represents ``location_bbox``; it is read
        from there, as ``vol.upload_from_shared_memory`` does.
        """
        if use_file:
            raise UnsupportedFeatureError("vol.image.upload(use_file=True) is not supported by aiovolume yet")
        image = np.asanyarray(image)
        lo = Vec(*offset)[:3]
        if use_shared_memory:
            where = self._vol.shared_memory_id if location is None else location
            cutout = Bbox(lo, lo + Vec(*image.shape[:3]))
            await self._vol._upload_from_segment(where, location_bbox if location_bbox is not None else cutout,
                                                 order, cutout, mip)
            return
        await self._vol.upload(Bbox(lo, lo + Vec(*image.shape[:3])), image, mip=mip)

    async def exists(self, bbox: Any, mip: _Mip | None = None) -> dict[str, bool]:
        return await self._vol.exists(bbox, mip=mip)  # type: ignore[no-any-return]

    async def delete(self, bbox: Any, mip: _Mip | None = None) -> None:
        await self._vol.delete(bbox, mip=mip)

    async def has_data(self, mip: _Mip | None = None) -> bool:
        """Whether any chunk of ``mip`` is stored: one listing of ``<key>/`` (CloudVolume lists
        the bare key prefix, which also matches e.g. ``4_4_400`` for ``4_4_40``; we do not).
        Stores that cannot list (http) probe the chunk names instead, up to 4096 chunks."""
        vol = self._vol
        mip_i = vol.to_mip(mip)
        key = vol._sync_info().scales[mip_i].key
        listing = None
        try:
            listing = vol.store.list(key.rstrip("/") + "/")
            async for _ in listing:
                return True
            return False
        except ListingNotSupported:
            source = vol._source(mip_i)
            tasks = source.plan(vol._info.scales[mip_i].bounds).tasks
            if len(tasks) > _MAX_PROBED_CHUNKS:
                raise
            return any(await source.exists_many(tasks))
        finally:
            aclose = getattr(listing, "aclose", None)
            if aclose is not None:
                await aclose()  # stop the listing after its first key

    # -- methods the volume gains with the extras work: delegated by name -------------------------
    def _volume_method(self, name: str) -> Any:
        method = getattr(self._vol, name, None)
        if method is None:
            raise UnsupportedFeatureError(f"vol.image.{name} needs Volume.{name}, which this aiovolume lacks")
        return method

    async def download_points(self, points: Any, mip: _Mip | None = None) -> dict[tuple[int, int, int], Any]:
        """``{(x, y, z): value}`` for each point (``mip`` voxels)."""
        name = "download_points" if hasattr(self._vol, "download_points") else "scattered_points"
        return await self._volume_method(name)(points, mip=mip)  # type: ignore[no-any-return]

    async def unique(self, bbox: Any, mip: _Mip | None = None) -> set[int]:
        return await self._volume_method("unique")(bbox, mip=mip)  # type: ignore[no-any-return]

    async def download_files(self, bbox: Any, mip: _Mip | None = None, decompress: bool = True,
                             parallel: int = 1, cache_only: bool = False) -> dict[str, bytes]:
        return await self._volume_method("download_files")(bbox, mip=mip, decompress=decompress)  # type: ignore[no-any-return]

    async def transfer_to(self, cloudpath: str, bbox: Any, mip: _Mip, block_size: int | None = None,
                          compress: Any = "auto", compress_level: int | None = None, encoding: str | None = None,
                          sharded: bool | None = None) -> Any:
        """Copy a region of ``mip`` to the layer at ``cloudpath``: see :meth:`aiovolume.Volume.transfer_to`."""
        return await self._vol.transfer_to(cloudpath, bbox, block_size, compress, encoding, sharded, mip=mip,
                                           compress_level=compress_level)

    def __repr__(self) -> str:
        return f"<image of {self._vol.cloudpath}>"
