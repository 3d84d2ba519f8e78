"""The Precomputed volume ``info`` file as frozen dataclasses (no I/O, no async).

``parse_info(d).to_dict() == d`` except for these normalisations: ``data_type``/``encoding`` lower-cased, missing
``voxel_offset`` -> ``[0, 0, 0]``, ``compressed_segmentation`` without a block size -> ``[8, 8, 8]``, ``null``
``sharding``/``mesh``/``skeletons`` dropped. Resolutions keep their JSON number type (``4`` vs ``4.0``) because
CloudVolume derives keys and the int/float type of new scales from it; nested lists in extras become tuples.

>>> info = parse_info(create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [512, 512, 64]))
>>> info.scales[0].key, info.scales[0].grid_shape
('4_4_40', (8, 8, 1))
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aiovolume.exceptions import DimensionError, InfoError, ScaleUnavailableError

DATA_TYPES = frozenset("uint8 int8 uint16 int16 uint32 int32 uint64 int64 float16 float32 float64".split())
ENCODINGS = frozenset("raw jpeg png jxl compressed_segmentation compresso fpzip kempressed zfpc crackle".split())
DEFAULT_CSEG_BLOCK_SIZE = (8, 8, 8)
# encoding -> the per-scale key add_scale(encoding_level=...) sets
_LEVEL_KEYS = {"jpeg": "jpeg_quality", "jxl": "jxl_quality", "png": "png_level", "fpzip": "fpzip_precision"}
_Vec3 = tuple[int, int, int]
_UINTS = frozenset({"uint8", "uint16", "uint32", "uint64"})
_FLOATS = frozenset({"float32", "float64"})
# encoding -> (data types, channel counts); None = any. From the Neuroglancer spec and what the codec
# libraries accept: a layer outside these can be written by nobody or read by nobody, so refuse it early.
ENCODING_RULES: dict[str, tuple[frozenset[str] | None, frozenset[int] | None]] = {
    "raw": (None, None),
    "jpeg": (frozenset({"uint8"}), frozenset({1, 3})),
    "png": (frozenset({"uint8", "uint16"}), frozenset({1, 2, 3, 4})),
    "jxl": (frozenset({"uint8"}), frozenset({1, 3, 4})),
    "compressed_segmentation": (frozenset({"uint32", "uint64"}), None),
    "compresso": (_UINTS, frozenset({1})),
    "crackle": (_UINTS, frozenset({1})),
    "fpzip": (_FLOATS, None),
    "kempressed": (_FLOATS, None),
    "zfpc": (_FLOATS | {"int32", "int64"}, None),
}
_Mip = int | Sequence[float]


class _FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only dict: JSON-serialisable, hashable and picklable."""

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("info mappings are read-only; build a new info with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> Any:
        return (_FrozenDict, (dict(self),))


def _freeze(v: Any) -> Any:
    if isinstance(v, Mapping):
        return _FrozenDict({str(k): _freeze(x) for k, x in v.items()})
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_freeze(x) for x in v)
    return v.item() if isinstance(v, np.generic) else v


def _thaw(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _thaw(x) for k, x in v.items()}
    return [_thaw(x) for x in v] if isinstance(v, (list, tuple)) else v


def _scalar(x: Any, field: str, integer: bool) -> int | float:
    """One JSON number; ints stay int, floats stay float (integral floats become int if ``integer``)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, (float, np.floating)) and math.isfinite(x) and not (integer and not float(x).is_integer()):
        return int(x) if integer else float(x)
    raise InfoError(f"{field}: expected {'integers' if integer else 'finite numbers'}, got {x!r}")


def _vec3(value: Any, field: str, *, integer: bool = True, minimum: int | None = None) -> tuple[Any, ...]:
    """Validate ``[x, y, z]``; ``minimum=0`` requires ``>= 0``, ``minimum=1`` requires ``> 0``."""
    if not isinstance(value, (list, tuple, np.ndarray)) or np.ndim(value) != 1 or len(value) != 3:
        n = len(value) if isinstance(value, (list, tuple, np.ndarray)) else "no"
        raise InfoError(f"{field}: mismatched dimensions: expected 3 numbers [x, y, z], got {n} ({value!r})")
    out = tuple(_scalar(x, field, integer) for x in value)
    if minimum is not None and not all(x >= minimum if integer else x > 0 for x in out):
        raise InfoError(f"{field}: every value must be {'>= 0' if minimum == 0 else '> 0'}, got {list(out)}")
    return out


def _extra(extra: Any, reserved: Sequence[str], where: str) -> _FrozenDict:
    if not isinstance(extra, Mapping) or any(k in reserved for k in extra):
        raise InfoError(f"{where} extra: expected a mapping without the keys {list(reserved)}, got {extra!r}")
    return _freeze(extra)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleInfo:
    """One entry of ``info["scales"]``; unknown keys (jpeg_quality, locked, ...) live in ``extra``."""

    key: str
    size: _Vec3
    resolution: tuple[float | int, float | int, float | int]
    voxel_offset: _Vec3 = (0, 0, 0)
    chunk_sizes: tuple[_Vec3, ...]
    encoding: str
    compressed_segmentation_block_size: _Vec3 | None = None
    sharding: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=_FrozenDict)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if not isinstance(self.key, str):
            raise InfoError(f"key: expected a string, got {self.key!r}")
        put("size", _vec3(self.size, "size", minimum=0))
        put("resolution", _vec3(self.resolution, "resolution", integer=False, minimum=1))
        put("voxel_offset", _vec3(self.voxel_offset, "voxel_offset"))
        cs = self.chunk_sizes
        if not isinstance(cs, (list, tuple, np.ndarray)) or len(cs) == 0:
            raise InfoError(f"chunk_sizes: expected a non-empty list of [x, y, z], got {cs!r}")
        put("chunk_sizes", tuple(_vec3(c, f"chunk_sizes[{i}]", minimum=1) for i, c in enumerate(cs)))
        if not isinstance(self.encoding, str) or self.encoding.lower() not in ENCODINGS:
            raise InfoError(f"encoding: unknown encoding {self.encoding!r}; known: {', '.join(sorted(ENCODINGS))}")
        put("encoding", self.encoding.lower())
        block = self.compressed_segmentation_block_size
        if block is None and self.encoding == "compressed_segmentation":
            block = DEFAULT_CSEG_BLOCK_SIZE  # CloudVolume fills in the same default when it is absent
        if block is not None:
            put("compressed_segmentation_block_size", _vec3(block, "compressed_segmentation_block_size", minimum=1))
        if self.sharding is not None and not isinstance(self.sharding, Mapping):
            raise InfoError(f"sharding: expected an object, got {self.sharding!r}")
        put("sharding", None if self.sharding is None else _freeze(self.sharding))
        put("extra", _extra(self.extra, _SCALE_FIELDS, "scale"))

    @property
    def chunk_size(self) -> _Vec3:
        """The chunk shape readers use (``chunk_sizes[0]``)."""
        return self.chunk_sizes[0]

    @property
    def bounds(self) -> Any:
        """``Bbox(voxel_offset, voxel_offset + size)`` in this scale's voxels."""
        from aiovolume.geometry import Bbox

        return Bbox(self.voxel_offset, np.add(self.voxel_offset, self.size, dtype=np.int64))

    @property
    def grid_shape(self) -> _Vec3:
        """Number of chunks along x, y, z: ``ceil(size / chunk_size)``."""
        return tuple(-(-s // c) for s, c in zip(self.size, self.chunk_size))  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in CloudVolume's key order, extras restored, never ``"sharding": null``."""
        d: dict[str, Any] = {"encoding": self.encoding, "chunk_sizes": [list(c) for c in self.chunk_sizes],
                             "key": self.key, "resolution": list(self.resolution),
                             "voxel_offset": list(self.voxel_offset), "size": list(self.size)}
        if self.compressed_segmentation_block_size is not None:
            d["compressed_segmentation_block_size"] = list(self.compressed_segmentation_block_size)
        if self.sharding is not None:
            d["sharding"] = _thaw(self.sharding)
        d.update(_thaw(self.extra))
        return d


_SCALE_FIELDS = tuple(f.name for f in dataclasses.fields(ScaleInfo) if f.name != "extra")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LayerInfo:
    """A whole volume info; unknown top-level keys (``@type``, ``redirect``, ...) live in ``extra``."""

    type: str
    data_type: str
    num_channels: int
    scales: tuple[ScaleInfo, ...]
    mesh: str | None = None
    skeletons: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=_FrozenDict)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if not isinstance(self.type, str) or not self.type:
            raise InfoError(f"type: expected a layer type string such as 'image', got {self.type!r}")
        dt = self.data_type.lower() if isinstance(self.data_type, str) else None
        if dt not in DATA_TYPES:
            raise InfoError(f"data_type: unsupported {self.data_type!r}; expected one of {', '.join(sorted(DATA_TYPES))}")
        put("data_type", dt)
        put("num_channels", _scalar(self.num_channels, "num_channels", True))
        if self.num_channels < 1:
            raise InfoError(f"num_channels: expected an integer >= 1, got {self.num_channels}")
        if not isinstance(self.scales, (list, tuple)) or not self.scales or \
                not all(isinstance(s, ScaleInfo) for s in self.scales):
            raise InfoError("scales: expected a non-empty sequence of ScaleInfo (parse_info takes dicts)")
        put("scales", tuple(self.scales))
        for name, v in (("mesh", self.mesh), ("skeletons", self.skeletons)):
            if v is not None and not isinstance(v, str):
                raise InfoError(f"{name}: expected a directory name string, got {v!r}")
        put("extra", _extra(self.extra, _LAYER_FIELDS, "layer"))
        for i, scale in enumerate(self.scales):
            check_encoding(scale.encoding, self.data_type, self.num_channels, f"scales[{i}]")

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of ``data_type``."""
        return np.dtype(self.data_type)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``@type`` first, then CloudVolume's order, extras restored."""
        d: dict[str, Any] = {"@type": _thaw(self.extra["@type"])} if "@type" in self.extra else {}
        d.update(num_channels=self.num_channels, type=self.type, data_type=self.data_type,
                 scales=[s.to_dict() for s in self.scales])
        d.update({k: _thaw(v) for k, v in self.extra.items() if k != "@type"})
        d.update({k: v for k, v in (("mesh", self.mesh), ("skeletons", self.skeletons)) if v is not None})
        return d


_LAYER_FIELDS = tuple(f.name for f in dataclasses.fields(LayerInfo) if f.name != "extra")


def check_encoding(encoding: str, data_type: str, num_channels: int, where: str = "") -> None:
    """Raise :class:`InfoError` unless ``encoding`` can store ``num_channels`` of ``data_type``.

    >>> check_encoding("compressed_segmentation", "float32", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aiovolume.exceptions.InfoError: encoding 'compressed_segmentation' cannot store data_type 'float32' ...
    """
    dtypes, channels = ENCODING_RULES.get(encoding, (None, None))
    prefix = f"{where}: " if where else ""
    if dtypes is not None and data_type not in dtypes:
        raise InfoError(f"{prefix}encoding {encoding!r} cannot store data_type {data_type!r} (it takes "
                        f"{', '.join(sorted(dtypes, key=_dtype_order))}); use encoding 'raw' or change data_type")
    if channels is not None and num_channels not in channels:
        raise InfoError(f"{prefix}encoding {encoding!r} cannot store {num_channels} channels (it takes "
                        f"{' or '.join(map(str, sorted(channels)))}); use encoding 'raw' or change num_channels")


def _dtype_order(name: str) -> tuple[int, int, str]:
    dt = np.dtype(name)
    return ("uifc".index(dt.kind) if dt.kind in "uifc" else 9, dt.itemsize, name)


def parse_info(d: Mapping[str, Any], path: str = "") -> LayerInfo:
    """Validate an info dict; every problem raises :class:`InfoError` naming ``path`` and the field."""
    where = f"invalid info {path or '<info>'}"
    if not isinstance(d, Mapping):
        raise InfoError(f"{where}: not a JSON object (got {type(d).__name__})")
    for name in ("type", "data_type", "num_channels", "scales"):
        if d.get(name) is None:
            raise InfoError(f"{where}: missing required field '{name}'")
    if not isinstance(d["scales"], (list, tuple)) or not d["scales"]:
        raise InfoError(f"{where}: scales: expected a non-empty list, got {d['scales']!r}")
    scales = []
    for i, s in enumerate(d["scales"]):
        if not isinstance(s, Mapping):
            raise InfoError(f"{where}: scales[{i}]: not a JSON object")
        missing = [k for k in ("key", "size", "resolution", "chunk_sizes", "encoding") if s.get(k) is None]
        if missing:
            raise InfoError(f"{where}: scales[{i}]: missing required field(s) {', '.join(missing)}")
        fields = {k: s[k] for k in _SCALE_FIELDS if s.get(k) is not None}
        try:
            scales.append(ScaleInfo(**fields, extra={k: v for k, v in s.items() if k not in _SCALE_FIELDS}))
        except InfoError as e:
            raise InfoError(f"{where}: scales[{i}].{e}") from None
    try:
        return LayerInfo(type=d["type"], data_type=d["data_type"], num_channels=d["num_channels"],
                         scales=tuple(scales), mesh=d.get("mesh"), skeletons=d.get("skeletons"),
                         extra={k: v for k, v in d.items() if k not in _LAYER_FIELDS})
    except InfoError as e:
        raise InfoError(f"{where}: {e}") from None


def info_to_json(info: LayerInfo | Mapping[str, Any], *, sort_keys: bool = True, indent: int | None = 2) -> bytes:
    """Serialise (validating a dict first); the defaults give the bytes CloudVolume's commit_info writes."""
    d = (info if isinstance(info, LayerInfo) else parse_info(info)).to_dict()
    seps = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(d, sort_keys=sort_keys, indent=indent, separators=seps).encode("utf-8")


def info_from_json(data: bytes | str, path: str = "") -> LayerInfo:
    """Parse info JSON; malformed JSON raises :class:`InfoError` naming ``path``."""
    try:
        d = json.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise InfoError(f"invalid info {path or '<info>'}: malformed JSON: {e}") from None
    return parse_info(d, path)


# -- scale helpers ---------------------------------------------------------------------------------------------
def _closest_divisor(n: int, target: int = 64) -> int:
    """CloudVolume's new chunk edge: visit divisors as 1, n, 2, n/2, ...; the first strictly closer wins."""
    best, best_dist = n, n
    for i in range(1, math.isqrt(n) + 1):
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
    encoding = (encoding or full["encoding"]).lower()
    as_float = any(isinstance(r, (float, np.floating)) for r in full["resolution"])
    res = [float(r) * f if as_float else int(r) * f for r, f in zip(full["resolution"], factor)]
    offset = full.get("voxel_offset") or (0, 0, 0)
    # CloudVolume divides in float32, which loses exactness above 2**24 voxels; integer floor/ceil is exact.
    new: dict[str, Any] = {"encoding": encoding, "chunk_sizes": [[int(c) for c in chunk_size]], "resolution": res,
                           "voxel_offset": [int(o) // f for o, f in zip(offset, factor)],
                           "size": [-(-int(s) // f) for s, f in zip(full["size"], factor)]}
    if encoding_level is not None and encoding in _LEVEL_KEYS:
        new[_LEVEL_KEYS[encoding]] = int(encoding_level)
    if encoding == "compressed_segmentation":
        block = full.get("compressed_segmentation_block_size") or DEFAULT_CSEG_BLOCK_SIZE
        new["compressed_segmentation_block_size"] = list(block)
    new["key"] = "_".join(str(r) for r in res)
    return new


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


def reset_scales(info: LayerInfo) -> LayerInfo:
    """Keep only scale 0."""
    return dataclasses.replace(info, scales=info.scales[:1])


def scale_index(info: LayerInfo, mip: _Mip) -> int:
    """Index of ``mip``: an int (negatives count from the end, as in CloudVolume) or an exact resolution."""
    n = len(info.scales)
    if isinstance(mip, (int, np.integer)):
        if -n <= int(mip) < n:
            return int(mip) % n
        what = f"mip {int(mip)}"
    else:
        try:
            want = [] if isinstance(mip, str) else [float(x) for x in mip]
        except (TypeError, ValueError):
            want = []
        for i, s in enumerate(info.scales):
            if len(want) == 3 and [float(r) for r in s.resolution] == want:
                return i
        what = f"scale with resolution <{', '.join(map(str, mip))}>" if want else f"mip {mip!r}"
    avail = ", ".join(f"{i}: <{','.join(map(str, s.resolution))}>" for i, s in enumerate(info.scales))
    raise ScaleUnavailableError(f"{what} not found; available mips (resolution) are {avail}")


def unsupported_storage(info: LayerInfo, mip: int) -> str | None:
    """Why chunk bytes of scale ``mip`` do not live where unsharded chunk names say, or None.

    Reading such a scale as unsharded would find no chunks (zeros with ``fill_missing``) and a
    write would leave files no other reader sees, so callers refuse instead.
    """
    scale = info.scales[mip]
    if scale.sharding is not None:
        kind = scale.sharding.get("@type", "?") if isinstance(scale.sharding, Mapping) else "?"
        return (f"scale {scale.key!r} (mip {mip}) is sharded ({kind}); sharded layers are not supported "
                "by aiovolume yet")
    if "data_dir" in info.extra:
        # a graphene (PyChunkedGraph) info: its chunks live under data_dir, not beside the info
        return (f"the info names a separate data_dir {str(info.extra['data_dir'])[:200]!r} (a graphene "
                "layer); graphene layers are not supported by aiovolume yet")
    return None


def downsample_ratio(info: LayerInfo, mip: _Mip) -> np.ndarray:
    """``resolution[mip] / resolution[0]`` as float64, e.g. ``[2., 2., 1.]``."""
    res = info.scales[scale_index(info, mip)].resolution
    return np.asarray(res, dtype=np.float64) / np.asarray(info.scales[0].resolution, dtype=np.float64)


def bbox_to_mip(info: LayerInfo, bbox: Any, mip: _Mip, to_mip: _Mip) -> Any:
    """Convert a Bbox (or slices, as ``Bbox.create`` takes them) from ``mip`` to ``to_mip`` voxels.

    As CloudVolume: one scale at a time, multiply by ``res[m] / res[m±1]``, floor the min, ceil the max;
    voxel_offset plays no part (it only fills open slice ends).
    """
    from aiovolume.geometry import Bbox

    m, target = scale_index(info, mip), scale_index(info, to_mip)
    box = Bbox.create(bbox, info.scales[m].bounds)
    if box.ndim != 3:
        raise DimensionError(f"bbox_to_mip needs a 3-D bbox, got {box}")
    lo, hi = np.asarray(box.minpt, dtype=np.int64), np.asarray(box.maxpt, dtype=np.int64)
    step = 1 if target >= m else -1
    snap = lambda v: np.where(np.abs(v - np.rint(v)) <= 1e-9 + 1e-12 * np.abs(v), np.rint(v), v)  # noqa: E731
    while m != target:
        # CloudVolume uses a float32 ratio, which is off by a voxel for non-power-of-two ratios (4/12);
        # float64 plus snap is exact there and identical for power-of-two ratios.
        ratio = np.divide(info.scales[m].resolution, info.scales[m + step].resolution, dtype=np.float64)
        lo, hi = np.floor(snap(lo * ratio)).astype(np.int64), np.ceil(snap(hi * ratio)).astype(np.int64)
        m += step
    return Bbox(lo, hi)


def with_scale(info: LayerInfo, index: _Mip, **changes: Any) -> LayerInfo:
    """A copy of ``info`` with ``dataclasses.replace(scale, **changes)`` applied to one scale (validated)."""
    scales, i = list(info.scales), scale_index(info, index)
    scales[i] = dataclasses.replace(scales[i], **changes)
    return dataclasses.replace(info, scales=tuple(scales))


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
        data_type = np.dtype(data_type).name
    as_float = any(isinstance(r, (float, np.floating)) for r in resolution)
    res = [float(r) if as_float else int(r) for r in resolution]
    encoding = str(encoding).lower()
    scale0 = {"encoding": encoding, "chunk_sizes": [[int(c) for c in chunk_size]], "key": "_".join(map(str, res)),
              "resolution": res, "voxel_offset": [int(o) for o in voxel_offset], "size": [int(s) for s in volume_size]}
    info: dict[str, Any] = {"num_channels": int(num_channels), "type": layer_type,
                            "data_type": data_type.lower(), "scales": [scale0]}
    if redirect is not None:
        info["redirect"] = str(redirect)
    for m in range(1, max_mip + 1):
        new = _downsampled_scale(info["scales"][0], _factor3(np.asarray(factor) ** m), encoding, chunk_size, None)
        _place_scale(info["scales"], new)
    # As in CloudVolume, only scale 0 gets the requested block size (it is set after the loop above);
    # downsampled compressed_segmentation scales carry the [8, 8, 8] default.
    if encoding == "compressed_segmentation":
        info["scales"][0]["compressed_segmentation_block_size"] = [int(b) for b in compressed_segmentation_block_size]
    if mesh:
        info["mesh"] = mesh if isinstance(mesh, str) else "mesh"
    if skeletons:
        info["skeletons"] = skeletons if isinstance(skeletons, str) else "skeletons"
    parse_info(info, "create_new_info")
    return info
