"""CloudVolume names whose features have their own open issue: they exist and raise.

A CloudVolume script that reaches ``vol.to_dask()`` gets an
:class:`UnsupportedFeatureError` naming the feature, never an ``AttributeError`` (which would read
as a typo or a missing import). Each is replaced by the real thing when its issue lands.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .exceptions import UnsupportedFeatureError

# name -> (feature, issue)
FEATURES: dict[str, tuple[str, str]] = {
    "to_dask": ("dask arrays (to_dask)", "issue 18"),
}


def unsupported(name: str) -> NoReturn:
    feature, issue = FEATURES[name]
    raise UnsupportedFeatureError(f"{feature} is not supported by aiovolume yet ({issue})")


class Placeholders:
    """Mixin for :class:`aiovolume.Volume`: the names above, each raising UnsupportedFeatureError."""

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        unsupported("to_dask")
