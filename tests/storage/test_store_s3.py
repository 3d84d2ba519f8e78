"""S3Store against moto's S3 server (a subprocess on 127.0.0.1), with and without the fast path.

The whole shared contract runs twice (signed aiohttp fast path, and everything through
aiobotocore); then S3 specifics: headers we send, what S3 stores, 403s, integrity checks and
retries through the fault-injecting proxy, endpoints and aliases.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from cloud_fixtures import BUCKET, CloudEnv, RecordingProxy, drain, moto_server, s3_env, seeded_paths  # noqa: F401
from contract import StoreContract

from aiovolume.exceptions import AuthenticationError, StorageError, UnsupportedProtocolError
from aiovolume.options import Options, RetryPolicy
from aiovolume.storage import Blob, PutItem, open_store
from aiovolume.exceptions import RetriesExhausted
from aiovolume.storage.s3 import S3Store, register_s3_alias, s3_aliases, unregister_s3_alias
from aiovolume.testing.faultserver import FaultConfig, FaultServer

FAST_RETRY = Options(retry=RetryPolicy(max_attempts=12, base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05))


def s3_store(env: CloudEnv, fast_path: bool = True, options: Options | None = None, **kw: object) -> S3Store:
    store = open_store(f"s3://{env.bucket}/{env.prefix}/ds/layer", options, **kw)  # type: ignore[arg-type]
    assert isinstance(store, S3Store)
    store.fast_path = fast_path
    return store


async def aws_client(endpoint: str):  # noqa: ANN201 - an aiobotocore client context
    from aiobotocore.session import get_session

    return get_session().create_client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                       aws_access_key_id="testing", aws_secret_access_key="testing")


class TestS3StoreFastPath(StoreContract):
    @pytest.fixture
    async def store(self, s3_env: CloudEnv) -> AsyncIterator[S3Store]:
        s = s3_store(s3_env, fast_path=True)
        yield s
        await s.close()


class TestS3StoreBotocore(StoreContract):
    @pytest.fixture
    async def store(self, s3_env: CloudEnv) -> AsyncIterator[S3Store]:
        s = s3_store(s3_env, fast_path=False)
        yield s
        await s.close()


both_paths = pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "botocore"])


# -- what we send and what S3 stores ----------------------------------------------------------------
@both_paths
async def test_gzip_round_trip_is_raw_and_stored_with_metadata(s3_env: CloudEnv, fast_path: bool) -> None:
    gz = gzip.compress(b"chunk " * 5000)
    async with s3_store(s3_env, fast_path) as store:
        await store.put("0-64_0-64_0-64", gz, content_encoding="gzip", cache_control="public, max-age=60")
        assert await store.get("0-64_0-64_0-64") == Blob(gz, "gzip")  # not decompressed
        assert await store.size("0-64_0-64_0-64") == len(gz)
    async with await aws_client(s3_env.endpoint) as s3:
        head = await s3.head_object(Bucket=BUCKET, Key=f"{s3_env.prefix}/ds/layer/0-64_0-64_0-64")
    assert head["ContentEncoding"] == "gzip"
    assert head["CacheControl"] == "public, max-age=60"
    assert head["ContentType"] == "application/octet-stream"
    assert head["ETag"].strip('"') == hashlib.md5(gz).hexdigest()


@both_paths
async def test_content_md5_and_headers_are_sent(s3_env: CloudEnv, fast_path: bool) -> None:
    data = os.urandom(3 << 20)  # large enough to be hashed off the loop
    async with RecordingProxy(s3_env.endpoint) as proxy:
        store = S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", endpoint=proxy.url, fast_path=fast_path)
        async with store:
            await store.put("big", data, content_type="application/x-test", cache_control="no-cache")
            await store.put("small", b"x", content_encoding="gzip")
            assert (await store.get("big")).data == data  # type: ignore[union-attr]
    puts = proxy.of("PUT")
    assert len(puts) == 2
    big = {k.lower(): v for k, v in puts[0].headers.items()}
    assert big["content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert big["content-type"] == "application/x-test"
    assert big["cache-control"] == "no-cache"
    assert "content-encoding" not in big
    assert big["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    small = {k.lower(): v for k, v in puts[1].headers.items()}
    assert small["content-encoding"] == "gzip"
    assert small["content-md5"] == base64.b64encode(hashlib.md5(b"x").digest()).decode()
    # S3-compatible endpoint: no flexible-checksum headers, which such stores often reject
    assert not any(k.lower().startswith("x-amz-checksum") for r in proxy.requests for k in r.headers)
    assert all(r.path.startswith(f"/{BUCKET}/") for r in proxy.requests)  # path-style addressing


@both_paths
async def test_put_etag_mismatch_is_retried(s3_env: CloudEnv, fast_path: bool) -> None:
    async with RecordingProxy(s3_env.endpoint, tamper_etag=2) as proxy:
        store = S3Store(BUCKET, f"{s3_env.prefix}/l", FAST_RETRY, endpoint=proxy.url, fast_path=fast_path)
        async with store:
            await store.put("k", b"payload")
            assert await store.get("k") == Blob(b"payload", None)
    assert len(proxy.of("PUT")) == 3  # two "corrupted" uploads, then a good one


async def test_put_etag_mismatch_exhausts(s3_env: CloudEnv) -> None:
    opts = Options(retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))
    async with RecordingProxy(s3_env.endpoint, tamper_etag=10) as proxy:
        async with S3Store(BUCKET, f"{s3_env.prefix}/l", opts, endpoint=proxy.url) as store:
            with pytest.raises(RetriesExhausted, match="ETag"):
                await store.put("k", b"payload")


# -- errors: never "missing" ----------------------------------------------------------------------
@both_paths
async def test_403_is_an_error_never_missing(s3_env: CloudEnv, fast_path: bool) -> None:
    async with s3_store(s3_env, fast_path) as store:
        await store.put("secret/chunk", b"data")
    config = FaultConfig(fail_keys={"secret/": 403})
    async with FaultServer(upstream=s3_env.endpoint, config=config) as srv:
        store = S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", endpoint=srv.url, fast_path=fast_path)
        async with store:
            calls = [lambda: store.get("secret/chunk"), lambda: store.get("secret/chunk", (0, 2)),
                     lambda: store.exists("secret/chunk"), lambda: store.size("secret/chunk"),
                     lambda: store.put("secret/x", b"1"), lambda: store.delete("secret/chunk"),
                     lambda: store.get_many(["secret/chunk"])]
            for call in calls:
                with pytest.raises(AuthenticationError, match="403"):
                    await call()
            assert await store.get("open/missing") is None  # other keys still work
        stats = srv.stats()
    # not retried: one request per call
    assert sum(e["requests"] for p, e in stats["paths"].items() if "secret/" in p) == 7


@both_paths
async def test_anonymous_requests_get_403_from_moto(s3_env: CloudEnv, fast_path: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with s3_store(s3_env, fast_path) as store:
        await store.put("k", b"v")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with s3_store(s3_env, fast_path) as anon:
        with pytest.raises(AuthenticationError, match="403"):
            await anon.get("k")


@both_paths
async def test_missing_bucket_is_an_error(s3_env: CloudEnv, fast_path: bool) -> None:
    store = open_store("s3://no-such-bucket-here/layer")
    assert isinstance(store, S3Store)
    store.fast_path = fast_path
    async with store:
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await store.get("info")
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await drain(store.list())


@both_paths
async def test_server_errors_and_resets_are_retried(s3_env: CloudEnv, fast_path: bool) -> None:
    s3_env = seeded_paths(s3_env, f"s3-errors-{'fast' if fast_path else 'botocore'}")
    payloads = {f"r/{i}": os.urandom(2000 + i) for i in range(30)}
    async with s3_store(s3_env, fast_path) as store:
        await store.put_many([PutItem(k, v) for k, v in payloads.items()])
    config = FaultConfig(fault_rate=0.25, faults=("503", "429", "500", "reset", "truncate"), seed=3, retry_after=0.01)
    async with FaultServer(upstream=s3_env.endpoint, config=config) as srv:
        store = S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", FAST_RETRY, endpoint=srv.url, fast_path=fast_path)
        async with store:
            blobs = await store.get_many(list(payloads))
            assert [b.data for b in blobs if b] == list(payloads.values())
            assert await store.exists_many(list(payloads)) == [True] * 30
        faults = srv.stats()["faults"]
    assert sum(faults.values()) >= 10, faults


@both_paths
async def test_corrupt_bodies_are_caught_and_retried(s3_env: CloudEnv, fast_path: bool) -> None:
    s3_env = seeded_paths(s3_env, f"s3-corrupt-{'fast' if fast_path else 'botocore'}")
    payloads = {f"c/{i}": os.urandom(64 << 10) for i in range(20)}
    payloads["c/gz"] = gzip.compress(os.urandom(1000))
    async with s3_store(s3_env, fast_path) as store:
        await store.put_many([PutItem(k, v, content_encoding="gzip" if k == "c/gz" else None) for k, v in payloads.items()])
    config = FaultConfig(fault_rate=0.3, faults=("corrupt",), seed=7)
    async with FaultServer(upstream=s3_env.endpoint, config=config) as srv:
        store = S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", FAST_RETRY, endpoint=srv.url, fast_path=fast_path)
        async with store:
            blobs = await store.get_many(list(payloads))
        stats = srv.stats()
    assert [b.data for b in blobs if b] == list(payloads.values())  # exact bytes, every one
    assert blobs[-1] is not None and blobs[-1].encoding == "gzip"
    assert stats["faults"].get("corrupt", 0) >= 2
    assert stats["requests"] == len(payloads) + stats["faults"]["corrupt"]  # each corruption cost one retry


async def test_persistent_corruption_exhausts_retries(s3_env: CloudEnv) -> None:
    async with s3_store(s3_env) as store:
        await store.put("bad", os.urandom(1000))
    opts = Options(retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001))
    async with FaultServer(upstream=s3_env.endpoint, config=FaultConfig(fault_rate=1.0, faults=("corrupt",))) as srv:
        async with S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", opts, endpoint=srv.url) as store:
            with pytest.raises(RetriesExhausted, match="MD5") as info:
                await store.get("bad")
    assert info.value.attempts == 3


async def test_connection_refused_is_transient_then_exhausted(s3_env: CloudEnv) -> None:
    from cloud_fixtures import free_port

    opts = Options(retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))
    for fast_path in (True, False):
        async with S3Store(BUCKET, "x", opts, endpoint=f"http://127.0.0.1:{free_port()}", fast_path=fast_path) as store:
            with pytest.raises(RetriesExhausted):
                await store.get("k")


# -- endpoints, aliases, secrets ----------------------------------------------------------------------
def test_matrix_alias_endpoint() -> None:
    store = open_store("matrix://bucket/ds/layer")
    assert isinstance(store, S3Store)
    assert store.url == "matrix://bucket/ds/layer" and store.scheme == "matrix"
    assert store._url_endpoint == "https://s3-hpcrc.rc.princeton.edu"
    assert s3_aliases()["matrix"] == "https://s3-hpcrc.rc.princeton.edu"


async def test_registered_alias_reaches_its_endpoint(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3_env.write_secret("mymoto-secret.json", {"AWS_ACCESS_KEY_ID": "alias", "AWS_SECRET_ACCESS_KEY": "alias-secret"})
    async with RecordingProxy(s3_env.endpoint) as proxy:
        register_s3_alias("mymoto", proxy.url)
        try:
            async with open_store(f"mymoto://{BUCKET}/{s3_env.prefix}/layer") as store:
                assert isinstance(store, S3Store) and store.url == f"mymoto://{BUCKET}/{s3_env.prefix}/layer"
                await store.put("k", b"via alias")
                assert await store.get("k") == Blob(b"via alias", None)
                assert await drain(store.list()) == ["k"]
        finally:
            unregister_s3_alias("mymoto")
    assert proxy.requests and all(r.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=alias/")
                                  for r in proxy.requests)
    with pytest.raises(UnsupportedProtocolError):
        open_store(f"mymoto://{BUCKET}/x")


def test_alias_validation() -> None:
    with pytest.raises(UnsupportedProtocolError, match="built-in protocol"):
        register_s3_alias("gs", "http://127.0.0.1:1")
    with pytest.raises(UnsupportedProtocolError):
        register_s3_alias("x", "ftp://host")
    with pytest.raises(UnsupportedProtocolError, match="without credentials"):
        register_s3_alias("x", "http://user:pw@host")
    with pytest.raises(UnsupportedProtocolError, match="built-in alias"):
        unregister_s3_alias("matrix")


async def test_explicit_endpoint_in_url(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    url = f"s3://{s3_env.endpoint}/{BUCKET}/{s3_env.prefix}/layer"
    async with open_store(url) as store:
        assert store.url == url
        await store.put("k", b"v")
        assert await store.get("k") == Blob(b"v", None)


async def test_endpoint_and_keys_from_bucket_secret_file(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    async with RecordingProxy(s3_env.endpoint) as proxy:
        s3_env.write_secret("aws-secret.json", {"AWS_ACCESS_KEY_ID": "default", "AWS_SECRET_ACCESS_KEY": "d"})
        s3_env.write_secret(f"{BUCKET}-aws-secret.json", {
            "AWS_ACCESS_KEY_ID": "bucketkey", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL": proxy.url,
        })
        async with s3_store(s3_env) as store:
            await store.put("k", b"v")
    assert proxy.of("PUT")[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=bucketkey/")


async def test_credentials_in_endpoint_url_are_refused() -> None:
    with pytest.raises(UnsupportedProtocolError, match="secrets="):
        open_store("s3://https://user:pw@example.invalid/bucket/layer")


async def test_secrets_argument_overrides_environment(s3_env: CloudEnv) -> None:
    async with RecordingProxy(s3_env.endpoint) as proxy:
        secrets = {"AWS_ACCESS_KEY_ID": "argkey", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": proxy.url}
        async with s3_store(s3_env, secrets=secrets) as store:
            await store.put("k", b"v")
    assert proxy.of("PUT")[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=argkey/")


# -- listing and batches --------------------------------------------------------------------------------
async def test_list_paginates_and_delete_many_batches(s3_env: CloudEnv) -> None:
    keys = [f"many/{i:05d}" for i in range(2100)]
    async with s3_store(s3_env, options=Options(concurrency={"s3": 64})) as store:
        await store.put_many([PutItem(k, b"") for k in keys])
        await store.put("many_other", b"")
        assert await drain(store.list("many/")) == keys  # 3 pages of 1000
        await store.delete_many(keys[:2050] + ["many/missing"])  # 3 batches
        assert await drain(store.list("many")) == keys[2050:] + ["many_other"]


async def test_delete_many_403_is_an_error(s3_env: CloudEnv) -> None:
    config = FaultConfig(fail_keys={f"/{BUCKET}": 403})  # DeleteObjects is POST /bucket?delete
    async with FaultServer(upstream=s3_env.endpoint, config=config) as srv:
        async with S3Store(BUCKET, s3_env.prefix, endpoint=srv.url) as store:
            with pytest.raises(AuthenticationError):
                await store.delete_many(["a", "b"])


# -- lifecycle ------------------------------------------------------------------------------------------
async def test_client_is_created_lazily_and_reused(s3_env: CloudEnv) -> None:
    store = s3_store(s3_env)
    assert store._clients.current is None  # nothing happens before the first call
    async with store:
        await store.put("a", b"1")
        conn = store._clients.current
        await asyncio.gather(*(store.get("a") for _ in range(20)))
        assert store._clients.current is conn
    assert store._clients.current is None


def test_store_follows_the_loop(s3_env: CloudEnv) -> None:
    """Used from a background loop, then from another loop: clients are re-created in the new
    loop, and close() there closes the old ones on their own loop."""
    import threading

    store = s3_store(s3_env)
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        async def use(data: bytes) -> object:
            await store.put("loop", data)
            assert await store.get("loop") == Blob(data, None)
            return store._clients.current

        first = asyncio.run_coroutine_threadsafe(use(b"x"), other).result(60)

        async def second_loop() -> object:
            conn = await use(b"y")
            await store.close()
            return conn

        second = asyncio.run(second_loop())
        assert first is not second and first.loop is other  # type: ignore[attr-defined]
        assert first.http.closed  # type: ignore[attr-defined]  # closed on its own loop
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()


# -- get_ranges: coalescing as the server sees it -----------------------------------------------
@both_paths
async def test_get_ranges_merges_near_ranges(s3_env: CloudEnv, fast_path: bool) -> None:
    data = os.urandom(60_000)
    near = [(300, 400), (0, 100), (150, 250), (4000, 4100), (0, 100)]
    far = [(0, 10), (30_000, 30_010), (59_990, 60_000)]
    async with RecordingProxy(s3_env.endpoint) as proxy:
        store = S3Store(BUCKET, f"{s3_env.prefix}/ds/layer", endpoint=proxy.url, fast_path=fast_path)
        async with store:
            await store.put("0.shard", data)
            proxy.requests.clear()
            assert await store.get_ranges("0.shard", near) == [data[a:b] for a, b in near]
            assert [r.headers.get("Range") for r in proxy.of("GET")] == ["bytes=0-4099"]
            proxy.requests.clear()
            assert await store.get_ranges("0.shard", far) == [data[a:b] for a, b in far]
            assert sorted(r.headers.get("Range") for r in proxy.of("GET")) == [
                "bytes=0-9", "bytes=30000-30009", "bytes=59990-59999"]
