"""Starting an aiohttp app on 127.0.0.1, and blocking on it until Ctrl-C.

Both servers of this package (the slice viewer and the Neuroglancer file server) start through
:func:`start_app`, which binds 127.0.0.1 only, and their blocking entry points go through
:func:`block_until_interrupted`, which runs the server on its own event loop in a daemon thread
(so it works from a plain script and from a Jupyter cell whose loop is running) and returns
control cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..exceptions import OptionError, ServerStartError

HOST = "127.0.0.1"
LOCAL_NAMES = ("127.0.0.1", "localhost")


@dataclass
class RunningServer:
    """A started server: ``url`` (``http://127.0.0.1:<port>``), ``port``, ``await close()``."""

    url: str
    port: int
    runner: web.AppRunner
    info: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        await self.runner.cleanup()

    async def serve_forever(self) -> None:
        """Wait until cancelled, then close the server."""
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.close())


def check_host(hostname: str) -> None:
    """Only loopback: the servers expose data without authentication."""
    if hostname not in LOCAL_NAMES:
        raise OptionError(f"hostname {hostname!r}: aiovolume's servers bind 127.0.0.1 only (no authentication)")


def check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise OptionError(f"port must be an int in 0..65535 (0: any free port), not {port!r}")
    return port


async def start_app(app: web.Application, port: int) -> RunningServer:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port); the server is up when this returns."""
    port = check_port(port)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServerStartError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}; pick another port=") from None
    bound = runner.addresses[0][1]
    return RunningServer(f"http://{HOST}:{bound}", bound, runner)


def block_until_interrupted(start: Callable[[], Awaitable[RunningServer]],
                            announce: Callable[[RunningServer], None]) -> None:
    """Start a server with ``start()`` on a private loop and serve until Ctrl-C (or until the
    loop's thread ends); ``announce(server)`` is called once it listens. Start errors propagate."""
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[RunningServer] = concurrent.futures.Future()

    async def main() -> None:
        try:
            server = await start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(server)
        await server.serve_forever()

    task = loop.create_task(main())

    def body() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(task)
        except (asyncio.CancelledError, Exception):
            pass  # start errors were handed over through ``started``
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=body, name="aiovolume-server", daemon=True)
    thread.start()
    try:
        announce(started.result())
        while thread.is_alive():
            thread.join(0.25)
    except KeyboardInterrupt:
        print("")  # the terminal shows ^C; the prompt goes on the next line
    finally:
        _cancel_and_join(loop, task, thread)


def _cancel_and_join(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None], thread: threading.Thread) -> None:
    if not thread.is_alive():
        return
    try:
        loop.call_soon_threadsafe(task.cancel)
    except RuntimeError:
        pass  # the loop closed after the liveness check (a failed start ends the thread by itself)
    thread.join(10)
