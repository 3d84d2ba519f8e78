"""``Volume.viewer`` / ``Volume.start_viewer``: this layer served to Neuroglancer (a mixin of Volume).

CloudVolume's ``vol.viewer(port=1337)`` serves the layer's cloudpath over HTTP for Neuroglancer;
here the volume's own store is served (its secrets and options apply), on 127.0.0.1 only. See
:mod:`aiovolume.viewer.ngserve` for what is served and how.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .viewer.httpserver import RunningServer

DEFAULT_PORT = 1337  # CloudVolume's vol.viewer default


class ViewerMixin:
    """``start_viewer`` (returns the running server) and ``viewer`` (serves until cancelled)."""

    store: Any
    cloudpath: str

    async def start_viewer(self, port: int = DEFAULT_PORT) -> "RunningServer":
        """Serve this layer to Neuroglancer without blocking; ``server.url``,
        ``server.info["neuroglancer_url"]``; ``await server.close()`` when done."""
        from .viewer.ngserve import start_serve  # aiohttp.web: imported when first used

        return await start_serve(self.cloudpath, port, store=self.store)

    async def viewer(self, port: int = DEFAULT_PORT) -> None:
        """Serve this layer to Neuroglancer on 127.0.0.1:``port`` until the task is cancelled."""
        server = await self.start_viewer(port)
        await server.serve_forever()
