"""``SpatialIndex``: CloudVolume's ``spatial_index`` over a mesh directory (``vol.mesh.spatial_index``).

The mesh info declares ``"spatial_index": {"chunk_size": [sx, sy, sz]}`` (nm, optionally
``"resolution"``); each cell of the layer's physical bounds has a ``<bbox>.spatial`` JSON file
listing the segments in it with their bounding boxes (format/spatial.py). Every call fetches all the
files it needs in one concurrent batch. With ``spatial_index_db`` (a sqlite database that
``to_sqlite`` builds, CloudVolume's schema: spatial_sql.py) label lookups and whole-layer queries
read the database instead of every index file.

Example::

    labels = await vol.mesh.spatial_index.query(Bbox((0, 0, 0), (4096, 4096, 400)))   # nm
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from .codecs.compression import decompress
from .exceptions import InfoError, SpatialIndexGapError
from .format.spatial import index_filenames, intersects, parse_index, precision_of
from .geometry import Bbox
from . import spatial_sql


class SpatialIndex:
    """Async reader of a spatial index; ``source`` is the :class:`~aiovolume.mesh.MeshSource`."""

    def __init__(self, source: Any) -> None:
        self._source = source

    @property
    def sql_db(self) -> str | None:
        """The ``spatial_index_db`` of the volume (CloudVolume's name), or None."""
        return getattr(self._source._vol, "spatial_index_db", None)

    async def to_sql(self, path: str | None = None, create_indices: bool = True, allow_missing: bool = False,
                     progress: Any = None, parallel: int = 1) -> None:
        """Build the sqlite database (``path`` or ``spatial_index_db``) from every index file."""
        target = path or self.sql_db
        if target is None:
            raise InfoError("to_sql needs a database path (or spatial_index_db=...)")
        files = await self.fetch_index_files(await self._all_files(), allow_missing)
        await asyncio.to_thread(spatial_sql.build, target, {n: list(e) for n, e in files.items()}, create_indices)

    async def to_sqlite(self, path: str = "spatial_index.db", create_indices: bool = True,
                        allow_missing: bool = False, progress: Any = None) -> None:
        await self.to_sql(path, create_indices, allow_missing, progress)

    async def _layout(self) -> tuple[dict[str, Any], np.ndarray, np.ndarray, int]:
        """``(spatial_index info, physical bounds lo, hi, name precision)``."""
        meta = await self._source.meta()
        spec = meta.spatial_index
        if not spec or "chunk_size" not in spec:
            raise InfoError(f"{self._source.store.url}/{self._source.path}: the mesh info declares no spatial_index")
        vol = self._source._vol
        mip = self._source.mesh_mip()
        resolution = spec.get("resolution") or [r for r in vol.info["scales"][mip]["resolution"]]
        bounds = vol.mip_bounds(mip)
        res = np.asarray(resolution, dtype=np.float64)
        return spec, np.asarray(bounds.minpt) * res, np.asarray(bounds.maxpt) * res, precision_of(resolution)

    async def index_file_paths_for_bbox(self, bbox: Any) -> list[str]:
        spec, lo, hi, precision = await self._layout()
        box = _box(bbox)
        return index_filenames(np.maximum(box[0], lo), np.minimum(box[1], hi), lo, hi, spec["chunk_size"], precision)

    async def _all_files(self) -> list[str]:
        spec, lo, hi, precision = await self._layout()
        return index_filenames(lo, hi, lo, hi, spec["chunk_size"], precision)

    async def fetch_index_files(self, names: Sequence[str], allow_missing: bool = False) -> dict[str, dict[int, Any]]:
        """``{file name: {segid: bbox}}`` of the named index files, fetched concurrently."""
        store, path = self._source.store, self._source.path
        blobs = await store.get_many([f"{path}/{n}" for n in names])
        out: dict[str, dict[int, Any]] = {}
        gone = [n for n, b in zip(names, blobs) if b is None]
        if gone and not allow_missing:
            raise SpatialIndexGapError(f"spatial index file(s) missing under {store.url}/{path}: {', '.join(gone[:5])}")

        def parse() -> None:
            for n, b in zip(names, blobs):
                if b is not None:
                    out[n] = parse_index(bytes(decompress(b.data, b.encoding)), f"{store.url}/{path}/{n}")

        await asyncio.to_thread(parse)
        return out

    async def query(self, bbox: Any, allow_missing: bool = False) -> set[int]:
        """Segment ids whose bounding boxes meet ``bbox`` (physical units, nm)."""
        spec, lo, hi, precision = await self._layout()
        box = _box(bbox)
        qlo, qhi = np.maximum(box[0], lo), np.minimum(box[1], hi)
        whole = bool(np.all(qlo <= lo) and np.all(qhi >= hi))
        if whole and self.sql_db:
            return await asyncio.to_thread(spatial_sql.all_labels, self.sql_db)
        names = index_filenames(qlo, qhi, lo, hi, spec["chunk_size"], precision)
        files = await self.fetch_index_files(names, allow_missing)
        labels: set[int] = set()
        for entries in files.values():
            labels.update(entries if whole else (k for k, b in entries.items() if intersects(b, qlo, qhi)))
        return labels

    async def file_locations_per_label(self, labels: Any = None, allow_missing: bool = False) -> dict[int, list[str]]:
        """``{segid: [index file names]}`` for ``labels`` (all when None); reads every index file."""
        wanted = None if labels is None else {int(x) for x in np.atleast_1d(labels).tolist()}
        if self.sql_db:
            return await asyncio.to_thread(spatial_sql.files_per_label, self.sql_db, wanted)
        files = await self.fetch_index_files(await self._all_files(), allow_missing)
        found: dict[int, list[str]] = defaultdict(list)
        for name, entries in files.items():
            for k in entries:
                if wanted is None or k in wanted:
                    found[k].append(name)
        return dict(found)

    async def get_bbox(self, label: int) -> Bbox | None:
        """The box enclosing ``label`` over every index file (physical units), or None."""
        if self.sql_db:  # only the files the database lists for the label
            names = (await asyncio.to_thread(spatial_sql.files_per_label, self.sql_db, [int(label)])).get(int(label), [])
        else:
            names = await self._all_files()
        files = await self.fetch_index_files(names)
        boxes = [np.asarray(e[int(label)], dtype=np.int64) for e in files.values() if int(label) in e]
        if not boxes:
            return None
        arr = np.stack(boxes)
        return Bbox(arr[:, :3].min(axis=0), arr[:, 3:].max(axis=0))


def _box(bbox: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(bbox, Bbox) or hasattr(bbox, "minpt"):
        return np.asarray(bbox.minpt, dtype=np.float64), np.asarray(bbox.maxpt, dtype=np.float64)
    flat = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if flat.size != 6:
        raise InfoError(f"a query box is a Bbox or six numbers, got {bbox!r}")
    return flat[:3], flat[3:]


__all__ = ["SpatialIndex"]
