"""CloudVolume names whose features have their own open issue: they exist and raise.

A CloudVolume script that reaches ``vol.cache`` or ``vol.to_dask()`` gets an
:class:`UnsupportedFeatureError` naming the feature, never an ``AttributeError`` (which would read
as a typo or a missing import). Each is replaced by the real thing when its issue lands.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .exceptions import UnsupportedFeatureError

# name -> (feature, issue)
FEATURES: dict[str, tuple[str, str]] = {
    "cache": ("the local disk cache (vol.cache)", "issue 14"),
    "provenance": ("provenance files (vol.provenance)", "issue 14"),
    "refresh_provenance": ("provenance files (refresh_provenance)", "issue 14"),
    "commit_provenance": ("provenance files (commit_provenance)", "issue 14"),
    "transfer_to": ("layer transfer (transfer_to)", "issue 14"),
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
    def provenance(self) -> Any:
        unsupported("provenance")

    async def refresh_provenance(self) -> Any:
        unsupported("refresh_provenance")

    async def commit_provenance(self) -> None:
        unsupported("commit_provenance")

    async def transfer_to(self, cloudpath: str, bbox: Any, block_size: int | None = None, compress: Any = "auto",
                          encoding: str | None = None, sharded: bool | None = None) -> Any:
        unsupported("transfer_to")

    def viewer(self, port: int = 1337) -> None:
        unsupported("viewer")

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        unsupported("to_dask")
