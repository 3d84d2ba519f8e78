"""``save_images``: a 3-D or 4-D array written as one image file per slice, as CloudVolume does.

Pure numpy plus ``imagecodecs`` (already a dependency), no PIL. The files are those
CloudVolume 12.15's ``cloudvolume.lib.save_images`` writes, pixel for pixel:

* ``uint8``: 8-bit grey; ``uint16``: 16-bit grey; ``bool``: 0 / 255 grey;
* floats: scaled to 8 bits (``global_norm``: over the whole array, else per slice; infinities
  count as 0);
* every other integer type (segmentation ids): RGBA with R, G, B the three low bytes of the
  id (``uint32`` little-endian ``0xff``-alpha, exactly CloudVolume's "coloured by id");
* ``axis='z'`` slices are written with y down the rows and x across (CloudVolume's
  ``flipud(rot90(...))`` of the ``(x, y)`` slice); ``'x'`` and ``'y'`` slices as stored
  (rows: y or x, columns: z);
* file names ``{slice:05d}.{format}``, ``{channel}-{slice:05d}.{format}`` when several channels.

Where CloudVolume misbehaves this does the right thing: a constant float array is written as
zeros (CloudVolume divides by zero and writes garbage), and an RGBA image saved as JPEG drops
the alpha channel (PIL refuses it). CloudVolume 12.15 with Pillow >= 13 cannot write uint16 or
id-coloured images at all (``Image.fromarray(..., mode)`` refuses the mode); these can.

Example::

    save_images(np.zeros((64, 64, 8), np.uint8), "/tmp/out")   # /tmp/out/00000.png ... 00007.png
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DtypeError, EncodingError

AXES = {"x": 0, "y": 1, "z": 2}
FORMATS = ("PNG", "JPEG", "JPG", "TIFF", "TIF")


def default_directory(dataset: str, layer: str, mip: int, bounds: Any) -> str:
    """CloudVolume's default: ``./saved_images/{dataset}/{layer}/{mip}/{x0-x1_y0-y1_z0-z1}``."""
    if bounds is None:
        name = "default"
    else:
        lo, hi = np.asarray(bounds.minpt), np.asarray(bounds.maxpt)
        name = "_".join(f"{int(a)}-{int(b)}" for a, b in zip(lo, hi))
    return os.path.join("./saved_images", dataset or "default", layer or "default", str(mip), name)


def _normalize_float(img: np.ndarray) -> np.ndarray:
    img = np.where(np.isinf(img), 0, img)
    lower, upper = img.min(), img.max()
    if upper == lower:
        return np.zeros(img.shape, np.uint8)
    return ((img - lower) / (upper - lower) * 255.0).astype(np.uint8)


def slice_pixels(img2d: np.ndarray, axis: str, global_norm: bool) -> np.ndarray:
    """One 2-D slice as the pixel array written to disk: (h, w) uint8/uint16 or (h, w, 4) uint8."""
    if not global_norm and img2d.dtype in (np.float32, np.float64):
        img2d = _normalize_float(img2d)
    if axis == "z":
        img2d = img2d.T  # == flipud(rot90(img2d, 1)): rows y, columns x
    if img2d.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(img2d)
    if img2d.dtype == bool:
        return np.ascontiguousarray(img2d, dtype=np.uint8) * np.uint8(255)
    rgba = img2d.astype("<u4") | np.uint32(0xFF000000)
    return np.ascontiguousarray(rgba).view(np.uint8).reshape(rgba.shape + (4,))


def encode(pixels: np.ndarray, image_format: str) -> bytes:
    import imagecodecs

    fmt = image_format.upper()
    if fmt == "PNG":
        return bytes(imagecodecs.png_encode(pixels))
    if fmt in ("TIFF", "TIF"):
        return bytes(imagecodecs.tiff_encode(pixels))
    if fmt in ("JPEG", "JPG"):
        if pixels.dtype != np.uint8:
            raise EncodingError(f"JPEG holds 8-bit images only, not {pixels.dtype}; use image_format='PNG'")
        if pixels.ndim == 3:
            pixels = np.ascontiguousarray(pixels[..., :3])
        return bytes(imagecodecs.jpeg8_encode(pixels, level=95))
    raise EncodingError(f"image_format {image_format!r} is not supported; use one of PNG, JPEG, TIFF")


def save_images(image: np.ndarray, directory: str | None = None, axis: str = "z", channel: int | None = None,
                global_norm: bool = True, image_format: str = "PNG", progress: bool = True) -> str:
    """Write ``image`` (3-D ``(x, y, z)`` or 4-D ``(x, y, z, c)``) as one image per slice along
    ``axis`` into ``directory`` (default ``./saved_images/default/default/0/<box>``); returns the
    absolute directory. ``channel``: only that channel (default all)."""
    if axis not in AXES:
        raise DimensionError(f"axis must be one of 'x', 'y', 'z', not {axis!r}")
    if str(image_format).upper() not in FORMATS:
        raise EncodingError(f"image_format {image_format!r} is not supported; use one of PNG, JPEG, TIFF")
    arr = np.asarray(image)
    if arr.ndim > 4 or arr.ndim < 2:
        raise DimensionError(f"save_images takes a 3-D or 4-D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DtypeError(f"save_images cannot write {arr.dtype} images")
    while arr.ndim < 4:
        arr = arr[..., np.newaxis]
    if directory is None:
        directory = default_directory("default", "default", 0, None)
        directory = os.path.join(os.path.dirname(directory), "_".join(f"0-{n}" for n in arr.shape[:3]))
    os.makedirs(directory, exist_ok=True)
    sel = list(range(arr.shape[3])) if channel is None else [int(channel)]
    if global_norm and np.issubdtype(arr.dtype, np.floating):
        arr = _normalize_float(arr)  # over every channel, as CloudVolume
    index = AXES[axis]
    bar = _bar(progress, arr.shape[index], directory)
    try:
        for level in range(arr.shape[index]):
            plane = np.take(arr, level, axis=index)  # (u, v, c)
            for i, ch in enumerate(sel):
                pixels = slice_pixels(plane[:, :, ch], axis, global_norm)
                name = f"{level:05d}.{image_format.lower()}"
                if len(sel) > 1:
                    name = f"{i}-{name}"
                with open(os.path.join(directory, name), "wb") as f:
                    f.write(encode(pixels, image_format))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return os.path.abspath(directory)


def _bar(progress: bool, total: int, directory: str) -> Any:
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=f"Saving Images to {directory}")
