"""``CloudVolume(...).skeleton``: blocking one-line wrappers over the async
:class:`~aiovolume.skeleton.SkeletonSource` (see there for behaviour and CloudVolume differences).

    >>> vol = CloudVolume("file:///data/seg")                  # doctest: +SKIP
    >>> vol.skeleton.upload(Skeleton(verts, edges, segid=7))   # doctest: +SKIP
    >>> vol.skeleton.get([7, 8])                               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .objects.skeleton import Skeleton
from .skeleton import SkeletonMetadata, SkeletonSource
from .sync import run


class CloudSkeletonMetadata:
    """``vol.skeleton.meta``: the skeleton info (a dict), ``commit_info()``, ``refresh_info()``."""

    def __init__(self, meta: SkeletonMetadata) -> None:
        self._meta = meta

    @property
    def info(self) -> dict[str, Any]:
        return self._meta.info

    @info.setter
    def info(self, value: dict[str, Any]) -> None:
        self._meta.info = value

    def commit_info(self) -> None:
        return run(self._meta.commit_info())

    def refresh_info(self) -> dict[str, Any]:
        return run(self._meta.refresh_info())

    def __getattr__(self, name: str) -> Any:  # skeleton_path, transform, mip, is_sharded, join, ...
        return getattr(self._meta, name)


class CloudSkeletonSource:
    """Blocking ``vol.skeleton``."""

    def __init__(self, source: SkeletonSource) -> None:
        self._source = source
        run(source.meta.ensure_loaded())  # CloudVolume reads the skeleton info up front
        self.meta = CloudSkeletonMetadata(source.meta)

    @property
    def path(self) -> str:
        return self._source.path

    def to_sharded(self, *args: Any, **kwargs: Any) -> None:
        self._source.to_sharded(*args, **kwargs)

    def to_unsharded(self) -> None:
        self._source.to_unsharded()

    def get(self, segids: Any, allow_missing: bool = False) -> Any:
        return run(self._source.get(segids, allow_missing=allow_missing))

    def upload(self, skeletons: Skeleton | Iterable[Skeleton]) -> None:
        return run(self._source.upload(skeletons))

    put = upload

    def upload_raw(self, segid: int, vertices: Any, edges: Any, radii: Any = None, vertex_types: Any = None) -> None:
        return run(self._source.upload_raw(segid, vertices, edges, radii, vertex_types))

    def delete(self, segids: Any) -> None:
        return run(self._source.delete(segids))

    def exists(self, segids: Any) -> Any:
        return run(self._source.exists(segids))

    def list(self) -> np.ndarray:
        return run(self._source.list())

    def get_bbox(self, bbox: Any) -> list[Skeleton]:
        return run(self._source.get_bbox(bbox))

    def spatial_query(self, bbox: Any, allow_missing: bool = False) -> set[int]:
        return run(self._source.spatial_query(bbox, allow_missing=allow_missing))


__all__ = ["CloudSkeletonSource", "CloudSkeletonMetadata"]
