"""``from_numpy``: a new Precomputed layer from an array, with its downsampled mips.

The body of ``Volume.from_numpy`` (a classmethod there: this module sits below ``volume`` in the
import layers and receives the class). ``CloudVolume.from_numpy`` is its blocking twin.

Where this differs from CloudVolume 12.15.2 on purpose (its signature is kept):

- mips 1..``max_mip`` are *written* (average for images, mode for segmentation, factor (2, 2, 1)
  per mip, each from the one above); CloudVolume only adds them to the info, so reading them
  fails until something like igneous fills them.
- ``encoding_level`` is honoured (``jpeg_quality``, ``png_level`` or ``fpzip_precision`` of every
  scale); CloudVolume accepts it and drops it. With an encoding that has no level, and for
  ``encoding_effort`` (JPEG XL only, which aiovolume cannot write), it raises ``OptionError``
  instead of being ignored.
- the default ``vol_path`` is a fresh ``file:///tmp/image/<random>`` per call; CloudVolume draws
  one random name when it is imported, so every call without ``vol_path`` writes the same layer.
- a bool array is stored as uint8 (0/1) segmentation: CloudVolume writes ``"data_type": "bool"``,
  which Neuroglancer and TensorStore cannot read.
- no provenance file is written yet (aiovolume has no provenance support).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from typing import Any, Sequence

import numpy as np

from .exceptions import DimensionError, DtypeError, OptionError
from .format import info as fmtinfo
from .pipeline.downsample import downsample
from .pipeline.executor import thread_pool
from .pipeline.layerformat import chunk_format

# each mip halves x and y of the one above, as CloudVolume's create_new_info (factor=Vec(2, 2, 1))
FACTOR = (2, 2, 1)
# encoding -> the scale key encoding_level sets (the keys CloudVolume's add_scale writes)
LEVEL_KEYS = {"jpeg": "jpeg_quality", "png": "png_level", "fpzip": "fpzip_precision"}
# CloudVolume 12.15.2: these dtypes are segmentation, any other integer or float an image
_SEGMENTATION_DTYPES = frozenset({"bool", "uint16", "uint32", "uint64"})


def infer_layer_type(dtype: Any) -> str:
    """CloudVolume's rule: bool, uint16, uint32, uint64 -> ``"segmentation"``; other ints and floats -> ``"image"``.

    >>> infer_layer_type("uint16"), infer_layer_type("int32"), infer_layer_type("float32")
    ('segmentation', 'image', 'image')
    """
    dt = np.dtype(dtype)
    if dt.name in _SEGMENTATION_DTYPES:
        return "segmentation"
    if dt.kind in "iuf":
        return "image"
    raise DtypeError(f"from_numpy: {dt} arrays are not supported (integer, float or bool only)")


def from_numpy_info(
    arr: np.ndarray, resolution: Sequence[float], voxel_offset: Sequence[int], chunk_size: Sequence[int],
    layer_type: str | None, max_mip: int, encoding: str, encoding_level: int | None,
    encoding_effort: int | None,
) -> dict[str, Any]:
    """The info ``from_numpy`` commits for ``arr`` (already bool -> uint8), validated before any I/O."""
    if arr.ndim == 3:
        num_channels = 1
    elif arr.ndim == 4:
        num_channels = arr.shape[3]
    else:
        raise DimensionError(f"from_numpy takes an (x, y, z) or (x, y, z, channel) array, got {arr.ndim} dimensions")
    if 0 in arr.shape:
        raise DimensionError(f"from_numpy: the array is empty (shape {arr.shape}); nothing was written")
    info = fmtinfo.create_new_info(
        num_channels, layer_type, arr.dtype.name, encoding, resolution, voxel_offset, arr.shape[:3],
        chunk_size=chunk_size, max_mip=max_mip, factor=FACTOR,
    )
    parsed = fmtinfo.parse_info(info, "from_numpy")
    for mip, scale in enumerate(parsed.scales):  # an encoding we cannot write fails here, not mid-way
        chunk_format(parsed, scale, f"from_numpy mip {mip}")
    enc = parsed.scales[0].encoding
    if encoding_effort is not None:
        raise OptionError(
            f"from_numpy: encoding_effort={encoding_effort!r} applies only to JPEG XL ('jxl'), which aiovolume "
            "cannot write; pass encoding_effort=None"
        )
    if encoding_level is not None:
        if enc not in LEVEL_KEYS:
            raise OptionError(
                f"from_numpy: encoding {enc!r} has no level (encoding_level={encoding_level!r}); it sets "
                f"{', '.join(f'{k} ({v})' for k, v in LEVEL_KEYS.items())}. For gzip of raw chunks, open the "
                "volume with compress_level="
            )
        if isinstance(encoding_level, bool) or not isinstance(encoding_level, (int, np.integer)):
            raise OptionError(f"from_numpy: encoding_level must be an integer, got {encoding_level!r}")
        for scale in info["scales"]:
            scale[LEVEL_KEYS[enc]] = int(encoding_level)
        fmtinfo.parse_info(info, "from_numpy")  # range of the level (e.g. jpeg_quality 0..100)
    return info


async def from_numpy(
    cls: Any, arr: Any, vol_path: str | None = None, resolution: Sequence[float] = (4, 4, 40),
    voxel_offset: Sequence[int] = (0, 0, 0), chunk_size: Sequence[int] = (128, 128, 64),
    layer_type: str | None = None, max_mip: int = 0, encoding: str = "raw", compress: bool | str | None = None,
    progress: bool = False, encoding_level: int | None = None, encoding_effort: int | None = None,
) -> Any:
    """Create a layer at ``vol_path`` holding ``arr`` (x, y, z[, channel]) and return it open at mip 0.

    Like CloudVolume's ``from_numpy``: the info is built by ``create_new_info`` (``layer_type``
    inferred from the dtype when None, ``max_mip`` extra scales of factor (2, 2, 1)) and committed,
    then the array is written. Unlike it, mips 1..max_mip are written too, and ``encoding_level``
    is honoured (see the module docstring).

    >>> vol = await Volume.from_numpy(np.zeros((100, 100, 10), np.uint8), "file:///tmp/img", max_mip=1)  # doctest: +SKIP
    >>> (await vol.download(np.s_[:, :, :], mip=1)).shape  # doctest: +SKIP
    (50, 50, 10, 1)
    """
    array = np.asarray(arr)
    if layer_type is None:
        layer_type = infer_layer_type(array.dtype)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    info = from_numpy_info(array, resolution, voxel_offset, chunk_size, layer_type, max_mip, encoding,
                           encoding_level, encoding_effort)
    if vol_path is None:
        vol_path = f"file:///tmp/image/{secrets.token_hex(4)}"
    vol = await cls.open(vol_path, info=info, bounded=True, compress=compress, progress=progress)
    try:
        await vol.commit_info()
        # the whole scale each time: every write ends at the volume's edge, so it is aligned
        await vol.upload(vol.mip_bounds(0), array, mip=0)
        loop = asyncio.get_running_loop()
        for mip in range(1, len(info["scales"])):
            array = await loop.run_in_executor(thread_pool(), functools.partial(downsample, array, FACTOR, layer_type))
            await vol.upload(vol.mip_bounds(mip), array, mip=mip)
    except BaseException:
        await vol.close()
        raise
    return vol
