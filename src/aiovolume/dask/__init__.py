"""aiovolume on dask: CloudVolume's ``cloudvolume.dask`` API and a pyramid builder.

``pip install 'aiovolume[dask]'`` (dask[distributed] and tinybrain). Arrays are ``(x, y, z,
channel)``, 0-based from the layer's voxel_offset; see :mod:`aiovolume.daskarray` for how
blocks are read and written in dask's workers.

>>> from aiovolume.dask import from_cloudvolume, to_cloudvolume, downsample   # doctest: +SKIP
>>> arr = from_cloudvolume("file:///data/image")                            # doctest: +SKIP
>>> to_cloudvolume((arr > 100).astype("uint8"), "file:///data/mask")        # doctest: +SKIP
>>> downsample("file:///data/image", num_mips=3)                           # doctest: +SKIP
"""

from __future__ import annotations

from .arrays import from_cloudvolume, to_cloudvolume
from .pyramid import downsample

__all__ = ["from_cloudvolume", "to_cloudvolume", "downsample"]
