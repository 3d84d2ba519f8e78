"""The BOSS REST API v1 as plain values: URLs, its metadata mapped to a Precomputed info.

Pure functions (no I/O) used by :mod:`.boss`. What BOSS documents and its server code does
(github.com/jhuapl-boss/boss: ``bosscore/serializers.py``, ``bossspatialdb/urls.py``):

- ``GET /v1/collection/{c}/experiment/{e}/`` -> ``coord_frame``, ``num_hierarchy_levels``,
  ``hierarchy_method`` (``anisotropic``: x and y halve per level; ``isotropic``: z too);
- ``GET /v1/collection/{c}/experiment/{e}/channel/{ch}/`` -> ``type`` (``image`` | ``annotation``),
  ``datatype``, ``base_resolution``, ``storage_type`` (``spdb`` | ``cloudvol``, with ``bucket`` and
  ``cv_path``);
- ``GET /v1/coord/{frame}/`` -> ``{x,y,z}_start``/``_stop`` (voxels), ``{x,y,z}_voxel_size``,
  ``voxel_unit``;
- ``/v1/cutout/{c}/{e}/{ch}/{res}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}/``: GET (``Accept:
  application/blosc``) and POST (``Content-Type: application/blosc``) of a C-order ``(z, y, x)``
  array compressed with blosc; at most 500 MB uncompressed per request; data is stored in
  512x512x16 cuboids. ``PUT /v1/cutout/to_black/...`` (same ranges) zeroes a region.

A BOSS resolution level is a mip here (level 0 = mip 0). The extent at level ``r`` is the frame's
divided by the level's factor (floor of the start, ceiling of the stop), so every voxel of the
level is inside the bounds: CloudVolume's ``ceil(size / factor)`` can drop the last one when the
frame does not start at 0.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from ..exceptions import InfoError, UnsupportedFeatureError

#: BOSS stores voxels in cuboids of this many (x, y, z) voxels at every level
CUBOID = (512, 512, 16)
#: the cutout service refuses requests over 500 MB uncompressed; ours stay far below (one
#: cuboid is at most 32 MiB, uint64)
MAX_REQUEST_BYTES = 500 * 10**6
DEFAULT_HOST = "api.bossdb.io"
DEFAULT_PROTOCOL = "https"

# nanometres per unit (BOSS's voxel_unit choices)
_UNIT_NM = {"nanometers": 1, "micrometers": 10**3, "millimeters": 10**6, "centimeters": 10**7}
_LAYER_TYPES = {"image": "image", "annotation": "segmentation"}
_DATATYPES = ("uint8", "uint16", "uint32", "uint64")


def experiment_path(collection: str, experiment: str) -> str:
    return f"/v1/collection/{collection}/experiment/{experiment}/"


def channel_path(collection: str, experiment: str, channel: str) -> str:
    return f"/v1/collection/{collection}/experiment/{experiment}/channel/{channel}/"


def coord_path(frame: str) -> str:
    return f"/v1/coord/{frame}/"


def cutout_path(collection: str, experiment: str, channel: str, resolution: int,
                box: tuple[int, int, int, int, int, int], *, to_black: bool = False) -> str:
    """``box`` = ``(x0, x1, y0, y1, z0, z1)``, half-open as BOSS's ranges are."""
    x0, x1, y0, y1, z0, z1 = box
    service = "cutout/to_black" if to_black else "cutout"
    return f"/v1/{service}/{collection}/{experiment}/{channel}/{resolution}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}/"


def level_factor(method: str, level: int) -> tuple[int, int, int]:
    """The (x, y, z) downsampling factor of resolution ``level``."""
    f = 2 ** level
    return (f, f, f) if method == "isotropic" else (f, f, 1)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InfoError(f"BOSS metadata: {what} is {value!r}, not a number")
    return float(value)


def _nice(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def cloudvol_target(channel: Mapping[str, Any]) -> str | None:
    """``s3://bucket/cv_path`` for a channel stored as a Precomputed layer (``storage_type:
    "cloudvol"``), else None."""
    if channel.get("storage_type") != "cloudvol":
        return None
    bucket, path = channel.get("bucket"), channel.get("cv_path")
    if not bucket or not path:
        raise InfoError("BOSS metadata: a cloudvol channel without 'bucket' and 'cv_path'")
    return f"s3://{str(bucket).strip('/')}/{str(path).strip('/')}"


def precomputed_info(experiment: Mapping[str, Any], channel: Mapping[str, Any],
                     frame: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The Precomputed info describing a BOSS channel (``where`` names it in errors).

    One channel, encoding ``raw`` (the bytes of a blosc cutout, decompressed, are a raw chunk:
    C-order ``(z, y, x)`` is Fortran-order ``(x, y, z)``), 512x512x16 chunks, one scale per
    hierarchy level, resolution in nanometres. A ``cloudvol`` channel's info also carries
    ``"redirect": "s3://bucket/cv_path"``, which the volume follows to the layer itself.
    """
    datatype = channel.get("datatype")
    if datatype not in _DATATYPES:
        raise UnsupportedFeatureError(f"{where}: BOSS datatype {datatype!r} is not supported "
                                      f"(supported: {', '.join(_DATATYPES)})")
    kind = channel.get("type")
    if kind not in _LAYER_TYPES:
        raise InfoError(f"{where}: BOSS channel type {kind!r} is neither 'image' nor 'annotation'")
    base = channel.get("base_resolution") or 0
    if base:
        raise UnsupportedFeatureError(
            f"{where}: the channel's base_resolution is {base}; aiovolume reads channels whose data "
            "starts at resolution 0 only (mip = BOSS resolution level)"
        )
    unit = frame.get("voxel_unit")
    if unit not in _UNIT_NM:
        raise InfoError(f"{where}: BOSS voxel_unit {unit!r} is not one of {', '.join(_UNIT_NM)}")
    levels = experiment.get("num_hierarchy_levels", 1)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise InfoError(f"{where}: BOSS num_hierarchy_levels is {levels!r}, not a positive integer")
    method = experiment.get("hierarchy_method", "anisotropic")
    if method not in ("anisotropic", "isotropic"):
        raise InfoError(f"{where}: BOSS hierarchy_method {method!r} is neither anisotropic nor isotropic")
    start = [int(_number(frame.get(f"{a}_start"), f"{a}_start")) for a in "xyz"]
    stop = [int(_number(frame.get(f"{a}_stop"), f"{a}_stop")) for a in "xyz"]
    if any(hi <= lo for lo, hi in zip(start, stop)):
        raise InfoError(f"{where}: the BOSS coordinate frame is empty ({start} to {stop})")
    voxel = [_number(frame.get(f"{a}_voxel_size"), f"{a}_voxel_size") * _UNIT_NM[unit] for a in "xyz"]
    scales = []
    for level in range(levels):
        factor = level_factor(method, level)
        lo = [s // f for s, f in zip(start, factor)]
        hi = [-(-s // f) for s, f in zip(stop, factor)]
        resolution = [_nice(v * f) for v, f in zip(voxel, factor)]
        scales.append({
            "key": "_".join(str(r) for r in resolution),
            "encoding": "raw",
            "chunk_sizes": [list(CUBOID)],
            "resolution": resolution,
            "voxel_offset": lo,
            "size": [b - a for a, b in zip(lo, hi)],
        })
    info: dict[str, Any] = {
        "type": _LAYER_TYPES[kind],
        "data_type": datatype,
        "num_channels": 1,
        "scales": scales,
    }
    target = cloudvol_target(channel)
    if target is not None:
        info["redirect"] = target
    return info


def info_bytes(experiment: Mapping[str, Any], channel: Mapping[str, Any], frame: Mapping[str, Any],
               where: str) -> bytes:
    return json.dumps(precomputed_info(experiment, channel, frame, where)).encode()


def error_text(body: bytes) -> str:
    """BOSS's error body (``{"status", "code", "message"}``, or DRF's ``{"detail"}``) as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        return str(data.get("message") or data.get("detail") or data)[:300]
    return str(data)[:300]
