"""Building infos the way CloudVolume does: ``create_new_info`` and ``add_scale`` (re-exported by :mod:`.info`).

Arguments are converted as CloudVolume converts them (``int(...)``, ``float(...)``), and anything that
cannot be converted raises :class:`InfoError` naming the argument; the result is validated by
:func:`~aiovolume.format.info.parse_info`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aiovolume.exceptions import InfoError
from aiovolume.format import info_validate as check
from aiovolume.format.info import DEFAULT_CSEG_BLOCK_SIZE, LayerInfo, parse_info
from aiovolume.format.info_validate import show

# encoding -> the per-scale key add_scale(encoding_level=...) sets
_LEVEL_KEYS = {"jpeg": "jpeg_quality", "jxl": "jxl_quality", "png": "png_level", "fpzip": "fpzip_precision"}


# -- scale helpers ---------------------------------------------------------------------------------------------
def _closest_divisor(n: int, target: int = 64) -> int:
    """CloudVolume's new chunk edge: visit divisors as 1, n, 2, n/2, ...; the first strictly closer wins."""
    best, best_dist = n, n
    # only divisors below 2 * target can beat 1's distance, so the walk stops there: a huge chunk
    # edge must not cost sqrt(n) steps
    for i in range(1, min(math.isqrt(n), 2 * target - 1) + 1):
        for c in ((i, n // i) if i * i != n else (i,)) if n % i == 0 else ():
            if abs(c - target) < best_dist:
                best, best_dist = c, abs(c - target)
    return best


def _factor3(factor: Any) -> tuple[int, int, int]:
    try:
        f = np.asarray(factor, dtype=np.float64)
    except (TypeError, ValueError):
        f = np.zeros(0)
    if f.shape != (3,) or not np.isfinite(f).all() or (np.round(f) < 1).any():
        raise InfoError(f"downsampling factor must be 3 numbers that round to >= 1, got {factor!r}")
    return tuple(int(x) for x in np.round(f))  # type: ignore[return-value]  # half to even, as CV


def _downsampled_scale(full: Mapping[str, Any], factor: Sequence[int], encoding: str | None,
                       chunk_size: Any, encoding_level: int | None) -> dict[str, Any]:
    """A new scale dict derived from ``full`` (scale 0) the way CloudVolume's add_scale builds it."""
    if chunk_size is None:
        chunk_size = [_closest_divisor(int(c)) for c in full["chunk_sizes"][0]]
    chunk_size = _ints(chunk_size, "chunk_size")
    if encoding is not None and not isinstance(encoding, str):
        raise InfoError(f"encoding: expected a string such as 'raw', got {show(encoding)}")
    encoding = (encoding or full["encoding"]).lower()
    if encoding_level is not None:
        encoding_level = _ints([encoding_level], "encoding_level")[0]
    as_float = any(isinstance(r, (float, np.floating)) for r in full["resolution"])
    res = [float(r) * f if as_float else int(r) * f for r, f in zip(full["resolution"], factor)]
    offset = full.get("voxel_offset") or (0, 0, 0)
    # CloudVolume divides in float32, which loses exactness above 2**24 voxels; integer floor/ceil is exact.
    new: dict[str, Any] = {"encoding": encoding, "chunk_sizes": [list(chunk_size)], "resolution": res,
                           "voxel_offset": [int(o) // f for o, f in zip(offset, factor)],
                           "size": [-(-int(s) // f) for s, f in zip(full["size"], factor)]}
    if encoding_level is not None and encoding in _LEVEL_KEYS:
        new[_LEVEL_KEYS[encoding]] = int(encoding_level)
    if encoding == "compressed_segmentation":
        block = full.get("compressed_segmentation_block_size") or DEFAULT_CSEG_BLOCK_SIZE
        new["compressed_segmentation_block_size"] = list(block)
    new["key"] = "_".join(str(r) for r in res)
    return new


def _ints(value: Any, name: str) -> list[int]:
    """A caller's sequence of integers (numpy ones too) as Python ints; anything else is an InfoError."""
    try:
        items = [value] if isinstance(value, (str, bytes)) else list(value)
        out = [check.scalar(v, name, True) for v in items]
    except TypeError:
        raise InfoError(f"{name}: expected a sequence of integers, got {show(value)}") from None
    return [int(v) for v in out]


def _place_scale(scales: list[dict[str, Any]], new: dict[str, Any]) -> int:
    """Replace the scale with the same resolution (as CloudVolume does) or append; returns its index."""
    for i, s in enumerate(scales):
        if [float(r) for r in s["resolution"]] == [float(r) for r in new["resolution"]]:
            scales[i] = new
            return i
    scales.append(new)
    return len(scales) - 1


def add_scale(info: LayerInfo, factor: Sequence[float], encoding: str | None = None,
              chunk_size: Sequence[int] | None = None, *,
              encoding_level: int | None = None) -> tuple[LayerInfo, int]:
    """Add the scale ``scale0.resolution * factor``; returns ``(new_info, its index)``.

    Like CloudVolume: ``voxel_offset // factor``, ``ceil(size / factor)``, key ``"_".join(resolution)``,
    chunk size defaults to the divisor of scale 0's chunk closest to 64, encoding to scale 0's, and an
    existing scale with the same resolution is *replaced* in place (CloudVolume relies on this to re-chunk).

    >>> info, i = add_scale(parse_info(create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [9, 9, 9])), (2, 2, 1))
    >>> i, info.scales[i].key, info.scales[i].size
    (1, '8_8_40', (5, 5, 9))
    """
    scales = [s.to_dict() for s in info.scales]
    index = _place_scale(scales, _downsampled_scale(scales[0], _factor3(factor), encoding, chunk_size, encoding_level))
    return parse_info({**info.to_dict(), "scales": scales}, f"add_scale(factor={factor!r})"), index


_MAX_MIP = 64  # 2**64-fold downsampling: anything more is a mistake, and each mip costs a loop turn


def _convert(fn: Any, values: Any, name: str) -> list[Any]:
    """``[fn(v) for v in values]`` as CloudVolume converts its arguments, errors named by ``name``."""
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError("a string is not a sequence of numbers")
        return [fn(v) for v in values]
    except (TypeError, ValueError, OverflowError) as e:
        raise InfoError(f"{name}: cannot use {show(values)}: {e}") from None


# -- creation ----------------------------------------------------------------------------------------------------
def create_new_info(num_channels: int, layer_type: str, data_type: Any, encoding: str,
                    resolution: Sequence[float], voxel_offset: Sequence[int], volume_size: Sequence[int],
                    mesh: Any = None, skeletons: Any = None, chunk_size: Sequence[int] = (64, 64, 64),
                    compressed_segmentation_block_size: Sequence[int] = DEFAULT_CSEG_BLOCK_SIZE,
                    max_mip: int = 0, factor: Sequence[float] = (2, 2, 1), redirect: str | None = None,
                    encoding_level: int | None = None, encoding_effort: int | None = None) -> dict[str, Any]:
    """A new (validated) info dict with the content CloudVolume 12.15.2's ``create_new_info`` gives: a plain
    dict, so callers can edit ``info["scales"][0][...]``. ``encoding_level``/``encoding_effort`` are accepted
    and, as in CloudVolume 12.15.2, not written; ``redirect`` *is* written (CloudVolume's frontend drops it).

    >>> create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 64])["scales"][0]["key"]
    '4_4_40'
    """
    if not isinstance(data_type, str):
        data_type = _convert(lambda t: np.dtype(t).name, [data_type], "data_type")[0]
    if not isinstance(layer_type, str):
        raise InfoError(f"layer_type: expected 'image' or 'segmentation', got {show(layer_type)}")
    as_float = any(isinstance(r, (float, np.floating)) for r in _convert(lambda r: r, resolution, "resolution"))
    res = _convert(float if as_float else int, resolution, "resolution")
    encoding = str(encoding).lower()
    scale0 = {"encoding": encoding, "chunk_sizes": [_convert(int, chunk_size, "chunk_size")],
              "key": "_".join(map(str, res)), "resolution": res,
              "voxel_offset": _convert(int, voxel_offset, "voxel_offset"),
              "size": _convert(int, volume_size, "volume_size")}
    info: dict[str, Any] = {"num_channels": _convert(int, [num_channels], "num_channels")[0], "type": layer_type,
                            "data_type": data_type.lower(), "scales": [scale0]}
    if redirect is not None:
        info["redirect"] = str(redirect)
    max_mip = _convert(int, [max_mip], "max_mip")[0]
    if not 0 <= max_mip <= _MAX_MIP:
        raise InfoError(f"max_mip: expected 0..{_MAX_MIP}, got {max_mip}")
    factors = _convert(float, factor, "factor")
    for m in range(1, max_mip + 1):
        with np.errstate(all="ignore"):  # an overflow to inf is refused by _factor3
            power = np.asarray(factors, dtype=np.float64) ** m
        new = _downsampled_scale(info["scales"][0], _factor3(power), encoding, scale0["chunk_sizes"][0], None)
        _place_scale(info["scales"], new)
    # As in CloudVolume, only scale 0 gets the requested block size (it is set after the loop above);
    # downsampled compressed_segmentation scales carry the [8, 8, 8] default.
    if encoding == "compressed_segmentation":
        info["scales"][0]["compressed_segmentation_block_size"] = _convert(
            int, compressed_segmentation_block_size, "compressed_segmentation_block_size")
    if mesh:
        info["mesh"] = mesh if isinstance(mesh, str) else "mesh"
    if skeletons:
        info["skeletons"] = skeletons if isinstance(skeletons, str) else "skeletons"
    parse_info(info, "create_new_info")
    return info
