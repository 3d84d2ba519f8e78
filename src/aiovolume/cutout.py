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

    def save_images(self, directory: str | None = None, axis: str = "z", channel: int | None = None,
                    global_norm: bool = True, image_format: str = "PNG", progress: bool = True) -> str:
        """One image per slice along ``axis`` (CloudVolume's files; see
        :mod:`aiovolume.viewer.imagesave`), by default into
        ``./saved_images/{dataset}/{layer}/{mip}/{x0-x1_y0-y1_z0-z1}``; returns the absolute directory."""
        from .viewer import imagesave

        if directory is None:
            directory = imagesave.default_directory(self.dataset_name, self.layer, self.mip or 0, self.bounds)
        return imagesave.save_images(np.asarray(self), directory, axis, channel, global_norm, image_format, progress)

    def view(self, port: int = 8080, browser: bool = False) -> None:
        """Explore this cutout in a local web viewer at http://127.0.0.1:``port`` until Ctrl-C
        (segmentation layers coloured by id)."""
        from .viewer.arrayview import view

        offset = None if self.bounds is None else self.bounds.minpt
        view(np.asarray(self), seg=self.layer_type == "segmentation", offset=offset,
             cloudpath=self.cloudpath or "IN MEMORY", port=port, browser=browser)

    def viewer(self, port: int = 8080) -> None:
        """CloudVolume's name for :meth:`view`."""
        self.view(port)
