"""boss:// through Volume and CloudVolume against the local BOSS server (tests/boss/boss_server.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from boss_server import CUBOID, FAST, BossServer
from cloud_fixtures import CloudEnv, moto_server, s3_env  # noqa: F401  (moto, for cloudvol channels)

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import (
    AuthenticationError, DecodingError, InfoUnavailableError, ReadOnlyException, RetriesExhausted, StorageError,
    UnsupportedFeatureError,
)

DTYPES = {"img8": np.uint8, "img16": np.uint16, "seg64": np.uint64}


def _random(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, info.max, shape, dtype=dtype, endpoint=True)


def _server_xyz(server: BossServer, channel: tuple[str, str, str], res: int, lo, hi) -> np.ndarray:
    """What the server holds in [lo, hi), as (x, y, z): its arrays are C-order (z, y, x)."""
    box = (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
    return server.read(channel, res, box).transpose(2, 1, 0)


async def test_metadata_becomes_a_precomputed_info(boss: BossServer) -> None:
    async with Volume("boss://col/exp/img16", secrets=boss.secrets()) as vol:
        assert vol.info == {
            "type": "image", "data_type": "uint16", "num_channels": 1,
            "scales": [
                {"key": "4_4_40", "encoding": "raw", "chunk_sizes": [[512, 512, 16]], "resolution": [4, 4, 40],
                 "voxel_offset": [0, 0, 0], "size": [600, 530, 36]},
                {"key": "8_8_40", "encoding": "raw", "chunk_sizes": [[512, 512, 16]], "resolution": [8, 8, 40],
                 "voxel_offset": [0, 0, 0], "size": [300, 265, 36]},
                {"key": "16_16_40", "encoding": "raw", "chunk_sizes": [[512, 512, 16]], "resolution": [16, 16, 40],
                 "voxel_offset": [0, 0, 0], "size": [150, 133, 36]},
            ],
        }
        assert vol.layer == "img16" and vol.dataset_name == "exp" and vol.cloudpath == "boss://col/exp/img16"
    # micrometres -> nm, an offset frame, isotropic levels (floor of the start, ceiling of the stop)
    async with Volume("boss://col/iso/off16", secrets=boss.secrets(), mip=1) as vol:
        assert vol.mip == 1
        assert [s["resolution"] for s in vol.info["scales"]] == [[500, 500, 1500], [1000, 1000, 3000]]
        assert [s["voxel_offset"] for s in vol.info["scales"]] == [[100, 50, 3], [50, 25, 1]]
        assert [s["size"] for s in vol.info["scales"]] == [[600, 550, 37], [300, 275, 19]]
        assert vol.bounds == Bbox((50, 25, 1), (350, 300, 20))


def test_cloudvolume_exposes_the_same_properties(boss: BossServer) -> None:
    with CloudVolume("boss://col/exp/seg64", secrets=boss.secrets()) as cv:
        assert cv.layer_type == "segmentation"
        assert cv.dtype == np.uint64 and cv.data_type == "uint64" and cv.num_channels == 1
        assert cv.available_mips == [0, 1, 2]
        assert tuple(cv.shape) == (600, 530, 36, 1)
        assert tuple(cv.resolution) == (4, 4, 40)
        assert tuple(cv.mip_resolution(2)) == (16, 16, 40)
        assert tuple(cv.mip_volume_size(1)) == (300, 265, 36)
        assert tuple(cv.chunk_size) == CUBOID
        assert cv.bounds == Bbox((0, 0, 0), (600, 530, 36))
        assert cv.provenance.sources == []  # BOSS keeps none: an empty one, as for a new layer
    with CloudVolume("boss://col/exp/img8", secrets=boss.secrets(), mip=2) as cv:
        assert cv.layer_type == "image" and cv.mip == 2 and tuple(cv.shape) == (150, 133, 36, 1)


@pytest.mark.parametrize("channel", sorted(DTYPES))
async def test_volume_round_trip_across_cuboids(boss: BossServer, channel: str) -> None:
    dtype = DTYPES[channel]
    data = _random((600, 530, 36), dtype)
    async with Volume(f"boss://col/exp/{channel}", secrets=boss.secrets()) as vol:
        await vol.upload(vol.bounds, data)  # the whole volume: every edge cuboid, clipped
        # what BOSS holds, in its own (z, y, x) order, is the array written
        assert np.array_equal(_server_xyz(boss, ("col", "exp", channel), 0, (0, 0, 0), (600, 530, 36)), data)
        whole = await vol.download(vol.bounds)
        assert whole.dtype == dtype and whole.shape == (600, 530, 36, 1)
        assert np.array_equal(whole[..., 0], data)
        # a box across cuboid corners in x, y and z
        part = await vol.download(Bbox((500, 490, 10), (560, 530, 30)))
        assert np.array_equal(part[..., 0], data[500:560, 490:530, 10:30])
    itemsize = np.dtype(dtype).itemsize
    for method in ("GET", "POST"):
        for path in boss.cutouts(method):
            (x0, x1), (y0, y1), (z0, z1) = _ranges(path)
            # edges on the cuboid grid (or the volume's edge)
            assert x0 % 512 == 0 and y0 % 512 == 0 and z0 % 16 == 0
            assert (x1 % 512 == 0 or x1 == 600) and (y1 % 512 == 0 or y1 == 530) and (z1 % 16 == 0 or z1 == 36)
            assert y1 - y0 <= 512 and z1 - z0 <= 16  # reads merge along x only
            assert (x1 - x0) * (y1 - y0) * (z1 - z0) * itemsize <= 32 << 20
            if method == "POST":  # writes: one cuboid each
                assert x1 - x0 <= 512


def _ranges(path: str) -> list[tuple[int, int]]:
    *_, x, y, z, _ = path.split("/")
    return [tuple(int(v) for v in r.split(":")) for r in (x, y, z)]  # type: ignore[misc]


async def test_requests_follow_the_cuboid_grid(boss: BossServer) -> None:
    async with Volume("boss://col/exp/img8", secrets=boss.secrets()) as vol:
        await vol.download(Bbox((500, 10, 14), (520, 20, 18)))
    # the two cuboids side by side along x are one request; z stays one cuboid per request
    assert sorted(boss.cutouts("GET")) == ["/v1/cutout/col/exp/img8/0/0:600/0:512/0:16/",
                                           "/v1/cutout/col/exp/img8/0/0:600/0:512/16:32/"]
    boss.requests.clear()
    async with Volume("boss://col/iso/off16", secrets=boss.secrets()) as vol:  # the grid starts at the offset
        await vol.download(Bbox((615, 60, 18), (620, 70, 20)))
    assert sorted(boss.cutouts("GET")) == sorted(["/v1/cutout/col/iso/off16/0/612:700/50:562/3:19/",
                                                  "/v1/cutout/col/iso/off16/0/612:700/50:562/19:35/"])


async def test_read_requests_are_capped(boss: BossServer) -> None:
    """Runs along x stop at 32 MiB of voxels: 8 uint8 cuboids, 4 uint16, 1 uint64 (planned, not sent)."""
    boss.add_frame("wide", (0, 0, 0), (20 * 512 + 100, 600, 20), (4, 4, 40))
    boss.add_experiment("col", "wide", "wide")
    boss.add_channel("col", "wide", "u8", "image", "uint8")
    boss.add_channel("col", "wide", "u16", "image", "uint16")
    boss.add_channel("col", "wide", "u64", "annotation", "uint64")
    for channel, sizes in (("u8", [8, 8, 5] * 2), ("u16", ([4] * 5 + [1]) * 2), ("u64", [1] * 42)):
        async with Volume(f"boss://col/wide/{channel}", secrets=boss.secrets()) as vol:
            source = vol._source(0)
            runs = source.runs(source.plan(Bbox((0, 0, 0), (20 * 512 + 100, 512, 20))).tasks)
            assert [len(r) for r in runs] == sizes
            assert all([t.position[0] for t in r] == list(range(r[0].position[0], r[0].position[0] + len(r)))
                       for r in runs)
    assert boss.cutouts() == []


async def test_damaged_cutouts_are_fetched_again(boss: BossServer) -> None:
    data = _random((600, 530, 36), np.uint16, seed=10)
    async with Volume("boss://col/exp/img16", secrets=boss.secrets()) as vol:
        await vol.upload(vol.bounds, data)
        boss.requests.clear()
        boss.corrupt_next(1)  # a merged request (two cuboids along x)
        got = await vol.download(Bbox((500, 0, 0), (520, 10, 10)))
        assert np.array_equal(got[..., 0], data[500:520, 0:10, 0:10])
        assert boss.cutouts("GET") == ["/v1/cutout/col/exp/img16/0/0:600/0:512/0:16/"] * 2
        boss.requests.clear()
        boss.corrupt_next(1)  # a lone cuboid: the read pipeline refetches what did not decode
        got = await vol.download(Bbox((0, 520, 0), (10, 530, 10)))
        assert np.array_equal(got[..., 0], data[0:10, 520:530, 0:10])
        assert boss.cutouts("GET") == ["/v1/cutout/col/exp/img16/0/0:512/512:530/0:16/"] * 2
        boss.requests.clear()
        boss.corrupt_next(2)  # damaged twice: an error, never wrong voxels
        with pytest.raises(DecodingError):
            await vol.download(Bbox((500, 0, 0), (520, 10, 10)))


def test_cloudvolume_round_trip_non_aligned(boss: BossServer) -> None:
    base = _random((600, 530, 36), np.uint64, seed=1)
    patch = _random((37, 41, 9), np.uint64, seed=2)
    with CloudVolume("boss://col/exp/seg64", secrets=boss.secrets(), non_aligned_writes=True, progress=False) as cv:
        cv[:, :, :] = base
        cv[490:527, 500:541 - 11, 12:21] = patch[:, :30]
        expected = base.copy()
        expected[490:527, 500:530, 12:21] = patch[:, :30]
        got = cv[480:540, 480:530, 8:24]
        assert got.shape == (60, 50, 16, 1)
        assert np.array_equal(np.asarray(got)[..., 0], expected[480:540, 480:530, 8:24])
        assert np.array_equal(np.asarray(cv[:, :, :])[..., 0], expected)


def test_cloudvolume_refuses_non_aligned_writes_by_default(boss: BossServer) -> None:
    from aiovolume.exceptions import AlignmentError

    with CloudVolume("boss://col/exp/img8", secrets=boss.secrets(), progress=False) as cv:
        with pytest.raises(AlignmentError):
            cv[1:10, 0:10, 0:10] = np.ones((9, 10, 10), np.uint8)
    assert boss.cutouts("POST") == []


async def test_downsampled_level_and_offset_frame(boss: BossServer) -> None:
    async with Volume("boss://col/iso/off16", secrets=boss.secrets(), mip=1) as vol:
        data = _random((300, 275, 19), np.uint16, seed=3)
        await vol.upload(vol.bounds, data)
        # BOSS holds it at the level's absolute coordinates
        assert np.array_equal(_server_xyz(boss, ("col", "iso", "off16"), 1, (50, 25, 1), (350, 300, 20)), data)
        got = await vol.download(Bbox((300, 100, 15), (350, 300, 20)))
        assert np.array_equal(got[..., 0], data[250:300, 75:275, 14:19])
        assert all("/off16/1/" in p for p in boss.cutouts())


async def test_delete_blacks_out_cuboids(boss: BossServer) -> None:
    data = _random((600, 530, 36), np.uint8, seed=4)
    async with Volume("boss://col/exp/img8", secrets=boss.secrets()) as vol:
        await vol.upload(vol.bounds, data)
        await vol.delete(Bbox((0, 0, 16), (512, 512, 32)))
        got = (await vol.download(vol.bounds))[..., 0]
    expected = data.copy()
    expected[0:512, 0:512, 16:32] = 0
    assert np.array_equal(got, expected)
    assert [m for m, p, _ in boss.requests if "to_black" in p] == ["PUT"]


async def test_disk_cache_keeps_boss_chunks(boss: BossServer, tmp_path: Path) -> None:
    data = _random((600, 530, 36), np.uint16, seed=8)
    async with Volume("boss://col/exp/img16", secrets=boss.secrets(), cache=str(tmp_path / "cache")) as vol:
        await vol.upload(vol.bounds, data)  # written through: BOSS, then the cache (gzip, not blosc)
        assert len(boss.cutouts("POST")) == 12  # 2 x 2 x 3 cuboids
        assert np.array_equal((await vol.download(vol.bounds))[..., 0], data)
    assert boss.cutouts("GET") == []
    cached = sorted(p.name for p in (tmp_path / "cache" / "boss" / "col" / "exp" / "img16" / "4_4_40").iterdir())
    assert len(cached) == 12 and all(name.endswith(".gz") for name in cached)


async def test_transfer_to_and_from_boss(boss: BossServer, home: Path, tmp_path: Path) -> None:
    (home / ".cloudvolume" / "secrets" / "boss-secret.json").write_text(json.dumps(boss.secrets()))
    data = _random((600, 530, 36), np.uint16, seed=9)
    copy = "file://" + str(tmp_path / "copy")
    async with Volume("boss://col/exp/img16") as vol:
        await vol.upload(vol.bounds, data)
        await (await vol.transfer_to(copy, vol.bounds)).close()
    stored = sorted(p.name for p in (tmp_path / "copy" / "4_4_40").iterdir())
    assert len(stored) == 12 and all(n.endswith(".gz") for n in stored)  # gzip, never BOSS's blosc
    boss.add_channel("col", "exp", "back16", "image", "uint16")
    async with Volume(copy) as local:
        assert np.array_equal((await local.download(local.bounds))[..., 0], data)
        async with await local.transfer_to("boss://col/exp/back16", local.bounds) as back:
            assert np.array_equal((await back.download(back.bounds))[..., 0], data)
    assert np.array_equal(_server_xyz(boss, ("col", "exp", "back16"), 0, (0, 0, 0), (600, 530, 36)), data)


async def test_wrong_token_is_an_authentication_error_without_the_token(
        boss: BossServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-5f3a9c1e77d0"
    with pytest.raises(AuthenticationError) as info:
        await Volume.open("boss://col/exp/img8", secrets=boss.secrets(wrong))
    text = str(info.value)
    assert "HTTP 401" in text and "Invalid token." in text and "secrets argument" in text
    assert wrong not in text and wrong not in repr(info.value)
    assert wrong not in caplog.text and boss.token not in caplog.text
    paths = [p for _, p, _ in boss.requests]
    # experiment and channel are asked for at once (the first 401 may cancel the other before it
    # is sent); a 401 is never retried
    assert 1 <= len(paths) <= 2 and len(set(paths)) == len(paths)
    assert set(paths) <= {"/v1/collection/col/experiment/exp/", "/v1/collection/col/experiment/exp/channel/img8/"}


async def test_no_token_says_how_to_give_one(boss: BossServer) -> None:
    with pytest.raises(AuthenticationError, match="no token .*boss-secret.json"):
        await Volume.open("boss://col/exp/img8", secrets={"protocol": "http", "host": f"127.0.0.1:{boss.port}"})
    assert all(not had_token for _, _, had_token in boss.requests)


async def test_secret_file_in_home(boss: BossServer, home: Path) -> None:
    (home / ".cloudvolume" / "secrets" / "boss-secret.json").write_text(json.dumps(boss.secrets()))
    data = _random((512, 512, 16), np.uint16, seed=5)
    async with Volume("boss://col/exp/img16") as vol:
        await vol.upload(Bbox((0, 0, 0), (512, 512, 16)), data)
        assert np.array_equal((await vol.download(Bbox((0, 0, 0), (512, 512, 16))))[..., 0], data)
    (home / ".cloudvolume" / "secrets" / "boss-secret.json").write_text(
        json.dumps(boss.secrets("another-wrong-token")))
    with pytest.raises(AuthenticationError, match="boss-secret.json"):
        await Volume.open("boss://col/exp/img16")


async def test_5xx_faults_are_retried(boss: BossServer) -> None:
    data = _random((600, 530, 36), np.uint16, seed=6)
    async with Volume("boss://col/exp/img16", secrets=boss.secrets(), options=FAST) as vol:
        boss.fail_next(5, 503)
        await vol.upload(vol.bounds, data)
        boss.fail_next(4, 500)
        got = await vol.download(vol.bounds)
        boss.fail_next(3, 502)
        part = await vol.download(Bbox((505, 505, 15), (515, 515, 17)))
    assert boss.faults_served == 12
    assert np.array_equal(got[..., 0], data)
    assert np.array_equal(part[..., 0], data[505:515, 505:515, 15:17])


async def test_persistent_5xx_gives_up(boss: BossServer) -> None:
    async with Volume("boss://col/exp/img16", secrets=boss.secrets(), options=FAST) as vol:
        boss.fail_next(100, 503)
        with pytest.raises(RetriesExhausted, match="HTTP 503") as info:
            await vol.download(Bbox((0, 0, 0), (10, 10, 10)))
    assert isinstance(info.value, StorageError)
    assert boss.token not in str(info.value)
    assert boss.faults_served == 6  # max_attempts


async def test_what_boss_cannot_do_is_refused_by_type(boss: BossServer) -> None:
    async with Volume("boss://col/exp/seg64", secrets=boss.secrets()) as vol:
        with pytest.raises(UnsupportedFeatureError, match="no files .*meshes"):
            await vol.mesh.get(1)
        with pytest.raises(UnsupportedFeatureError, match="no files .*skeletons"):
            await vol.skeleton.get(1)
        with pytest.raises(UnsupportedFeatureError, match="BOSS cannot tell"):
            await vol.exists(Bbox((0, 0, 0), (512, 512, 16)))
        with pytest.raises(UnsupportedFeatureError, match="metadata cannot be written"):
            await vol.commit_info()
        info = vol.info
    info["scales"][0]["sharding"] = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
                                     "minishard_bits": 0, "shard_bits": 0, "minishard_index_encoding": "raw",
                                     "data_encoding": "raw"}
    async with Volume("boss://col/exp/seg64", secrets=boss.secrets(), info=info) as vol:
        with pytest.raises(UnsupportedFeatureError, match="not sharded"):
            await vol.download(Bbox((0, 0, 0), (10, 10, 10)))
    assert boss.cutouts() == []
    with pytest.raises(InfoUnavailableError, match="Channel not found"):
        await Volume.open("boss://col/exp/nope", secrets=boss.secrets())


def test_malformed_boss_paths() -> None:
    from aiovolume.exceptions import UnsupportedProtocolError
    from aiovolume.storage import parse_cloudpath

    cp = parse_cloudpath("boss://col/exp/chan/")
    assert (cp.scheme, cp.bucket, cp.path, cp.url) == ("boss", "col", "exp/chan", "boss://col/exp/chan")
    assert (cp.dataset_name, cp.layer) == ("exp", "chan")
    for bad in ("boss://col/exp", "boss://col/exp/chan/extra", "boss://col/e x/chan"):
        with pytest.raises(UnsupportedProtocolError, match="COLLECTION/EXPERIMENT/CHANNEL"):
            parse_cloudpath(bad)


def test_boss_credentials(home: Path) -> None:
    from aiovolume.storage.secrets import boss_credentials

    none = boss_credentials()
    assert (none.token, none.endpoint, none.source) == (None, "https://api.bossdb.io", "none")
    given = boss_credentials({"token": "abcd-1234-efgh", "host": "https://boss.example.org"})
    assert given.endpoint == "https://boss.example.org" and "abcd-1234-efgh" not in repr(given)
    with pytest.raises(AuthenticationError, match="neither https nor http"):
        boss_credentials({"token": "x", "protocol": "ftp"})


async def test_cloudvol_channel_reads_its_s3_layer(boss: BossServer, s3_env: CloudEnv) -> None:  # noqa: F811
    layer = f"s3://{s3_env.bucket}/{s3_env.prefix}/img"
    info = Volume.create_new_info(num_channels=1, layer_type="image", data_type="uint16", encoding="raw",
                                  resolution=[4, 4, 40], voxel_offset=[0, 0, 0], chunk_size=[64, 64, 16],
                                  volume_size=[128, 128, 32])
    data = _random((128, 128, 32), np.uint16, seed=7)
    async with Volume(layer, info=info) as src:
        await src.commit_info()
        await src.upload(src.bounds, data)
    boss.add_channel("col", "exp", "cv16", "image", "uint16", storage_type="cloudvol", bucket=s3_env.bucket,
                     cv_path=f"/{s3_env.prefix}/img", downsample_status="DOWNSAMPLED")
    async with Volume("boss://col/exp/cv16", secrets=boss.secrets()) as vol:
        assert vol.read_only
        assert vol.info["scales"][0]["chunk_sizes"] == [[64, 64, 16]]  # the S3 layer's own info
        got = await vol.download(Bbox((10, 20, 3), (100, 128, 30)))
        assert np.array_equal(got[..., 0], data[10:100, 20:128, 3:30])
        with pytest.raises(ReadOnlyException):
            await vol.upload(Bbox((0, 0, 0), (64, 64, 16)), data[:64, :64, :16])
    assert boss.cutouts() == []

