"""Acceptance of the reliability work: whole-volume reads over HTTP through the fault server.

Layers are written by the real cloud-volume into a directory served by the fault server
(root mode). The server injects 503/429/500, connection resets, truncated bodies and
flipped bytes; the reads must come back exact, with the retries visible in ``/__stats__``.
What no client can notice (a flipped byte in an uncompressed chunk with no checksum) is
documented by a test that shows the wrong bytes coming back.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from http_fixtures import (
    DETECTABLE, FAST, get_stats, post_faults, requests_for, reset_stats, served, textured, tiny_server,
    write_cv_layer,
)

import aiovolume
from aiovolume import Bbox, Volume
from aiovolume.exceptions import AuthenticationError, EmptyVolumeException, StorageError
from aiovolume.storage.http import HttpStore
from aiovolume.exceptions import RetriesExhausted
from aiovolume.testing.faultserver import FAULT_KINDS, FaultConfig, FaultServer, spawn_fault_server

pytestmark = pytest.mark.interop  # layers written by the real cloud-volume

SHAPE = (256, 256, 96)
CHUNK = (32, 32, 32)  # 8 x 8 x 3 = 192 chunks: enough requests for every fault kind to show
N_CHUNKS = 192
CHUNK_KEY = "4_4_40/32-64_64-96_32-64"


@pytest.fixture(scope="module")
def volume_data() -> np.ndarray:
    return textured(SHAPE, seed=11)


def make_layer(root: Path, data: np.ndarray, compress: bool | None) -> Path:
    layer = root / "ds" / "layer"
    write_cv_layer(layer, data, chunk=CHUNK, compress=compress)
    return layer


def assert_retried(stats: dict, kinds: tuple[str, ...]) -> None:
    """Every kind was injected, and every faulted chunk was fetched again."""
    for kind in kinds:
        assert stats["faults"].get(kind, 0) > 0, (kind, stats["faults"])
    for path, entry in stats["paths"].items():
        if entry["faults"]:
            assert entry["requests"] > sum(entry["faults"].values()), (path, entry)
    assert stats["requests"] > N_CHUNKS + sum(stats["faults"].values()) - 1


# -- exact data under 15% faults -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("compress", "content_md5"),
    [(None, False), (False, True)],
    ids=["gzip-chunks-no-checksum", "raw-chunks-content-md5"],
)
async def test_whole_volume_exact_under_15pct_faults(
    tmp_path: Path, volume_data: np.ndarray, compress: bool | None, content_md5: bool
) -> None:
    make_layer(tmp_path, volume_data, compress)
    async with served(tmp_path, FaultConfig(content_md5=content_md5)) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            faults = FaultConfig(fault_rate=0.15, faults=DETECTABLE, seed=5, content_md5=content_md5)
            await post_faults(srv.url, faults)
            img = await vol.download(vol.bounds)
            np.testing.assert_array_equal(np.asarray(img)[..., 0], volume_data)
            assert_retried(await get_stats(srv.url), DETECTABLE)

            await reset_stats(srv.url)
            cut = await vol.download(Bbox((17, 45, 5), (230, 201, 90)))  # not chunk-aligned
            np.testing.assert_array_equal(np.asarray(cut)[..., 0], volume_data[17:230, 45:201, 5:90])
            assert sum((await get_stats(srv.url))["faults"].values()) > 0


def test_blocking_facade_exact_under_faults_in_a_server_process(tmp_path: Path, volume_data: np.ndarray) -> None:
    make_layer(tmp_path, volume_data, None)
    with spawn_fault_server(root=tmp_path) as (_, url):
        vol = aiovolume.CloudVolume(f"{url}/ds/layer", options=FAST)
        try:
            import asyncio

            asyncio.run(post_faults(url, FaultConfig(fault_rate=0.15, faults=DETECTABLE, seed=9)))
            np.testing.assert_array_equal(vol[:, :, :][..., 0], volume_data)
            stats = asyncio.run(get_stats(url))
            assert_retried(stats, DETECTABLE)
        finally:
            vol.close()


# -- flipped bytes: detectable only with a checksum or a self-checking encoding -------------------
async def test_corrupt_raw_chunk_with_content_md5_is_caught_and_retried(tmp_path: Path, volume_data: np.ndarray) -> None:
    make_layer(tmp_path, volume_data, False)
    async with served(tmp_path, FaultConfig(content_md5=True)) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            srv.set_config(FaultConfig(fault_rate=0.3, faults=("corrupt",), content_md5=True, seed=2))
            img = await vol.download(vol.bounds)
        np.testing.assert_array_equal(np.asarray(img)[..., 0], volume_data)
        stats = srv.stats()
        assert stats["faults"]["corrupt"] > 20
        assert stats["requests"] == N_CHUNKS + stats["faults"]["corrupt"] + 1  # + info: one retry each


async def test_corrupt_raw_chunk_without_checksum_is_undetectable(tmp_path: Path, volume_data: np.ndarray) -> None:
    """Documents a limit, not a wish: an uncompressed raw chunk served with no checksum header
    (no Content-MD5, no x-goog-hash, no usable ETag) carries nothing that could reveal one
    flipped byte. The read "succeeds" and returns wrong voxels: exactly one per corruption."""
    make_layer(tmp_path, volume_data, False)
    async with served(tmp_path) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            srv.set_config(FaultConfig(fault_rate=0.3, faults=("corrupt",), seed=2))
            img = np.asarray(await vol.download(vol.bounds))[..., 0]
        corrupted = srv.stats()["faults"]["corrupt"]
    assert corrupted > 20
    wrong = img != volume_data
    assert int(wrong.sum()) == corrupted  # silently wrong: one voxel per flipped byte
    np.testing.assert_array_equal(img[wrong], volume_data[wrong] ^ 0xFF)


async def test_corrupt_gzip_chunk_is_caught_by_its_crc(tmp_path: Path, volume_data: np.ndarray) -> None:
    make_layer(tmp_path, volume_data, None)
    async with served(tmp_path) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            srv.set_config(FaultConfig(fault_rate=0.3, faults=("corrupt",), seed=4))
            img = await vol.download(vol.bounds)
        np.testing.assert_array_equal(np.asarray(img)[..., 0], volume_data)
        # a flip in the gzip header's MTIME/XFL/OS bytes is harmless and not retried
        assert srv.stats()["faults"]["corrupt"] > 20


# -- persistent failures: errors, never zeros -----------------------------------------------------
@pytest.mark.parametrize("fill_missing", [False, True])
async def test_persistent_503_is_an_error_never_zeros(tmp_path: Path, volume_data: np.ndarray, fill_missing: bool) -> None:
    make_layer(tmp_path, volume_data, None)
    async with served(tmp_path) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST, fill_missing=fill_missing) as vol:
            srv.set_config(FaultConfig(fail_keys={CHUNK_KEY: 503}))
            with pytest.raises(RetriesExhausted) as info:
                await vol.download(vol.bounds)
    err = info.value
    assert isinstance(err, StorageError)
    assert CHUNK_KEY in str(err) and "failed after 6 attempt(s)" in str(err) and err.attempts == 6
    assert "HTTP 503" in str(err)
    assert requests_for(srv.stats(), CHUNK_KEY) == 6


def test_persistent_503_through_the_blocking_facade(tmp_path: Path, volume_data: np.ndarray) -> None:
    make_layer(tmp_path, volume_data, None)
    with spawn_fault_server(root=tmp_path, config=FaultConfig(fail_keys={CHUNK_KEY: 503})) as (_, url):
        vol = aiovolume.CloudVolume(f"{url}/ds/layer", options=FAST, fill_missing=True)
        try:
            with pytest.raises(RetriesExhausted, match=f"{CHUNK_KEY}: failed after 6 attempt"):
                vol[:, :, :]
        finally:
            vol.close()


@pytest.mark.parametrize("status", [401, 403])
async def test_persistent_403_is_an_authentication_error_even_with_fill_missing(
    tmp_path: Path, volume_data: np.ndarray, status: int
) -> None:
    make_layer(tmp_path, volume_data, None)
    async with served(tmp_path) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST, fill_missing=True) as vol:
            srv.set_config(FaultConfig(fail_keys={CHUNK_KEY: status}))
            with pytest.raises(AuthenticationError, match=CHUNK_KEY):
                await vol.download(vol.bounds)
    assert requests_for(srv.stats(), CHUNK_KEY) == 1  # never retried


async def test_404_with_fill_missing_is_zeros(tmp_path: Path, volume_data: np.ndarray) -> None:
    layer = make_layer(tmp_path, volume_data, None)
    (layer / (CHUNK_KEY + ".gz")).unlink()
    async with served(tmp_path) as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST, fill_missing=True) as vol:
            img = np.asarray(await vol.download(vol.bounds))[..., 0]
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            with pytest.raises(EmptyVolumeException, match=CHUNK_KEY):
                await vol.download(vol.bounds)
    expect = volume_data.copy()
    expect[32:64, 64:96, 32:64] = 0
    np.testing.assert_array_equal(img, expect)
    assert requests_for(srv.stats(), CHUNK_KEY) == 2  # once per read: a 404 is an answer


# -- the fault server itself ---------------------------------------------------------------------
async def test_fault_server_control_and_stats(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100)
    async with served(tmp_path) as srv:
        cfg = await post_faults(srv.url, FaultConfig(fault_rate=1.0, faults=("500",), retry_after=0.2))
        assert cfg["faults"] == ["500"] and cfg["fault_rate"] == 1.0
        assert srv.config.faults == ("500",)
        async with HttpStore(srv.url, FAST) as store:
            with pytest.raises(RetriesExhausted):
                await store.get("a")
        stats = await get_stats(srv.url)
        assert stats == {"requests": 6, "faults": {"500": 6}, "paths": {"/a": {"requests": 6, "faults": {"500": 6}}}}
        await reset_stats(srv.url)
        assert (await get_stats(srv.url))["requests"] == 0

        import aiohttp

        async with aiohttp.ClientSession() as s:
            async with s.post(srv.url + "/__faults__", json={"faults": ["meteor"]}) as r:
                assert r.status == 400 and "meteor" in (await r.json())["error"]
            async with s.post(srv.url + "/__faults__", json={"fault_rate": 2}) as r:
                assert r.status == 400
            async with s.get(srv.url + "/a", headers={"Accept-Encoding": "identity"}) as r:
                assert r.status == 500 and "Retry-After" not in r.headers
            await post_faults(srv.url, FaultConfig(fault_rate=1.0, faults=("429",), retry_after=0.2))
            async with s.get(srv.url + "/a") as r:
                assert r.status == 429 and r.headers["Retry-After"] == "0.2"


async def test_fault_server_truncate_reset_and_bandwidth(tmp_path: Path) -> None:
    import aiohttp

    body = bytes(range(256)) * 1000
    (tmp_path / "a").write_bytes(body)
    async with served(tmp_path, FaultConfig(fault_rate=1.0, faults=("truncate",))) as srv:
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            async with s.get(srv.url + "/a") as r:
                assert r.headers["Content-Length"] == str(len(body))
                with pytest.raises(aiohttp.ClientPayloadError):
                    await r.read()
            srv.set_config(FaultConfig(fault_rate=1.0, faults=("reset",)))
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with s.get(srv.url + "/a") as r:
                    await r.read()
            srv.set_config(FaultConfig(fault_rate=1.0, faults=("truncate", "corrupt")))
            async with s.head(srv.url + "/a") as r:  # nothing to damage on a HEAD
                assert r.status == 200 and r.headers["Content-Length"] == str(len(body))
            srv.set_config(FaultConfig(bandwidth_mbps=400, latency_ms=5))
            async with s.get(srv.url + "/a") as r:
                assert await r.read() == body
        stats = srv.stats()
        # aiohttp itself retries once when a pooled connection dies before the response
        assert stats["faults"]["truncate"] == 1 and stats["faults"]["reset"] in (1, 2)


def test_fault_server_command_line(tmp_path: Path) -> None:
    (tmp_path / "k.gz").write_bytes(gzip.compress(b"hello"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovolume.testing.faultserver", "--host", "127.0.0.1", "--port", "0",
         "--root", str(tmp_path), "--latency-ms", "1", "--fault-rate", "0", "--faults", "503,reset", "--seed", "3",
         "--fail-key", "secret=403"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("LISTENING http://127.0.0.1:")
        url = first.split()[1]
        import urllib.error
        import urllib.request

        with urllib.request.urlopen(url + "/k") as r:
            assert r.headers["Content-Encoding"] == "gzip" and gzip.decompress(r.read()) == b"hello"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + "/secret/x")
        assert info.value.code == 403
        info.value.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # type: ignore[union-attr]


def test_fault_server_binds_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultServer(root=tmp_path, host="0.0.0.0")
    with pytest.raises(ValueError, match="exactly one"):
        FaultServer()


async def test_fault_server_proxy_mode(tmp_path: Path) -> None:
    """Upstream mode forwards method, path, query, headers and body; faults hit the way back."""
    seen: list[tuple[str, str, str | None, bytes]] = []

    async def origin(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.method, request.path_qs, request.headers.get("x-amz-meta"), body))
        if request.method == "HEAD":
            return web.Response(headers={"Content-Length": "5", "ETag": '"e"'})
        if request.method == "PUT":
            return web.Response(status=200, headers={"ETag": '"put"'})
        return web.Response(body=b"hello" * 1000, headers={"Content-Encoding": "gzip", "x-amz-request-id": "r1"})

    async with tiny_server(origin) as upstream:
        async with FaultServer(upstream=upstream) as proxy:
            import aiohttp

            async with aiohttp.ClientSession(auto_decompress=False) as s:
                async with s.put(proxy.url + "/bucket/key?x=1", data=io.BytesIO(b"payload" * 200_000), headers={"x-amz-meta": "m"}, expect100=True) as r:
                    assert r.status == 200 and r.headers["ETag"] == '"put"'
                async with s.get(proxy.url + "/bucket/key") as r:
                    assert await r.read() == b"hello" * 1000
                    assert r.headers["Content-Encoding"] == "gzip" and r.headers["x-amz-request-id"] == "r1"
                async with s.head(proxy.url + "/bucket/key") as r:
                    assert r.headers["Content-Length"] == "5"
                proxy.set_config(FaultConfig(fault_rate=1.0, faults=("503",)))
                async with s.put(proxy.url + "/bucket/key2", data=b"p") as r:
                    assert r.status == 503 and "Retry-After" in r.headers
                proxy.set_config(FaultConfig(fault_rate=1.0, faults=("corrupt",)))
                async with s.get(proxy.url + "/bucket/key") as r:
                    damaged = await r.read()
                    assert len(damaged) == 5000 and damaged != b"hello" * 1000
    assert seen[0] == ("PUT", "/bucket/key?x=1", "m", b"payload" * 200_000)
    assert [m for m, *_ in seen] == ["PUT", "GET", "HEAD", "PUT", "GET"]  # the 503'd PUT reached the origin


async def test_stats_name_every_kind(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"0123456789" * 100)
    async with served(tmp_path, FaultConfig(fault_rate=1.0, seed=1)) as srv:
        async with HttpStore(srv.url, FAST) as store:
            for _ in range(10):
                try:
                    await store.get("a")
                except RetriesExhausted:
                    pass
        assert set(srv.stats()["faults"]) <= set(FAULT_KINDS)
        assert len(srv.stats()["faults"]) == len(FAULT_KINDS)
