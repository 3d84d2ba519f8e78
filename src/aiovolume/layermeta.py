"""CloudVolume's metadata properties and ``mip_*`` helpers, computed from a LayerInfo.

A mixin for :class:`aiovolume.Volume`, no I/O. The info is *live*, as in CloudVolume: ``vol.info``
is a plain dict the user may edit in place (``vol.info["data_type"] = "uint32"``,
``vol.scale["chunk_sizes"] = [[32, 32, 32]]``, ``vol.info["scales"].append(...)``). The engine
works from ``self._info``, a validated, frozen :class:`LayerInfo` parsed from that dict;
:meth:`LayerMetadata._sync_info` re-parses it when the dict no longer equals the copy taken at the
last parse. That comparison is the whole per-operation cost (~0.4 us for a one-scale info).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from .exceptions import ScaleUnavailableError
from .format import info as fmtinfo
from .geometry import Bbox, Vec


class LayerMetadata:
    _info: fmtinfo.LayerInfo  # parsed from _info_live; what the engine reads
    _info_live: dict[str, Any]  # the dict users see and may edit in place
    _info_seen: Any  # deep copy of _info_live when _info was parsed from it
    _mip: int

    # -- the live info -------------------------------------------------------------------
    def _adopt_info(self, parsed: fmtinfo.LayerInfo, live: dict[str, Any] | None = None) -> None:
        """Make ``parsed`` the engine's info and ``live`` (default: its dict) the user's."""
        self._info = parsed
        self._info_live = parsed.to_dict() if live is None else live
        self._info_seen = copy.deepcopy(self._info_live)
        self._info_changed()

    def _sync_info(self) -> fmtinfo.LayerInfo:
        """The parsed info, re-parsed first if the live dict was edited since the last parse.

        Raises :class:`InfoError` (naming the field) while the edited dict is not a valid info;
        nothing is read or written with it.
        """
        live = self._info_live
        try:
            if live == self._info_seen:
                return self._info
        except ValueError:  # numpy arrays put into the dict compare element-wise: re-parse
            pass
        parsed = fmtinfo.parse_info(live, self.info_cloudpath)  # type: ignore[attr-defined]
        if self._mip >= len(parsed.scales):
            raise ScaleUnavailableError(
                f"the edited info has {len(parsed.scales)} scale(s) but the volume is at mip {self._mip}; "
                "set vol.mip first"
            )
        self._info = parsed
        self._info_seen = copy.deepcopy(live)
        self._info_changed()
        return parsed

    def _info_changed(self) -> None:
        """Hook: the parsed info was replaced (the Volume drops what it derived from it)."""

    # -- the whole layer -----------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The info dict itself, as in CloudVolume: edit it in place, then ``commit_info()``."""
        return self._info_live

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._adopt_info(fmtinfo.parse_info(value, self.info_cloudpath), value)  # type: ignore[attr-defined]

    @property
    def layer_type(self) -> str:
        return self._sync_info().type

    @property
    def data_type(self) -> str:
        return self._sync_info().data_type

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._sync_info().data_type)

    @property
    def num_channels(self) -> int:
        return self._sync_info().num_channels

    @property
    def scales(self) -> list[dict[str, Any]]:
        """``info["scales"]``, the live list (as in CloudVolume)."""
        return self._info_live["scales"]  # type: ignore[no-any-return]

    @scales.setter
    def scales(self, value: list[dict[str, Any]]) -> None:
        self._info_live["scales"] = value

    @property
    def available_mips(self) -> list[int]:
        return list(range(len(self._sync_info().scales)))

    @property
    def available_resolutions(self) -> list[Vec]:
        return [Vec(*s.resolution, dtype=float) for s in self._sync_info().scales]

    # -- the current mip ---------------------------------------------------------------------
    @property
    def mip(self) -> int:
        return self._mip

    @mip.setter
    def mip(self, mip: int | Sequence[float]) -> None:
        self._mip = fmtinfo.scale_index(self._sync_info(), mip)

    def to_mip(self, mip: int | Sequence[float] | None) -> int:
        return self._mip if mip is None else fmtinfo.scale_index(self._sync_info(), mip)

    @property
    def scale(self) -> dict[str, Any]:
        """``info["scales"][mip]``, the live dict: edits change how the volume reads and writes."""
        return self.mip_scale(self._mip)

    @scale.setter
    def scale(self, value: dict[str, Any]) -> None:
        self._info_live["scales"][self._mip] = value

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
        info = self._sync_info()
        return info.scales[fmtinfo.scale_index(info, mip)]

    def mip_scale(self, mip: int | Sequence[float]) -> dict[str, Any]:
        """``info["scales"][mip]``, the live dict (as in CloudVolume). Not validated first, so an
        info left invalid by one edit can be mended through it (``vol.scale["encoding"] = "raw"``)."""
        scales = self._info_live["scales"]
        if isinstance(mip, (int, np.integer)) and -len(scales) <= int(mip) < len(scales):
            return scales[int(mip)]  # type: ignore[no-any-return]
        for scale in scales if not isinstance(mip, (int, np.integer, str)) else ():
            try:
                if [float(r) for r in scale["resolution"]] == [float(r) for r in mip]:
                    return scale  # type: ignore[no-any-return]
            except (KeyError, TypeError, ValueError):
                continue
        return scales[fmtinfo.scale_index(self._sync_info(), mip)]  # raises ScaleUnavailableError

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
        return Vec(*fmtinfo.downsample_ratio(self._sync_info(), fmtinfo.scale_index(self._sync_info(), mip)), dtype=float)

    def mip_compressed_segmentation_block_size(self, mip: int | Sequence[float]) -> Vec | None:
        bs = self._scale(mip).compressed_segmentation_block_size
        return None if bs is None else Vec(*bs)

    # -- coordinate conversions ------------------------------------------------------------
    def bbox_to_mip(self, bbox: Any, mip: int | Sequence[float], to_mip: int | Sequence[float]) -> Bbox:
        """Convert a bbox in ``mip`` voxels to ``to_mip`` voxels."""
        return fmtinfo.bbox_to_mip(
            self._sync_info(), Bbox.create(bbox), fmtinfo.scale_index(self._sync_info(), mip), fmtinfo.scale_index(self._sync_info(), to_mip)
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
                  chunk_size: Sequence[int] | None = None, info: dict | None = None,
                  encoding_level: int | None = None) -> dict[str, Any]:
        """Add (or replace, same resolution) a downsampled scale in ``info`` (default: the
        volume's live info) and return that scale's dict, which is the one now in the info.
        ``commit_info()`` stores it.
        """
        target = self._info_live if info is None else info
        base = self._sync_info() if info is None else fmtinfo.parse_info(info, self.info_cloudpath)  # type: ignore[attr-defined]
        new, index = fmtinfo.add_scale(base, factor, encoding=encoding, chunk_size=chunk_size,
                                       encoding_level=encoding_level)
        scale = new.scales[index].to_dict()
        scales = target["scales"]
        if index < len(scales):
            scales[index] = scale
        else:
            scales.append(scale)
        if info is None:
            self._sync_info()
        return scale

    def add_resolution(self, res: Sequence[float], encoding: str | None = None,
                       chunk_size: Sequence[int] | None = None, info: dict | None = None,
                       encoding_level: int | None = None) -> dict[str, Any]:
        """:meth:`add_scale` with the new scale's resolution instead of its factor."""
        base = self._sync_info() if info is None else fmtinfo.parse_info(info, self.info_cloudpath)  # type: ignore[attr-defined]
        factor = [float(r) / float(b) for r, b in zip(res, base.scales[0].resolution)]
        return self.add_scale(factor, encoding, chunk_size, info, encoding_level=encoding_level)

    def _reset_scales_in_memory(self) -> None:
        """Keep only mip 0 in the live info (CloudVolume's ``meta.reset_scales``)."""
        self._sync_info()
        self._mip = 0
        self._info_live["scales"] = self._info_live["scales"][0:1]
        self._sync_info()
