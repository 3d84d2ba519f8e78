"""HttpStore against real servers on 127.0.0.1: the read half of the store contract, status
mapping, ranges, content-encoding, checksums, credentials, loops, and a full read of a
layer written by the real cloud-volume, over http://."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import threading
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from contract import ReadContract
from http_fixtures import FAST, get_stats, requests_for, served, textured, tiny_server, write_cv_layer

import aiovolume
from aiovolume import Bbox, Volume
from aiovolume.exceptions import (
    AuthenticationError, IntegrityError, ReadOnlyException, StorageError, UnsupportedProtocolError,
)
from aiovolume.options import Options, RetryPolicy
from aiovolume.storage import Blob, PutItem, open_store
from aiovolume.storage.file import FileStore
from aiovolume.exceptions import ListingNotSupported
from aiovolume.storage.http import HttpStore
from aiovolume.exceptions import RetriesExhausted
from aiovolume.testing.faultserver import FaultConfig, spawn_fault_server


# -- the read half of the contract: written with a FileStore, read over HTTP ---------------------
class TestHttpStoreReads(ReadContract):
    config = FaultConfig()
    store_kwargs: dict = {}

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[HttpStore]:
        async with served(tmp_path / "srv", self.config) as srv:
            s = HttpStore(f"{srv.url}/ds/layer", FAST, **self.store_kwargs)
            yield s
            await s.close()

    @pytest.fixture
    async def writer(self, tmp_path: Path) -> AsyncIterator[FileStore]:
        w = FileStore(str(tmp_path / "srv" / "ds" / "layer"))
        yield w
        await w.close()


class TestHttpStoreReadsChecksummed(TestHttpStoreReads):
    """The same reads with every checksum on, so a checksum that fires wrongly would show."""

    config = FaultConfig(content_md5=True, etag_md5=True)
    store_kwargs = {"md5_etags": True}


@pytest.fixture
async def server(tmp_path: Path):
    async with served(tmp_path / "srv") as srv:
        yield srv


@pytest.fixture
def layer_dir(tmp_path: Path) -> Path:
    d = tmp_path / "srv" / "ds" / "layer"
    d.mkdir(parents=True)
    return d


# -- read-only -----------------------------------------------------------------------------------
async def test_writes_raise_read_only(server, layer_dir: Path) -> None:
    (layer_dir / "k").write_bytes(b"v")
    async with open_store(f"{server.url}/ds/layer", read_only=False) as store:  # http is read-only anyway
        assert isinstance(store, HttpStore) and store.read_only is True
        with pytest.raises(ReadOnlyException, match="read-only"):
            await store.put("k", b"new")
        with pytest.raises(ReadOnlyException):
            await store.delete("k")
        with pytest.raises(ReadOnlyException):
            await store.put_many([PutItem("a", b"1"), PutItem("b", b"2")])
        with pytest.raises(ReadOnlyException):
            await store.delete_many(["k"])
        assert (layer_dir / "k").read_bytes() == b"v"
        assert server.stats()["requests"] == 0  # refused before any request
    with pytest.raises(ReadOnlyException, match="read-only"):
        HttpStore(f"{server.url}/ds/layer", read_only=False)
    with pytest.raises(UnsupportedProtocolError, match="http"):
        HttpStore("gs://bucket/layer")


async def test_volume_over_http_is_read_only(server, layer_dir: Path) -> None:
    write_cv_layer(layer_dir, textured((64, 64, 64)))
    async with Volume(f"{server.url}/ds/layer") as vol:
        assert vol.read_only
        with pytest.raises(ReadOnlyException):
            await vol.upload(Bbox((0, 0, 0), (64, 64, 64)), np.zeros((64, 64, 64), np.uint8))
        with pytest.raises(ReadOnlyException):
            await vol.commit_info()


async def test_list_is_not_supported(server) -> None:
    async with HttpStore(f"{server.url}/ds/layer") as store:
        with pytest.raises(ListingNotSupported, match="cannot list") as info:
            store.list("")
        assert isinstance(info.value, StorageError) and isinstance(info.value, NotImplementedError)


# -- content-encoding, ranges, statuses ----------------------------------------------------------
async def test_gzip_blob_comes_back_raw(server, layer_dir: Path) -> None:
    payload = bytes(range(256)) * 100
    gz = gzip.compress(payload)
    (layer_dir / "chunk.gz").write_bytes(gz)  # CloudVolume's local layout
    async with HttpStore(f"{server.url}/ds/layer") as store:
        assert await store.get("chunk") == Blob(gz, "gzip")  # not inflated by aiohttp
        assert await store.get("chunk", (10, 20)) == Blob(gz[10:20], "gzip")
        assert await store.get("chunk", (-8, None)) == Blob(gz[-8:], "gzip")  # the gzip trailer
        assert await store.size("chunk") == len(gz)
        assert await store.get("chunk", (len(gz) + 5, None)) == Blob(b"", "gzip")  # 416


async def test_ranges_and_416(server, layer_dir: Path) -> None:
    data = bytes(range(200))
    (layer_dir / "r").write_bytes(data)
    (layer_dir / "empty").write_bytes(b"")
    async with HttpStore(f"{server.url}/ds/layer") as store:
        assert (await store.get("r", (0, 1))).data == data[:1]
        assert (await store.get("r", (199, 200))).data == data[199:]
        assert (await store.get("r", (-1, None))).data == data[-1:]
        assert (await store.get("r", (0, None))).data == data
        assert (await store.get("r", (200, 300))).data == b""  # 416
        assert (await store.get("empty", (0, 10))).data == b""  # 416 on an empty object
        assert (await store.get("empty", (-10, None))).data == b""
        assert await store.get("missing", (-10, None)) is None


async def test_server_that_ignores_range_and_head(tmp_path: Path) -> None:
    """Plain servers: Range ignored (200 + whole body), HEAD answered with 405."""
    data = bytes(range(100))

    async def handler(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=405)
        if request.path.endswith("/obj"):
            return web.Response(body=data)
        return web.Response(status=404)

    async with tiny_server(handler) as url, HttpStore(url + "/ds") as store:
        assert (await store.get("obj", (10, 20))).data == data[10:20]
        assert (await store.get("obj", (-5, None))).data == data[-5:]
        assert (await store.get("obj", (150, None))).data == b""
        assert await store.exists("obj") and not await store.exists("nope")
        assert await store.size("obj") == 100 and await store.size("nope") is None


async def test_unknown_content_encoding_is_an_error(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x\x9c...", headers={"Content-Encoding": "deflate"})

    async with tiny_server(handler) as url, HttpStore(url + "/ds", FAST) as store:
        with pytest.raises(StorageError, match="Content-Encoding 'deflate'"):
            await store.get("a")


async def test_404_is_missing(server) -> None:
    async with HttpStore(f"{server.url}/ds/layer") as store:
        assert await store.get("nope") is None
        assert await store.get_many(["nope", "nope2"]) == [None, None]
        assert not await store.exists("nope")
    assert server.stats()["requests"] == 4  # a 404 is an answer, not retried


@pytest.mark.parametrize("status", [401, 403])
async def test_401_403_are_authentication_errors_not_missing(server, layer_dir: Path, status: int) -> None:
    (layer_dir / "private").write_bytes(b"p")
    server.set_config(FaultConfig(fail_keys={"private": status}))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        for call in (store.get("private"), store.get("private", (0, 1)), store.exists("private"), store.size("private")):
            with pytest.raises(AuthenticationError, match=f"HTTP {status}") as info:
                await call
            assert "/ds/layer/private" in str(info.value) and "never a missing chunk" in str(info.value)
        with pytest.raises(AuthenticationError):
            await store.get_many(["other", "private"])
    assert requests_for(server.stats(), "private") == 5  # never retried


@pytest.mark.parametrize("status", [400, 410, 412])
async def test_other_4xx_are_storage_errors_not_retried(server, status: int) -> None:
    server.set_config(FaultConfig(fail_keys={"odd": status}))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        with pytest.raises(StorageError, match=f"HTTP {status}") as info:
            await store.get("odd")
        assert not isinstance(info.value, (AuthenticationError, RetriesExhausted))
    assert requests_for(server.stats(), "odd") == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(server, layer_dir: Path, status: int) -> None:
    (layer_dir / "k").write_bytes(b"v")
    server.set_config(FaultConfig(fail_keys={"k": status}))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        with pytest.raises(RetriesExhausted, match=r"GET http://127\.0\.0\.1:\d+/ds/layer/k: failed after 6 attempt") as info:
            await store.get("k")
        assert info.value.attempts == 6 and f"HTTP {status}" in str(info.value)
        server.set_config(FaultConfig())
        assert await store.get("k") == Blob(b"v", None)
    assert requests_for(server.stats(), "/k") == 7


async def test_read_timeout_is_retried_then_reported(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    options = FAST.with_(read_timeout=0.1, retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01))
    async with tiny_server(handler) as url, HttpStore(url + "/ds", options) as store:
        with pytest.raises(RetriesExhausted, match=r"2 attempt.*timed out \(sock_connect=10s, sock_read=0\.1s\)"):
            await store.get("slow")


async def test_connection_refused_is_retried_then_reported() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with HttpStore(f"http://127.0.0.1:{port}/ds", FAST) as store:
        with pytest.raises(RetriesExhausted, match="failed after 6 attempt.*ClientConnectorError"):
            await store.get("k")


# -- integrity -----------------------------------------------------------------------------------
async def test_content_md5_catches_corruption(server, layer_dir: Path) -> None:
    data = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    (layer_dir / "raw").write_bytes(data)
    server.set_config(FaultConfig(fault_rate=1.0, faults=("corrupt",), content_md5=True))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        with pytest.raises(RetriesExhausted, match="Content-MD5 mismatch") as info:
            await store.get("raw")
        assert isinstance(info.value.__cause__, IntegrityError)
        server.set_config(FaultConfig(fault_rate=0.5, faults=("corrupt",), content_md5=True, seed=7))
        for _ in range(20):
            assert (await store.get("raw")).data == data
    assert server.stats()["faults"]["corrupt"] >= 10


async def test_md5_etag_is_opt_in(server, layer_dir: Path) -> None:
    data = bytes(range(256)) * 40
    (layer_dir / "raw").write_bytes(data)
    server.set_config(FaultConfig(fault_rate=1.0, faults=("corrupt",), etag_md5=True))
    async with HttpStore(f"{server.url}/ds/layer", FAST, md5_etags=True) as store:
        with pytest.raises(RetriesExhausted, match=r"ETag \(MD5\) mismatch"):
            await store.get("raw")
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:  # default: ETags are opaque
        assert (await store.get("raw")).data != data  # undetectable without a checksum
    # a generic server's ETag is not an MD5: never a false alarm, even when opted in
    server.set_config(FaultConfig(etag_md5=False))
    async with HttpStore(f"{server.url}/ds/layer", FAST, md5_etags=True) as store:
        assert (await store.get("raw")).data == data


async def test_goog_hash_crc32c_and_md5(tmp_path: Path) -> None:
    import base64

    import google_crc32c

    good = b"gcs object bytes" * 1000
    crc = base64.b64encode(google_crc32c.value(good).to_bytes(4, "big")).decode()
    md5 = base64.b64encode(hashlib.md5(good).digest()).decode()
    bodies = {"/b/ok": good, "/b/bad-crc": good[:-1] + b"X", "/b/md5-only": good}

    async def handler(request: web.Request) -> web.Response:
        headers = {"x-goog-hash": f"md5={md5}"} if request.path.endswith("md5-only") else {"x-goog-hash": f"crc32c={crc},md5={md5}"}
        if request.headers.get("Range"):  # a range: the header describes the whole object
            return web.Response(status=206, body=bodies[request.path][:3], headers={**headers, "Content-Range": f"bytes 0-2/{len(good)}"})
        return web.Response(body=bodies[request.path], headers=headers)

    async with tiny_server(handler) as url, HttpStore(url + "/b", FAST) as store:
        assert (await store.get("ok")).data == good
        assert (await store.get("md5-only")).data == good
        assert (await store.get("bad-crc", (0, 3))).data == good[:3]  # not checked on ranges
        with pytest.raises(RetriesExhausted, match="x-goog-hash crc32c mismatch"):
            await store.get("bad-crc")


async def test_large_body_hashed_off_loop(server, layer_dir: Path) -> None:
    data = np.random.default_rng(1).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    (layer_dir / "big").write_bytes(data)
    server.set_config(FaultConfig(content_md5=True))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        assert (await store.get("big")).data == data


async def test_gzip_check_catches_corruption_and_can_be_turned_off(server, layer_dir: Path) -> None:
    payload = textured((64, 64, 8)).tobytes()
    (layer_dir / "c.gz").write_bytes(gzip.compress(payload))
    server.set_config(FaultConfig(fault_rate=1.0, faults=("corrupt",)))
    async with HttpStore(f"{server.url}/ds/layer", FAST, check_gzip=True) as store:
        with pytest.raises(RetriesExhausted, match="gzip body failed its integrity check"):
            await store.get("c")
        # a range of a gzip body cannot be checked: it comes back as served
        assert len((await store.get("c", (0, 100))).data) == 100
    async with HttpStore(f"{server.url}/ds/layer", FAST, check_gzip=False) as store:
        blob = await store.get("c")  # served damaged; the decoder will notice
        assert blob is not None and blob.data != gzip.compress(payload)


# -- credentials ---------------------------------------------------------------------------------
SECRET = "s3cr3t-Pa55word"


async def test_basic_auth_from_url(tmp_path: Path, layer_dir: Path) -> None:
    (layer_dir / "k").write_bytes(b"v")
    async with served(tmp_path / "srv", require_auth=("alice", SECRET)) as srv:
        hostport = srv.url.removeprefix("http://")
        async with open_store(f"http://alice:{SECRET}@{hostport}/ds/layer", FAST) as store:
            assert await store.get("k") == Blob(b"v", None)
            assert await store.exists("k") and await store.size("k") == 1
            assert SECRET not in repr(store) and SECRET not in store.url and "alice" not in store.url
        async with open_store(f"http://{hostport}/ds/layer", FAST) as store:
            with pytest.raises(AuthenticationError, match="HTTP 401"):
                await store.get("k")


def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + "".join(repr(a) for a in exc.args)


async def test_secrets_never_in_errors_logs_or_reprs(
    tmp_path: Path, layer_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # credentials in the environment are not ours to use (trust_env=False) nor to leak
    monkeypatch.setenv("HTTP_PROXY", f"http://proxyuser:{SECRET}-env@127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", f"http://proxyuser:{SECRET}-env@127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    (layer_dir / "k").write_bytes(b"v")
    errors: list[BaseException] = []
    async with served(tmp_path / "srv", require_auth=("alice", SECRET)) as srv:
        hostport = srv.url.removeprefix("http://")
        wrong = f"http://alice:{SECRET}-wrong@{hostport}/ds/layer"
        right = f"http://alice:{SECRET}@{hostport}/ds/layer"
        async with open_store(wrong, FAST) as store:
            for call in (store.get("k"), store.exists("k"), store.get("k", (0, 1))):
                with pytest.raises(AuthenticationError) as info:
                    await call
                errors.append(info.value)
            errors.append(ValueError(repr(store)))
        async with open_store(right, FAST) as store:
            assert await store.get("k") == Blob(b"v", None)  # the env proxy was not used
            srv.set_config(FaultConfig(fail_keys={"k": 503}))
            with pytest.raises(RetriesExhausted) as info:
                await store.get("k")
            errors.append(info.value)
            srv.set_config(FaultConfig(fault_rate=1.0, faults=("truncate",)))
            with pytest.raises(RetriesExhausted) as info:
                await store.get("k")
            errors.append(info.value)
        with pytest.raises(AuthenticationError) as info:
            async with Volume(wrong, options=FAST, fill_missing=True):
                pass
        errors.append(info.value)
    with pytest.raises(Exception) as refused:  # the server is gone: connection refused
        async with open_store(right, FAST) as store:
            await store.get("k")
    errors.append(refused.value)
    for exc in errors:
        text = _all_text(exc)
        assert SECRET not in text, text
        assert "alice:" not in text, text
    assert SECRET not in caplog.text


# -- sessions and loops --------------------------------------------------------------------------
async def test_session_is_lazy_and_per_store(server, layer_dir: Path) -> None:
    (layer_dir / "k").write_bytes(b"v")
    store = HttpStore(f"{server.url}/ds/layer", Options(concurrency={"http": 7}))
    assert store._clients.current is None  # nothing until the first request
    assert await store.get("k") == Blob(b"v", None)
    session = store._clients.current.session
    assert session is not None and session.connector.limit == 7
    assert session.auto_decompress is False
    assert session.timeout.total is None and session.timeout.sock_read == 30 and session.timeout.sock_connect == 10
    await store.get("k")
    assert store._clients.current.session is session  # reused
    await store.close()
    assert session.closed
    await store.close()


def test_store_used_from_several_loops() -> None:
    """asyncio.run twice, then a loop running in another thread: a session per loop, none leaked."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ds").mkdir()
        (Path(tmp) / "ds" / "k").write_bytes(b"v")
        with spawn_fault_server(root=tmp) as (_, url):
            store = HttpStore(url + "/ds", FAST)
            assert asyncio.run(store.get("k")) == Blob(b"v", None)
            first = store._clients.current.session
            assert asyncio.run(store.get("k")) == Blob(b"v", None)  # first loop is closed
            assert first.closed and store._clients.current.session is not first

            other = asyncio.new_event_loop()
            thread = threading.Thread(target=other.run_forever, daemon=True)
            thread.start()
            try:
                fut = asyncio.run_coroutine_threadsafe(store.get("k"), other)
                assert fut.result(timeout=30) == Blob(b"v", None)
                in_other = store._clients.current.session
                assert asyncio.run(store.get("k")) == Blob(b"v", None)  # closes in_other on its loop
                asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), other).result(timeout=30)
                assert in_other is not None and in_other.closed
            finally:
                other.call_soon_threadsafe(other.stop)
                thread.join(timeout=30)
                other.close()
            asyncio.run(store.close())


def test_blocking_facade_over_http(tmp_path: Path) -> None:
    data = textured((96, 80, 70), seed=3)
    write_cv_layer(tmp_path / "ds" / "layer", data, chunk=(32, 32, 32), offset=(5, -7, 11))
    with spawn_fault_server(root=tmp_path) as (_, url):
        vol = aiovolume.CloudVolume(f"{url}/ds/layer", options=FAST)
        try:
            assert vol.read_only
            np.testing.assert_array_equal(vol[:, :, :][..., 0], data)
            cut = vol[10:70, -3:60, 20:77]  # non-aligned, straddling chunk planes
            np.testing.assert_array_equal(cut[..., 0], data[5:65, 4:67, 9:66])
        finally:
            vol.close()


# -- a whole layer written by the real cloud-volume, read over http:// ---------------------------
@pytest.mark.interop
@pytest.mark.parametrize("compress", [None, False], ids=["cv_default_gzip", "plain"])
async def test_full_read_of_cloudvolume_layer(tmp_path: Path, compress: bool | None) -> None:
    data = textured((200, 170, 70), seed=1)
    offset = (-37, 11, -5)
    layer = tmp_path / "srv" / "ds" / "layer"
    write_cv_layer(layer, data, chunk=(64, 64, 32), offset=offset, compress=compress)
    suffixes = {p.suffix for p in (layer / "4_4_40").iterdir()}
    assert suffixes == ({".gz"} if compress is None else {""})
    async with served(tmp_path / "srv") as srv:
        async with Volume(f"{srv.url}/ds/layer", options=FAST) as vol:
            assert vol.read_only
            whole = await vol.download(vol.bounds)
            np.testing.assert_array_equal(np.asarray(whole)[..., 0], data)
            lo = (-37 + 13, 11 + 50, -5 + 21)
            hi = (-37 + 161, 11 + 140, -5 + 66)
            cut = await vol.download(Bbox(lo, hi))
            expect = data[13:161, 50:140, 21:66]
            assert cut.shape == (*expect.shape, 1)
            np.testing.assert_array_equal(np.asarray(cut)[..., 0], expect)
        stats = await get_stats(srv.url)
        assert stats["faults"] == {} and stats["requests"] >= 1 + len(list((layer / "4_4_40").iterdir()))


def test_gzip_check_is_opt_in() -> None:
    # the read pipeline re-fetches chunks that fail to decode, so the store need not inflate twice
    assert HttpStore("http://127.0.0.1:1/ds").check_gzip is False
    assert HttpStore("https://127.0.0.1:1/ds").check_gzip is False
    assert HttpStore("https://127.0.0.1:1/ds", check_gzip=True).check_gzip is True
    assert HttpStore("http://127.0.0.1:1/ds", check_gzip=False).check_gzip is False


# -- get_ranges: coalescing as the server sees it -----------------------------------------------
async def test_get_ranges_merges_near_ranges_into_one_request(server, layer_dir: Path) -> None:
    data = bytes(range(256)) * 200  # 51,200 bytes
    (layer_dir / "0.shard").write_bytes(data)
    near = [(300, 400), (0, 100), (100, 200), (150, 250), (0, 100), (1000, 1000), (4000, 4100)]
    far = [(0, 10), (20_000, 20_010), (50_000, 50_010)]  # gaps much larger than range_gap
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        assert HttpStore.range_gap == 4096
        server.reset_stats()
        assert await store.get_ranges("0.shard", near) == [data[a:b] for a, b in near]
        assert requests_for(server.stats(), "0.shard") == 1
        server.reset_stats()
        assert await store.get_ranges("0.shard", far) == [data[a:b] for a, b in far]
        assert requests_for(server.stats(), "0.shard") == 3
        server.reset_stats()
        assert await store.get_ranges("0.shard", [(0, 0)]) == [b""]  # existence only: one HEAD
        assert requests_for(server.stats(), "0.shard") == 1


async def test_get_ranges_retries_each_merged_read(server, layer_dir: Path) -> None:
    data = bytes(range(256)) * 200
    (layer_dir / "0.shard").write_bytes(data)
    ranges = [(0, 10), (20_000, 20_010), (50_000, 50_010)]
    server.set_config(FaultConfig(fault_rate=0.5, faults=("503", "reset", "truncate"), seed=3))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        assert await store.get_ranges("0.shard", ranges) == [data[a:b] for a, b in ranges]
    stats = server.stats()
    assert stats["faults"] and stats["requests"] == 3 + sum(stats["faults"].values())


async def test_get_ranges_auth_failure_is_not_missing(server, layer_dir: Path) -> None:
    (layer_dir / "0.shard").write_bytes(b"x" * 100)
    server.set_config(FaultConfig(fail_keys={"0.shard": 403}))
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        with pytest.raises(AuthenticationError):
            await store.get_ranges("0.shard", [(0, 10)])


async def test_get_buffer_hands_back_every_byte_of_big_bodies_through_faults(server, layer_dir: Path) -> None:
    """A big body is copied into huge-page-backed memory as it arrives: the bytes must be exactly
    the file's, small and big, and a truncated or reset transfer is retried, never returned short."""
    big = np.random.default_rng(7).integers(0, 256, (5 << 20) + 12345, dtype=np.uint8).tobytes()
    (layer_dir / "big").write_bytes(big)
    (layer_dir / "small").write_bytes(big[:1000])
    async with HttpStore(f"{server.url}/ds/layer", FAST) as store:
        blob = await store.get_buffer("big")
        assert isinstance(blob.data, memoryview) and bytes(blob.data) == big and blob.encoding is None
        assert (await store.get("big")).data == big  # plain get: bytes, as before
        assert bytes((await store.get_buffer("small")).data) == big[:1000]
        assert await store.get_buffer("nothing") is None
        server.set_config(FaultConfig(fault_rate=0.5, faults=("503", "reset", "truncate"), seed=4))
        for _ in range(4):
            assert bytes((await store.get_buffer("big")).data) == big
        assert server.stats()["faults"].get("truncate")
        server.set_config(FaultConfig(fault_rate=1.0, faults=("truncate",)))
        with pytest.raises(RetriesExhausted, match="content length"):
            await store.get_buffer("big")
