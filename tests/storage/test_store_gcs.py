"""GcsStore against fake-gcs-server (a subprocess on 127.0.0.1).

The whole shared contract, then GCS specifics: stored encodings and metadata, the headers we
send, 403s, integrity checks and retries through the fault-injecting proxy, and a real
service-account token flow (a local token endpoint) in front of the emulator.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cloud_fixtures import (  # noqa: F401
    BUCKET, CloudEnv, RecordingProxy, TokenServer, drain, gcs_env, gcs_server, seeded_paths, service_account,
)
from contract import StoreContract

from aiovolume.exceptions import AuthenticationError, StorageError
from aiovolume.options import Options, RetryPolicy
from aiovolume.storage import Blob, PutItem, open_store
from aiovolume.storage.gcs import GcsStore
from aiovolume.exceptions import RetriesExhausted
from aiovolume.testing.faultserver import FaultConfig, FaultServer

FAST_RETRY = Options(retry=RetryPolicy(max_attempts=12, base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05))


def gcs_store(env: CloudEnv, options: Options | None = None, **kw: Any) -> GcsStore:
    store = open_store(f"gs://{env.bucket}/{env.prefix}/ds/layer", options, **kw)
    assert isinstance(store, GcsStore)
    return store


async def object_metadata(env: CloudEnv, name: str) -> dict[str, Any]:
    from urllib.parse import quote

    async with aiohttp.ClientSession() as http:
        url = f"{env.endpoint}/storage/v1/b/{env.bucket}/o/{quote(name, safe='')}"
        async with http.get(url) as resp:
            resp.raise_for_status()
            return await resp.json()


class TestGcsStore(StoreContract):
    @pytest.fixture
    async def store(self, gcs_env: CloudEnv) -> AsyncIterator[GcsStore]:
        s = gcs_store(gcs_env)
        yield s
        await s.close()


# -- what we send and what GCS stores ---------------------------------------------------------------
@pytest.mark.parametrize("cache_control", [None, "public, max-age=60"])
async def test_gzip_round_trip_is_raw_and_stored_with_metadata(gcs_env: CloudEnv, cache_control: str | None) -> None:
    gz = gzip.compress(b"chunk " * 5000)
    async with gcs_store(gcs_env) as store:
        await store.put("0-64_0-64_0-64", gz, content_encoding="gzip", cache_control=cache_control,
                        content_type="application/x-chunk")
        assert await store.get("0-64_0-64_0-64") == Blob(gz, "gzip")  # stored bytes, no transcoding
        assert await store.get("0-64_0-64_0-64", (0, 2)) == Blob(gz[:2], "gzip")
        assert await store.size("0-64_0-64_0-64") == len(gz)
    meta = await object_metadata(gcs_env, f"{gcs_env.prefix}/ds/layer/0-64_0-64_0-64")
    assert meta["contentEncoding"] == "gzip"
    assert meta["contentType"] == "application/x-chunk"
    assert meta.get("cacheControl") == cache_control


async def test_cache_control_without_encoding(gcs_env: CloudEnv) -> None:
    async with gcs_store(gcs_env) as store:
        await store.put("info", b"{}", content_type="application/json", cache_control="no-cache")
    meta = await object_metadata(gcs_env, f"{gcs_env.prefix}/ds/layer/info")
    assert meta["cacheControl"] == "no-cache"
    assert meta["contentType"] == "application/json"
    assert not meta.get("contentEncoding")


async def test_reads_ask_for_stored_bytes(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    async with RecordingProxy(gcs_env.endpoint) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        async with gcs_store(gcs_env) as store:
            await store.put("k", gzip.compress(b"x" * 100), content_encoding="gzip")
            await store.get("k")
            await store.get("k", (1, 5))
    gets = [r for r in proxy.of("GET") if "alt=media" in r.path or "/o/" in r.path]
    assert gets and all(r.headers.get("Accept-Encoding") == "gzip" for r in gets)
    assert not any("Authorization" in r.headers for r in proxy.requests)  # emulator: no auth


# -- errors: never "missing" ------------------------------------------------------------------------
async def test_403_is_an_error_never_missing(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    async with gcs_store(gcs_env) as store:
        await store.put("secret/chunk", b"data")
    async with FaultServer(upstream=gcs_env.endpoint, config=FaultConfig(fail_keys={"secret/": 403})) as srv:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", srv.url)
        async with gcs_store(gcs_env) as store:
            calls = [lambda: store.get("secret/chunk"), lambda: store.get("secret/chunk", (0, 2)),
                     lambda: store.exists("secret/chunk"), lambda: store.size("secret/chunk"),
                     lambda: store.delete("secret/chunk"), lambda: store.get_many(["secret/chunk"])]
            for call in calls:
                with pytest.raises(AuthenticationError, match="403"):
                    await call()
            assert await store.get("open/missing") is None
        stats = srv.stats()
    assert sum(e["requests"] for p, e in stats["paths"].items() if "secret" in p) == 6  # never retried


async def test_upload_403(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    async with FaultServer(upstream=gcs_env.endpoint, config=FaultConfig(fail_keys={"/upload/": 403})) as srv:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", srv.url)
        async with gcs_store(gcs_env) as store:
            with pytest.raises(AuthenticationError):
                await store.put("x", b"1")


async def test_missing_bucket_is_an_error_when_listing(gcs_env: CloudEnv) -> None:
    async with open_store("gs://no-such-bucket/layer") as store:
        with pytest.raises(StorageError, match="bucket"):
            await drain(store.list())
        with pytest.raises(StorageError, match="bucket"):
            await store.put("k", b"v")


async def test_server_errors_and_resets_are_retried(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    gcs_env = seeded_paths(gcs_env, "gcs-errors")
    payloads = {f"r/{i}": os.urandom(2000 + i) for i in range(30)}
    async with gcs_store(gcs_env) as store:
        await store.put_many([PutItem(k, v) for k, v in payloads.items()])
    config = FaultConfig(fault_rate=0.25, faults=("503", "429", "500", "reset", "truncate"), seed=5, retry_after=0.01)
    async with FaultServer(upstream=gcs_env.endpoint, config=config) as srv:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", srv.url)
        async with gcs_store(gcs_env, FAST_RETRY) as store:
            blobs = await store.get_many(list(payloads))
            assert [b.data for b in blobs if b] == list(payloads.values())
            assert await store.exists_many(list(payloads)) == [True] * 30
            await store.put_many([PutItem(f"w/{i}", v) for i, v in enumerate(payloads.values())])
            assert await drain(store.list("r/")) == sorted(payloads)
        faults = srv.stats()["faults"]
    assert sum(faults.values()) >= 10, faults
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_env.endpoint)
    async with gcs_store(gcs_env) as store:  # the uploads through the faults arrived intact
        blobs = await store.get_many([f"w/{i}" for i in range(30)])
        assert [b.data for b in blobs if b] == list(payloads.values())


async def test_corrupt_bodies_are_caught_and_retried(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    gcs_env = seeded_paths(gcs_env, "gcs-corrupt")
    payloads = {f"c/{i}": os.urandom(64 << 10) for i in range(20)}
    payloads["c/gz"] = gzip.compress(os.urandom(1000))
    async with gcs_store(gcs_env) as store:
        await store.put_many([PutItem(k, v, content_encoding="gzip" if k == "c/gz" else None)
                              for k, v in payloads.items()])
    async with FaultServer(upstream=gcs_env.endpoint, config=FaultConfig(fault_rate=0.3, faults=("corrupt",), seed=7)) as srv:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", srv.url)
        async with gcs_store(gcs_env, FAST_RETRY) as store:
            blobs = await store.get_many(list(payloads))
        stats = srv.stats()
    assert [b.data for b in blobs if b] == list(payloads.values())
    assert blobs[-1] is not None and blobs[-1].encoding == "gzip"
    assert stats["faults"].get("corrupt", 0) >= 2
    assert stats["requests"] == len(payloads) + stats["faults"]["corrupt"]


async def test_persistent_corruption_exhausts_retries(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    async with gcs_store(gcs_env) as store:
        await store.put("bad", os.urandom(1000))
    opts = Options(retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001))
    async with FaultServer(upstream=gcs_env.endpoint, config=FaultConfig(fault_rate=1.0, faults=("corrupt",))) as srv:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", srv.url)
        async with gcs_store(gcs_env, opts) as store:
            with pytest.raises(RetriesExhausted, match="x-goog-hash crc32c mismatch") as info:
                await store.get("bad")
    assert info.value.attempts == 3


# -- credentials: a service account, a local token endpoint, an authenticated API root -----------
@pytest.mark.parametrize("via", ["argument", "bucket-file", "default-file"])
async def test_service_account_token_is_used(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch, via: str) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    async with TokenServer() as tokens, RecordingProxy(gcs_env.endpoint) as proxy:
        sa = service_account(tokens.url)
        secrets = None
        if via == "argument":
            secrets = sa
        elif via == "bucket-file":
            gcs_env.write_secret(f"{BUCKET}-google-secret.json", sa)
            gcs_env.write_secret("google-secret.json", service_account("http://127.0.0.1:9/never"))
        else:
            gcs_env.write_secret("google-secret.json", sa)
        store = GcsStore(BUCKET, f"{gcs_env.prefix}/l", endpoint=proxy.url, secrets=secrets)
        async with store:
            await store.put("k", b"authenticated")
            assert await store.get("k") == Blob(b"authenticated", None)
    assert len(tokens.grants) == 1 and tokens.grants[0]["grant_type"].endswith("jwt-bearer")
    assert proxy.requests and all(r.headers.get("Authorization") == f"Bearer {tokens.token}" for r in proxy.requests)


async def test_emulator_takes_no_credentials(gcs_env: CloudEnv) -> None:
    gcs_env.write_secret("google-secret.json", "{not json")  # never read with an emulator
    async with gcs_store(gcs_env) as store:
        await store.put("k", b"v")
        assert await store.exists("k")


async def test_default_timeouts_are_explicit(gcs_env: CloudEnv) -> None:
    store = gcs_store(gcs_env, Options(connect_timeout=3, read_timeout=7))
    assert store._timeout.total is None  # gcloud's own default is 10 s in total
    assert (store._timeout.sock_connect, store._timeout.sock_read) == (3, 7)
    await store.close()


def test_json_error_fields() -> None:
    from aiovolume.storage._aiohttp import goog_hashes
    from aiovolume.storage.gcs import _error_fields

    body = json.dumps({"error": {"code": 429, "message": "slow down", "errors": [{"reason": "rateLimitExceeded"}]}})
    assert _error_fields(body) == ("slow down", "rateLimitExceeded")
    expected = {"crc32c": "n03x6A==", "md5": "Ojk9c3dhfxgoKVVHYwFbHQ=="}
    assert goog_hashes(["crc32c=n03x6A==, md5=Ojk9c3dhfxgoKVVHYwFbHQ=="]) == expected  # one header
    assert goog_hashes(["crc32c=n03x6A==", "md5=Ojk9c3dhfxgoKVVHYwFbHQ=="]) == expected  # repeated


# -- get_ranges: coalescing as the server sees it -----------------------------------------------
async def test_get_ranges_merges_near_ranges(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(60_000)
    near = [(300, 400), (0, 100), (150, 250), (4000, 4100), (0, 100)]
    far = [(0, 10), (30_000, 30_010), (59_990, 60_000)]
    async with RecordingProxy(gcs_env.endpoint) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        async with gcs_store(gcs_env) as store:
            await store.put("0.shard", data)
            proxy.requests.clear()
            assert await store.get_ranges("0.shard", near) == [data[a:b] for a, b in near]
            assert [r.headers.get("Range") for r in proxy.of("GET")] == ["bytes=0-4099"]
            proxy.requests.clear()
            assert await store.get_ranges("0.shard", far) == [data[a:b] for a, b in far]
            assert sorted(r.headers.get("Range") for r in proxy.of("GET")) == [
                "bytes=0-9", "bytes=30000-30009", "bytes=59990-59999"]
