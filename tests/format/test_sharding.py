"""format/sharding.py against the vectors of precomputed-format.md §5 (hand-computed from the spec)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import DecodingError, InfoError, SpecViolation
from aiovolume.format.sharding import (
    ShardingSpec, compute_shard_params, decode_minishard_index, decode_shard_index, encode_shard, keys_in,
    morton_bit_axes, morton_codes, shard_shape,
)

MURMUR = ShardingSpec(preshift_bits=0, hash="murmurhash3_x86_128", minishard_bits=0, shard_bits=0)


@pytest.mark.parametrize("key, expected", [
    (0, 0x4772B084E028AE41), (1, 0xE8BD67D616D4CE9A), (2, 0xD62F9CD21B013F5A), (255, 0x4E2FC5B5B87BF79A),
    (0x100000000, 0xBBB12D133B78FD64), (28483990, 0xC4E4F7AD82C21012), (2**64 - 1, 0x574F66BD212B5D1A),
])
def test_murmurhash_vectors(key: int, expected: int) -> None:
    assert int(MURMUR.hash_keys([key])[0]) == expected


def test_location_vectors() -> None:
    spec = ShardingSpec(preshift_bits=6, hash="murmurhash3_x86_128", minishard_bits=11, shard_bits=7)
    shard, minishard = spec.locate([1822975381])
    assert (int(shard[0]), int(minishard[0])) == (0x42, 18)  # the vector's "42" is the file name
    assert spec.shard_name(int(shard[0])) == "42.shard"
    ident = ShardingSpec(preshift_bits=2, hash="identity", minishard_bits=3, shard_bits=3)
    shard, minishard = ident.locate([0b10101010])
    assert (int(shard[0]), int(minishard[0])) == (5, 0b010)


def test_shard_names_are_zero_padded_hex() -> None:
    assert ShardingSpec(0, "identity", 0, 0).shard_name(0) == "0.shard"
    assert ShardingSpec(0, "identity", 0, 9).shard_name(0x1F) == "01f.shard"
    assert ShardingSpec(0, "identity", 0, 4).shard_name(15) == "f.shard"


def test_a_64_bit_preshift_empties_the_key() -> None:
    spec = ShardingSpec(preshift_bits=64, hash="identity", minishard_bits=0, shard_bits=0)
    assert spec.hash_keys([2**64 - 1]).tolist() == [0]


@pytest.mark.parametrize("grid, pos, code", [
    ((3, 3, 3), (1, 0, 0), 1), ((3, 3, 3), (2, 0, 0), 8), ((3, 3, 3), (2, 2, 0), 24), ((3, 3, 3), (2, 2, 1), 28),
    ((2, 3, 1), (1, 2, 0), 5), ((4, 4, 1), (3, 3, 0), 15), ((8, 8, 2), (5, 5, 0), 99), ((8, 1, 4), (7, 0, 3), 31),
    ((1, 8, 1), (0, 5, 0), 5),
    ((2**21,) * 3, (0b100011000110001, 0b100101001010010, 0b101001010010100),
     0b111000100010001111000100010001111000100010001),
    ((2**18, 2**15, 2**17), (0b111100011000110001, 0b100101001010010, 0b10101001010010100),
     0b11101111000100010001111000100010001111000100010001),
])
def test_compressed_morton_vectors(grid: tuple[int, int, int], pos: tuple[int, int, int], code: int) -> None:
    assert int(morton_codes(pos, grid)) == code
    assert morton_codes([pos, pos], grid).tolist() == [code, code]


def test_morton_refuses_more_than_64_bits() -> None:
    with pytest.raises(SpecViolation, match="65 Morton bits"):
        morton_bit_axes((2**22, 2**22, 2**21))


# The 113-byte shard of §5.4 as CloudVolume writes it (minishard 1's data first).
CV_SHARD = bytes.fromhex(
    "3900000000000000510000000000000009000000000000003900000000000000414141414343434242"
    "010000000000000002000000000000000000000000000000000000000000000004000000000000000300000000000000"
    "020000000000000007000000000000000200000000000000"
)
TINY = ShardingSpec(preshift_bits=0, hash="identity", minishard_bits=1, shard_bits=0)


def _read_all(spec: ShardingSpec, blob: bytes) -> dict[int, bytes]:
    index = decode_shard_index(spec, blob[:spec.shard_index_bytes])
    found = keys_in(decode_minishard_index(spec, blob[int(a):int(b)]) for a, b in index.tolist() if a != b)
    return {k: spec.decode_data(blob[s:e]) for k, (s, e) in found.items()}


def test_reads_cloudvolumes_tiny_shard() -> None:
    assert len(CV_SHARD) == 113
    index = decode_shard_index(TINY, CV_SHARD[:32])
    assert index.tolist() == [[32 + 57, 32 + 81], [32 + 9, 32 + 57]]
    keys, starts, sizes = decode_minishard_index(TINY, CV_SHARD[32 + 9:32 + 57])
    assert (keys.tolist(), starts.tolist(), sizes.tolist()) == ([1, 3], [32, 36], [4, 3])
    assert _read_all(TINY, CV_SHARD) == {1: b"AAAA", 2: b"BB", 3: b"CCC"}


def test_our_tiny_shard_holds_the_same_chunks() -> None:
    ours = encode_shard(TINY, {3: b"CCC", 1: b"AAAA", 2: b"BB"})
    assert len(ours) == 113  # same content, our own order
    assert _read_all(TINY, ours) == {1: b"AAAA", 2: b"BB", 3: b"CCC"}


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.dictionaries(st.integers(0, 2**64 - 1), st.binary(max_size=40), max_size=30),
    preshift=st.integers(0, 8), minishard=st.integers(0, 4), hash_=st.sampled_from(["identity", "murmurhash3_x86_128"]),
    index_enc=st.sampled_from(["raw", "gzip"]), data_enc=st.sampled_from(["raw", "gzip"]),
)
def test_encode_decode_round_trip(chunks: dict[int, bytes], preshift: int, minishard: int, hash_: str,
                                  index_enc: str, data_enc: str) -> None:
    spec = ShardingSpec(preshift, hash_, minishard, 64 - minishard, index_enc, data_enc)
    # one shard file holds only the keys of one shard: keep those of the first key's shard
    if chunks:
        shards, _ = spec.locate(list(chunks))
        chunks = {k: v for k, v, s in zip(chunks, chunks.values(), shards.tolist()) if s == int(shards[0])}
    assert _read_all(spec, encode_shard(spec, {k: spec.encode_data(v) for k, v in chunks.items()})) == chunks


def test_gzip_index_and_data_are_real_gzip() -> None:
    spec = ShardingSpec(0, "identity", 0, 0, "gzip", "gzip")
    blob = encode_shard(spec, {7: spec.encode_data(b"x" * 100)})
    (start, end), = decode_shard_index(spec, blob[:16]).tolist()
    rows = np.frombuffer(gzip.decompress(blob[start:end]), "<u8")
    assert rows.tolist() == [7, 0, len(blob) - 16 - (end - start)]
    assert gzip.decompress(blob[16:16 + int(rows[2])]) == b"x" * 100


def test_corrupt_indexes_are_decoding_errors() -> None:
    with pytest.raises(DecodingError, match="expected a 32-byte index"):
        decode_shard_index(TINY, CV_SHARD[:31])
    with pytest.raises(DecodingError, match="not a multiple of 24"):
        decode_minishard_index(TINY, b"\0" * 25)
    with pytest.raises(DecodingError, match="ends before it starts"):
        decode_shard_index(TINY, np.array([[5, 1], [0, 0]], "<u8").tobytes())
    with pytest.raises(DecodingError, match="corrupt gzip"):
        decode_minishard_index(ShardingSpec(0, "identity", 0, 0, "gzip"), b"not gzip")


@pytest.mark.parametrize("bad, match", [
    ({"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "md5", "minishard_bits": 0,
      "shard_bits": 0}, "hash"),
    ({"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity", "minishard_bits": 40,
      "shard_bits": 40}, "<= 64"),
    ({"@type": "other"}, "@type"),
    ({"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": -1, "hash": "identity", "minishard_bits": 0,
      "shard_bits": 0}, "preshift_bits"),
])
def test_bad_specs_are_info_errors(bad: dict, match: str) -> None:
    with pytest.raises(InfoError, match=match):
        ShardingSpec.from_json(bad)


def test_spec_json_round_trip_and_defaults() -> None:
    spec = ShardingSpec.from_json({"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 3,
                                   "hash": "identity", "minishard_bits": 2, "shard_bits": 5})
    assert (spec.minishard_index_encoding, spec.data_encoding) == ("raw", "raw")
    assert ShardingSpec.from_json(spec.to_json()) == spec


def test_identity_shards_are_cuboids() -> None:
    # 16x16x2 chunks; 3+3 low bits -> 4x4x4 would need z bits the grid lacks: x y z x y x ...
    spec = ShardingSpec(preshift_bits=3, hash="identity", minishard_bits=2, shard_bits=4)
    grid = (16, 16, 2)
    assert shard_shape(spec, grid) == (4, 4, 2)
    pos = np.stack(np.meshgrid(*[np.arange(g) for g in grid], indexing="ij"), -1).reshape(-1, 3)
    shards, _ = spec.locate(morton_codes(pos, grid))
    for s in np.unique(shards):
        members = pos[shards == s]
        assert (members.max(0) - members.min(0) + 1).tolist() == [4, 4, 2]
        assert len(members) == 32
    assert shard_shape(MURMUR, grid) is None


def test_compute_shard_params_uses_every_morton_bit() -> None:
    spec = compute_shard_params((1024, 1024, 128), (64, 64, 64), "uint8", max_shard_bytes=32 * 64**3)
    total = len(morton_bit_axes((16, 16, 2)))
    assert spec.preshift_bits + spec.minishard_bits + spec.shard_bits == total
    assert 1 << (spec.preshift_bits + spec.minishard_bits) == 32  # 32 chunks of 256 KiB per shard
    assert spec.hash == "identity" and spec.data_encoding == "gzip"
    big = compute_shard_params((100000, 100000, 10000), (128, 128, 64), "uint64", encoding="compressed_segmentation")
    assert big.shard_index_bytes <= 8192
    assert 1 << big.preshift_bits <= 4000
    assert compute_shard_params((64, 64, 64), (64, 64, 64)).shard_bits == 0
    assert compute_shard_params((512, 512, 64), (64, 64, 64), encoding="jpeg").data_encoding == "raw"
