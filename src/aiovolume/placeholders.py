"""CloudVolume names whose features have their own open issue: they exist and raise.

A CloudVolume script that reaches ``vol.mesh`` or ``vol.to_dask()`` gets an
:class:`UnsupportedFeatureError` naming the feature, never an ``AttributeError`` (which would read
as a typo or a missing import). Each is replaced by the real thing when its issue lands.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .exceptions import UnsupportedFeatureError

# name -> (feature, issue)
FEATURES: dict[str, tuple[str, str]] = {
    "cache": ("the local disk cache (vol.cache)", "issue 14"),
    "mesh": ("meshes (vol.mesh)", "issue 15"),
    "skeleton": ("skeletons (vol.skeleton)", "issue 16"),
    "provenance": ("provenance files (vol.provenance)", "issue 14"),
    "refresh_provenance": ("provenance files (refresh_provenance)", "issue 14"),
    "commit_provenance": ("provenance files (commit_provenance)", "issue 14"),
    "download_to_shared_memory": ("shared-memory output (download_to_shared_memory)", "issue 14"),
    "upload_from_shared_memory": ("shared-memory input (upload_from_shared_memory)", "issue 14"),
    "unlink_shared_memory": ("shared-memory buffers (unlink_shared_memory)", "issue 14"),
    "shared_memory_id": ("shared-memory buffers (shared_memory_id)", "issue 14"),
    "viewer": ("the Neuroglancer viewer (viewer)", "issue 17"),
    "to_dask": ("dask arrays (to_dask)", "issue 18"),
}


def unsupported(name: str) -> NoReturn:
    feature, issue = FEATURES[name]
    raise UnsupportedFeatureError(f"{feature} is not supported by aiovolume yet ({issue})")


class Placeholders:
    """Mixin for :class:`aiovolume.Volume`: the names above, each raising UnsupportedFeatureError."""

    @property
    def cache(self) -> Any:
        unsupported("cache")

    @property
    def mesh(self) -> Any:
        unsupported("mesh")

    @property
    def skeleton(self) -> Any:
        unsupported("skeleton")

    @property
    def provenance(self) -> Any:
        unsupported("provenance")

    @property
    def shared_memory_id(self) -> Any:
        unsupported("shared_memory_id")

    async def refresh_provenance(self) -> Any:
        unsupported("refresh_provenance")

    async def commit_provenance(self) -> None:
        unsupported("commit_provenance")

    async def download_to_shared_memory(self, slices: Any, location: str | None = None, mip: Any = None) -> Any:
        unsupported("download_to_shared_memory")

    async def upload_from_shared_memory(self, location: str, bbox: Any, order: str = "F",
                                        cutout_bbox: Any = None) -> None:
        unsupported("upload_from_shared_memory")

    def unlink_shared_memory(self) -> None:
        unsupported("unlink_shared_memory")

    def viewer(self, port: int = 1337) -> None:
        unsupported("viewer")

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        unsupported("to_dask")
