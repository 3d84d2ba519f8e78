"""Helpers shared by the HTTP store, fault and retry tests (importable: tests/storage is on sys.path).

Real servers only: the fault server in-process (``served``) or, where the client must run on
another loop or thread, as a subprocess (``spawn_fault_server``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from aiovolume.options import Options, RetryPolicy
from aiovolume.testing.faultserver import FaultConfig, FaultServer

#: Retries that finish in milliseconds (6 attempts, waits of at most 50 ms).
FAST = Options(retry=RetryPolicy(base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05))

#: The fault kinds a client can notice on a gzip'd chunk without any checksum header.
DETECTABLE = ("503", "429", "500", "reset", "truncate", "corrupt")


@contextlib.asynccontextmanager
async def served(root: Path, config: FaultConfig | None = None, **kwargs: Any) -> AsyncIterator[FaultServer]:
    root.mkdir(parents=True, exist_ok=True)
    async with FaultServer(root=root, config=config, **kwargs) as srv:
        yield srv


async def post_faults(url: str, config: FaultConfig) -> dict[str, Any]:
    """Replace the server's config through its HTTP control endpoint."""
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/__faults__", json=config.to_json()) as r:
            assert r.status == 200, await r.text()
            return await r.json()


async def get_stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/__stats__") as r:
            assert r.status == 200
            return await r.json()


async def reset_stats(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.delete(url + "/__stats__") as r:
            assert r.status == 200


def requests_for(stats: dict[str, Any], needle: str) -> int:
    return sum(e["requests"] for path, e in stats["paths"].items() if needle in path)


@contextlib.asynccontextmanager
async def tiny_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """A one-handler aiohttp server on 127.0.0.1 for server behaviours the fault server lacks."""
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


# -- layers written by the real cloud-volume ----------------------------------------------------
def textured(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """uint8 data that compresses like EM imagery (so gzip'd chunks are realistic)."""
    from aiovolume.demo import synthetic_em

    return synthetic_em(shape, seed)


def write_cv_layer(
    path: Path,
    data: np.ndarray,
    *,
    chunk: tuple[int, int, int] = (64, 64, 64),
    offset: tuple[int, int, int] = (0, 0, 0),
    compress: bool | str | None = None,
) -> None:
    """Write ``data`` (x, y, z) as a uint8 raw layer with the real cloud-volume (file://).

    ``compress=None`` is cloud-volume's default: gzip, stored as ``<chunk>.gz``.
    """
    import cloudvolume

    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="image", data_type=str(data.dtype), encoding="raw",
        resolution=[4, 4, 40], voxel_offset=list(offset), chunk_size=list(chunk), volume_size=list(data.shape),
    )
    cv = cloudvolume.CloudVolume("file://" + str(path), info=info, compress=compress, progress=False)
    cv.commit_info()
    cv[
        offset[0] : offset[0] + data.shape[0],
        offset[1] : offset[1] + data.shape[1],
        offset[2] : offset[2] + data.shape[2],
    ] = data
