"""Type and bound checks for the info JSON, shared by the dataclasses in :mod:`.info`.

Every check raises :class:`InfoError` whose message starts with the field it is about. The bounds
exist so that nothing parsed from an info can make later arithmetic overflow or make planning a
small region cost work proportional to the volume:

* coordinates (``voxel_offset``, ``voxel_offset + size``, chunk edges) lie within ``±2**62``:
  TensorStore's finite index range, which leaves int64 headroom for ``start + chunk`` and
  ``max - min``;
* a chunk grid has at most ``2**63 - 1`` chunks (a chunk count or index always fits int64), and a
  sharded one needs at most 64 Morton bits (Neuroglancer, TensorStore);
* ``num_channels`` is at most ``2**16``: far above any layer we know of (RGB, affinities, embeddings
  of a few hundred channels), while one voxel of every channel still fits in half a MiB;
* resolutions are finite and within ``1e-150 .. 1e150``, so ratios between scales stay finite;
* extras nest at most 100 levels and hold only JSON values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from aiovolume.exceptions import InfoError

COORD_LIMIT = 2**62
MAX_CHUNKS = 2**63 - 1
MAX_CHANNELS = 2**16
MAX_DEPTH = 100
RESOLUTION_RANGE = (1e-150, 1e150)
# a compressed_segmentation block's voxel count: its index words are addressed with 32-bit offsets
MAX_CSEG_BLOCK_VOXELS = 2**32
SHARDED_TYPE = "neuroglancer_uint64_sharded_v1"
_DRIVE = re.compile(r"^[A-Za-z]:(/|$)")
# per-scale extras aiovolume reads, with the integer range the writers (TensorStore, CloudVolume) use
_SCALE_INTS = {"jpeg_quality": (0, 100), "png_level": (0, 9), "fpzip_precision": (0, 64)}


def show(value: Any, limit: int = 120) -> str:
    """``repr`` cut short, so a huge or deep value cannot flood a message."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


class FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only dict: JSON-serialisable, hashable and picklable.

    Mutation raises ``TypeError``, as for ``tuple`` and ``types.MappingProxyType``.
    """

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("info mappings are read-only; build a new info with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))


def freeze(value: Any, field: str, depth: int = 0) -> Any:
    """A JSON value with mappings made :class:`FrozenDict` and lists tuples; anything else is refused."""
    if depth > MAX_DEPTH:
        raise InfoError(f"{show(field, 60)}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
        item = value.item()
        if item is None or isinstance(item, (bool, int, float, str)):
            return item
    elif isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not (k is None or isinstance(k, (str, int, float))):  # what json.dumps takes as keys
                raise InfoError(f"{field or 'extra'}: object keys must be strings, got {show(k)}")
            out[str(k)] = freeze(v, f"{field}.{k}" if field else str(k), depth + 1)
        return FrozenDict(out)
    elif isinstance(value, (list, tuple, np.ndarray)):
        return tuple(freeze(x, f"{field}[{i}]", depth + 1) for i, x in enumerate(value))
    raise InfoError(f"{field}: {type(value).__name__} is not a JSON value ({show(value)})")


def thaw(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    return [thaw(x) for x in v] if isinstance(v, (list, tuple)) else v


def scalar(x: Any, field: str, integer: bool) -> int | float:
    """One JSON number; ints stay int, floats stay float (integral floats become int if ``integer``)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, (float, np.floating)) and math.isfinite(x) and not (integer and not float(x).is_integer()):
        return int(x) if integer else float(x)
    raise InfoError(f"{field}: expected {'integers' if integer else 'finite numbers'}, got {show(x)}")


def integer_in(x: Any, field: str, lo: int, hi: int) -> int:
    """An integer (not a bool) within ``[lo, hi]``."""
    try:
        v = scalar(x, field, True)
    except InfoError:
        v = None
    if v is None or not lo <= v <= hi:
        raise InfoError(f"{field}: expected an integer in {lo}..{hi}, got {show(x)}")
    return int(v)


def vec3(value: Any, field: str, *, integer: bool = True, minimum: int | None = None,
         bound: int | float | None = None) -> tuple[Any, ...]:
    """Validate ``[x, y, z]``; ``minimum=0`` requires ``>= 0``, ``minimum=1`` requires ``> 0``;
    ``bound`` caps the absolute value."""
    # np.ndim is not used on lists: a ragged one ([[], 50, 20]) makes numpy raise ValueError
    if not isinstance(value, (list, tuple, np.ndarray)) or getattr(value, "ndim", 1) != 1 or len(value) != 3:
        n = len(value) if isinstance(value, (list, tuple, np.ndarray)) else "no"
        raise InfoError(f"{field}: mismatched dimensions: expected 3 numbers [x, y, z], got {n} ({show(value)})")
    out = tuple(scalar(x, field, integer) for x in value)
    if minimum is not None and not all(x >= minimum if integer else x > 0 for x in out):
        raise InfoError(f"{field}: every value must be {'>= 0' if minimum == 0 else '> 0'}, got {show(list(out))}")
    if bound is not None and not all(abs(x) <= bound for x in out):
        raise InfoError(f"{field}: every value must lie within ±{_bound_text(bound)}, got {show(list(out))}")
    return out


def _bound_text(bound: int | float) -> str:
    return f"2**{bound.bit_length() - 1}" if isinstance(bound, int) and bound & (bound - 1) == 0 else f"{bound:g}"


def relative_path(value: Any, field: str, *, allow_empty: bool = False) -> str:
    """A ``/``-separated path relative to the info's directory (``..`` allowed, as the spec says)."""
    if not isinstance(value, str):
        raise InfoError(f"{field}: expected a string (a path relative to the info), got {show(value)}")
    if not value and not allow_empty:
        raise InfoError(f"{field}: must not be empty")
    if "\x00" in value:
        raise InfoError(f"{field}: {show(value)} contains a NUL byte")
    if value.startswith("/") or _DRIVE.match(value):
        raise InfoError(f"{field}: {show(value)} is absolute; it must be relative to the info's directory")
    if "\\" in value:
        # a Windows path: a separator on one OS, a plain character on another
        raise InfoError(f"{field}: {show(value)} contains a backslash; paths in an info are '/'-separated")
    return value


def resolution(value: Any) -> tuple[Any, ...]:
    res = vec3(value, "resolution", integer=False, minimum=1)
    lo, hi = RESOLUTION_RANGE
    if not all(lo <= r <= hi for r in res):
        raise InfoError(f"resolution: every value must lie within {lo:g}..{hi:g}, got {show(list(res))}")
    return res


def grid(size: tuple[int, ...], chunk: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-(-s // c) for s, c in zip(size, chunk))


def geometry(size: Any, offset: Any, chunk_sizes: Any) -> tuple[Any, Any, tuple[tuple[int, ...], ...]]:
    """``(size, voxel_offset, chunk_sizes)`` checked against the coordinate and chunk-count bounds."""
    size = vec3(size, "size", minimum=0, bound=COORD_LIMIT)
    offset = vec3(offset, "voxel_offset", bound=COORD_LIMIT)
    if any(o + s > COORD_LIMIT for o, s in zip(offset, size)):
        raise InfoError(f"size: voxel_offset {list(offset)} + size {list(size)} exceeds 2**62")
    if not isinstance(chunk_sizes, (list, tuple, np.ndarray)) or len(chunk_sizes) == 0:
        raise InfoError(f"chunk_sizes: expected a non-empty list of [x, y, z], got {show(chunk_sizes)}")
    chunks = []
    for i, c in enumerate(chunk_sizes):
        c = vec3(c, f"chunk_sizes[{i}]", minimum=1, bound=COORD_LIMIT)
        count = math.prod(grid(size, c))
        if count > MAX_CHUNKS:
            raise InfoError(f"chunk_sizes[{i}]: {list(c)} cuts size {list(size)} into {count} chunks, "
                            f"more than 2**63 - 1")
        chunks.append(c)
    return size, offset, tuple(chunks)


def cseg_block(value: Any) -> tuple[Any, ...]:
    block = vec3(value, "compressed_segmentation_block_size", minimum=1)
    if math.prod(block) > MAX_CSEG_BLOCK_VOXELS:
        raise InfoError(f"compressed_segmentation_block_size: {list(block)} has more than 2**32 voxels per block")
    return block


def sharding(spec: Mapping[str, Any], size: tuple[int, ...], chunk_sizes: tuple[tuple[int, ...], ...]) -> None:
    """The ``sharding`` object (precomputed-format.md §5.1) and the Morton-code limit on the grid."""
    kind = spec.get("@type")
    if kind != SHARDED_TYPE:
        raise InfoError(f"sharding.@type: expected {SHARDED_TYPE!r}, got {show(kind)}")
    bits = {name: integer_in(spec.get(name), f"sharding.{name}", 0, 64)
            for name in ("preshift_bits", "minishard_bits", "shard_bits")}
    if bits["minishard_bits"] + bits["shard_bits"] > 64:
        raise InfoError(f"sharding: minishard_bits + shard_bits must be <= 64, got "
                        f"{bits['minishard_bits']} + {bits['shard_bits']}")
    if spec.get("hash") not in ("identity", "murmurhash3_x86_128"):
        raise InfoError(f"sharding.hash: expected 'identity' or 'murmurhash3_x86_128', got {show(spec.get('hash'))}")
    for name in ("minishard_index_encoding", "data_encoding"):
        if spec.get(name) not in (None, "raw", "gzip"):
            raise InfoError(f"sharding.{name}: expected 'raw' or 'gzip', got {show(spec.get(name))}")
    if len(chunk_sizes) != 1:
        raise InfoError(f"chunk_sizes: a sharded scale has exactly one chunk size, got {len(chunk_sizes)}")
    morton = sum((g - 1).bit_length() for g in grid(size, chunk_sizes[0]))
    if morton > 64:
        raise InfoError(f"sharding: the chunk grid of size {list(size)} / chunk {list(chunk_sizes[0])} needs "
                        f"{morton} Morton bits; sharded chunk ids have 64")


def scale_extras(extra: Mapping[str, Any]) -> None:
    """The per-scale extras aiovolume reads: integer writer hints and Neuroglancer's ``hidden``."""
    for name, (lo, hi) in _SCALE_INTS.items():
        if extra.get(name) is not None:
            integer_in(extra[name], name, lo, hi)
    if extra.get("hidden") is not None and not isinstance(extra["hidden"], bool):
        raise InfoError(f"hidden: expected true or false, got {show(extra['hidden'])}")


def layer_extras(extra: Mapping[str, Any]) -> None:
    """``@type`` (if given, a volume's), ``redirect`` (a URL string), ``segment_properties`` (a path)."""
    kind = extra.get("@type")
    if kind is not None and kind != "neuroglancer_multiscale_volume":
        raise InfoError(f"@type: {show(kind)} is not a volume info (expected 'neuroglancer_multiscale_volume')")
    if extra.get("redirect") is not None:
        if not isinstance(extra["redirect"], str) or "\x00" in extra["redirect"]:
            raise InfoError(f"redirect: expected a URL string, got {show(extra['redirect'])}")
    if extra.get("segment_properties") is not None:
        relative_path(extra["segment_properties"], "segment_properties")


def num_channels(value: Any) -> int:
    return integer_in(value, "num_channels", 1, MAX_CHANNELS)
