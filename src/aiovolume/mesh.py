"""``MeshSource``: a segmentation layer's meshes (``vol.mesh``), legacy, multi-resolution and sharded.

The mesh directory is the layer info's ``mesh`` field (or the ``mesh_dir`` option; ``mesh`` if
neither); its ``info`` picks the format as CloudVolume does: ``neuroglancer_multilod_draco`` with a
``sharding`` object -> sharded multires, without -> unsharded multires, else legacy.

Every call fetches everything it needs in one concurrent batch per step: all manifests at
once (each once), then every fragment of every segment at once.

Example::

    async with Volume("file:///data/seg") as vol:
        mesh = await vol.mesh.get([12, 13])              # legacy: one fused Mesh
        await vol.mesh.save(12, file_format="ply")
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Mapping, Sequence

import numpy as np

from .codecs.compression import decompress
from .codecs.draco import is_draco
from .exceptions import (
    DecompressionError, InfoError, MeshDecodeError, MeshMissingError, ReadOnlyException, ShardChangedError,
    SpecViolation,
)
from .format.mesh import LEGACY_TYPE, MULTIRES_TYPE, MeshInfo, MultiresManifest, decode_legacy_manifest, \
    legacy_manifest_key
from .format.sharding import ShardingSpec
from .meshwrite import MeshWriter, plain_bytes, segids_of
from .objects.mesh import Mesh
from .objects.multires import decode_lod, to_nm
from .pipeline.fanout import run_all
from .pipeline.shardkeys import KeyedShards
from .spatial_index import SpatialIndex
from .storage.base import Blob, Store, bounded_map

_MESH_MIP = re.compile(r"mesh_mip_(\d+)")


class MeshSource(MeshWriter):
    """Async meshes of one layer; ``Volume.mesh``. Methods follow CloudVolume's mesh sources."""

    def __init__(self, vol: Any) -> None:
        self._vol = vol
        self._meta: MeshInfo | None = None
        self._loading: asyncio.Lock | None = None
        self._shards: KeyedShards | None = None

    # -- info -----------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self._vol.store

    @property
    def path(self) -> str:
        """The mesh directory, relative to the layer."""
        given = getattr(self._vol, "mesh_dir", None) or self._vol.info.get("mesh") or "mesh"
        return str(given).strip("/")

    def _key(self, name: str) -> str:
        return f"{self.path}/{name}"

    async def meta(self) -> MeshInfo:
        """The mesh info (loaded on first use; a layer without one is legacy, as CloudVolume)."""
        if self._meta is None:
            if self._loading is None:
                self._loading = asyncio.Lock()
            async with self._loading:
                if self._meta is None:
                    await self.refresh_info()
        assert self._meta is not None
        return self._meta

    async def refresh_info(self) -> dict[str, Any]:
        doc = None
        if self._vol.info.get("mesh") or getattr(self._vol, "mesh_dir", None):
            blob = await self.store.get(self._key("info"))
            if blob is not None:
                try:
                    doc = json.loads(bytes(decompress(blob.data, blob.encoding)))
                except (ValueError, DecompressionError) as exc:
                    raise InfoError(f"{self.store.url}/{self._key('info')}: not a JSON mesh info ({exc})") from None
        self._set(MeshInfo.from_json(doc))
        return self.info

    def _set(self, meta: MeshInfo) -> None:
        self._meta, self._shards = meta, None
        if meta.multires and meta.sharded:
            cache = getattr(self._vol, "_shard_indexes", None)
            self._shards = KeyedShards(self.store, self.path, ShardingSpec.from_json(meta.sharding), cache)

    @property
    def info(self) -> dict[str, Any]:
        """The mesh info as JSON (call ``await refresh_info()`` or any read first)."""
        return (self._meta or MeshInfo()).to_json()

    @info.setter
    def info(self, doc: Mapping[str, Any]) -> None:
        self._set(MeshInfo.from_json(doc))

    async def commit_info(self) -> None:
        """Write the mesh info (``sharding`` only when sharded, never ``null``)."""
        self._check_writable()
        meta = await self.meta()
        await self.store.put(self._key("info"), json.dumps(meta.to_json()).encode(),
                             content_type="application/json", cache_control="no-cache")

    def to_multi_resolution(self, vertex_quantization_bits: int = 16, transform: Sequence[float] | None = None,
                            lod_scale_multiplier: float = 1.0) -> None:
        """Make the (in-memory) info multi-resolution; ``transform`` defaults to the layer's
        resolution at the mesh mip, as CloudVolume's. ``commit_info()`` writes it."""
        if transform is None:
            r = [float(x) for x in self._vol.mip_resolution(self.mesh_mip())]
            transform = [r[0], 0, 0, 0, 0, r[1], 0, 0, 0, 0, r[2], 0]
        old = self._meta or MeshInfo()
        self._set(MeshInfo.multires_info(vertex_quantization_bits, transform, lod_scale_multiplier, old.sharding))

    def to_sharded(self, sharding: Mapping[str, Any]) -> None:
        """Add a ``sharding`` object (a spec dict or ``ShardingSpec``) to a multires info."""
        spec = sharding.to_json() if isinstance(sharding, ShardingSpec) else ShardingSpec.from_json(sharding).to_json()
        self._set(MeshInfo.from_json({**self.info, "sharding": spec}))

    def to_unsharded(self) -> None:
        doc = self.info
        doc.pop("sharding", None)
        self._set(MeshInfo.from_json(doc))

    def mesh_mip(self) -> int:
        meta = self._meta or MeshInfo()
        if "mip" in meta.extra:
            return int(meta.extra["mip"])
        found = _MESH_MIP.search(self.path)
        return int(found.group(1)) if found else int(self._vol.mip)

    def _check_writable(self) -> None:
        if self._vol.read_only:
            raise ReadOnlyException(f"{self._vol.cloudpath} is read-only; meshes cannot be written")

    @property
    def spatial_index(self) -> SpatialIndex:
        """The spatial index the mesh info declares (its async methods raise InfoError if none)."""
        return SpatialIndex(self)

    async def get_bbox(self, bbox: Any) -> dict[int, Mesh]:
        """``{segid: Mesh}`` of every segment the spatial index finds in ``bbox`` (nm)."""
        labels = await self.spatial_index.query(bbox)
        return await self.get(sorted(labels), fuse=False) if labels else {}

    # -- reads ----------------------------------------------------------------------------
    async def exists(self, segids: Any) -> dict[int, str | None]:
        """``{segid: manifest key or None}`` (multires sharded: ``shard key`` of the manifest)."""
        ids = segids_of(segids)
        meta = await self.meta()
        if meta.multires and self._shards is not None:
            where = await self._shards.locate(ids)
            return {s: None if w is None else w[0] for s, w in where.items()}
        keys = [self._manifest_key(s, meta) for s in ids]
        there = await self.store.exists_many(keys)
        return {s: k if ok else None for s, k, ok in zip(ids, keys, there)}

    def _manifest_key(self, segid: int, meta: MeshInfo) -> str:
        return self._key(f"{segid}.index" if meta.multires else legacy_manifest_key(segid))

    async def get(self, segids: Any, remove_duplicate_vertices: bool = True, fuse: bool | None = None,
                  chunk_size: Sequence[float] | None = None, lod: int = 0, concat: bool = True,
                  allow_missing: bool = False, deduplicate_chunk_boundaries: bool = True,
                  progress: Any = None) -> Mesh | dict[int, Any]:
        """The meshes of ``segids``.

        ``fuse=None`` is CloudVolume's default for the format: legacy -> one fused ``Mesh`` with
        exactly duplicated vertices merged (``remove_duplicate_vertices``; only on chunk
        boundaries when ``chunk_size`` (voxels) is given); multires -> ``{segid: Mesh}`` at
        ``lod`` (``-1``: the coarsest). ``fuse=False`` -> ``{segid: Mesh}``, ``fuse=True`` -> one
        Mesh, for every format. ``deduplicate_chunk_boundaries=False`` keeps every vertex.
        ``concat=False`` (multires) -> ``{segid: [Mesh per fragment]}``. Missing meshes raise
        :class:`MeshMissingError` naming them unless ``allow_missing``.
        """
        ids = segids_of(segids)
        meta = await self.meta()
        if meta.multires:
            parts = await self._get_multires(ids, lod, allow_missing, meta)
            fuse = False if fuse is None else fuse
        else:
            parts = await self._get_legacy(ids, allow_missing, meta)
            fuse = True if fuse is None else fuse
        if not fuse:
            if not concat:
                return parts
            return {s: Mesh.concatenate(*ms, segid=s) for s, ms in parts.items()}
        dedupe = remove_duplicate_vertices and deduplicate_chunk_boundaries
        return await asyncio.to_thread(self._fuse, parts, dedupe, chunk_size)

    def _fuse(self, parts: dict[int, list[Mesh]], dedupe: bool, chunk_size: Sequence[float] | None) -> Mesh:
        meshes = [m for s in sorted(parts) for m in parts[s]]
        mesh = Mesh.concatenate(*meshes)
        if not dedupe:
            return mesh
        if chunk_size is None:
            return mesh.consolidate()
        mip = self.mesh_mip()
        res = np.asarray(self._vol.mip_resolution(mip), dtype=np.float64)
        offset = np.asarray(self._vol.mip_voxel_offset(mip), dtype=np.float64) * res
        return mesh.deduplicate_chunk_boundaries(np.asarray(chunk_size, dtype=np.float64) * res, offset=offset)

    async def _get_legacy(self, ids: list[int], allow_missing: bool, meta: MeshInfo) -> dict[int, list[Mesh]]:
        """Per segment: its manifest, then its fragments as soon as the manifest is in, then their
        decoding in a thread while other segments are still downloading. One GET per object; at
        most the store's concurrency in flight across the whole call."""
        limit = asyncio.Semaphore(self.store.options.concurrency_for(self.store.scheme))
        transform = meta.transform_matrix()
        parts: dict[int, list[Mesh]] = {}
        missing: list[int] = []

        async def fetch(key: str) -> Blob | None:
            async with limit:
                return await self.store.get(key)

        async def segment(s: int) -> None:
            key = self._manifest_key(s, meta)
            blob = await fetch(key)
            if blob is None:
                missing.append(s)
                return
            what = f"mesh manifest of segment {s} ({key})"
            names = sorted(decode_legacy_manifest(plain_bytes(blob, what), what))
            frags = await asyncio.gather(*(fetch(self._key(n)) for n in names))
            gone = [n for n, b in zip(names, frags) if b is None]
            if gone:
                raise MeshMissingError(f"segment {s}: mesh fragment(s) listed in its manifest are missing: "
                                       f"{', '.join(gone[:10])}")
            parts[s] = await asyncio.to_thread(_decode_legacy, s, names, frags, transform)

        await run_all(segment(s) for s in ids)
        if missing and not allow_missing:
            raise MeshMissingError(f"no mesh manifest for segment(s) {', '.join(map(str, sorted(missing)))} "
                                   f"under {self.store.url}/{self.path}")
        return {s: parts[s] for s in ids if s in parts}

    async def _get_multires(self, ids: list[int], lod: int, allow_missing: bool,
                            meta: MeshInfo) -> dict[int, list[Mesh]]:
        try:
            return await self._get_multires_once(ids, lod, allow_missing, meta)
        except ShardChangedError:  # a shard replaced between manifest and fragments: once more, afresh
            return await self._get_multires_once(ids, lod, allow_missing, meta)

    async def _get_multires_once(self, ids: list[int], lod: int, allow_missing: bool,
                                 meta: MeshInfo) -> dict[int, list[Mesh]]:
        manifests = await self._manifests(ids, allow_missing)
        wanted: dict[int, tuple[int, tuple[str, int, int]]] = {}
        for s, man in manifests.items():
            level = man.num_lods - 1 if lod == -1 else lod
            if not 0 <= level < man.num_lods:
                raise MeshDecodeError(f"segment {s}: LOD {lod} is out of range (its mesh has {man.num_lods} LODs)")
            start, stop = man.lod_range(level)
            if self._shards is not None:
                base = man.shard_offset - man.total_bytes
                wanted[s] = (level, (man.extra["shard"], base + start, base + stop))
            else:
                wanted[s] = (level, (self._key(str(s)), start, stop))
        versions = {m.extra["shard"]: m.extra["version"] for m in manifests.values() if "shard" in m.extra}
        data = await self._ranges({s: w for s, (_, w) in wanted.items()}, versions)
        bits = int(meta.vertex_quantization_bits or 16)
        transform = meta.transform_matrix()

        def decode() -> dict[int, list[Mesh]]:
            return {s: decode_lod(manifests[s], level, data[s], bits, transform,
                                  f"segment {s} ({self.store.url}/{self.path})")
                    for s, (level, _) in wanted.items()}

        return await asyncio.to_thread(decode)

    async def _ranges(self, wanted: dict[int, tuple[str, int, int]],
                      versions: dict[str, object | None] | None = None) -> dict[int, bytes]:
        if self._shards is not None:
            got = await self._shards.read_ranges({s: w for s, w in wanted.items() if w[2] > w[1]}, versions)
        else:
            async def one(item: tuple[int, tuple[str, int, int]]) -> bytes | None:
                _, (key, start, stop) = item
                if stop == start:
                    return b""
                found = await self.store.get_ranges(key, [(start, stop)])
                return None if found is None else found[0]

            items = list(wanted.items())
            values = await bounded_map(one, items, self.store.options.concurrency_for(self.store.scheme))
            got = {s: v for (s, _), v in zip(items, values)}
        out = {}
        for s, (key, start, stop) in wanted.items():
            value = b"" if stop == start else got.get(s)
            if value is None:
                raise MeshMissingError(f"segment {s}: its fragment data {self.store.url}/{key} is missing")
            out[s] = value
        return out

    async def get_manifest(self, segid: int) -> MultiresManifest | None:
        """One multires manifest, or None."""
        return (await self._manifests([int(segid)], allow_missing=True)).get(int(segid))

    async def _manifests(self, ids: list[int], allow_missing: bool) -> dict[int, MultiresManifest]:
        found: dict[int, MultiresManifest] = {}
        if self._shards is not None:
            got = await self._shards.get_versioned(ids)
            for s, item in got.items():
                if item is not None:
                    data, (shard, start, _), version = item
                    found[s] = MultiresManifest.decode(data, s, start, f"manifest of segment {s} in {shard}")
                    found[s].extra["shard"] = shard
                    found[s].extra["version"] = version  # its fragments are read from that file
        else:
            keys = [self._key(f"{s}.index") for s in ids]
            for s, key, blob in zip(ids, keys, await self.store.get_many(keys)):
                if blob is not None:
                    what = f"manifest of segment {s} ({key})"
                    found[s] = MultiresManifest.decode(plain_bytes(blob, what), s, what=what)
        missing = [s for s in ids if s not in found]
        if missing and not allow_missing:
            raise MeshMissingError(f"no mesh manifest for segment(s) {', '.join(map(str, missing))} "
                                   f"under {self.store.url}/{self.path}")
        return found

    async def save(self, segids: Any, filepath: Any = None, file_format: str = "ply") -> None:
        """Write the fused mesh of ``segids`` to ``filepath`` (default ``{segid}.{format}`` or
        ``{first}_{last}.{format}``) as ``obj``, ``ply`` or ``precomputed``."""
        if file_format not in ("obj", "ply", "precomputed"):
            raise SpecViolation(f"file_format={file_format!r}: use 'obj', 'ply' or 'precomputed'")
        ids = segids_of(segids)
        mesh = await self.get(ids, fuse=True)
        assert isinstance(mesh, Mesh)
        data = {"obj": mesh.to_obj, "ply": mesh.to_ply, "precomputed": mesh.to_precomputed}[file_format]()
        if filepath is None:
            filepath = f"{ids[0]}.{file_format}" if len(ids) == 1 else f"{ids[0]}_{ids[-1]}.{file_format}"
        if hasattr(filepath, "write"):
            filepath.write(bytes(data))
        else:
            await asyncio.to_thread(_write_file, str(filepath), bytes(data))

def _decode_legacy(segid: int, names: list[str], frags: Sequence[Blob | None],
                   transform: np.ndarray | None) -> list[Mesh]:
    out = []
    for name, blob in zip(names, frags):
        assert blob is not None
        what = f"segment {segid} fragment {name}"
        data = plain_bytes(blob, what)
        try:
            mesh = Mesh.from_draco(data, segid=segid) if is_draco(data) else Mesh.from_precomputed(data, segid=segid)
        except MeshDecodeError as exc:
            raise MeshDecodeError(f"{what}: {exc}") from None
        if transform is not None:
            mesh.vertices = to_nm(mesh.vertices.astype(np.float64), transform).astype(np.float32)
        out.append(mesh)
    return out


def _write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


__all__ = ["MeshSource", "Mesh", "LEGACY_TYPE", "MULTIRES_TYPE"]
