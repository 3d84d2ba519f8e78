"""A fault-injecting HTTP server on 127.0.0.1 for tests and benchmarks.

It serves a directory (``root`` mode: CloudVolume's ``file://`` layout, ``key.gz`` served as
``key`` with ``Content-Encoding: gzip``) or forwards to another local server (``upstream``
mode: moto's S3 server, fake-gcs-server), and on the way back it injects the failures a
real object store produces, with a seeded RNG:

==========  =====================================================================
``503``     503 with ``Retry-After`` (throttling)
``429``     429 with ``Retry-After`` (throttling)
``500``     500 (server error)
``reset``   the connection is closed without a response
``truncate``  the full ``Content-Length`` is sent, then half of the body, then the
            connection is closed
``corrupt`` one byte of the body is flipped; headers unchanged (only a checksum, a
            gzip CRC or the codec's own structure can notice)
==========  =====================================================================

Each request draws one fault with probability ``fault_rate`` from an RNG seeded with
``(seed, path, n)`` for the n-th request of that path since the config was set, so a seeded
run is reproducible whatever order concurrent requests arrive in; ``fail_keys`` (path substring
-> status) fail *every* time; latency (and the bandwidth cap, if any) is always applied.
``truncate`` and ``corrupt`` need a body: a HEAD or an empty response is served unharmed.

Runtime control: ``POST /__faults__`` with a JSON FaultConfig replaces the config (and
restarts the per-path sequences); ``GET /__stats__`` returns counts per path and fault
kind, ``{"requests": N, "faults": {kind: n}, "paths": {path: {"requests": n, "faults":
{kind: n}}}}`` (persistent ``fail_keys`` failures count as ``fail_<status>``);
``DELETE /__stats__`` zeroes them.

In-process::

    async with FaultServer(root="/data", config=FaultConfig(fault_rate=0.15)) as srv:
        url = srv.url + "/ds/layer"                 # http://127.0.0.1:PORT/ds/layer

As a subprocess (its own GIL; for benchmarks)::

    with spawn_fault_server(root="/data", config=FaultConfig(latency_ms=25)) as (proc, url):
        ...

Command line::

    python -m aiovolume.testing.faultserver --port 0 --root DIR --latency-ms 25 \\
        --fault-rate 0.15 --faults 503,429,reset,truncate,corrupt --seed 1
    # first stdout line: LISTENING http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import io
import ipaddress
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import aiohttp
from aiohttp import web

FAULT_KINDS: tuple[str, ...] = ("503", "429", "500", "reset", "truncate", "corrupt")
CONTROL_FAULTS = "/__faults__"
CONTROL_STATS = "/__stats__"

#: (filename suffix, Content-Encoding) probed when ``name`` itself does not exist: the
#: same spellings as aiovolume's FileStore and CloudFiles.
ENCODED_SIBLINGS: tuple[tuple[str, str], ...] = (
    (".gz", "gzip"), (".br", "br"), (".zstd", "zstd"), (".xz", "xz"), (".bz2", "bzip2"),
)
_HOP_BY_HOP = frozenset(
    h.lower() for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Proxy-Connection",
    )
)
_NOT_FORWARDED = _HOP_BY_HOP | {"content-length", "expect"}
_NOT_FORWARDED_BACK = _HOP_BY_HOP | {"content-length", "date", "server"}
_PIECE = 64 << 10  # bytes per write when a bandwidth cap is set


@dataclass(frozen=True)
class FaultConfig:
    """What the server injects. Frozen; build a new one to change it (or POST it).

    latency_ms: delay before every response. bandwidth_mbps: cap in megabits/s shared by all
    responses (0 = unlimited). fault_rate: probability that a request gets one fault drawn
    from ``faults``. seed: RNG seed. fail_keys: path substring -> HTTP status returned on
    every request whose path contains it (persistent failures; in upstream mode such requests
    are not forwarded). retry_after: seconds sent in
    ``Retry-After`` with 429/503. content_md5: send ``Content-MD5`` (base64 MD5 of the stored
    bytes) on full-object responses (root mode). etag_md5: send the hex MD5 as a strong ETag,
    S3-style, instead of a generic mtime-size ETag (root mode).
    """

    latency_ms: float = 0.0
    bandwidth_mbps: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULT_KINDS
    seed: int = 1
    fail_keys: Mapping[str, int] = field(default_factory=dict, hash=False)
    retry_after: float = 0.05
    content_md5: bool = False
    etag_md5: bool = False

    def __post_init__(self) -> None:
        faults = self.faults
        if isinstance(faults, str):
            faults = tuple(f.strip() for f in faults.split(",") if f.strip())
        faults = tuple(str(f) for f in faults)
        unknown = sorted(set(faults) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= float(self.fault_rate) <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {self.fault_rate}")
        if self.latency_ms < 0 or self.bandwidth_mbps < 0 or self.retry_after < 0:
            raise ValueError("latency_ms, bandwidth_mbps and retry_after must be >= 0")
        if self.fault_rate and not faults:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        fail_keys = {str(k): int(v) for k, v in dict(self.fail_keys).items()}
        for key, status in fail_keys.items():
            if not key or not 100 <= status <= 599:
                raise ValueError(f"fail_keys needs non-empty substrings and HTTP statuses, got {key!r}: {status}")
        for name in ("latency_ms", "bandwidth_mbps", "fault_rate", "retry_after"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "faults", faults)
        object.__setattr__(self, "fail_keys", MappingProxyType(fail_keys))

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["faults"] = list(self.faults)
        out["fail_keys"] = dict(self.fail_keys)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FaultConfig":
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ValueError(f"unknown FaultConfig field(s) {extra}; known: {sorted(known)}")
        return cls(**dict(data))


class _Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self.paths: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "faults": Counter()})

    def record(self, path: str, fault: str | None) -> None:
        self.requests += 1
        entry = self.paths[path]
        entry["requests"] += 1
        if fault is not None:
            self.faults[fault] += 1
            entry["faults"][fault] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "faults": dict(self.faults),
            "paths": {p: {"requests": e["requests"], "faults": dict(e["faults"])} for p, e in self.paths.items()},
        }


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    head: bool = False  # a HEAD reply: headers only, Content-Length as given


class FaultServer:
    """The server, in-process on the running loop. Exactly one of ``root``/``upstream``.

    ``require_auth=(user, password)`` answers 401 to requests without that basic auth
    (control endpoints excepted).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        upstream: str | None = None,
        config: FaultConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: tuple[str, str] | None = None,
    ) -> None:
        if (root is None) == (upstream is None):
            raise ValueError("give exactly one of root= (a directory) or upstream= (a URL)")
        _check_loopback(host)
        self.root = os.path.realpath(os.fspath(root)) if root is not None else None
        self.upstream = upstream.rstrip("/") if upstream is not None else None
        self.host, self.port = host, port
        self.url = ""
        self._config = config or FaultConfig()
        self._attempts: Counter[str] = Counter()  # requests per path since the config was set
        self._stats = _Stats()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._link_free_at = 0.0
        self._authorization = (
            "Basic " + base64.b64encode(":".join(require_auth).encode()).decode() if require_auth else None
        )

    # -- control -------------------------------------------------------------------------
    @property
    def config(self) -> FaultConfig:
        return self._config

    def set_config(self, config: FaultConfig) -> None:
        """Replace the config and restart the per-path fault sequences (``POST /__faults__``)."""
        self._config = config
        self._attempts = Counter()

    def stats(self) -> dict[str, Any]:
        """Counts per path and fault kind (same as ``GET /__stats__``)."""
        return self._stats.to_json()

    def reset_stats(self) -> None:
        self._stats.reset()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> "FaultServer":
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        self.url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        if self.upstream is not None:
            self._client = aiohttp.ClientSession(
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60),
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Accept", "Content-Type"),
            )
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        client, self._client = self._client, None
        if runner is not None:
            await runner.cleanup()
        if client is not None:
            await client.close()

    async def __aenter__(self) -> "FaultServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- request handling ----------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == CONTROL_FAULTS:
            return await self._control_faults(request)
        if request.path == CONTROL_STATS:
            if request.method == "DELETE":
                self.reset_stats()
            return web.json_response(self.stats())

        if self._authorization is not None and request.headers.get("Authorization") != self._authorization:
            self._stats.record(request.path, "unauthorized")
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="faultserver"'})
        cfg = self._config
        rng = self._rng_for(cfg, request.path) if cfg.fault_rate else None
        fault = self._draw(cfg, request.path, rng)
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if fault is not None and fault.startswith("fail_"):
            reply = self._status_reply(int(fault[5:]), cfg)
        elif fault in ("503", "429", "500") and self.upstream is None:
            reply = self._status_reply(int(fault), cfg)  # the origin never sees it
        else:
            reply = await (self._from_upstream(request) if self.upstream else self._from_root(request, cfg))
            if fault in ("503", "429", "500"):  # proxy: the upstream did the work, the reply is lost
                reply = self._status_reply(int(fault), cfg)
            elif fault in ("truncate", "corrupt") and (reply.head or not reply.body or reply.status >= 300):
                fault = None  # nothing to damage: served unharmed
        self._stats.record(request.path, fault)
        if fault == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault == "corrupt":
            assert rng is not None
            body = bytearray(reply.body)
            body[rng.randrange(len(body))] ^= 0xFF
            reply.body = bytes(body)
        return await self._send(request, reply, cfg, truncate=fault == "truncate")

    def _rng_for(self, cfg: FaultConfig, path: str) -> random.Random:
        """The RNG of the n-th request for ``path``: what happens to a request depends on the
        seed, the path and how many times it was asked for, not on the order concurrent
        requests arrive in, so a seeded run injects the same faults every time."""
        n = self._attempts[path]
        self._attempts[path] = n + 1
        return random.Random(f"{cfg.seed}/{path}/{n}")

    @staticmethod
    def _draw(cfg: FaultConfig, path: str, rng: random.Random | None) -> str | None:
        for needle, status in cfg.fail_keys.items():
            if needle in path:
                return f"fail_{status}"
        if rng is not None and rng.random() < cfg.fault_rate:
            return rng.choice(cfg.faults)
        return None

    async def _control_faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.set_config(FaultConfig.from_json(await request.json()))
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self._config.to_json())

    @staticmethod
    def _status_reply(status: int, cfg: FaultConfig) -> _Reply:
        headers = [("Content-Type", "text/plain")]
        if status in (429, 503):
            headers.append(("Retry-After", f"{cfg.retry_after:g}"))
        return _Reply(status, headers, f"injected fault: HTTP {status}\n".encode())

    # -- root mode -----------------------------------------------------------------------
    async def _from_root(self, request: web.Request, cfg: FaultConfig) -> _Reply:
        if request.method not in ("GET", "HEAD"):
            return _Reply(405, [("Allow", "GET, HEAD")], b"read-only server\n")
        assert self.root is not None
        found = _find_file(self.root, request.path)
        if found is None:
            return _Reply(404, [("Content-Type", "text/plain")], b"not found\n", head=request.method == "HEAD")
        data, encoding, mtime_ns = found
        size = len(data)
        headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        etag = hashlib.md5(data).hexdigest() if cfg.etag_md5 else f"{mtime_ns:x}-{size:x}"
        headers.append(("ETag", f'"{etag}"'))
        rng = _parse_range(request.headers.get("Range"), size)
        if rng == "unsatisfiable":
            headers.append(("Content-Range", f"bytes */{size}"))
            return _Reply(416, headers, b"")
        head = request.method == "HEAD"
        if rng is None:
            if cfg.content_md5:
                headers.append(("Content-MD5", base64.b64encode(hashlib.md5(data).digest()).decode()))
            if head:
                return _Reply(200, headers + [("Content-Length", str(size))], head=True)
            return _Reply(200, headers, data)
        start, stop = rng
        headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
        if head:
            return _Reply(206, headers + [("Content-Length", str(stop - start))], head=True)
        return _Reply(206, headers, data[start:stop])

    # -- upstream (proxy) mode -----------------------------------------------------------
    async def _from_upstream(self, request: web.Request) -> _Reply:
        assert self._client is not None and self.upstream is not None
        # Host goes through unchanged (S3 signatures cover it); Expect was answered by us
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]
        body = await request.read()
        try:
            async with self._client.request(
                request.method, self.upstream + request.path_qs, headers=headers,
                # BytesIO: aiohttp warns about large raw-bytes bodies; the length is still sent
                data=io.BytesIO(body) if body or request.method in ("PUT", "POST", "PATCH") else None,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                back = [(k, v) for k, v in resp.headers.items() if k.lower() not in _NOT_FORWARDED_BACK]
                if request.method == "HEAD":
                    length = resp.headers.get("Content-Length")
                    return _Reply(resp.status, back + ([("Content-Length", length)] if length else []), head=True)
                return _Reply(resp.status, back, payload)
        except aiohttp.ClientError as exc:
            return _Reply(502, [("Content-Type", "text/plain")], f"upstream failed: {exc}\n".encode())

    # -- sending -------------------------------------------------------------------------
    async def _send(self, request: web.Request, reply: _Reply, cfg: FaultConfig, *, truncate: bool) -> web.StreamResponse:
        if reply.head or (not truncate and not cfg.bandwidth_mbps):
            resp = web.Response(status=reply.status, body=None if reply.head else reply.body)
            for k, v in reply.headers:
                resp.headers.add(k, v)
            return resp
        resp = web.StreamResponse(status=reply.status)
        for k, v in reply.headers:
            resp.headers.add(k, v)
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        body = memoryview(reply.body)
        if truncate:
            body = body[: len(body) // 2]
        for i in range(0, len(body), _PIECE):
            piece = body[i : i + _PIECE]
            if cfg.bandwidth_mbps:
                await self._throttle(len(piece), cfg.bandwidth_mbps)
            await resp.write(piece)
        if truncate:
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    async def _throttle(self, nbytes: int, mbps: float) -> None:
        # one shared link: each piece reserves the next free slot on it
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._link_free_at)
        self._link_free_at = start + nbytes * 8 / (mbps * 1e6)
        delay = self._link_free_at - now
        if delay > 0:
            await asyncio.sleep(delay)


# -- helpers ------------------------------------------------------------------------------
def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the fault server binds loopback addresses only (e.g. 127.0.0.1), not {host!r}")


def _find_file(root: str, url_path: str) -> tuple[bytes, str | None, int] | None:
    rel = url_path.lstrip("/")
    full = os.path.normpath(os.path.join(root, rel))
    if full != root and not full.startswith(root + os.sep):
        return None
    for suffix, encoding in (("", None), *ENCODED_SIBLINGS):
        try:
            with open(full + suffix, "rb") as f:
                mtime_ns = os.fstat(f.fileno()).st_mtime_ns
                return f.read(), encoding, mtime_ns
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
    return None


def _parse_range(value: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, stop)`` for one satisfiable byte range, "unsatisfiable", or None (serve all)."""
    if not value:
        return None
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multi-ranges: ignored, as RFC 9110 allows
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n <= 0 or size == 0:
                return "unsatisfiable"
            return max(0, size - n), size
        start = int(first)
        stop = int(last) + 1 if last else size
    except ValueError:
        return None
    if start < 0 or (last and stop <= start):
        return None  # malformed: ignored
    if start >= size:
        return "unsatisfiable"
    return start, min(stop, size)


# -- subprocess helper ----------------------------------------------------------------------
def _cli_args(root: str | os.PathLike[str] | None, upstream: str | None, config: FaultConfig) -> list[str]:
    args = ["--host", "127.0.0.1", "--port", "0"]
    if root is not None:
        args += ["--root", os.fspath(root)]
    if upstream is not None:
        args += ["--upstream", upstream]
    args += [
        "--latency-ms", repr(float(config.latency_ms)), "--bandwidth-mbps", repr(float(config.bandwidth_mbps)),
        "--fault-rate", repr(float(config.fault_rate)), "--faults", ",".join(config.faults),
        "--seed", str(config.seed), "--retry-after", repr(float(config.retry_after)),
    ]
    for needle, status in config.fail_keys.items():
        args += ["--fail-key", f"{needle}={status}"]
    if config.content_md5:
        args.append("--content-md5")
    if config.etag_md5:
        args.append("--etag-md5")
    return args


@contextlib.contextmanager
def spawn_fault_server(
    root: str | os.PathLike[str] | None = None,
    upstream: str | None = None,
    config: FaultConfig | None = None,
    *,
    startup_timeout: float = 60.0,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run the server in a child process; yields ``(Popen, url)``; SIGTERM on exit."""
    if (root is None) == (upstream is None):
        raise ValueError("give exactly one of root= (a directory) or upstream= (a URL)")
    cmd = [sys.executable, "-m", "aiovolume.testing.faultserver", *_cli_args(root, upstream, config or FaultConfig())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        url = _await_listening(proc, startup_timeout)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _await_listening(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"fault server did not report LISTENING within {timeout:g}s")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            byte = os.read(proc.stdout.fileno(), 1)
            if not byte:
                raise RuntimeError(f"fault server exited before listening (exit code {proc.wait()})")
            line += byte
    text = line.decode().strip()
    if not text.startswith("LISTENING "):
        raise RuntimeError(f"unexpected first line from the fault server: {text!r}")
    return text.split(" ", 1)[1]


# -- command line -----------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aiovolume.testing.faultserver", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (default)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help="serve this directory")
    src.add_argument("--upstream", help="forward to this URL (e.g. http://127.0.0.1:5000)")
    d = FaultConfig()
    p.add_argument("--latency-ms", type=float, default=d.latency_ms)
    p.add_argument("--bandwidth-mbps", type=float, default=d.bandwidth_mbps, help="megabits/s, 0 = unlimited")
    p.add_argument("--fault-rate", type=float, default=d.fault_rate)
    p.add_argument("--faults", default=",".join(d.faults), help=f"comma-separated subset of {','.join(FAULT_KINDS)}")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--retry-after", type=float, default=d.retry_after, help="seconds sent with 429/503")
    p.add_argument("--fail-key", action="append", default=[], metavar="SUBSTRING=STATUS",
                   help="always answer STATUS for paths containing SUBSTRING (repeatable)")
    p.add_argument("--content-md5", action="store_true", help="send Content-MD5 on full-object responses")
    p.add_argument("--etag-md5", action="store_true", help="send the hex MD5 as a strong ETag")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fail_keys = {}
    for item in args.fail_key:
        needle, _, status = item.rpartition("=")
        fail_keys[needle] = int(status)
    config = FaultConfig(
        latency_ms=args.latency_ms, bandwidth_mbps=args.bandwidth_mbps, fault_rate=args.fault_rate,
        faults=args.faults, seed=args.seed, fail_keys=fail_keys, retry_after=args.retry_after,
        content_md5=args.content_md5, etag_md5=args.etag_md5,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with FaultServer(root=args.root, upstream=args.upstream, config=config, host=args.host, port=args.port) as srv:
        print(f"LISTENING {srv.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
