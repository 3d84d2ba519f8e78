"""CloudVolume names whose features have their own open issue: they exist and raise.

A CloudVolume script that reaches ``vol.viewer()`` gets an
:class:`UnsupportedFeatureError` naming the feature, never an ``AttributeError`` (which would read
as a typo or a missing import). Each is replaced by the real thing when its issue lands.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .exceptions import UnsupportedFeatureError

# name -> (feature, issue)
FEATURES: dict[str, tuple[str, str]] = {
    "viewer": ("the Neuroglancer viewer (viewer)", "issue 17"),
}


def unsupported(name: str) -> NoReturn:
    feature, issue = FEATURES[name]
    raise UnsupportedFeatureError(f"{feature} is not supported by aiovolume yet ({issue})")


class Placeholders:
    """Mixin for :class:`aiovolume.Volume`: the names above, each raising UnsupportedFeatureError."""

    def viewer(self, port: int = 1337) -> None:
        unsupported("viewer")
