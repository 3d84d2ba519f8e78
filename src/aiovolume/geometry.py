"""Vec, Bbox and slice normalisation: the geometry of voxel requests.

Boxes are half-open ``[minpt, maxpt)`` in global voxel coordinates. Names and behaviour follow
CloudVolume's ``Vec`` and ``Bbox`` so existing scripts keep working.

>>> Bbox((0, 0, 0), (64, 64, 16)).size()
Vec(64,64,16, dtype=int64)
"""

from __future__ import annotations

import math
import operator
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from aiovolume.exceptions import DimensionError, EmptyRequestException, IndexTypeError, OutOfBoundsError

__all__ = ["Vec", "Bbox", "SliceRequest", "normalize_slices", "coerce_key", "voxel_bbox", "is_bbox_like"]


_NUM = r"(-?\d+(?:\.\d+)?)"
_FILENAME_RE = re.compile(rf"{_NUM}-{_NUM}_{_NUM}-{_NUM}_{_NUM}-{_NUM}(?:\.gz|\.br|\.zstd)?$")


def _infer_dtype(dtype: np.dtype) -> np.dtype:
    # Floats keep their precision; every integer input becomes int64 so sums never wrap.
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.int64)


class Vec(np.ndarray):
    """A 1-D numpy vector with ``.x .y .z .w`` accessors.

    >>> Vec(1, 2, 3) + 1
    Vec(2,3,4, dtype=int64)
    """

    def __new__(cls, *args: Any, dtype: Any = None) -> Vec:
        # Vec(array) is accepted as well as Vec(*array).
        values = args[0] if len(args) == 1 and np.ndim(args[0]) == 1 else args
        arr = np.array(values, dtype=dtype)
        if arr.ndim != 1:
            raise DimensionError(f"Vec needs scalar components, got shape {arr.shape}")
        if dtype is None:
            if arr.dtype.kind not in "biuf":
                raise IndexTypeError(f"Vec components must be numbers, got {arr.dtype}")
            arr = arr.astype(_infer_dtype(arr.dtype) if arr.size else np.int64)
        return arr.view(cls)

    x = property(lambda self: self[0], lambda self, v: self.__setitem__(0, v))
    y = property(lambda self: self[1], lambda self, v: self.__setitem__(1, v))
    z = property(lambda self: self[2], lambda self, v: self.__setitem__(2, v))
    w = property(lambda self: self[3], lambda self, v: self.__setitem__(3, v))

    def clone(self) -> Vec:
        return Vec(self, dtype=self.dtype)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.tolist()))

    def __repr__(self) -> str:
        if self.ndim != 1:
            return np.asarray(self).__repr__()
        return f"Vec({','.join(str(v) for v in self.tolist())}, dtype={self.dtype})"


def _as_vec(value: Any) -> Vec:
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return np.array(value).view(Vec)  # keep an explicit dtype such as float32
    return Vec(value)


def _numeric(value: Any, what: str, ndim: int | None = None) -> np.ndarray:
    """``value`` as a numeric array, a scalar or ``ndim`` long when ``ndim`` is given."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise IndexTypeError(f"{what} must be numbers, got {value!r}")
    if ndim is not None and arr.shape not in ((), (ndim,)):
        raise DimensionError(f"{what} must be one number or {ndim} of them, got {value!r}")
    return arr


def _same_ndim(*boxes: Bbox) -> None:
    if len({b.ndim for b in boxes}) > 1:
        raise DimensionError(f"boxes differ in dimension: {list(boxes)}")


def _snap(values: np.ndarray, chunk: np.ndarray, offset: np.ndarray, how: str) -> np.ndarray:
    """Move ``values`` onto the grid ``offset + k * chunk`` (floor, ceil or round half to even)."""
    if all(np.asarray(v).dtype.kind in "iu" for v in (values, chunk, offset)):
        # Integer path: exact for any coordinate, unlike a float division.
        q, r = np.divmod(np.asarray(values, np.int64) - offset, chunk)
        if how == "ceil":
            q = q + (r != 0)
        elif how == "round":
            q = q + ((2 * r > chunk) | ((2 * r == chunk) & (q % 2 == 1)))
        return offset + q * chunk
    fn = {"floor": np.floor, "ceil": np.ceil, "round": np.round}[how]
    return offset + fn((np.asarray(values, np.float64) - offset) / chunk) * chunk


class Bbox:
    """A half-open box ``[minpt, maxpt)``; corners are sorted per axis like CloudVolume's.

    >>> Bbox((0, 0, 0), (64, 64, 64)).volume()
    262144
    """

    __slots__ = ("_minpt", "_maxpt")
    # Makes `vec + bbox` reach Bbox.__radd__ instead of numpy broadcasting over an object.
    __array_ufunc__ = None

    def __init__(self, a: Any, b: Any, dtype: Any = None) -> None:
        lo, hi = _numeric(a, "Bbox corners"), _numeric(b, "Bbox corners")
        if lo.ndim != 1 or lo.shape != hi.shape:
            raise DimensionError(f"Bbox corners must be 1-D and equal length: {a!r}, {b!r}")
        dtype = _infer_dtype(np.result_type(lo, hi)) if dtype is None else np.dtype(dtype)
        self._minpt = Vec(np.minimum(lo, hi), dtype=dtype)
        self._maxpt = Vec(np.maximum(lo, hi), dtype=dtype)

    @classmethod
    def _raw(cls, lo: Any, hi: Any) -> Bbox:
        """Build without sorting (callers guarantee lo <= hi)."""
        box = object.__new__(cls)
        box._minpt, box._maxpt = _as_vec(lo), _as_vec(hi)
        return box

    # Assigning a list or array to a corner stores a Vec, as CloudVolume's code expects.
    minpt = property(lambda self: self._minpt, lambda self, v: setattr(self, "_minpt", _as_vec(v)))
    maxpt = property(lambda self: self._maxpt, lambda self, v: setattr(self, "_maxpt", _as_vec(v)))

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(self._minpt, self._maxpt)

    @property
    def ndim(self) -> int:
        return len(self._minpt)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_vec(cls, vec: Any, dtype: Any = np.int64) -> Bbox:
        return cls(np.zeros(len(vec), dtype=np.int64), vec, dtype=dtype)

    @classmethod
    def from_list(cls, lst: Sequence[Any]) -> Bbox:
        """``[x0, y0, z0, x1, y1, z1]`` -> Bbox."""
        if len(lst) % 2:
            raise DimensionError(f"from_list needs an even number of values, got {len(lst)}")
        half = len(lst) // 2
        return cls(lst[:half], lst[half:])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bbox:
        return cls(data["minpt"], data["maxpt"], dtype=data.get("dtype"))

    @classmethod
    def from_filename(cls, filename: str, dtype: Any = np.int64) -> Bbox:
        """A chunk or file name ``x0-x1_y0-y1_z0-z1`` (any directory or ``.gz``-like suffix) -> Bbox."""
        match = _FILENAME_RE.search(os.path.basename(filename))
        if match is None:
            raise IndexTypeError(f"{filename!r} does not name a box (expected x0-x1_y0-y1_z0-z1)")
        x0, x1, y0, y1, z0, z1 = (float(v) if "." in v else int(v) for v in match.groups())
        return cls((x0, y0, z0), (x1, y1, z1), dtype=dtype)

    @classmethod
    def from_points(cls, points: Any) -> Bbox:
        """The int64 box of voxels holding every point of an (N, ndim) array."""
        arr = np.asarray(points)
        if arr.ndim != 2 or len(arr) == 0:
            raise DimensionError(f"from_points needs a non-empty (N, ndim) array, got {arr.shape}")
        return cls(np.floor(arr.min(axis=0)), np.floor(arr.max(axis=0)) + 1, dtype=np.int64)

    @classmethod
    def from_slices(cls, slices: Any, context: Bbox | None = None, bounded: bool = False) -> Bbox:
        """Slices (ints allowed) -> Bbox; open ends and ``...`` are filled from ``context``.

        Steps other than 1 are refused; a stop before its start gives an empty box. With
        ``bounded`` every start and stop must lie inside ``context`` (inclusive).
        """
        if isinstance(slices, Bbox):
            return slices.clone()
        items = list(slices) if isinstance(slices, (tuple, list)) else [slices]
        if context is None:
            lo = hi = [None] * len(items)
        else:
            if len(items) == context.ndim + 1 and not any(it is Ellipsis for it in items):
                items.pop()  # CloudVolume tolerates a trailing channel index here
            items = _expand(tuple(items), context.ndim)
            lo, hi = context.minpt.tolist(), context.maxpt.tolist()
        starts, stops = [], []
        for i, item in enumerate(items):
            start, stop, step = _axis(item, lo[i], hi[i], f"axis {i}")
            if step != 1:
                raise DimensionError(f"Bbox.from_slices supports only step 1, got {step}")
            if bounded and context is not None:
                for v in (start, stop):
                    if not lo[i] <= v <= hi[i]:
                        raise OutOfBoundsError(f"{v} on axis {i} lies outside {context}")
            starts.append(start)
            stops.append(max(start, stop))
        return cls._raw(starts, stops)

    @classmethod
    def create(
        cls, obj: Any, context: Bbox | None = None, bounded: bool = False, autocrop: bool = False,
        *, resolution: Any = None,
    ) -> Bbox:
        """Bbox from a Bbox (ours or ``cloudvolume.lib.Bbox``), slices, a 6-list, a dict, a Vec or
        a chunk name such as ``"0-64_0-64_0-16"``.

        A box in physical units (CloudVolume's ``unit="nm"`` etc.) needs ``resolution`` (nm per
        voxel) to become voxels; see :func:`voxel_bbox`. ``autocrop`` clips the box to
        ``context`` before ``bounded`` checks it, as in CloudVolume.
        """
        if isinstance(obj, Bbox):
            box = obj
        elif isinstance(obj, dict):
            box = cls.from_dict(obj)
        elif isinstance(obj, Vec):
            box = cls.from_vec(obj)
        elif isinstance(obj, (list, tuple)) and len(obj) == 6 and all(map(_is_int, obj)):
            box = cls.from_list(obj)
        elif isinstance(obj, (list, tuple, slice)) or obj is Ellipsis:
            box = cls.from_slices(obj, context, bounded and not autocrop)
        elif isinstance(obj, str):
            box = cls.from_filename(obj)
        elif is_bbox_like(obj):
            box = voxel_bbox(obj, resolution)
        else:
            raise IndexTypeError(f"{type(obj).__name__} cannot be converted to a Bbox")
        if autocrop and context is not None:
            box = Bbox.intersection(box, context)
        if bounded and context is not None and not context.contains_bbox(box):
            raise OutOfBoundsError(f"{box} is not inside the bounds {context}")
        return box

    # -- two-box operations --------------------------------------------------------------
    # Plain functions, so both CloudVolume's `Bbox.intersection(a, b)` and `a.intersection(b)` work.
    def intersection(self, other: Bbox) -> Bbox:
        """The overlap; disjoint boxes give a box of size 0 on some axis, never negative."""
        _same_ndim(self, other)
        lo = np.maximum(self.minpt, other.minpt)
        return Bbox._raw(lo, np.maximum(np.minimum(self.maxpt, other.maxpt), lo))

    def intersects(self, other: Bbox) -> bool:
        """Whether the two boxes share at least one voxel."""
        return not Bbox.intersection(self, other).empty()

    def union(self, *others: Bbox) -> Bbox:
        """The smallest box holding every box given."""
        boxes = (self, *others)
        _same_ndim(*boxes)
        lo = np.minimum.reduce([b.minpt for b in boxes])
        return Bbox._raw(lo, np.maximum.reduce([b.maxpt for b in boxes]))

    expand = union  # CloudVolume's name

    def clamp(self, limit: Bbox) -> Bbox:
        """This box with both corners clipped into ``limit``."""
        _same_ndim(self, limit)
        lo, hi = limit.minpt, limit.maxpt
        return Bbox._raw(np.clip(self.minpt, lo, hi), np.clip(self.maxpt, lo, hi))

    def contains(self, point: Any) -> bool:
        """Whether ``point`` lies in the half-open box."""
        p = np.asarray(point)
        if p.shape != (self.ndim,):
            raise DimensionError(f"point {point!r} does not have {self.ndim} coordinates")
        return bool(np.all(self.minpt <= p) and np.all(p < self.maxpt))

    def contains_bbox(self, other: Bbox) -> bool:
        """Whether ``other``'s corners lie within this box's corners."""
        _same_ndim(self, other)
        # plain numbers: numpy's per-call overhead was most of a small read's bounds check
        lo, hi = self._minpt.tolist(), self._maxpt.tolist()
        olo, ohi = other._minpt.tolist(), other._maxpt.tolist()
        return all(a <= b for a, b in zip(lo, olo)) and all(b <= a for a, b in zip(hi, ohi))

    # -- measures -----------------------------------------------------------------------
    def size(self) -> Vec:
        return _as_vec(self.maxpt - self.minpt)

    def size3(self) -> Vec:
        return _as_vec(self.maxpt[:3] - self.minpt[:3])

    def volume(self) -> int | float:
        # Python ints, so a huge box cannot overflow int64.
        return math.prod(self.size3().tolist())

    def center(self) -> Vec:
        return _as_vec((self.minpt + self.maxpt) / 2.0)

    def valid(self) -> bool:
        return bool(np.all(self.minpt <= self.maxpt))

    def empty(self) -> bool:
        """True when any side is <= 0: the box holds no voxel."""
        return bool(np.any(self.maxpt <= self.minpt))

    def subvoxel(self) -> bool:
        return not self.valid() or self.volume() < 1

    # -- conversion ---------------------------------------------------------------------
    def clone(self) -> Bbox:
        return Bbox._raw(self.minpt, self.maxpt)

    def astype(self, dtype: Any) -> Bbox:
        return Bbox._raw(self.minpt.astype(dtype), self.maxpt.astype(dtype))

    def to_slices(self) -> tuple[slice, ...]:
        return tuple(slice(int(a), int(b)) for a, b in zip(self.minpt, self.maxpt))

    def to_list(self) -> list[Any]:
        return self.minpt.tolist() + self.maxpt.tolist()

    def to_dict(self) -> dict[str, list[Any]]:
        return {"minpt": self.minpt.tolist(), "maxpt": self.maxpt.tolist()}

    # -- chunk alignment and resizing ---------------------------------------------------
    def _snapped(self, chunk_size: Any, offset: Any, lo_how: str, hi_how: str) -> Bbox:
        chunk, off = _numeric(chunk_size, "chunk_size", self.ndim), _numeric(offset, "offset", self.ndim)
        if np.any(chunk <= 0):
            raise DimensionError(f"chunk_size must be positive, got {chunk_size!r}")
        lo, hi = _snap(self.minpt, chunk, off, lo_how), _snap(self.maxpt, chunk, off, hi_how)
        if np.any(lo > hi):  # shrinking inside a single chunk: collapse to a point
            hi = lo.copy()
        return Bbox._raw(lo, hi).astype(self.dtype)

    def expand_to_chunk_size(self, chunk_size: Any, offset: Any = (0, 0, 0)) -> Bbox:
        """Grow outward to the nearest grid lines ``offset + k * chunk_size``."""
        return self._snapped(chunk_size, offset, "floor", "ceil")

    def shrink_to_chunk_size(self, chunk_size: Any, offset: Any = (0, 0, 0)) -> Bbox:
        """Shrink inward to grid lines; a box inside one cell collapses to its ceil'd minpt."""
        return self._snapped(chunk_size, offset, "ceil", "floor")

    def round_to_chunk_size(self, chunk_size: Any, offset: Any = (0, 0, 0)) -> Bbox:
        """Move each face to the nearest grid line (ties to the even line, as numpy rounds)."""
        return self._snapped(chunk_size, offset, "round", "round")

    def is_chunk_aligned(self, chunk_size: Any, offset: Any = (0, 0, 0)) -> bool:
        return self.expand_to_chunk_size(chunk_size, offset) == self

    def grow(self, amount: Any) -> Bbox:
        """Grow every face outward by ``amount``, in place (as CloudVolume); returns self."""
        step = _numeric(amount, "grow amount", self.ndim)
        lo, hi = self.minpt - step, self.maxpt + step
        if np.any(lo > hi):
            raise DimensionError(f"cannot shrink {self} by {amount!r}: its size would be negative")
        self._minpt, self._maxpt = _as_vec(lo), _as_vec(hi)
        return self

    def shrink(self, amount: Any) -> Bbox:
        """Move every face inward by a non-negative ``amount``, in place; returns self."""
        step = _numeric(amount, "shrink amount", self.ndim)
        if np.any(step < 0):
            raise DimensionError(f"shrink amount must be non-negative, got {amount!r}")
        return self.grow(-step)

    # -- operators ----------------------------------------------------------------------
    def __add__(self, other: Any) -> Bbox:
        """Translate by a vector or scalar (a Bbox adds corner to corner, as CloudVolume)."""
        if isinstance(other, Bbox):
            return Bbox(self.minpt + other.minpt, self.maxpt + other.maxpt)
        return Bbox._raw(self.minpt + np.asarray(other), self.maxpt + np.asarray(other))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Bbox:
        if isinstance(other, Bbox):
            return Bbox(self.minpt - other.minpt, self.maxpt - other.maxpt)
        return self + -np.asarray(other)

    def __mul__(self, factor: Any) -> Bbox:
        return Bbox(self.minpt * np.asarray(factor), self.maxpt * np.asarray(factor))

    __rmul__ = __mul__

    def __floordiv__(self, factor: Any) -> Bbox:
        """Scale down, flooring both corners; the result is int64 as in CloudVolume."""
        f = np.asarray(factor)
        return Bbox(self.minpt // f, self.maxpt // f, dtype=np.int64)

    def __truediv__(self, factor: Any) -> Bbox:
        return Bbox(self.minpt / np.asarray(factor), self.maxpt / np.asarray(factor))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bbox):
            return NotImplemented
        same = np.array_equal(self.minpt, other.minpt) and np.array_equal(self.maxpt, other.maxpt)
        return bool(same)

    def __hash__(self) -> int:
        return hash((tuple(self.minpt.tolist()), tuple(self.maxpt.tolist())))

    def __repr__(self) -> str:
        return f"Bbox({self.minpt.tolist()},{self.maxpt.tolist()}, dtype={self.dtype})"


# -- slice normalisation -----------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _index(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise IndexTypeError(f"{what} must be an integer, got the boolean {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        pass
    # CloudVolume takes float coordinates (it truncates them); whole ones name a voxel exactly
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise IndexTypeError(
        f"{what} must be an integer (or a whole float) or a slice of them, got {value!r} "
        f"({type(value).__name__})"
    )


def _is_index_item(item: Any) -> bool:
    """An item CloudVolume reads as one axis of a key: a slice, a number or ``...``."""
    return isinstance(item, (slice, int, float, np.integer, np.floating)) or item is Ellipsis


def is_bbox_like(obj: Any) -> bool:
    """A box from another library (``cloudvolume.lib.Bbox``): duck-typed on ``minpt``/``maxpt``."""
    return hasattr(obj, "minpt") and hasattr(obj, "maxpt")


# powers of ten of the units CloudVolume's Bbox may carry (its lib.UNIT_SCALES)
_UNIT_EXPONENTS = {"pm": -12, "nm": -9, "um": -6, "mm": -3, "m": 0, "km": 3, "Mm": 6, "Gm": 9, "Tm": 12}


def _exact(value: Any) -> Fraction:
    """A coordinate as an exact fraction; a float as the decimal it prints as (0.06, not 0.0599...)."""
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if not np.isfinite(value):
        raise IndexTypeError(f"bbox corners must be finite numbers, got {value!r}")
    return Fraction(str(value))


def voxel_bbox(box: Any, resolution: Any = None) -> Bbox:
    """``box`` (ours, or any object with ``minpt``/``maxpt`` and an optional ``unit``) in voxels.

    A box in physical units becomes voxels as CloudVolume's ``convert_units("vx", resolution)``
    does: every corner is floored to ``coordinate_nm // resolution_nm`` (int64). CloudVolume
    12.15 scales units other than nm wrongly (a box in um becomes all zeros, one in pm 10**6
    times too large); here every unit is converted exactly.

    >>> class CVBox: minpt, maxpt, unit = (0, 0, 0), (41, 42, 400), "nm"
    >>> voxel_bbox(CVBox(), resolution=(4, 4, 40))
    Bbox([0, 0, 0],[10, 10, 10], dtype=int64)
    """
    unit = getattr(box, "unit", "vx")
    if unit == "vx":
        return box if isinstance(box, Bbox) else Bbox(np.asarray(box.minpt), np.asarray(box.maxpt))
    if unit not in _UNIT_EXPONENTS:
        raise IndexTypeError(f"unknown bbox unit {unit!r}; use 'vx' or one of {sorted(_UNIT_EXPONENTS)}")
    if resolution is None:
        raise IndexTypeError(
            f"a bbox in {unit} needs the layer's resolution to become voxels; pass it to a volume's "
            "download/upload or vol[...], or convert it first (bbox.convert_units('vx', resolution))"
        )
    lo, hi, res = list(box.minpt), list(box.maxpt), list(np.asarray(resolution).reshape(-1))
    if not len(lo) == len(hi) == len(res):
        raise DimensionError(f"a {len(lo)}-D bbox cannot be converted with the resolution {resolution!r}")
    to_nm = Fraction(10) ** (_UNIT_EXPONENTS[unit] + 9)
    r = [_exact(v) for v in res]
    if any(v <= 0 for v in r):
        raise DimensionError(f"resolution must be positive, got {resolution!r}")
    corner = lambda pt: [math.floor(_exact(v) * to_nm / rv) for v, rv in zip(pt, r)]  # noqa: E731
    return Bbox(corner(lo), corner(hi), dtype=np.int64)


def coerce_key(key: Any, bounds: Bbox, resolution: Any) -> Any:
    """Any region CloudVolume's ``download``/``vol[...]`` takes, as a key :func:`normalize_slices` reads.

    Slices, numbers, ``...`` and tuples or lists of them pass through (steps and channels kept);
    a 6-list or 6-tuple of ints is ``[x0, y0, z0, x1, y1, z1]``; a box from ``cloudvolume.lib``
    becomes voxels with ``resolution`` (nm per voxel); anything else goes to ``Bbox.create``.
    """
    if isinstance(key, (list, tuple)) and len(key) == 6 and all(map(_is_int, key)):
        return Bbox.from_list(key)
    if isinstance(key, (tuple, slice, int, float, np.integer, np.floating)) or key is Ellipsis:
        return key
    if isinstance(key, list) and all(map(_is_index_item, key)):
        return key
    if is_bbox_like(key):
        return voxel_bbox(key, resolution).astype(np.int64)  # CloudVolume truncates float boxes
    return Bbox.create(key, context=bounds)


def _expand(key: Any, ndim: int) -> list[Any]:
    """Key -> exactly ``ndim`` items: one ``...`` expands, missing trailing items are ``:``.

    A list counts as a tuple when every item is a slice, a number or ``...`` (CloudVolume's
    ``vol[[slice(0, 5), ...]]``); any other list is one item (and refused), since a list of
    coordinate lists means point indexing.
    """
    if isinstance(key, tuple):
        items = list(key)
    elif isinstance(key, list) and all(map(_is_index_item, key)):
        items = list(key)
    else:
        items = [key]
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        raise DimensionError(f"at most one Ellipsis (...) may be used, got {key!r}")
    if ellipses:
        i = ellipses[0]
        items[i : i + 1] = [slice(None)] * max(ndim - len(items) + 1, 0)
    if len(items) > ndim:
        raise DimensionError(f"at most {ndim} indices allowed, got {key!r}")
    return items + [slice(None)] * (ndim - len(items))


def _axis(item: Any, lo: int | None, hi: int | None, what: str) -> tuple[int, int, int]:
    """One index -> (start, stop, step); numbers are coordinates, never counted from the end."""
    if not isinstance(item, slice):
        i = _index(item, f"{what} index")
        return i, i + 1, 1
    ends = []
    for value, fill, name in ((item.start, lo, "start"), (item.stop, hi, "stop")):
        if value is None and fill is None:
            raise DimensionError(f"{what} {name} is open but there are no bounds to fill it from")
        ends.append(fill if value is None else _index(value, f"{what} {name}"))
    step = 1 if item.step is None else _index(item.step, f"{what} step")
    if step <= 0:
        raise DimensionError(f"{what} step must be positive (negative steps are not supported), got {step}")
    return int(ends[0]), int(ends[1]), step  # type: ignore[arg-type]


@dataclass(frozen=True)
class SliceRequest:
    """What ``vol[key]`` asks for: a region of the mip, per-axis steps and channels."""

    bbox: Bbox  # int64, 3-D, global voxel coordinates of the mip
    steps: tuple[int, int, int]
    channels: slice  # start, stop, step all ints within range(num_channels)


def normalize_slices(key: Any, bounds: Bbox, num_channels: int) -> SliceRequest:
    """Turn a ``vol[...]`` key into a :class:`SliceRequest`, as CloudVolume reads it.

    >>> normalize_slices(np.s_[-4:4, 0, ::2], Bbox((-8, 0, 0), (8, 8, 8)), 1).bbox
    Bbox([-4, 0, 0],[4, 1, 8], dtype=int64)
    """
    if bounds.ndim != 3:
        raise DimensionError(f"bounds must be 3-D, got {bounds}")
    if num_channels < 1:
        raise DimensionError(f"num_channels must be >= 1, got {num_channels}")
    if isinstance(key, Bbox) and key.ndim == 3 and key.minpt.dtype.kind in "iu":
        # the common async call, download(Bbox): no slice parsing needed
        starts, stops = key.minpt.tolist(), key.maxpt.tolist()
        if any(b <= a for a, b in zip(starts, stops)):
            raise EmptyRequestException(f"the request selects no voxels: Bbox({starts},{stops})")
        return SliceRequest(
            bbox=Bbox._raw(np.array(starts, np.int64), np.array(stops, np.int64)),
            steps=(1, 1, 1),
            channels=slice(0, num_channels, 1),
        )
    if not isinstance(key, tuple) and (isinstance(key, Bbox) or is_bbox_like(key)):
        key = voxel_bbox(key)  # a box in physical units needs a resolution: refused here
        if key.ndim != 3:
            raise DimensionError(f"a Bbox key must be 3-D, got {key}")
        if np.any(np.mod(key.to_list(), 1) != 0):
            raise IndexTypeError(f"a Bbox key must hold whole voxel coordinates, got {key}")
        key = (*(slice(int(a), int(b)) for a, b in zip(key.minpt, key.maxpt)), slice(None))
    items = _expand(key, 4)
    lo, hi = bounds.minpt.tolist(), bounds.maxpt.tolist()
    spans = [_axis(items[i], int(lo[i]), int(hi[i]), "xyz"[i]) for i in range(3)]
    c0, c1, cstep = _axis(items[3], 0, num_channels, "channel")
    if not (0 <= c0 <= num_channels and 0 <= c1 <= num_channels):
        raise OutOfBoundsError(f"channel selection {c0}:{c1} lies outside range(0, {num_channels})")
    starts, stops = [s[0] for s in spans], [s[1] for s in spans]
    if any(b <= a for a, b in zip(starts, stops)):
        raise EmptyRequestException(f"the request selects no voxels: Bbox({starts},{stops})")
    if c1 <= c0:
        raise EmptyRequestException(f"the request selects no channels: {c0}:{c1}")
    return SliceRequest(
        bbox=Bbox._raw(np.array(starts, np.int64), np.array(stops, np.int64)),
        steps=(spans[0][2], spans[1][2], spans[2][2]),
        channels=slice(c0, c1, cstep),
    )
