"""Mesh writes of :class:`~aiovolume.mesh.MeshSource` (a mixin): legacy ``put``, multires
``put_multires`` (unsharded files or merged into shards) and ``delete``.

The mixin uses the source's ``store``, ``path``, ``_key``, ``meta()``, ``_shards``,
``_manifest_key`` and ``_check_writable``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .codecs.compression import compress as _compress
from .codecs.compression import decompress
from .exceptions import DecompressionError, InfoError, MeshDecodeError, SpecViolation
from .format.mesh import MultiresManifest, decode_legacy_manifest, encode_legacy_manifest, legacy_manifest_key
from .objects.mesh import Mesh
from .objects.multires import encode_multires
from .storage.base import Blob, PutItem


def segids_of(segids: Any) -> list[int]:
    if isinstance(segids, (int, np.integer, str)):
        segids = [segids]
    try:
        return [int(s) for s in segids]
    except (TypeError, ValueError):
        raise SpecViolation(f"segment ids must be integers, got {segids!r:.200}") from None


class MeshWriter:
    """Writes and deletes; mixed into MeshSource."""

    async def put(self, meshes: Mesh | Iterable[Mesh] | Mapping[int, Sequence[Mesh]], batch_size: int = 200,
                  compress: str | bool | None = "gzip", compression_level: int = 6, cdn_cache: str | None = None,
                  skip_delete: bool = False) -> None:
        """Upload meshes. Legacy info: each ``Mesh`` (with its ``segid``) as manifest ``{segid}:0``
        and one raw fragment ``{segid}:0:1`` (gzip unless ``compress`` is falsy), replacing the
        fragments of an older manifest unless ``skip_delete``. Multires info: see
        :meth:`put_multires` (a Mesh is a one-LOD mesh; ``{segid: [lod0, lod1, ...]}`` works too)."""
        self._check_writable()
        meta = await self.meta()
        if meta.multires:
            lods = meshes if isinstance(meshes, Mapping) else {m.segid: [m] for m in _as_list(meshes)}
            return await self.put_multires(lods)
        items = _as_list(meshes)
        for m in items:
            if m.segid is None:
                raise SpecViolation("every Mesh to put needs its segid")
        method = "gzip" if compress is True else (compress or None)
        if not skip_delete:
            await self._delete_legacy([int(m.segid) for m in items], keep=True)
        puts = []
        for m in items:
            s = int(m.segid)
            data = await asyncio.to_thread(_compress, m.to_precomputed(), method, compression_level)
            puts.append(PutItem(self._key(f"{s}:0:1"), data, method, cache_control=cdn_cache))
        await self.store.put_many(puts)  # fragments first: a manifest never names a missing one
        await self.store.put_many([PutItem(self._key(legacy_manifest_key(int(m.segid))),
                                           encode_legacy_manifest([f"{int(m.segid)}:0:1"]),
                                           content_type="application/json", cache_control=cdn_cache)
                                   for m in items])

    async def put_multires(self, meshes: Mapping[int, Sequence[Mesh]], chunk_shape: Sequence[float] | None = None,
                           grid_origin: Sequence[float] | None = None, lod_scales: Sequence[float] | None = None,
                           compression_level: int = 7) -> None:
        """Write ``{segid: [finest LOD mesh, ..., coarsest]}`` (vertices in nm) as multires
        meshes: split into the fragment grid, quantized to ``vertex_quantization_bits`` and
        Draco-encoded; ``{segid}.index`` + ``{segid}`` unsharded, one shard entry each sharded
        (merged into existing shards). The info must be multires (``to_multi_resolution()``)."""
        self._check_writable()
        meta = await self.meta()
        if not meta.multires:
            raise InfoError("the mesh info is legacy: call to_multi_resolution() (and commit_info()) first")
        bits, transform = int(meta.vertex_quantization_bits or 16), meta.transform_matrix()

        def build() -> dict[int, tuple[MultiresManifest, bytes]]:
            return {int(s): encode_multires(list(lods), bits, transform, chunk_shape, grid_origin, lod_scales,
                                            segid=int(s), compression_level=compression_level)
                    for s, lods in meshes.items()}

        built = await asyncio.to_thread(build)
        if self._shards is not None:
            await self._shards.write({s: m.encode() for s, (m, _) in built.items()},
                                     {s: d for s, (_, d) in built.items()}, prefix_of=_fragment_bytes)
            return
        await self.store.put_many([PutItem(self._key(str(s)), d) for s, (_, d) in built.items()])
        await self.store.put_many([PutItem(self._key(f"{s}.index"), m.encode()) for s, (m, _) in built.items()])

    async def delete(self, segids: Any) -> None:
        """Remove the manifests and fragments of ``segids`` (unsharded formats)."""
        self._check_writable()
        ids = segids_of(segids)
        meta = await self.meta()
        if meta.multires:
            if self._shards is not None:
                raise SpecViolation("deleting single meshes from shards is not supported (as CloudVolume)")
            await self.store.delete_many([self._key(k) for s in ids for k in (f"{s}.index", str(s))])
            return
        await self._delete_legacy(ids, keep=False)

    async def _delete_legacy(self, ids: list[int], keep: bool) -> None:
        meta = await self.meta()
        keys = [self._manifest_key(s, meta) for s in ids]
        blobs = await self.store.get_many(keys)
        doomed: list[str] = []
        for s, key, blob in zip(ids, keys, blobs):
            if blob is None:
                continue
            names = decode_legacy_manifest(plain_bytes(blob, key), key)
            doomed += [self._key(n) for n in names if not (keep and n == f"{s}:0:1")]
            if not keep:
                doomed.append(key)
        await self.store.delete_many(doomed)


def plain_bytes(blob: Blob, what: str) -> bytes:
    try:
        return bytes(decompress(blob.data, blob.encoding))
    except DecompressionError as exc:
        raise MeshDecodeError(f"{what}: {exc}") from None


def _fragment_bytes(key: int, manifest: bytes) -> int:
    return MultiresManifest.decode(manifest, key).total_bytes


def _as_list(meshes: Any) -> list[Mesh]:
    return [meshes] if isinstance(meshes, Mesh) else list(meshes)


__all__ = ["MeshWriter", "plain_bytes", "segids_of"]
