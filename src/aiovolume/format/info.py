"""The Precomputed volume ``info`` file as frozen dataclasses (no I/O, no async).

``parse_info(d).to_dict() == d`` except for these normalisations: ``data_type``/``encoding`` lower-cased, missing
``voxel_offset`` -> ``[0, 0, 0]``, ``compressed_segmentation`` without a block size -> ``[8, 8, 8]``, ``null``
``sharding``/``mesh``/``skeletons`` dropped. Resolutions keep their JSON number type (``4`` vs ``4.0``) because
CloudVolume derives keys and the int/float type of new scales from it; nested lists in extras become tuples.
Anything malformed raises :class:`InfoError` naming the field; the checks and their bounds (coordinates
within ±2**62, at most 2**63-1 chunks, 1..2**16 channels, extras nested <= 100 levels) are in
:mod:`.info_validate`. ``create_new_info`` and ``add_scale`` live in :mod:`.info_create`, re-exported here.

>>> info = parse_info(create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [512, 512, 64]))
>>> info.scales[0].key, info.scales[0].grid_shape
('4_4_40', (8, 8, 1))
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aiovolume.exceptions import AiovolumeError, DimensionError, InfoError, OutOfBoundsError, ScaleUnavailableError
from aiovolume.format import info_validate as check
from aiovolume.format.info_validate import FrozenDict, freeze, show, thaw

DATA_TYPES = frozenset("uint8 int8 uint16 int16 uint32 int32 uint64 int64 float16 float32 float64".split())
ENCODINGS = frozenset("raw jpeg png jxl compressed_segmentation compresso fpzip kempressed zfpc crackle".split())
DEFAULT_CSEG_BLOCK_SIZE = (8, 8, 8)
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


def _extra(extra: Any, reserved: Sequence[str], where: str) -> FrozenDict:
    if not isinstance(extra, Mapping):
        raise InfoError(f"{where} extra: expected a mapping, got {show(extra)}")
    clash = [k for k in extra if k in reserved]
    if clash:
        raise InfoError(f"{where} extra: must not hold the fields {clash} (they are attributes)")
    return freeze(extra, "")  # type: ignore[no-any-return]


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
    extra: Mapping[str, Any] = dataclasses.field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        put("key", check.relative_path(self.key, "key"))
        size, offset, chunks = check.geometry(self.size, self.voxel_offset, self.chunk_sizes)
        put("size", size)
        put("voxel_offset", offset)
        put("chunk_sizes", chunks)
        put("resolution", check.resolution(self.resolution))
        if not isinstance(self.encoding, str) or self.encoding.lower() not in ENCODINGS:
            raise InfoError(f"encoding: unknown encoding {show(self.encoding)}; known: {', '.join(sorted(ENCODINGS))}")
        put("encoding", self.encoding.lower())
        block = self.compressed_segmentation_block_size
        if block is None and self.encoding == "compressed_segmentation":
            block = DEFAULT_CSEG_BLOCK_SIZE  # CloudVolume fills in the same default when it is absent
        if block is not None:
            put("compressed_segmentation_block_size", check.cseg_block(block))
        if self.sharding is not None:
            if not isinstance(self.sharding, Mapping):
                raise InfoError(f"sharding: expected an object, got {show(self.sharding)}")
            put("sharding", freeze(self.sharding, "sharding"))
            check.sharding(self.sharding, size, chunks)
        put("extra", _extra(self.extra, _SCALE_FIELDS, "scale"))
        check.scale_extras(self.extra)

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
        return check.grid(self.size, self.chunk_size)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in CloudVolume's key order, extras restored, never ``"sharding": null``."""
        d: dict[str, Any] = {"encoding": self.encoding, "chunk_sizes": [list(c) for c in self.chunk_sizes],
                             "key": self.key, "resolution": list(self.resolution),
                             "voxel_offset": list(self.voxel_offset), "size": list(self.size)}
        if self.compressed_segmentation_block_size is not None:
            d["compressed_segmentation_block_size"] = list(self.compressed_segmentation_block_size)
        if self.sharding is not None:
            d["sharding"] = thaw(self.sharding)
        d.update(thaw(self.extra))
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
    extra: Mapping[str, Any] = dataclasses.field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if not isinstance(self.type, str) or not self.type:
            raise InfoError(f"type: expected a layer type string such as 'image', got {show(self.type)}")
        dt = self.data_type.lower() if isinstance(self.data_type, str) else None
        if dt not in DATA_TYPES:
            raise InfoError(f"data_type: unsupported {show(self.data_type)}; expected one of {', '.join(sorted(DATA_TYPES))}")
        put("data_type", dt)
        put("num_channels", check.num_channels(self.num_channels))
        if not isinstance(self.scales, (list, tuple)) or not self.scales or \
                not all(isinstance(s, ScaleInfo) for s in self.scales):
            raise InfoError("scales: expected a non-empty sequence of ScaleInfo (parse_info takes dicts)")
        put("scales", tuple(self.scales))
        for name, v in (("mesh", self.mesh), ("skeletons", self.skeletons)):
            if v is not None:  # "" is tolerated, as Neuroglancer does
                check.relative_path(v, name, allow_empty=True)
        put("extra", _extra(self.extra, _LAYER_FIELDS, "layer"))
        check.layer_extras(self.extra)
        for i, scale in enumerate(self.scales):
            check_encoding(scale.encoding, self.data_type, self.num_channels, f"scales[{i}]")

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of ``data_type``."""
        return np.dtype(self.data_type)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``@type`` first, then CloudVolume's order, extras restored."""
        d: dict[str, Any] = {"@type": thaw(self.extra["@type"])} if "@type" in self.extra else {}
        d.update(num_channels=self.num_channels, type=self.type, data_type=self.data_type,
                 scales=[s.to_dict() for s in self.scales])
        d.update({k: thaw(v) for k, v in self.extra.items() if k != "@type"})
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
        raise InfoError(f"{where}: scales: expected a non-empty list, got {show(d['scales'])}")
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
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise InfoError(f"invalid info {path or '<info>'}: expected JSON bytes or str, got {type(data).__name__}")
    try:
        d = json.loads(bytes(data) if isinstance(data, memoryview) else data)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, ints past Python's digit limit
        raise InfoError(f"invalid info {path or '<info>'}: malformed JSON: {e}") from None
    except RecursionError:
        raise InfoError(f"invalid info {path or '<info>'}: malformed JSON: nested too deeply "
                        f"(extras may nest {check.MAX_DEPTH} levels)") from None
    return parse_info(d, path)


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
    """Why chunk bytes of scale ``mip`` live where no source of ours looks, or None.

    Reading such a scale would find no chunks (zeros with ``fill_missing``) and a write would
    leave files no other reader sees, so callers refuse instead. (Sharded scales have their
    own source.)
    """
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
    try:
        box = Bbox.create(bbox, info.scales[m].bounds)
    except (TypeError, ValueError) as e:
        if isinstance(e, AiovolumeError):
            raise
        raise DimensionError(f"bbox_to_mip: {show(bbox)} is not a Bbox or slices: {e}") from None
    if box.ndim != 3:
        raise DimensionError(f"bbox_to_mip needs a 3-D bbox, got {box}")
    lo, hi = np.asarray(box.minpt, dtype=np.int64), np.asarray(box.maxpt, dtype=np.int64)
    step = 1 if target >= m else -1
    snap = lambda v: np.where(np.abs(v - np.rint(v)) <= 1e-9 + 1e-12 * np.abs(v), np.rint(v), v)  # noqa: E731
    while m != target:
        # CloudVolume uses a float32 ratio, which is off by a voxel for non-power-of-two ratios (4/12);
        # float64 plus snap is exact there and identical for power-of-two ratios.
        ratio = np.divide(info.scales[m].resolution, info.scales[m + step].resolution, dtype=np.float64)
        with np.errstate(all="ignore"):  # a result beyond int64 is refused below, not warned about
            flo, fhi = np.floor(snap(lo * ratio)), np.ceil(snap(hi * ratio))
        if not (np.all(np.abs(flo) < 2.0**63) and np.all(np.abs(fhi) < 2.0**63)):
            raise OutOfBoundsError(f"bbox_to_mip: {box} at mip {scale_index(info, mip)} lies beyond int64 "
                                   f"voxel coordinates at mip {m + step}")
        lo, hi = flo.astype(np.int64), fhi.astype(np.int64)
        m += step
    return Bbox(lo, hi)


def with_scale(info: LayerInfo, index: _Mip, **changes: Any) -> LayerInfo:
    """A copy of ``info`` with ``dataclasses.replace(scale, **changes)`` applied to one scale (validated)."""
    scales, i = list(info.scales), scale_index(info, index)
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(ScaleInfo)})
    if unknown:
        raise InfoError(f"with_scale: {', '.join(unknown)} are not scale fields (extras go in extra=...)")
    scales[i] = dataclasses.replace(scales[i], **changes)
    return dataclasses.replace(info, scales=tuple(scales))


# creation and add_scale live in info_create (imported last: it builds on everything above)
from aiovolume.format.info_create import add_scale, create_new_info  # noqa: E402
