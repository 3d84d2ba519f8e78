"""``vol.meta``: CloudVolume's ``PrecomputedMetadata`` names over a Volume's live info.

A view, not a copy: every answer is read from the volume's live info dict (``vol.info``), so an
edit made through either is seen by both. Methods take a mip (index, or an exact resolution).
On :class:`aiovolume.Volume` the methods that do I/O (``refresh_info``, ``commit_info``,
``lock_mips``, ``unlock_mips``) are coroutines; on the ``CloudVolume`` facade they block.

>>> vol.meta.chunk_size(0), vol.meta.key(1)            # doctest: +SKIP
(Vec(64,64,64), '8_8_40')
>>> await vol.meta.lock_mips([1])                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, Iterable, Sequence

import numpy as np

from .exceptions import AiovolumeError, ScaleUnavailableError, WriteLockAcquisitionError, WriteLockReleaseError
from .format import info as fmtinfo
from .geometry import Bbox, Vec

_Mip = int | Sequence[float]


class MetaView:
    """The metadata of one layer, with ``PrecomputedMetadata``'s names (``vol.meta``)."""

    create_info = staticmethod(fmtinfo.create_new_info)

    def __init__(self, vol: Any) -> None:
        self._vol = vol

    def _scale(self, mip: _Mip) -> fmtinfo.ScaleInfo:
        info = self._vol._sync_info()
        return info.scales[fmtinfo.scale_index(info, mip)]

    # -- the info ------------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The live info dict (the same object as ``vol.info``)."""
        return self._vol.info  # type: ignore[no-any-return]

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._vol.info = value

    async def refresh_info(self) -> dict[str, Any]:
        return await self._vol.refresh_info()  # type: ignore[no-any-return]

    async def commit_info(self) -> None:
        await self._vol.commit_info()

    @property
    def scales(self) -> list[dict[str, Any]]:
        return self._vol.scales  # type: ignore[no-any-return]

    @scales.setter
    def scales(self, value: list[dict[str, Any]]) -> None:
        self._vol.scales = value

    def scale(self, mip: _Mip) -> dict[str, Any]:
        """``info["scales"][mip]``, the live dict."""
        return self._vol.mip_scale(mip)  # type: ignore[no-any-return]

    def sharding(self, mip: _Mip) -> dict[str, Any] | None:
        return self.scale(mip).get("sharding")

    def is_sharded(self, mip: _Mip) -> bool:
        return self._scale(mip).sharding is not None

    def check_for_placeholder_scale(self, mip: _Mip) -> bool:
        return "placeholder" in self.key(mip).lower()

    # -- paths ---------------------------------------------------------------------------
    @property
    def path(self) -> Any:
        """The parsed cloudpath (aiovolume's ``CloudPath``: scheme, bucket, path, url)."""
        return self._vol._path

    def join(self, *paths: str) -> str:
        """Join path parts with the layer's separator (``os.path`` for file://, ``/`` otherwise)."""
        return os.path.join(*paths) if self._vol._path.scheme == "file" else posixpath.join(*paths)

    @property
    def cloudpath(self) -> str:
        return self._vol.cloudpath  # type: ignore[no-any-return]

    @property
    def base_cloudpath(self) -> str:
        return self._vol.base_cloudpath  # type: ignore[no-any-return]

    @property
    def infopath(self) -> str:
        return self._vol.info_cloudpath  # type: ignore[no-any-return]

    @property
    def basepath(self) -> str:
        return self._vol.basepath  # type: ignore[no-any-return]

    @property
    def layerpath(self) -> str:
        return self._vol.layerpath  # type: ignore[no-any-return]

    @property
    def dataset(self) -> str:
        return self._vol.dataset_name  # type: ignore[no-any-return]

    @property
    def layer(self) -> str:
        return self._vol.layer  # type: ignore[no-any-return]

    @property
    def mesh(self) -> str | None:
        return self.info.get("mesh")

    @property
    def skeletons(self) -> str | None:
        return self.info.get("skeletons")

    # -- the layer -----------------------------------------------------------------------
    @property
    def layer_type(self) -> str:
        return self._vol.layer_type  # type: ignore[no-any-return]

    @property
    def data_type(self) -> str:
        return self._vol.data_type  # type: ignore[no-any-return]

    @property
    def dtype(self) -> np.dtype:
        return self._vol.dtype  # type: ignore[no-any-return]

    @property
    def num_channels(self) -> int:
        return self._vol.num_channels  # type: ignore[no-any-return]

    @property
    def available_mips(self) -> range:
        """``range(len(scales))``, as CloudVolume."""
        return range(len(self._vol._sync_info().scales))

    @property
    def available_resolutions(self) -> list[Vec]:
        return [self.resolution(m) for m in self.available_mips]

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self._vol._sync_info().scales]

    def to_mip(self, mip: _Mip) -> int:
        return fmtinfo.scale_index(self._vol._sync_info(), mip)

    # -- one scale -----------------------------------------------------------------------
    def key(self, mip: _Mip) -> str:
        return self._scale(mip).key

    def encoding(self, mip: _Mip, encoding: str | None = None) -> str:
        """The scale's encoding; with ``encoding=``, set it in the live info first (as CloudVolume,
        adding the default compressed_segmentation block size when switching to it)."""
        if encoding is None:
            return self._scale(mip).encoding
        scale = self.scale(mip)
        scale["encoding"] = encoding.lower()
        if scale["encoding"] == "compressed_segmentation":
            scale.setdefault("compressed_segmentation_block_size", list(fmtinfo.DEFAULT_CSEG_BLOCK_SIZE))
        return self.encoding(mip)

    def compressed_segmentation_block_size(self, mip: _Mip) -> Vec | None:
        return self._vol.mip_compressed_segmentation_block_size(mip)  # type: ignore[no-any-return]

    def resolution(self, mip: _Mip) -> Vec:
        """As CloudVolume: an integer Vec when the info's resolution is integral, else float."""
        res = self._scale(mip).resolution
        return Vec(*res, dtype=float if any(isinstance(r, float) for r in res) else int)

    def voxel_offset(self, mip: _Mip) -> Vec:
        return self._vol.mip_voxel_offset(mip)  # type: ignore[no-any-return]

    def volume_size(self, mip: _Mip) -> Vec:
        return self._vol.mip_volume_size(mip)  # type: ignore[no-any-return]

    def shape(self, mip: _Mip) -> Vec:
        return self._vol.mip_shape(mip)  # type: ignore[no-any-return]

    def voxels(self, mip: _Mip) -> int:
        return int(np.prod(self._scale(mip).size, dtype=object))

    def chunk_size(self, mip: _Mip) -> Vec:
        return self._vol.mip_chunk_size(mip)  # type: ignore[no-any-return]

    def downsample_ratio(self, mip: _Mip) -> Vec:
        return self._vol.mip_downsample_ratio(mip)  # type: ignore[no-any-return]

    def bounds(self, mip: _Mip) -> Bbox:
        """The 3-D bounds in ``mip`` voxels."""
        return self._scale(mip).bounds  # type: ignore[no-any-return]

    def bbox(self, mip: _Mip) -> Bbox:
        """The 4-D bounds: x, y, z and ``[0, num_channels)``."""
        b = self.bounds(mip)
        return Bbox([*b.minpt, 0], [*b.maxpt, self.num_channels])

    def point_to_mip(self, pt: Sequence[float], mip: _Mip, to_mip: _Mip) -> Vec:
        return self._vol.point_to_mip(pt, mip, to_mip)  # type: ignore[no-any-return]

    def bbox_to_mip(self, bbox: Any, mip: _Mip, to_mip: _Mip) -> Bbox:
        return self._vol.bbox_to_mip(bbox, mip, to_mip)  # type: ignore[no-any-return]

    # -- editing the info in memory --------------------------------------------------------
    def add_scale(self, factor: Sequence[float], encoding: str | None = None, chunk_size: Sequence[int] | None = None,
                  info: dict | None = None, encoding_level: int | None = None) -> dict[str, Any]:
        return self._vol.add_scale(factor, encoding, chunk_size, info, encoding_level=encoding_level)  # type: ignore[no-any-return]

    def add_resolution(self, res: Sequence[float], encoding: str | None = None,
                       chunk_size: Sequence[int] | None = None, info: dict | None = None,
                       encoding_level: int | None = None) -> dict[str, Any]:
        return self._vol.add_resolution(res, encoding, chunk_size, info, encoding_level=encoding_level)  # type: ignore[no-any-return]

    def reset_scales(self) -> None:
        """Keep only mip 0 in the info in memory (``vol.reset_scales()`` also commits)."""
        self._vol._reset_scales_in_memory()

    # -- write locks (stored in the info as ``"locked": true`` on each scale) ----------------
    def locked_mips(self) -> set[int]:
        return {i for i, s in enumerate(self._vol._sync_info().scales) if s.extra.get("locked")}

    async def lock_mips(self, mips: int | Iterable[int]) -> None:
        """Write-lock ``mips``: re-read the stored info, mark the scales ``"locked": true`` and
        commit it (as CloudVolume: edits not yet committed are replaced by the stored info).
        Uploads and deletes at a locked mip then raise ReadOnlyException, here and in CloudVolume."""
        await self._set_locks(mips, True, WriteLockAcquisitionError, "acquire the write lock on")

    async def unlock_mips(self, mips: int | Iterable[int]) -> None:
        """Release write locks taken by :meth:`lock_mips` (``"locked": false``, as CloudVolume)."""
        await self._set_locks(mips, False, WriteLockReleaseError, "release the write lock on")

    async def _set_locks(self, mips: int | Iterable[int], locked: bool, error: type[AiovolumeError], verb: str) -> None:
        wanted = [mips] if isinstance(mips, (int, np.integer)) else list(mips)
        n = len(self._vol._sync_info().scales)
        bad = [m for m in wanted if not isinstance(m, (int, np.integer)) or not 0 <= int(m) < n]
        if bad:
            raise ScaleUnavailableError(f"cannot {verb.split(' ')[0]} a lock on mip(s) {bad}: the layer has mips 0..{n - 1}")
        try:
            await self._vol.refresh_info()
            for m in wanted:
                self._vol.info["scales"][int(m)]["locked"] = locked
            await self._vol.commit_info()
        except AiovolumeError as e:
            raise error(f"unable to {verb} mips {[int(m) for m in wanted]} of {self.cloudpath}: {e}") from e

    # -- provenance ----------------------------------------------------------------------------
    @property
    def provenance(self) -> Any:
        return self._vol.provenance

    @provenance.setter
    def provenance(self, value: Any) -> None:
        self._vol.provenance = value

    async def refresh_provenance(self) -> Any:
        return await self._vol.refresh_provenance()

    async def commit_provenance(self) -> None:
        await self._vol.commit_provenance()

    def __repr__(self) -> str:
        return f"<meta of {self.cloudpath}>"
