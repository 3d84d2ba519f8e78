"""Credential lookup (CloudVolume's conventions) and the rule that secrets never leak.

The leak tests cause real failures (a refused connection, a 403 from the fault proxy, a token
endpoint that refuses the grant, malformed secret files) with random secrets in the environment
and in secret files, then search every message we can reach: ``str`` and ``repr`` of the error
and of every exception chained to it, and everything logged at DEBUG by any logger.
"""

from __future__ import annotations

import json
import logging
import secrets as pysecrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_fixtures import (  # noqa: F401
    BUCKET, CloudEnv, TokenServer, free_port, gcs_env, gcs_server, isolate, moto_server, s3_env, service_account,
)

from aiovolume.exceptions import AiovolumeError, AuthenticationError
from aiovolume.options import Options, RetryPolicy
from aiovolume.storage import open_store
from aiovolume.storage.gcs import GcsStore
from aiovolume.storage.s3 import S3Store
from aiovolume.storage.secrets import (
    AwsCredentials,
    GoogleCredentials,
    aws_credentials,
    google_credentials,
    scrub,
    secrets_dirs,
)
from aiovolume.testing.faultserver import FaultConfig, FaultServer

NO_RETRY = Options(retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))


@pytest.fixture
def secrets_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def write(directory: Path, name: str, content: dict | str) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def aws(key: str, secret: str = "s", **extra: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, **extra}


# -- lookup order ---------------------------------------------------------------------------------
def test_aws_lookup_order(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_credentials("b") is None  # nothing anywhere: botocore's own chain decides
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "envkey")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "envtoken")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    env = aws_credentials("b")
    assert env is not None and (env.access_key_id, env.session_token, env.region, env.source) == (
        "envkey", "envtoken", "eu-west-1", "environment")
    write(secrets_dir, "aws-secret.json", aws("default"))
    assert aws_credentials("b").access_key_id == "default"  # type: ignore[union-attr]
    assert aws_credentials("b").region == "eu-west-1"  # type: ignore[union-attr]  # region falls back to env
    write(secrets_dir, "b-aws-secret.json", aws("bucket", AWS_DEFAULT_REGION="us-west-2"))
    found = aws_credentials("b")
    assert found is not None and found.access_key_id == "bucket" and found.region == "us-west-2"
    assert found.source == str(secrets_dir / "b-aws-secret.json")
    assert aws_credentials("other").access_key_id == "default"  # type: ignore[union-attr]
    assert aws_credentials("b", secrets=aws("arg")).access_key_id == "arg"  # type: ignore[union-attr]
    path = write(secrets_dir.parent, "elsewhere.json", aws("bypath"))
    assert aws_credentials("b", secrets=str(path)).access_key_id == "bypath"  # type: ignore[union-attr]
    assert aws_credentials("b", secrets=path).access_key_id == "bypath"  # type: ignore[union-attr]
    assert aws_credentials("b", secrets=json.dumps(aws("json"))).access_key_id == "json"  # type: ignore[union-attr]


def test_bucket_file_in_any_directory_beats_default(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    cf = tmp_path / "cloudfiles" / "secrets"
    cf.mkdir(parents=True)
    write(secrets_dir, "aws-secret.json", aws("cv-default"))
    write(cf, "b-aws-secret.json", aws("cf-bucket"))
    assert aws_credentials("b").access_key_id == "cf-bucket"  # type: ignore[union-attr]
    assert aws_credentials("c").access_key_id == "cv-default"  # type: ignore[union-attr]
    assert secrets_dirs() == [str(secrets_dir), str(cf)]


def test_cloud_volume_dir_moves_the_secrets(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    (other / "secrets").mkdir(parents=True)
    write(other / "secrets", "aws-secret.json", aws("moved"))
    write(secrets_dir, "aws-secret.json", aws("old"))
    monkeypatch.setenv("CLOUD_VOLUME_DIR", str(other))
    assert aws_credentials("b").access_key_id == "moved"  # type: ignore[union-attr]


def test_alias_services_use_their_own_files(secrets_dir: Path) -> None:
    write(secrets_dir, "aws-secret.json", aws("aws"))
    write(secrets_dir, "matrix-secret.json", aws("matrix", AWS_ENDPOINT_URL="http://127.0.0.1:1"))
    write(secrets_dir, "b-matrix-secret.json", aws("b-matrix"))
    assert aws_credentials("x", "matrix").access_key_id == "matrix"  # type: ignore[union-attr]
    assert aws_credentials("x", "matrix").endpoint == "http://127.0.0.1:1"  # type: ignore[union-attr]
    assert aws_credentials("b", "matrix").access_key_id == "b-matrix"  # type: ignore[union-attr]
    assert aws_credentials("b", "s3").access_key_id == "aws"  # type: ignore[union-attr]


def test_google_lookup_order(secrets_dir: Path) -> None:
    assert google_credentials("b") is None  # application default credentials
    write(secrets_dir, "google-secret.json", {"type": "service_account", "project_id": "default"})
    assert google_credentials("b").project_id == "default"  # type: ignore[union-attr]
    write(secrets_dir, "b-google-secret.json", {"type": "service_account", "project_id": "bucket"})
    assert google_credentials("b").project_id == "bucket"  # type: ignore[union-attr]
    assert google_credentials("c").project_id == "default"  # type: ignore[union-attr]
    assert google_credentials("b", {"type": "service_account", "project_id": "arg"}).project_id == "arg"  # type: ignore[union-attr]


def test_bad_secrets_arguments(secrets_dir: Path) -> None:
    with pytest.raises(AuthenticationError, match="does not exist"):
        aws_credentials("b", secrets=str(secrets_dir / "nope.json"))
    with pytest.raises(AuthenticationError, match="not int"):
        aws_credentials("b", secrets=42)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match="JSON object"):
        google_credentials("b", "{broken")


# -- reprs ------------------------------------------------------------------------------------------
def test_reprs_hide_secret_values() -> None:
    secret, token = pysecrets.token_urlsafe(30), pysecrets.token_urlsafe(30)
    creds = AwsCredentials("AKIAEXAMPLEKEY", secret, token, "us-east-1", None, "environment")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert secret not in text and token not in text and "AKIAEXAMPLEKEY" not in text
        assert "AKIA" in text and "environment" in text
    key = pysecrets.token_urlsafe(40)
    g = GoogleCredentials({"type": "service_account", "project_id": "p", "private_key": key}, "file")
    assert key not in repr(g) and key not in str(g) and "project_id='p'" in repr(g)


def test_scrub() -> None:
    secret = pysecrets.token_urlsafe(30)
    text = (f"https://user:{secret}@host/x?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&x=1 "
            f"Authorization: AWS4-HMAC-SHA256 Credential=AK/1, Signature=ff {secret} "
            "{'X-Amz-Security-Token': 'tok'}")
    out = scrub(text, [secret])
    assert secret not in out and "abc" not in out and "Signature=ff" not in out and "'tok'" not in out
    assert "x=1" in out
    pem = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    assert "MIIB" not in scrub(json.dumps({"private_key": pem}), [pem])


async def test_store_reprs_hold_no_secrets(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = pysecrets.token_urlsafe(30)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    async with open_store(f"s3://{BUCKET}/{s3_env.prefix}/l", secrets=aws("k", secret)) as store:
        await store.put("k", b"v")
        assert secret not in repr(store) and secret not in str(store.__dict__.get("url"))


# -- leaks: real failures with secrets around -----------------------------------------------------------
def messages(exc: BaseException) -> Iterator[str]:
    """str and repr of ``exc`` and of every exception reachable through __cause__/__context__."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield str(e)
        yield repr(e)
        yield from (str(a) for a in e.args)
        todo += [e.__cause__, e.__context__]


def assert_no_secret(exc: BaseException, caplog: pytest.LogCaptureFixture, *values: str) -> None:
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for value in values:
        for text in messages(exc):
            assert value not in text, f"secret leaked into {type(exc).__name__}: {text[:300]}"
        assert value not in logged, "secret leaked into the logs"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # everything, botocore's request dumps included
    return caplog


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "botocore"])
@pytest.mark.parametrize("where", ["env", "file"])
async def test_connection_refused_error_has_no_secret(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch,
                                                      debug_logs: pytest.LogCaptureFixture,
                                                      fast_path: bool, where: str) -> None:
    secret, token = pysecrets.token_urlsafe(32), pysecrets.token_urlsafe(48)
    endpoint = f"http://127.0.0.1:{free_port()}"
    if where == "env":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        s3_env.write_secret(f"{BUCKET}-aws-secret.json", aws("AKIAFILE", secret, AWS_SESSION_TOKEN=token,
                                                             AWS_ENDPOINT_URL=endpoint))
    async with S3Store(BUCKET, "x", NO_RETRY, fast_path=fast_path) as store:
        for call in (lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: store.exists("k")):
            with pytest.raises(AiovolumeError) as info:
                await call()
            assert_no_secret(info.value, debug_logs, secret, token)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "botocore"])
async def test_403_error_has_no_secret(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch,
                                       debug_logs: pytest.LogCaptureFixture, fast_path: bool) -> None:
    secret, token = pysecrets.token_urlsafe(32), pysecrets.token_urlsafe(48)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    async with FaultServer(upstream=s3_env.endpoint, config=FaultConfig(fail_keys={"/": 403})) as srv:
        async with S3Store(BUCKET, s3_env.prefix, NO_RETRY, endpoint=srv.url, fast_path=fast_path) as store:
            calls = [lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: store.size("k"),
                     lambda: store.delete_many(["a"]), lambda: _list(store)]
            for call in calls:
                with pytest.raises(AuthenticationError) as info:
                    await call()
                assert_no_secret(info.value, debug_logs, secret, token)


async def _list(store: S3Store | GcsStore) -> list[str]:
    return [k async for k in store.list()]


async def test_moto_signature_checks_see_the_token_but_errors_do_not(
    s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Successful requests at DEBUG: botocore logs request headers; the token must be scrubbed."""
    token = pysecrets.token_urlsafe(48)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    async with S3Store(BUCKET, s3_env.prefix, fast_path=False) as store:
        await store.put("k", b"v")
        assert [k async for k in store.list()] == ["k"]
        await store.delete_many(["k"])
    assert "X-Amz-Security-Token" in debug_logs.text or "Sending http request" in debug_logs.text
    assert token not in debug_logs.text


@pytest.mark.parametrize("service", ["aws", "google"])
async def test_malformed_secret_file_error_has_no_secret(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                        debug_logs: pytest.LogCaptureFixture, service: str) -> None:
    secret = pysecrets.token_urlsafe(32)
    if service == "aws":
        write(secrets_dir, "aws-secret.json", '{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "%s",,}' % secret)
        store: S3Store | GcsStore = S3Store(BUCKET, "x", NO_RETRY, endpoint=f"http://127.0.0.1:{free_port()}")
    else:
        write(secrets_dir, "google-secret.json", '{"type": "service_account", "private_key": "%s" oops' % secret)
        store = GcsStore(BUCKET, "x", NO_RETRY)
    async with store:
        with pytest.raises(AuthenticationError, match="invalid JSON") as info:
            await store.get("k")
    assert str(secrets_dir) in str(info.value)  # says which file to fix
    assert_no_secret(info.value, debug_logs, secret)


async def test_google_token_refusal_has_no_private_key(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch,
                                                       debug_logs: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    async with TokenServer(status=400) as tokens:
        sa = service_account(tokens.url)
        gcs_env.write_secret("google-secret.json", sa)
        async with GcsStore(BUCKET, "x", NO_RETRY, endpoint=gcs_env.endpoint) as store:
            with pytest.raises(AiovolumeError) as info:
                await store.get("k")
    assert tokens.grants  # the refusal really happened
    body = sa["private_key"].split("\n")[1]  # a line of the PEM body
    assert_no_secret(info.value, debug_logs, sa["private_key"], body, sa["private_key_id"])


async def test_gcs_403_error_has_no_token(gcs_env: CloudEnv, monkeypatch: pytest.MonkeyPatch,
                                          debug_logs: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    async with TokenServer() as tokens, FaultServer(upstream=gcs_env.endpoint,
                                                    config=FaultConfig(fail_keys={"/": 403})) as srv:
        sa = service_account(tokens.url)
        async with GcsStore(BUCKET, "x", NO_RETRY, endpoint=srv.url, secrets=sa) as store:
            for call in (lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: _list(store)):
                with pytest.raises(AuthenticationError) as info:
                    await call()
                # the bearer token travels in request headers: aiohttp's ClientResponseError
                # repr would show them, so it must not be chained
                assert_no_secret(info.value, debug_logs, tokens.token, sa["private_key"])
