"""The latency server of the HTTP scenarios and the measurements around it.

The server is ``aiovolume.testing.faultserver`` in a subprocess of the benchmark (own process,
own GIL), root mode over the dataset directory, no faults, ``--latency-ms`` added to every
response, bound to 127.0.0.1. ``<key>.gz`` files are served as ``<key>`` with
``Content-Encoding: gzip``, so every client receives the stored gzip bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import statistics
import time
from typing import Any, Iterator

from common import proc_cpu_precise_s


class LatencyServer:
    def __init__(self, proc: Any, url: str, latency_ms: float) -> None:
        self.proc = proc
        self.url = url
        self.latency_ms = latency_ms

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def cpu_s(self) -> float:
        return proc_cpu_precise_s(self.pid)

    def _control(self, method: str, path: str) -> Any:
        import json

        host = self.url.split("://", 1)[1]
        conn = http.client.HTTPConnection(host, timeout=30)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}")
            return json.loads(body)
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        """The server's request counts since the last reset: ``{"requests": N, "paths": {path:
        {"requests": n, ...}}, ...}`` (``GET /__stats__``; control requests are not counted)."""
        return self._control("GET", "/__stats__")  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        """Zero the request counts (``DELETE /__stats__``)."""
        self._control("DELETE", "/__stats__")

    def rtt_s(self, path: str, n: int = 20) -> float:
        """Median wall time of ``n`` sequential GETs of ``path`` on one keep-alive connection."""
        host = self.url.split("://", 1)[1]
        conn = http.client.HTTPConnection(host, timeout=30)
        times = []
        try:
            for i in range(n + 1):
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {resp.status}")
                if i:
                    times.append(time.perf_counter() - t0)
        finally:
            conn.close()
        return statistics.median(times)

    def fetch_cpu_s(self, paths: list[str], concurrency: int, repeats: int = 3) -> float:
        """Server CPU seconds to serve ``paths`` to a minimal aiohttp client (bodies not
        decompressed), ``concurrency`` requests in flight: the least of ``repeats`` fetches."""
        import aiohttp

        async def once(session: Any) -> float:
            sem = asyncio.Semaphore(concurrency)

            async def get(p: str) -> None:
                async with sem:
                    async with session.get(self.url + p) as r:
                        await r.read()
                        if r.status != 200:
                            raise RuntimeError(f"GET {p}: HTTP {r.status}")

            c0 = self.cpu_s()
            await asyncio.gather(*(get(p) for p in paths))
            return self.cpu_s() - c0

        async def main() -> float:
            conn = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as session:
                await once(session)  # warm-up (connections)
                return min([await once(session) for _ in range(repeats)])

        return asyncio.run(main())


@contextlib.contextmanager
def latency_server(root: str, latency_ms: float) -> Iterator[LatencyServer]:
    """Start the fault server on 127.0.0.1 serving ``root``; SIGTERM (then kill) on exit."""
    from aiovolume.testing.faultserver import FaultConfig, spawn_fault_server

    with spawn_fault_server(root=root, config=FaultConfig(latency_ms=latency_ms)) as (proc, url):
        yield LatencyServer(proc, url, latency_ms)
