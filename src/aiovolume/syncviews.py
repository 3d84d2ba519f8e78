"""Blocking ``vol.meta`` and ``vol.image`` for the ``CloudVolume`` facade.

The same views as on :class:`aiovolume.Volume`, with each coroutine method turned into a
one-line blocking call through the bridge loop.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .imageview import ImageView
from .meta import MetaView
from .sync import run


class BlockingMetaView(MetaView):
    """``CloudVolume.meta``: :class:`MetaView` whose I/O methods block."""

    def refresh_info(self) -> dict[str, Any]:  # type: ignore[override]
        return run(super().refresh_info())

    def commit_info(self) -> None:  # type: ignore[override]
        return run(super().commit_info())

    def lock_mips(self, mips: int | Iterable[int]) -> None:  # type: ignore[override]
        return run(super().lock_mips(mips))

    def unlock_mips(self, mips: int | Iterable[int]) -> None:  # type: ignore[override]
        return run(super().unlock_mips(mips))

    @property
    def provenance(self) -> Any:
        return provenance_of(self._vol)

    @provenance.setter
    def provenance(self, value: Any) -> None:
        self._vol.provenance = value

    def refresh_provenance(self) -> Any:  # type: ignore[override]
        return run(super().refresh_provenance())

    def commit_provenance(self) -> None:  # type: ignore[override]
        return run(super().commit_provenance())


class BlockingImageView(ImageView):
    """``CloudVolume.image``: :class:`ImageView` whose I/O methods block."""

    def __init__(self, vol: Any, wrap: Callable[[Any], Any] = lambda v: v) -> None:
        """``wrap``: turns a Volume a method returns (``transfer_to``'s destination) into the facade's type."""
        super().__init__(vol)
        self._wrap = wrap

    @property
    def meta(self) -> BlockingMetaView:
        return BlockingMetaView(self._vol)

    def download(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return run(super().download(*args, **kwargs))

    def upload(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return run(super().upload(*args, **kwargs))

    def exists(self, *args: Any, **kwargs: Any) -> dict[str, bool]:  # type: ignore[override]
        return run(super().exists(*args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return run(super().delete(*args, **kwargs))

    def has_data(self, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return run(super().has_data(*args, **kwargs))

    def download_points(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return run(super().download_points(*args, **kwargs))

    def unique(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return run(super().unique(*args, **kwargs))

    def download_files(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return run(super().download_files(*args, **kwargs))

    def transfer_to(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._wrap(run(super().transfer_to(*args, **kwargs)))


def provenance_of(vol: Any) -> Any:
    """A volume's provenance for the blocking API, read on first use (CloudVolume reads it when the
    volume opens; this saves a request per volume that never asks)."""
    return vol.provenance if vol.provenance_loaded else run(vol.refresh_provenance())
