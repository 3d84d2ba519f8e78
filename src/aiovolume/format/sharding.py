"""The ``neuroglancer_uint64_sharded_v1`` layout (precomputed-format.md §5): pure byte layouts, no I/O.

A sharded scale stores chunk ``g`` of its grid under the uint64 key ``morton_code(g)``; a key's
hash picks a shard file and a minishard in it. A shard file is a fixed-size shard index (one
``[start, end)`` pair per minishard, relative to the end of the index), then chunk data and
minishard indexes in any order; a minishard index lists (key, offset, size) delta-coded.

>>> spec = ShardingSpec(preshift_bits=0, hash="identity", minishard_bits=1, shard_bits=0)
>>> blob = encode_shard(spec, {1: b"AAAA", 2: b"BB", 3: b"CCC"})  # raw data_encoding
>>> index = decode_shard_index(spec, blob[:spec.shard_index_bytes])
>>> start, end = index[1]
>>> keys, starts, sizes = decode_minishard_index(spec, blob[start:end])
>>> [blob[s:s + n] for s, n in zip(starts, sizes)]
[b'AAAA', b'CCC']
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from aiovolume.exceptions import DecodingError, InfoError, SpecViolation
from aiovolume.format.info_validate import SHARDED_TYPE

_HASHES = ("identity", "murmurhash3_x86_128")
_ENCODINGS = ("raw", "gzip")
_U64 = np.dtype("<u8")

__all__ = [
    "SHARDED_TYPE", "ShardingSpec", "morton_codes", "morton_bit_axes", "shard_shape",
    "decode_shard_index", "decode_minishard_index", "encode_shard", "shard_layout", "ShardLayout",
    "compute_shard_params",
]


@dataclass(frozen=True)
class ShardingSpec:
    """A scale's ``sharding`` object, validated. ``from_json`` accepts what Neuroglancer accepts."""

    preshift_bits: int
    hash: str
    minishard_bits: int
    shard_bits: int
    minishard_index_encoding: str = "raw"
    data_encoding: str = "raw"

    def __post_init__(self) -> None:
        for name in ("preshift_bits", "minishard_bits", "shard_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                raise InfoError(f"sharding.{name}: expected an integer in [0, 64], got {value!r}")
        if self.minishard_bits + self.shard_bits > 64:
            raise InfoError(f"sharding: minishard_bits + shard_bits must be <= 64, got "
                            f"{self.minishard_bits} + {self.shard_bits}")
        if self.hash not in _HASHES:
            raise InfoError(f"sharding.hash: expected one of {_HASHES}, got {self.hash!r}")
        for name in ("minishard_index_encoding", "data_encoding"):
            if getattr(self, name) not in _ENCODINGS:
                raise InfoError(f"sharding.{name}: expected 'raw' or 'gzip', got {getattr(self, name)!r}")

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> "ShardingSpec":
        if not isinstance(spec, Mapping) or spec.get("@type") != SHARDED_TYPE:
            raise InfoError(f"sharding.@type: expected {SHARDED_TYPE!r}, got {spec!r:.200}")
        return cls(
            preshift_bits=spec.get("preshift_bits"), hash=spec.get("hash"),  # type: ignore[arg-type]
            minishard_bits=spec.get("minishard_bits"), shard_bits=spec.get("shard_bits"),  # type: ignore[arg-type]
            minishard_index_encoding=spec.get("minishard_index_encoding", "raw"),
            data_encoding=spec.get("data_encoding", "raw"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "@type": SHARDED_TYPE, "preshift_bits": self.preshift_bits, "hash": self.hash,
            "minishard_bits": self.minishard_bits, "shard_bits": self.shard_bits,
            "minishard_index_encoding": self.minishard_index_encoding, "data_encoding": self.data_encoding,
        }

    @property
    def shard_index_bytes(self) -> int:
        return 16 << self.minishard_bits

    # -- locating keys ---------------------------------------------------------------------
    def hash_keys(self, keys: Any) -> np.ndarray:
        """``hash(key >> preshift_bits)`` for an array of uint64 keys."""
        shifted = _shift(np.asarray(keys, dtype=np.uint64), self.preshift_bits)
        if self.hash == "identity":
            return shifted
        import mmh3  # the reference MurmurHash3 (seed 0, x86 128-bit, low 64 bits)

        return np.fromiter(
            (mmh3.hash64(int(k).to_bytes(8, "little"), 0, False, False)[0] for k in shifted.tolist()),
            dtype=np.uint64, count=shifted.size,
        ).reshape(shifted.shape)

    def locate(self, keys: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(shard numbers, minishard numbers)`` of uint64 keys."""
        h = self.hash_keys(keys)
        minishard = h & np.uint64(_mask(self.minishard_bits))
        shard = _shift(h, self.minishard_bits) & np.uint64(_mask(self.shard_bits))
        return shard, minishard

    def shard_name(self, shard: int) -> str:
        """``<hex>.shard``, zero-padded to ``ceil(shard_bits / 4)`` digits (``0.shard`` for 0 bits)."""
        return f"{int(shard):0{max(1, -(-self.shard_bits // 4))}x}.shard"

    # -- second-stage encodings -------------------------------------------------------------
    def encode_data(self, data: bytes) -> bytes:
        return _gzip(data) if self.data_encoding == "gzip" else data

    def decode_data(self, data: bytes, what: str = "chunk") -> bytes:
        return _gunzip(data, what) if self.data_encoding == "gzip" else data


def _mask(bits: int) -> int:
    return (1 << bits) - 1


def _shift(values: np.ndarray, bits: int) -> np.ndarray:
    # numpy's >> by 64 is undefined (x86 masks the count): a 64-bit shift empties the key
    return np.zeros_like(values) if bits >= 64 else values >> np.uint64(bits)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _gunzip(data: bytes, what: str) -> bytes:
    try:
        return zlib.decompress(data, wbits=47)  # gzip or zlib header, as readers accept
    except zlib.error as exc:
        raise DecodingError(f"{what}: corrupt gzip data ({exc})") from None


# -- compressed Morton codes (§5.5) ----------------------------------------------------------
def morton_bit_axes(grid_size: Sequence[int]) -> list[int]:
    """The axis (0, 1, 2) of each bit of the compressed Morton code, lowest bit first.

    Bit ``i`` of axis ``d`` is used while ``2**i < grid_size[d]``; axes of size 1 add no bits.
    """
    sizes = [int(s) for s in grid_size]
    if len(sizes) != 3 or min(sizes) < 1:
        raise SpecViolation(f"grid size must be three positive integers, got {list(grid_size)}")
    axes = [d for i in range(max(sizes).bit_length()) for d in range(3) if (sizes[d] - 1) >> i]
    if len(axes) > 64:
        raise SpecViolation(f"a grid of {sizes} chunks needs {len(axes)} Morton bits; at most 64 fit a key")
    return axes


def morton_codes(positions: Any, grid_size: Sequence[int]) -> np.ndarray:
    """Compressed Morton codes (uint64) of grid positions, shape ``(n, 3)`` or ``(3,)``."""
    pos = np.asarray(positions, dtype=np.uint64)
    flat = pos.reshape(-1, 3)
    codes = np.zeros(flat.shape[0], dtype=np.uint64)
    used = [0, 0, 0]  # bits of each axis consumed so far
    for j, d in enumerate(morton_bit_axes(grid_size)):
        codes |= ((flat[:, d] >> np.uint64(used[d])) & np.uint64(1)) << np.uint64(j)
        used[d] += 1
    return codes.reshape(pos.shape[:-1])


def shard_shape(spec: ShardingSpec, grid_size: Sequence[int]) -> tuple[int, int, int] | None:
    """Chunks per axis of the cuboid one shard covers, or None when shards are not cuboids.

    With the identity hash, a shard holds the keys that agree above bit ``preshift + minishard``:
    the low Morton bits span a box of ``2**(bits of axis d)`` chunks (clipped at the grid's edge).
    """
    if spec.hash != "identity":
        return None
    axes = morton_bit_axes(grid_size)
    low = axes[: spec.preshift_bits + spec.minishard_bits]
    if len(axes) > spec.preshift_bits + spec.minishard_bits + spec.shard_bits:
        return None  # high bits dropped by the shard mask: distant chunks share a shard
    return tuple(1 << low.count(d) for d in range(3))  # type: ignore[return-value]


# -- indexes ---------------------------------------------------------------------------------
def decode_shard_index(spec: ShardingSpec, data: bytes, what: str = "shard index") -> np.ndarray:
    """The shard index as ``(2**minishard_bits, 2)`` uint64 absolute ``[start, end)`` file offsets."""
    if len(data) != spec.shard_index_bytes:
        raise DecodingError(f"{what}: expected a {spec.shard_index_bytes}-byte index, got {len(data)} bytes")
    index = np.frombuffer(data, dtype=_U64).reshape(-1, 2).astype(np.uint64)
    if np.any(index[:, 0] > index[:, 1]):
        raise DecodingError(f"{what}: a minishard ends before it starts")
    return index + np.uint64(spec.shard_index_bytes)


def decode_minishard_index(spec: ShardingSpec, data: bytes, what: str = "minishard index") -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """``(keys, starts, sizes)``: uint64 keys and absolute file offsets of their stored bytes."""
    if spec.minishard_index_encoding == "gzip":
        data = _gunzip(data, what)
    if len(data) % 24:
        raise DecodingError(f"{what}: {len(data)} bytes is not a multiple of 24")
    rows = np.frombuffer(data, dtype=_U64).reshape(3, -1).astype(np.uint64)
    keys = np.cumsum(rows[0], dtype=np.uint64)
    sizes = rows[2]
    # start_i = E + sum(offset deltas up to i) + sum(sizes before i)
    starts = np.cumsum(rows[1], dtype=np.uint64) + np.uint64(spec.shard_index_bytes)
    starts[1:] += np.cumsum(sizes[:-1], dtype=np.uint64)
    return keys, starts, sizes


@dataclass(frozen=True)
class ShardLayout:
    """Where each key's bytes go in a shard file, decided from sizes alone, so a writer can put
    every chunk straight into its place (one copy). The file is ``head``, then for each key of
    ``keys`` its prefix and data (the data at ``offsets[i]`` from the start of the file), then
    ``tail`` (the minishard indexes); ``size`` bytes in all."""

    keys: list[int]
    offsets: list[int]
    head: bytes
    tail: bytes
    size: int


def shard_layout(spec: ShardingSpec, sizes: Mapping[int, int],
                 prefix_sizes: Mapping[int, int] | None = None) -> ShardLayout:
    """The layout of a shard holding ``{key: stored size}`` (see :func:`encode_shard`)."""
    keys = np.fromiter(sizes.keys(), dtype=np.uint64, count=len(sizes))
    _, minishards = spec.locate(keys)
    order = np.lexsort((keys, minishards))
    ordered = keys[order]
    lengths = np.fromiter((sizes[k] for k in ordered.tolist()), dtype=np.uint64, count=len(ordered))
    gaps = np.fromiter(((prefix_sizes or {}).get(k, 0) for k in ordered.tolist()), dtype=np.uint64,
                       count=len(ordered))
    ends = np.cumsum(gaps + lengths, dtype=np.uint64)
    starts = ends - lengths  # relative to the end of the shard index
    tails: list[bytes] = []
    index = np.zeros((1 << spec.minishard_bits, 2), dtype=_U64)
    pos = int(ends[-1]) if len(ends) else 0
    sorted_minis = minishards[order]
    cuts = [0, *(np.flatnonzero(np.diff(sorted_minis)) + 1).tolist(), len(order)] if len(order) else [0]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        mkeys, mstarts = ordered[lo:hi], starts[lo:hi]
        # offsets are delta-coded: each entry's start minus the previous entry's end
        prev_end = np.concatenate([[np.uint64(0)], mstarts[:-1] + lengths[lo:hi - 1]]).astype(np.uint64)
        rows = np.stack([np.diff(mkeys, prepend=np.uint64(0)), mstarts - prev_end, lengths[lo:hi]])
        blob = rows.astype(_U64).tobytes()
        if spec.minishard_index_encoding == "gzip":
            blob = _gzip(blob)
        index[int(sorted_minis[lo])] = (pos, pos + len(blob))
        tails.append(blob)
        pos += len(blob)
    head = index.tobytes()
    base = len(head)
    return ShardLayout(ordered.tolist(), (starts + np.uint64(base)).tolist(), head, b"".join(tails), base + pos)


def encode_shard(spec: ShardingSpec, chunks: Mapping[int, bytes], prefixes: Mapping[int, bytes] | None = None) -> bytes:
    """A whole shard file holding ``{key: stored bytes}`` (already ``data_encoding``-encoded:
    the codec workers gzip chunks in parallel, so the shard is only assembled here).
    ``prefixes``: bytes written immediately before a key's data and not indexed (a multires
    mesh's fragments precede its manifest, §6.2).

    Layout: per minishard in order, its chunks' data sorted by key, then every minishard index
    (readers use only the indexes, so any order is valid; this one keeps a minishard's data
    contiguous for range coalescing).
    """
    prefixes = prefixes or {}
    layout = shard_layout(spec, {k: len(v) for k, v in chunks.items()},
                          {k: len(v) for k, v in prefixes.items()})
    parts = [layout.head]
    for key in layout.keys:
        if key in prefixes:
            parts.append(prefixes[key])
        parts.append(chunks[key])
    parts.append(layout.tail)
    return b"".join(parts)


# -- choosing a spec ---------------------------------------------------------------------------
def compute_shard_params(
    volume_size: Sequence[int], chunk_size: Sequence[int], dtype: Any = "uint8", num_channels: int = 1,
    encoding: str = "raw", max_shard_bytes: int = int(3.5e9), max_shard_index_bytes: int = 8192,
    max_chunks_per_minishard: int = 4000, index_encoding: str = "gzip",
) -> ShardingSpec:
    """A spec for a layer: shards that are cuboids of chunks (identity hash), at most
    ``max_shard_bytes`` uncompressed, a shard index of at most ``max_shard_index_bytes``, and
    minishards of at most ``max_chunks_per_minishard`` chunks (CloudVolume's and igneous' goals).
    """
    grid = [max(1, -(-int(v) // int(c))) for v, c in zip(volume_size, chunk_size)]
    total_bits = len(morton_bit_axes(grid))
    chunk_bytes = math.prod(int(c) for c in chunk_size) * np.dtype(dtype).itemsize * int(num_channels)
    per_shard_bits = max(0, int(math.floor(math.log2(max(1, max_shard_bytes // max(1, chunk_bytes))))))
    per_shard_bits = min(per_shard_bits, total_bits)
    index_bits = max(0, int(math.log2(max_shard_index_bytes // 16)))
    minishard_bits = 0
    while minishard_bits < min(index_bits, per_shard_bits) and \
            (1 << (per_shard_bits - minishard_bits)) > max_chunks_per_minishard:
        minishard_bits += 1
    # image data is mostly already compressed by its codec; gzip helps raw and segmentation only
    data_encoding = "gzip" if encoding in ("raw", "compressed_segmentation", "compresso") else "raw"
    return ShardingSpec(
        preshift_bits=per_shard_bits - minishard_bits, hash="identity", minishard_bits=minishard_bits,
        shard_bits=total_bits - per_shard_bits, minishard_index_encoding=index_encoding,
        data_encoding=data_encoding,
    )


def keys_in(entries: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[int, tuple[int, int]]:
    """``{key: (start, stop)}`` from decoded minishard indexes (the last entry of a key wins)."""
    found: dict[int, tuple[int, int]] = {}
    for keys, starts, sizes in entries:
        for k, s, n in zip(keys.tolist(), starts.tolist(), sizes.tolist()):
            found[k] = (s, s + n)
    return found
