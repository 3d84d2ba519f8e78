"""Sharded scales through our own API on mem://, file://, s3:// (moto) and gs:// (emulator).

What the user relies on: values exact; a write covering part of a shard keeps every other
chunk of that shard; deletes remove only their chunks; missing shards follow ``fill_missing``;
indexes are read once per shard, not per cutout. (Interop with TensorStore and CloudVolume is
in ``tests/interop/test_interop_sharded.py``.)
"""

from __future__ import annotations

import asyncio
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import CloudEnv, gcs_env, gcs_server, moto_server, s3_env  # noqa: E402,F401

from aiovolume import Bbox, CloudVolume, Options, Volume  # noqa: E402
from aiovolume.exceptions import AlignmentError, DecodingError, EmptyVolumeException  # noqa: E402
from aiovolume.format.sharding import ShardingSpec, compute_shard_params, encode_shard  # noqa: E402
from aiovolume.pipeline import shardfiles  # noqa: E402
from volume_helpers import make_info, random_volume  # noqa: E402

SIZE, CHUNK = (100, 70, 40), (16, 16, 16)  # 7x5x3 chunks: edge chunks and edge shards everywhere
# 2x2x2-chunk shards (preshift 1 + minishard 2 = 3 low Morton bits), two minishards per shard
IDENTITY = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "identity",
            "minishard_bits": 2, "shard_bits": 5, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}
MURMUR = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
          "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "raw", "data_encoding": "raw"}


def sharded_info(dtype="uint16", sharding=IDENTITY, encoding="raw", layer_type="image", channels=1):
    info = make_info(dtype, channels, size=SIZE, chunk=CHUNK, encoding=encoding, layer_type=layer_type)
    info["scales"][0]["sharding"] = dict(sharding)
    return info


def sub(data: np.ndarray, box: Bbox) -> np.ndarray:
    (x0, y0, z0), (x1, y1, z1) = box.minpt.tolist(), box.maxpt.tolist()
    return data[x0:x1, y0:y1, z0:z1]


@pytest.fixture(params=["mem", "file", "s3", "gs"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "mem":
        return f"mem://sharded-{os.urandom(4).hex()}/layer"
    if request.param == "file":
        return f"file://{tmp_path}/layer"
    env: CloudEnv = request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    return f"{request.param}://{env.bucket}/{env.prefix}/layer"


@pytest.mark.parametrize("sharding", [IDENTITY, MURMUR], ids=["identity-gzip", "murmur-raw"])
async def test_round_trip_and_partial_shard_writes_keep_other_chunks(url: str, sharding: dict) -> None:
    data = random_volume((*SIZE, 1), "uint16", seed=1)
    async with Volume(url, info=sharded_info(sharding=sharding)) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        # one chunk inside a shard whose other 7 chunks exist
        box = Bbox((16, 16, 16), (32, 32, 32))
        patch = np.full((16, 16, 16, 1), 7, np.uint16)
        await vol.upload(box, patch)
        data[16:32, 16:32, 16:32] = patch
    async with Volume(url) as vol:  # a fresh handle: no cached index
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        cut = Bbox((5, 3, 7), (93, 61, 33))
        np.testing.assert_array_equal(np.asarray(await vol.download(cut)), sub(data, cut))


async def test_concurrent_writes_to_one_shard_both_land(url: str) -> None:
    data = random_volume((*SIZE, 1), "uint16", seed=2)
    async with Volume(url, info=sharded_info()) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        boxes = [Bbox((0, 0, 0), (16, 16, 16)), Bbox((16, 0, 0), (32, 16, 16)), Bbox((0, 16, 16), (16, 32, 32))]
        patches = [np.full((16, 16, 16, 1), 100 + i, np.uint16) for i in range(3)]
        await asyncio.gather(*(vol.upload(b, p) for b, p in zip(boxes, patches)))
        for box, patch in zip(boxes, patches):
            data[box.to_slices()[:3]] = patch
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)


async def test_non_aligned_writes_merge_within_shards(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    data = random_volume((*SIZE, 1), "uint16", seed=3)
    async with Volume(url, info=sharded_info(), non_aligned_writes=True) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        box = Bbox((9, 11, 3), (41, 50, 37))
        patch = random_volume((*box.size3(), 1), "uint16", seed=4)
        await vol.upload(box, patch)
        data[box.to_slices()[:3]] = patch
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
    async with Volume(url) as vol:
        with pytest.raises(AlignmentError):
            await vol.upload(box, patch)


async def test_delete_and_exists_rewrite_only_their_chunks(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    data = random_volume((*SIZE, 1), "uint16", seed=5)
    async with Volume(url, info=sharded_info(), fill_missing=True) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        gone = Bbox((16, 0, 0), (32, 16, 16))
        await vol.delete(gone)
        exists = await vol.exists(Bbox((0, 0, 0), (32, 16, 16)))
        assert exists == {"4_4_40/0-16_0-16_0-16": True, "4_4_40/16-32_0-16_0-16": False}
        data[16:32, 0:16, 0:16] = 0
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        # deleting every chunk of a shard leaves it empty (a plain delete could lose another
        # writer's chunk); its chunks read as missing
        corner = Bbox((96, 64, 32), (100, 70, 40))  # the far corner shard holds one chunk
        await vol.delete(corner)
        assert (await vol.exists(corner)) == {"4_4_40/96-100_64-70_32-40": False}
        shard = max(os.listdir(tmp_path / "layer" / "4_4_40"))
        assert os.path.getsize(tmp_path / "layer" / "4_4_40" / shard) == 16 << 2  # only its index


async def test_missing_shards_follow_fill_missing(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    async with Volume(url, info=sharded_info()) as vol:
        await vol.commit_info()
        await vol.upload(Bbox((0, 0, 0), (32, 32, 32)), np.ones((32, 32, 32, 1), np.uint16))
        with pytest.raises(EmptyVolumeException, match="32-48_0-16_0-16"):
            await vol.download(Bbox((0, 0, 0), (48, 16, 16)))
    async with Volume(url, fill_missing=True, background_color=9) as vol:
        got = np.asarray(await vol.download(Bbox((0, 0, 0), (48, 16, 16))))
        assert (got[:32] == 1).all() and (got[32:] == 9).all()


def test_second_cutout_reads_no_index(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    data = random_volume((*SIZE, 1), "uint16", seed=6)
    with CloudVolume(url, info=sharded_info()) as vol:
        vol.commit_info()
        vol[:, :, :] = data
    with CloudVolume(url) as vol:
        cut = np.s_[3:14, 5:40, 2:14]  # 2 of 8 chunks of one shard, 1 of another: ranged reads
        np.testing.assert_array_equal(np.asarray(vol[cut]), data[cut])
        cache = vol._vol._shard_indexes
        loads = cache.loads
        # chunks (0,0,0), (0,1,0) in shard 0 (Morton 0 and 2: minishards 0 and 1), (0,2,0) in another
        assert loads == 2 + 3  # two shard indexes, three minishard indexes
        np.testing.assert_array_equal(np.asarray(vol[cut]), data[cut])
        assert cache.loads == loads and cache.hits == 5
        whole = np.s_[32:64, 32:64, 0:32]  # one whole shard: one GET, whose indexes are kept
        np.testing.assert_array_equal(np.asarray(vol[whole]), data[whole])
        entries = len(cache)
        assert entries > 4
        np.testing.assert_array_equal(np.asarray(vol[whole]), data[whole])
        assert cache.loads == loads and len(cache) == entries
        vol[0:16, 0:16, 0:16] = np.zeros((16, 16, 16), np.uint16)  # our own write drops that shard's entries
        data[0:16, 0:16, 0:16] = 0
        np.testing.assert_array_equal(np.asarray(vol[cut]), data[cut])
        assert cache.loads > loads


def test_a_corrupt_shard_is_an_error_not_zeros(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    with CloudVolume(url, info=sharded_info(sharding=MURMUR), fill_missing=True) as vol:
        vol.commit_info()
        vol[:, :, :] = random_volume((*SIZE, 1), "uint16", seed=7)
    shard_dir = tmp_path / "layer" / "4_4_40"
    for name in os.listdir(shard_dir):
        path = shard_dir / name
        path.write_bytes(path.read_bytes()[:40])  # index intact-looking, data gone
    with CloudVolume(url, fill_missing=True) as vol:
        with pytest.raises((DecodingError, OSError)):
            vol[:, :, :]


@pytest.mark.parametrize("encoding, dtype, layer_type", [
    ("compressed_segmentation", "uint64", "segmentation"), ("raw", "float32", "image"), ("png", "uint8", "image"),
    ("jpeg", "uint8", "image"), ("fpzip", "float32", "image"), ("kempressed", "float32", "image"),
    ("compresso", "uint64", "segmentation"), ("crackle", "uint32", "segmentation"),
])
def test_encodings_inside_shards(tmp_path, encoding: str, dtype: str, layer_type: str) -> None:
    """Every encoding we write, inside gzip-data shards; a chunk-aligned patch merged into them."""
    url = f"file://{tmp_path}/layer"
    info = sharded_info(dtype, encoding=encoding, layer_type=layer_type)
    if encoding == "jpeg":  # lossy: smooth content, compared with what a plain layer stores
        x, y, z = np.meshgrid(*[np.arange(s) for s in SIZE], indexing="ij")
        data = ((x + 2 * y + 3 * z) % 200).astype(np.uint8)[..., None]
    elif encoding == "kempressed":  # lossy-ish float codec for EM-like images: small positive values
        data = (random_volume((*SIZE, 1), "uint8", seed=8) / 255).astype(np.float32)
    elif layer_type == "segmentation":
        data = (random_volume((*SIZE, 1), "uint16", seed=8) % 40).astype(dtype) + 1
    else:
        data = random_volume((*SIZE, 1), dtype, seed=8)
    plain = dict(info, scales=[{k: v for k, v in info["scales"][0].items() if k != "sharding"}])
    with CloudVolume(f"mem://plain-{encoding}/l", info=plain) as ref:
        ref.commit_info()
        ref[:, :, :] = data
        expected = np.asarray(ref[:, :, :])  # the codec's own round trip
    with CloudVolume(url, info=info) as vol:
        vol.commit_info()
        vol[:, :, :] = data
        np.testing.assert_array_equal(np.asarray(vol[:, :, :]), expected)
        vol[16:32, 16:32, 16:32] = data[:16, :16, :16]
        expected[16:32, 16:32, 16:32] = expected[:16, :16, :16]
        np.testing.assert_array_equal(np.asarray(vol[:, :, :]), expected)


def test_compute_shard_params_make_a_writable_layer(tmp_path) -> None:
    info = make_info("uint8", 1, size=SIZE, chunk=CHUNK)
    spec = compute_shard_params(SIZE, CHUNK, "uint8", max_shard_bytes=8 * 16**3)
    info["scales"][0]["sharding"] = spec.to_json()
    data = random_volume((*SIZE, 1), "uint8", seed=9)
    with CloudVolume(f"file://{tmp_path}/layer", info=info) as vol:
        vol.commit_info()
        vol[:, :, :] = data
        np.testing.assert_array_equal(np.asarray(vol[:, :, :]), data)
    assert ShardingSpec.from_json(info["scales"][0]["sharding"]).shard_bits > 0
    assert len(os.listdir(tmp_path / "layer" / "4_4_40")) == 4 * 3 * 2  # 2x2x2-chunk shards over 7x5x3 chunks


async def test_http_reads_count_requests(tmp_path) -> None:
    """Read-only http(s)://: a ranged cutout costs index + minishard + data requests; the same
    cutout again costs only its data requests (the indexes are cached on the volume)."""
    from http_fixtures import get_stats, requests_for, reset_stats, served

    root = tmp_path / "root"
    data = random_volume((*SIZE, 1), "uint16", seed=10)
    async with Volume(f"file://{root}/layer", info=sharded_info()) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    async with served(root) as srv, Volume(f"{srv.url}/layer") as vol:
        cut = Bbox((3, 5, 2), (14, 40, 14))  # 3 chunks of 2 shards, 3 minishards
        await reset_stats(srv.url)  # small shards: one GET each saves two index round trips
        np.testing.assert_array_equal(np.asarray(await vol.download(cut)), sub(data, cut))
        assert requests_for(await get_stats(srv.url), ".shard") == 2
    ranged = Options(whole_shard_slack=0)
    async with served(root) as srv, Volume(f"{srv.url}/layer", options=ranged) as vol:
        await reset_stats(srv.url)
        np.testing.assert_array_equal(np.asarray(await vol.download(cut)), sub(data, cut))
        first = requests_for(await get_stats(srv.url), ".shard")
        # 2 shard indexes; 3 minishard indexes, two of them adjacent in 00.shard (one request);
        # 3 chunks, two of them in 00.shard with another chunk's data between them (two requests)
        assert first == 2 + 2 + 3
        await reset_stats(srv.url)
        np.testing.assert_array_equal(np.asarray(await vol.download(cut)), sub(data, cut))
        assert requests_for(await get_stats(srv.url), ".shard") == 3  # only the data
        await reset_stats(srv.url)
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        assert requests_for(await get_stats(srv.url), ".shard") == 24  # one GET per shard


async def test_writers_without_a_shared_lock_never_drop_each_other(url: str) -> None:
    """Two volumes (as two processes would be) write different chunks of the same shards at
    once: every write lands, through conditional writes, or raises ConcurrentModificationError."""
    from aiovolume.exceptions import ConcurrentModificationError

    async with Volume(url, info=sharded_info(), fill_missing=True) as vol:
        await vol.commit_info()
    boxes = [Bbox((x, y, z), (x + 16, y + 16, z + 16)) for x in (0, 16) for y in (0, 16) for z in (0, 16)]
    async with Volume(url, fill_missing=True) as a, Volume(url, fill_missing=True) as b:
        writes = [(a if i % 2 else b).upload(box, np.full((16, 16, 16, 1), i + 1, np.uint16))
                  for i, box in enumerate(boxes)]
        results = await asyncio.gather(*writes, return_exceptions=True)
    landed = [r is None for r in results]
    assert all(r is None or isinstance(r, ConcurrentModificationError) for r in results), results
    async with Volume(url, fill_missing=True) as vol:
        got = np.asarray(await vol.download(Bbox((0, 0, 0), (32, 32, 32))))
    for i, (box, ok) in enumerate(zip(boxes, landed)):
        if ok:
            assert (got[box.to_slices()[:3]] == i + 1).all(), f"write {i} was lost"
    assert sum(landed) >= len(boxes) // 2


def test_kill_9_mid_write_leaves_each_shard_old_or_new(tmp_path) -> None:
    import subprocess
    import textwrap
    import time

    url = f"file://{tmp_path}/layer"
    with CloudVolume(url, info=sharded_info()) as vol:
        vol.commit_info()
        vol[:, :, :] = np.ones((*SIZE, 1), np.uint16)
    script = textwrap.dedent(f"""
        import numpy as np, aiovolume
        vol = aiovolume.CloudVolume({url!r}, non_aligned_writes=True)
        print("ready", flush=True)
        for i in range(2, 10**6):
            vol[0:100, 0:70, 0:40] = np.full((100, 70, 40), i, np.uint16)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # several whole-volume writes in, then mid-write
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with CloudVolume(url) as vol:
        got = np.asarray(vol[:, :, :])  # every shard parses; no chunk is missing or torn
    for z0 in range(0, 40, 16):
        for y0 in range(0, 70, 16):
            for x0 in range(0, 100, 16):
                values = np.unique(got[x0:x0 + 16, y0:y0 + 16, z0:z0 + 16])
                assert len(values) == 1, (x0, y0, z0, values)  # one write's chunk, never a mix


def test_meta_says_which_mips_are_sharded(tmp_path) -> None:
    info = sharded_info()
    info["scales"].append({**info["scales"][0], "key": "8_8_40", "resolution": [8, 8, 40], "size": [50, 35, 40]})
    del info["scales"][1]["sharding"]
    with CloudVolume(f"file://{tmp_path}/layer", info=info) as vol:
        assert vol.meta.is_sharded(0) and not vol.meta.is_sharded(1)
        assert vol.meta.sharding(0) == IDENTITY and vol.meta.sharding(1) is None


RAW_SHARDS = {**IDENTITY, "data_encoding": "raw"}


@pytest.mark.parametrize("dtype,channels", [("uint8", 1), ("uint16", 3), ("float32", 2)])
async def test_whole_shards_built_in_place_match_the_assembled_ones(tmp_path, dtype: str, channels: int) -> None:
    """file:// builds whole raw shards in place (one copy); mem:// assembles encoded chunks: the
    files are byte-identical and read back exactly, edge shards included."""
    data = random_volume((*SIZE, channels), dtype, seed=11)
    if dtype != "float32":
        data = np.asfortranarray(data)  # the in-place copy from either memory order
    files: dict[str, dict[str, bytes]] = {}
    for url in (f"file://{tmp_path}/layer", f"mem://inplace-{os.urandom(4).hex()}/layer"):
        info = sharded_info(dtype, RAW_SHARDS, channels=channels)
        async with Volume(url, info=info) as vol:
            await vol.commit_info()
            await vol.upload(vol.bounds, data)
            np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
            keys = [k async for k in vol._store.list("4_4_40/")]  # noqa: SLF001
            files[url.split(":")[0]] = {k: (await vol._store.get(k)).data for k in keys}  # noqa: SLF001
    assert len(files["file"]) == 4 * 3 * 2  # 7x5x3 chunks in 2x2x2-chunk shards
    assert files["file"] == files["mem"]


async def test_delete_black_uploads_drop_background_chunks_of_whole_shards(tmp_path) -> None:
    url = f"file://{tmp_path}/layer"
    data = random_volume((*SIZE, 1), "uint16", seed=3) | 1  # nothing background
    async with Volume(url, info=sharded_info("uint16", RAW_SHARDS), delete_black_uploads=True,
                      fill_missing=True) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        first_shard = Bbox((0, 0, 0), (32, 32, 32))  # 2x2x2 chunks: one whole shard
        patch = sub(data, first_shard).copy()
        patch[:16, :16, :16] = 0  # one chunk all background
        await vol.upload(first_shard, patch)
        exists = await vol.exists(first_shard)
        assert exists.pop("4_4_40/0-16_0-16_0-16") is False
        assert all(exists.values()) and len(exists) == 7
        data[:16, :16, :16] = 0
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        # a whole shard of background: its chunks are gone, the rest of the layer untouched
        await vol.upload(first_shard, np.zeros_like(patch))
        assert not any((await vol.exists(first_shard)).values())
        data[:32, :32, :32] = 0
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)


@pytest.fixture(params=["file", "s3", "gs"])
def versioned_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}/layer"
    env: CloudEnv = request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    return f"{request.param}://{env.bucket}/{env.prefix}/layer"


async def test_a_shard_replaced_elsewhere_is_never_read_through_the_stale_index(versioned_url: str) -> None:
    """A long-lived reader caches a shard's indexes; another writer replaces the shard with a
    different layout (new values, data shifted by an unindexed prefix: valid, as TensorStore's
    and CloudVolume's layouts differ from ours). The reader's next cutout notices the new version
    (ETag, generation, inode) and returns the new values, not the bytes at the old offsets."""
    info = sharded_info("uint16", RAW_SHARDS)
    old = random_volume((*SIZE, 1), "uint16", seed=21)
    async with Volume(versioned_url, info=info) as writer:
        await writer.commit_info()
        await writer.upload(writer.bounds, old)
    first_shard, one_chunk = Bbox((0, 0, 0), (32, 32, 32)), Bbox((16, 16, 16), (32, 32, 32))
    spec = ShardingSpec.from_json(RAW_SHARDS)
    shard_key = "4_4_40/" + spec.shard_name(int(spec.locate(np.zeros(1, dtype=np.uint64))[0][0]))
    async with Volume(versioned_url) as reader:
        for _ in range(2):  # the second read uses the cached indexes
            np.testing.assert_array_equal(np.asarray(await reader.download(one_chunk)), sub(old, one_chunk))
        assert len(reader._shard_indexes) > 0  # noqa: SLF001
        new = old.copy()
        new[:32, :32, :32] = random_volume((32, 32, 32, 1), "uint16", seed=22)
        async with Volume(versioned_url) as other:
            await other.upload(first_shard, sub(new, first_shard))
            store = other._store  # noqa: SLF001
            data = (await store.get(shard_key)).data
            entries = shardfiles.entries(data, shardfiles.parse(spec, data, shard_key)[1])
            await store.put(shard_key, encode_shard(spec, entries, prefixes={min(entries): b"\0" * 4096}))
        np.testing.assert_array_equal(np.asarray(await reader.download(one_chunk)), sub(new, one_chunk))
        np.testing.assert_array_equal(np.asarray(await reader.download(reader.bounds)), new)


@pytest.mark.parametrize("sharding", [IDENTITY, MURMUR], ids=["identity-gzip", "murmur-raw"])
async def test_local_reads_take_whole_shards_in_codec_threads_and_ranges_for_the_rest(tmp_path, monkeypatch,
                                                                                     sharding: dict) -> None:
    """file://: a shard wanted mostly whole is read and decoded in one codec-thread hop; the chunks
    of shards wanted only in part still come through fetch_many (ranges). Values exact both ways."""
    from aiovolume.pipeline.sharded import ShardedSource

    data = random_volume((*SIZE, 1), "uint16", seed=7)
    url = f"file://{tmp_path}/layer"
    async with Volume(url, info=sharded_info(sharding=sharding)) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    asked: list[int] = []
    original = ShardedSource.fetch_many

    async def counting(self, tasks):
        asked.append(len(tasks))
        return await original(self, tasks)

    monkeypatch.setattr(ShardedSource, "fetch_many", counting)
    async with Volume(url) as vol:
        whole = await vol.download(vol.bounds)
        assert np.array_equal(np.asarray(whole), data)
        if sharding is IDENTITY:  # shards are cuboids: each is known to be wanted whole
            assert asked == []  # so nothing goes through the async path
        asked.clear()
        box = Bbox((3, 5, 1), (40, 33, 30))  # whole shards (identity) plus slivers of others
        cut = await vol.download(box)
        assert np.array_equal(np.asarray(cut), sub(data, box))
    if sharding is IDENTITY:
        assert sum(asked) < 3 * 3 * 2  # of the cutout's 18 chunks, at least the whole first shard's came locally


async def test_big_shards_over_http_read_exactly(tmp_path) -> None:
    """Shard files of several MiB read whole over HTTP come as views of one aligned buffer per
    shard (Store.get_buffer; whole reads need cuboid shards: the identity hash): every voxel must
    still be the one written, through gzip minishard indexes."""
    from http_fixtures import served

    size, chunk = (256, 256, 64), (64, 64, 32)
    info = make_info("uint16", 1, size=size, chunk=chunk, encoding="raw")
    info["scales"][0]["sharding"] = {**IDENTITY, "preshift_bits": 3, "minishard_bits": 1, "shard_bits": 1,
                                     "data_encoding": "raw"}
    data = random_volume((*size, 1), "uint16", seed=12)
    root = tmp_path / "root"
    async with Volume(f"file://{root}/layer", info=info) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    shards = sorted((root / "layer" / "4_4_40").iterdir())
    assert len(shards) == 2 and min(p.stat().st_size for p in shards) > 4 << 20
    async with served(root) as srv, Volume(f"{srv.url}/layer") as vol:
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        cut = Bbox((30, 70, 5), (200, 250, 60))
        np.testing.assert_array_equal(np.asarray(await vol.download(cut)), sub(data, cut))
