"""``VolumeCutout``: the ndarray subclass returned by reads, as in CloudVolume."""

from __future__ import annotations

from typing import Any

import numpy as np

from .geometry import Bbox


class VolumeCutout(np.ndarray):
    """An ``(x, y, z, c)`` array that remembers where it came from.

    >>> cut = vol[0:64, 0:64, 0:64]      # doctest: +SKIP
    >>> cut.bounds, cut.mip, cut.layer_type  # doctest: +SKIP
    """

    _ATTRS = ("dataset_name", "layer", "mip", "layer_type", "bounds", "cloudpath")

    def __new__(
        cls,
        buf: np.ndarray,
        dataset_name: str = "",
        layer: str = "",
        mip: int = 0,
        layer_type: str = "",
        bounds: Bbox | None = None,
        cloudpath: str = "",
    ) -> "VolumeCutout":
        obj = np.asarray(buf).view(cls)
        obj.dataset_name = dataset_name
        obj.layer = layer
        obj.mip = mip
        obj.layer_type = layer_type
        obj.bounds = bounds
        obj.cloudpath = cloudpath
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if obj is None:
            return
        for name in self._ATTRS:
            setattr(self, name, getattr(obj, name, None))

    @property
    def num_channels(self) -> int:
        return int(self.shape[3]) if self.ndim >= 4 else 1
