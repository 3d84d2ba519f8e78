"""Fuzz: mutated and random infos fail only with aiovolume errors, and cheaply.

Each example takes a valid info (as CloudVolume or TensorStore write them), applies a few random
mutations (values of any JSON type, huge or non-finite numbers, hostile keys, deep nesting, deleted
or duplicated fields, or random JSON wholesale), then:

1. ``parse_info`` on the dict and ``info_from_json`` on its (sometimes corrupted) JSON bytes;
2. when it parses: a :class:`Volume` on ``mem://`` (given the dict, or reading the stored JSON),
   every metadata property, ``bbox_to_mip``, ``add_scale``, then ``exists`` and ``download`` of one
   voxel at ``voxel_offset`` on mip 0 and the last mip, sometimes with a garbage chunk stored there.

Every exception must be an :class:`AiovolumeError` (so never a bare ValueError, TypeError,
RecursionError, MemoryError or OverflowError), and the example's peak traced memory (tracemalloc
sees numpy's buffers too) must stay under 64 MiB. Deterministic (``derandomize=True``).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume import Bbox, Options, Volume
from aiovolume.exceptions import AiovolumeError, InvalidKeyError
from aiovolume.format.chunks import chunk_key
from aiovolume.format.info import info_from_json, parse_info
from aiovolume.storage import open_store

MEMORY_CAP = 64 * 2**20
# mem:// layers four levels deep, so keys with up to four ".." stay inside the bucket; climbing
# further is a storage failure outside format (test_key_climbing_above_the_bucket below)
LAYER_ROOT = "mem://aiovolume-fuzz/a/b/c"
MAX_DOTDOT = 4
OPTIONS = Options().with_(decode_workers=0)  # decode in threads: no process pool per example
# encodings whose decoders validate every input before the C library sees it (test_codec_corrupt)
SAFE_TO_FEED_GARBAGE = frozenset({"raw", "jpeg", "png", "compressed_segmentation"})
_counter = itertools.count()

SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 3, "hash": "identity",
            "minishard_bits": 6, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}
VALID_INFOS = [
    # CloudVolume create_new_info: raw uint8, two scales, no @type
    {"num_channels": 1, "type": "image", "data_type": "uint8", "scales": [
        {"encoding": "raw", "chunk_sizes": [[64, 64, 16]], "key": "4_4_40", "resolution": [4, 4, 40],
         "voxel_offset": [-10, 4, 0], "size": [130, 50, 20]},
        {"encoding": "raw", "chunk_sizes": [[32, 32, 16]], "resolution": [8, 8, 40], "voxel_offset": [-5, 2, 0],
         "size": [65, 25, 20], "key": "8_8_40"}]},
    # TensorStore: @type, float resolutions, cseg with block size, a relative key with ..
    {"@type": "neuroglancer_multiscale_volume", "type": "segmentation", "data_type": "uint64", "num_channels": 1,
     "mesh": "mesh", "scales": [
         {"key": "../seg/8.0_8.0_8.0", "size": [100, 90, 80], "resolution": [8.0, 8.0, 8.0],
          "voxel_offset": [1, 2, 3], "chunk_sizes": [[32, 32, 32]], "encoding": "compressed_segmentation",
          "compressed_segmentation_block_size": [8, 8, 8]}]},
    # jpeg RGB with CV extras
    {"num_channels": 3, "type": "image", "data_type": "uint8", "scales": [
        {"encoding": "jpeg", "chunk_sizes": [[64, 64, 8]], "key": "16_16_16", "resolution": [16, 16, 16],
         "voxel_offset": [0, 0, 0], "size": [64, 64, 8], "jpeg_quality": 85, "locked": False}]},
    # png uint16 and a sharded scale (refused on reads, but its metadata must be fine)
    {"num_channels": 1, "type": "image", "data_type": "uint16", "scales": [
        {"encoding": "png", "chunk_sizes": [[16, 16, 4]], "key": "2_2_2", "resolution": [2, 2, 2],
         "voxel_offset": [-3, -3, -3], "size": [40, 40, 8], "png_level": 6},
        {"encoding": "raw", "chunk_sizes": [[16, 16, 4]], "key": "4_4_2", "resolution": [4, 4, 2],
         "voxel_offset": [-2, -2, -3], "size": [20, 20, 8], "sharding": SHARDING}]},
    # float32 fpzip, several chunk sizes
    {"num_channels": 2, "type": "image", "data_type": "float32", "scales": [
        {"encoding": "fpzip", "chunk_sizes": [[8, 8, 8], [16, 16, 16]], "key": "1_1_1", "resolution": [1, 1, 1],
         "voxel_offset": [0, 0, 0], "size": [20, 20, 20], "fpzip_precision": 0}]},
]

# -- strategies ----------------------------------------------------------------------------------
HUGE_INTS = st.sampled_from([-2**63 - 1, -2**63, -2**62, -1, 0, 1, 2**31, 2**32 + 1, 2**62, 2**62 + 1,
                             2**63 - 1, 2**63, 2**64, 10**30, 10**400])
FLOATS = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 5e-324, 1e-200, 1.5, 1e200,
                          1.7976931348623157e308, 64.0, 2.0**63])


def _key_ok(key: str) -> bool:
    # Keys climbing above the mem:// bucket are the one known failure outside format; see below.
    return key.count("..") <= MAX_DOTDOT


HOSTILE_STRINGS = st.sampled_from([
    "", "\x00", "a\x00b", "/abs", "//x", "C:\\x", "c:/x", "..\\x", "../x", "../../x/y", "..", ".", "./",
    "x/", "\x00/..", "%2e%2e", "\n", "a" * 1000, "8_8_8", "raw", "uint64", "image", "segmentation", "gzip",
    "compressed_segmentation", "neuroglancer_uint64_sharded_v1", "identity", "mem://aiovolume-fuzz/elsewhere",
])
STRINGS = st.one_of(HOSTILE_STRINGS, st.text(max_size=12)).filter(_key_ok)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-300, 300), HUGE_INTS, FLOATS, st.floats(), STRINGS)


def _nest(depth: int, leaf: object) -> object:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


JSON_VALUES = st.one_of(
    SCALARS,
    st.recursive(SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(STRINGS, c, max_size=4), max_leaves=8),
    st.lists(st.one_of(st.integers(-5, 70), HUGE_INTS, FLOATS), min_size=0, max_size=4),  # near-vectors
    st.lists(st.lists(st.one_of(st.integers(0, 70), HUGE_INTS), min_size=3, max_size=3), max_size=3),
    st.builds(_nest, st.sampled_from([50, 99, 100, 101, 150, 3000]), SCALARS),
)
# well-typed but extreme values: these get past parsing often, so the Volume steps see odd geometry
SMALL = st.integers(-70, 300)
WIDE_INTS = st.one_of(SMALL, SMALL, st.integers(-2**64, 2**64), HUGE_INTS)
VEC3 = st.lists(WIDE_INTS, min_size=3, max_size=3)
PLAUSIBLE = {
    "size": st.lists(st.one_of(st.integers(0, 300), st.integers(0, 300), st.integers(0, 2**62), HUGE_INTS),
                     min_size=3, max_size=3),
    "voxel_offset": VEC3,
    "chunk_sizes": st.lists(st.lists(st.one_of(st.integers(1, 300), st.integers(1, 300), st.integers(1, 2**62),
                                               HUGE_INTS), min_size=3, max_size=3),
                            min_size=1, max_size=2),
    "resolution": st.lists(st.one_of(st.floats(1e-3, 1e6), st.integers(1, 100), FLOATS), min_size=3, max_size=3),
    "encoding": st.sampled_from(["raw", "jpeg", "png", "compressed_segmentation", "compresso", "crackle",
                                 "fpzip", "kempressed", "jxl", "zfpc", "RAW"]),
    "compressed_segmentation_block_size": st.lists(st.one_of(st.integers(1, 16), HUGE_INTS), min_size=3, max_size=3),
    "key": STRINGS,
}
LAYER_PLAUSIBLE = {
    "data_type": st.sampled_from(["uint8", "uint16", "uint32", "uint64", "int8", "float32", "float64", "FLOAT32"]),
    "num_channels": st.one_of(st.integers(1, 4), HUGE_INTS, st.sampled_from([2**16, 2**16 + 1])),
    "type": st.sampled_from(["image", "segmentation"]),
}
SCALE_FIELDS = ["key", "size", "resolution", "voxel_offset", "chunk_sizes", "encoding", "sharding",
                "compressed_segmentation_block_size", "jpeg_quality", "png_level", "fpzip_precision", "hidden"]
LAYER_FIELDS = ["type", "data_type", "num_channels", "scales", "mesh", "skeletons", "@type", "redirect",
                "segment_properties", "data_dir", "extra_key"]


@st.composite
def mutated_infos(draw: st.DrawFn) -> object:
    d = copy.deepcopy(draw(st.sampled_from(VALID_INFOS)))
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON_VALUES)  # random JSON instead of an info
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["layer", "scale", "item", "delete", "dup"] + ["plausible"] * 6
                                  + ["layer_plausible"] * 2))
        scales = d.get("scales") if isinstance(d, dict) else None
        if op == "layer_plausible":
            field = draw(st.sampled_from(sorted(LAYER_PLAUSIBLE)))
            d[field] = draw(LAYER_PLAUSIBLE[field])
            continue
        if op == "layer" or not isinstance(scales, list) or not scales:
            d[draw(st.sampled_from(LAYER_FIELDS))] = draw(JSON_VALUES)
            continue
        i = draw(st.integers(0, len(scales) - 1))
        scale = scales[i]
        if not isinstance(scale, dict):
            continue
        if op == "plausible":
            field = draw(st.sampled_from(sorted(PLAUSIBLE)))
            scale[field] = draw(PLAUSIBLE[field])
            continue
        field = draw(st.sampled_from(SCALE_FIELDS))
        if op == "scale":
            scale[field] = draw(JSON_VALUES)
        elif op == "item" and isinstance(scale.get(field), list) and scale[field]:
            j = draw(st.integers(0, len(scale[field]) - 1))
            scale[field][j] = draw(st.one_of(HUGE_INTS, FLOATS, SCALARS, JSON_VALUES))
        elif op == "delete":
            scale.pop(field, None)
        elif op == "dup":
            scales.append(copy.deepcopy(scale))
    return d


# -- the body -------------------------------------------------------------------------------------
PROPERTIES = ["info", "layer_type", "data_type", "dtype", "num_channels", "scales", "available_mips",
              "available_resolutions", "mip", "scale", "shape", "volume_size", "encoding", "resolution",
              "voxel_offset", "chunk_size", "underlying", "key", "bounds", "downsample_ratio",
              "compressed_segmentation_block_size", "cloudpath", "info_cloudpath", "dataset_name", "layer"]


def check(what: str, fn, *args, **kwargs):
    """Run one step; a non-aiovolume exception fails the test, naming the step."""
    try:
        return fn(*args, **kwargs), None
    except AiovolumeError as e:
        return None, e
    except BaseException as e:  # noqa: BLE001 -- RecursionError, MemoryError... are what we look for
        raise AssertionError(f"{what} raised a bare {type(e).__name__}: {e!s:.300}") from e


async def acheck(what: str, coro):
    try:
        return await coro, None
    except AiovolumeError as e:
        return None, e
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"{what} raised a bare {type(e).__name__}: {e!s:.300}") from e


async def use_volume(url: str, given: dict | None, fill_missing: bool, garbage: bytes | None) -> None:
    vol, err = check("Volume()", Volume, url, info=given, fill_missing=fill_missing, options=OPTIONS)
    if err:
        return
    opened, err = await acheck("Volume open", vol.__aenter__())
    if err:
        await vol.close()
        return
    try:
        for name in PROPERTIES:
            check(f"Volume.{name}", getattr, vol, name)
        last = len(vol.available_mips) - 1
        check("bbox_to_mip", vol.bbox_to_mip, vol.bounds, 0, last)
        check("bbox_to_mip", vol.bbox_to_mip, vol.mip_bounds(last), last, 0)
        check("add_scale", vol.add_scale, (2, 2, 1))
        check("meta.reset_scales", vol.meta.reset_scales)  # in memory; vol.reset_scales() also commits
        if given is None:
            await acheck("refresh_info", vol.refresh_info())
        else:
            check("info setter", setattr, vol, "info", given)
        for mip in sorted({0, last}):
            off = np.asarray(vol.mip_voxel_offset(mip), dtype=np.int64)
            box = Bbox(off, off + 1)
            if garbage is not None and vol.mip_encoding(mip) in SAFE_TO_FEED_GARBAGE:
                scale = vol.mip_scale(mip)
                chunk = np.minimum(np.asarray(scale["chunk_sizes"][0]), np.asarray(scale["size"]))
                await acheck("put garbage", vol.store.put(chunk_key(scale["key"], Bbox(off, off + chunk)), garbage))
            await acheck("exists", vol.exists(box, mip=mip))
            await acheck("download", vol.download(box, mip=mip))
    finally:
        await vol.close()


async def run_example(d: object, via_store: bool, fill_missing: bool, garbage: bytes | None, blob: bytes) -> None:
    url = f"{LAYER_ROOT}/layer{next(_counter)}"
    store = open_store(url, OPTIONS)
    try:
        if via_store:
            await store.put("info", blob)
        await use_volume(url, None if via_store else d, fill_missing, garbage)  # type: ignore[arg-type]
    finally:
        for key in [k async for k in store.list("")]:  # keep the process-wide mem:// bucket small
            await store.delete(key)
        await store.close()


def json_bytes(d: object, corrupt: int) -> bytes:
    try:
        raw = json.dumps(d).encode()
    except (TypeError, ValueError, RecursionError):  # huge ints and deep nests JSON refuses to write
        raw = b'{"type": "image"'
    if corrupt == 1:
        return raw[: len(raw) // 2]
    if corrupt == 2 and raw:
        b = bytearray(raw)
        b[len(b) // 3] ^= 0x5A
        return bytes(b)
    return raw


@settings(max_examples=600, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=mutated_infos(), via_store=st.booleans(), fill_missing=st.booleans(), corrupt=st.sampled_from([0, 0, 0, 1, 2]),
       garbage=st.one_of(st.none(), st.binary(min_size=0, max_size=64)))
def test_mutated_infos_fail_only_with_aiovolume_errors_and_little_memory(d, via_store, fill_missing, corrupt, garbage):
    blob = json_bytes(d, corrupt)
    tracemalloc.start()
    try:
        check("parse_info", parse_info, d, "fuzz")
        check("info_from_json", info_from_json, blob, "fuzz")
        asyncio.run(run_example(d, via_store, fill_missing, garbage, blob))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CAP, f"peak traced memory {peak / 2**20:.1f} MiB for {json.dumps(d, default=str)[:300]}"


async def test_key_climbing_above_the_bucket_is_an_aiovolume_error():
    info = copy.deepcopy(VALID_INFOS[0])
    info["scales"][0]["key"] = "../" * (MAX_DOTDOT + 2) + "4_4_40"
    async with Volume(f"{LAYER_ROOT}/climb", info=info, fill_missing=True, options=OPTIONS) as vol:
        with pytest.raises(InvalidKeyError, match="climbs above the bucket root"):
            await vol.exists(Bbox(vol.voxel_offset, np.asarray(vol.voxel_offset) + 1))
