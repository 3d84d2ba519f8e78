"""``CloudVolume.mesh``: blocking one-line wrappers over the async :class:`~aiovolume.mesh.MeshSource`."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .mesh import MeshSource
from .objects.mesh import Mesh
from .spatial_index import SpatialIndex
from .sync import run


class CloudMeshSource:
    """Blocking meshes of a layer: ``CloudVolume(...).mesh.get(segids)`` and the rest of
    CloudVolume's mesh source API; each method runs its async twin on the bridge loop."""

    def __init__(self, source: MeshSource) -> None:
        self._source = source

    @property
    def meta(self) -> MeshSource:
        return self._source

    @property
    def path(self) -> str:
        return self._source.path

    @property
    def info(self) -> dict[str, Any]:
        return run(self._source.meta()).to_json()

    @info.setter
    def info(self, doc: Mapping[str, Any]) -> None:
        self._source.info = doc

    def refresh_info(self) -> dict[str, Any]:
        return run(self._source.refresh_info())

    def commit_info(self) -> None:
        return run(self._source.commit_info())

    def to_multi_resolution(self, vertex_quantization_bits: int = 16, transform: Sequence[float] | None = None,
                            lod_scale_multiplier: float = 1.0) -> None:
        run(self._source.meta())
        return self._source.to_multi_resolution(vertex_quantization_bits, transform, lod_scale_multiplier)

    def to_sharded(self, sharding: Mapping[str, Any]) -> None:
        run(self._source.meta())
        return self._source.to_sharded(sharding)

    def to_unsharded(self) -> None:
        run(self._source.meta())
        return self._source.to_unsharded()

    def exists(self, segids: Any) -> dict[int, str | None]:
        return run(self._source.exists(segids))

    def get(self, segids: Any, remove_duplicate_vertices: bool = True, fuse: bool | None = None,
            chunk_size: Sequence[float] | None = None, lod: int = 0, concat: bool = True,
            allow_missing: bool = False, deduplicate_chunk_boundaries: bool = True,
            progress: Any = None) -> Mesh | dict[int, Any]:
        return run(self._source.get(segids, remove_duplicate_vertices, fuse, chunk_size, lod, concat,
                                    allow_missing, deduplicate_chunk_boundaries, progress))

    def get_manifest(self, segid: int) -> Any:
        return run(self._source.get_manifest(segid))

    def save(self, segids: Any, filepath: Any = None, file_format: str = "ply") -> None:
        return run(self._source.save(segids, filepath, file_format))

    def put(self, meshes: Mesh | Iterable[Mesh] | Mapping[int, Sequence[Mesh]], batch_size: int = 200,
            compress: str | bool | None = "gzip", compression_level: int = 6, cdn_cache: str | None = None,
            skip_delete: bool = False) -> None:
        return run(self._source.put(meshes, batch_size, compress, compression_level, cdn_cache, skip_delete))

    def put_multires(self, meshes: Mapping[int, Sequence[Mesh]], chunk_shape: Sequence[float] | None = None,
                     grid_origin: Sequence[float] | None = None, lod_scales: Sequence[float] | None = None,
                     compression_level: int = 7) -> None:
        return run(self._source.put_multires(meshes, chunk_shape, grid_origin, lod_scales, compression_level))

    def delete(self, segids: Any) -> None:
        return run(self._source.delete(segids))

    @property
    def spatial_index(self) -> "CloudSpatialIndex | None":
        """Blocking spatial index, or None when the mesh info declares none (as CloudVolume)."""
        meta = run(self._source.meta())
        return CloudSpatialIndex(self._source.spatial_index) if meta.spatial_index else None

    def get_bbox(self, bbox: Any) -> dict[int, Mesh]:
        return run(self._source.get_bbox(bbox))

    def mesh_mip(self) -> int:
        return self._source.mesh_mip()

    def __repr__(self) -> str:
        return f"CloudMeshSource({self._source.store.url}/{self.path})"


class CloudSpatialIndex:
    """Blocking wrappers over :class:`~aiovolume.spatial_index.SpatialIndex`."""

    def __init__(self, index: SpatialIndex) -> None:
        self._index = index

    def query(self, bbox: Any, allow_missing: bool = False) -> set[int]:
        return run(self._index.query(bbox, allow_missing))

    def file_locations_per_label(self, labels: Any = None, allow_missing: bool = False) -> dict[int, list[str]]:
        return run(self._index.file_locations_per_label(labels, allow_missing))

    def get_bbox(self, label: int) -> Any:
        return run(self._index.get_bbox(label))

    def index_file_paths_for_bbox(self, bbox: Any) -> list[str]:
        return run(self._index.index_file_paths_for_bbox(bbox))

    @property
    def sql_db(self) -> str | None:
        return self._index.sql_db

    def to_sql(self, path: str | None = None, create_indices: bool = True, allow_missing: bool = False,
               progress: Any = None, parallel: int = 1) -> None:
        return run(self._index.to_sql(path, create_indices, allow_missing, progress, parallel))

    def to_sqlite(self, path: str = "spatial_index.db", create_indices: bool = True, allow_missing: bool = False,
                  progress: Any = None) -> None:
        return run(self._index.to_sqlite(path, create_indices, allow_missing, progress))


__all__ = ["CloudMeshSource", "CloudSpatialIndex"]
