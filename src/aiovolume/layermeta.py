"""CloudVolume's metadata properties and ``mip_*`` helpers, computed from a LayerInfo.

A mixin for :class:`aiovolume.Volume`: pure reads of ``self._info`` and ``self._mip``, no I/O.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .format import info as fmtinfo
from .geometry import Bbox, Vec


class LayerMetadata:
    _info: fmtinfo.LayerInfo
    _mip: int

    # -- the whole layer -----------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The info as a JSON-ready dict (a copy: assign to ``info`` to change it)."""
        return self._info.to_dict()

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._info = fmtinfo.parse_info(value, self.info_cloudpath)  # type: ignore[attr-defined]

    @property
    def layer_type(self) -> str:
        return self._info.type

    @property
    def data_type(self) -> str:
        return self._info.data_type

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._info.data_type)

    @property
    def num_channels(self) -> int:
        return self._info.num_channels

    @property
    def scales(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._info.scales]

    @property
    def available_mips(self) -> list[int]:
        return list(range(len(self._info.scales)))

    @property
    def available_resolutions(self) -> list[Vec]:
        return [Vec(*s.resolution, dtype=float) for s in self._info.scales]

    # -- the current mip ---------------------------------------------------------------------
    @property
    def mip(self) -> int:
        return self._mip

    @mip.setter
    def mip(self, mip: int | Sequence[float]) -> None:
        self._mip = fmtinfo.scale_index(self._info, mip)

    def to_mip(self, mip: int | Sequence[float] | None) -> int:
        return self._mip if mip is None else fmtinfo.scale_index(self._info, mip)

    @property
    def scale(self) -> dict[str, Any]:
        return self.mip_scale(self._mip)

    @property
    def shape(self) -> Vec:
        return self.mip_shape(self._mip)

    @property
    def volume_size(self) -> Vec:
        return self.mip_volume_size(self._mip)

    @property
    def encoding(self) -> str:
        return self.mip_encoding(self._mip)

    @property
    def resolution(self) -> Vec:
        return self.mip_resolution(self._mip)

    @property
    def voxel_offset(self) -> Vec:
        return self.mip_voxel_offset(self._mip)

    @property
    def chunk_size(self) -> Vec:
        return self.mip_chunk_size(self._mip)

    @property
    def underlying(self) -> Vec:
        return self.mip_underlying(self._mip)

    @property
    def key(self) -> str:
        return self.mip_key(self._mip)

    @property
    def bounds(self) -> Bbox:
        return self.mip_bounds(self._mip)

    @property
    def downsample_ratio(self) -> Vec:
        return self.mip_downsample_ratio(self._mip)

    @property
    def compressed_segmentation_block_size(self) -> Vec | None:
        return self.mip_compressed_segmentation_block_size(self._mip)

    # -- any mip -------------------------------------------------------------------------
    def _scale(self, mip: int | Sequence[float]) -> fmtinfo.ScaleInfo:
        return self._info.scales[fmtinfo.scale_index(self._info, mip)]

    def mip_scale(self, mip: int | Sequence[float]) -> dict[str, Any]:
        return self._scale(mip).to_dict()

    def mip_ndim(self, mip: int | Sequence[float]) -> int:
        return 4

    def mip_shape(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*self._scale(mip).size, self.num_channels)

    def mip_volume_size(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*self._scale(mip).size)

    def mip_encoding(self, mip: int | Sequence[float]) -> str:
        return self._scale(mip).encoding

    def mip_resolution(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*self._scale(mip).resolution, dtype=float)

    def mip_voxel_offset(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*self._scale(mip).voxel_offset)

    def mip_chunk_size(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*self._scale(mip).chunk_size)

    mip_underlying = mip_chunk_size

    def mip_key(self, mip: int | Sequence[float]) -> str:
        return self._scale(mip).key

    def mip_bounds(self, mip: int | Sequence[float]) -> Bbox:
        return self._scale(mip).bounds

    def mip_downsample_ratio(self, mip: int | Sequence[float]) -> Vec:
        return Vec(*fmtinfo.downsample_ratio(self._info, fmtinfo.scale_index(self._info, mip)), dtype=float)

    def mip_compressed_segmentation_block_size(self, mip: int | Sequence[float]) -> Vec | None:
        bs = self._scale(mip).compressed_segmentation_block_size
        return None if bs is None else Vec(*bs)

    # -- coordinate conversions ------------------------------------------------------------
    def bbox_to_mip(self, bbox: Any, mip: int | Sequence[float], to_mip: int | Sequence[float]) -> Bbox:
        """Convert a bbox in ``mip`` voxels to ``to_mip`` voxels."""
        return fmtinfo.bbox_to_mip(
            self._info, Bbox.create(bbox), fmtinfo.scale_index(self._info, mip), fmtinfo.scale_index(self._info, to_mip)
        )

    def point_to_mip(self, pt: Sequence[float], mip: int | Sequence[float], to_mip: int | Sequence[float]) -> Vec:
        lo = Vec(*pt)
        return self.bbox_to_mip(Bbox(lo, lo + 1), mip, to_mip).minpt

    def slices_from_global_coords(self, slices: Any) -> tuple[slice, ...]:
        """Mip-0 slices (e.g. Neuroglancer coordinates) -> slices of the current mip."""
        bbox = Bbox.create(slices, context=self.mip_bounds(0))
        return self.bbox_to_mip(bbox, 0, self._mip).to_slices()

    def slices_to_global_coords(self, slices: Any) -> tuple[slice, ...]:
        """Slices of the current mip -> mip-0 slices."""
        bbox = Bbox.create(slices, context=self.bounds)
        return self.bbox_to_mip(bbox, self._mip, 0).to_slices()

    # -- editing the info in memory (commit_info() stores it) -------------------------------
    def add_scale(self, factor: Sequence[int], encoding: str | None = None,
                  chunk_size: Sequence[int] | None = None, info: dict | None = None) -> dict[str, Any]:
        """Add a downsampled scale to the in-memory info and return that scale as a dict."""
        base = self._info if info is None else fmtinfo.parse_info(info, self.info_cloudpath)  # type: ignore[attr-defined]
        new, index = fmtinfo.add_scale(base, factor, encoding=encoding, chunk_size=chunk_size)
        if info is None:
            self._info = new
        return new.scales[index].to_dict()

    def reset_scales(self) -> None:
        """Keep only mip 0 in the in-memory info."""
        self._info = fmtinfo.reset_scales(self._info)
        self._mip = 0
