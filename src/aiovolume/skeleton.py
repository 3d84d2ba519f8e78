"""``vol.skeleton``: the async skeleton source of a segmentation layer (CloudVolume's
``vol.skeleton.get/upload/upload_raw/delete/list`` and ``vol.skeleton.meta``).

Where skeletons live: the layer info's ``skeletons`` field, or the ``skel_dir`` option, or
``skeletons``; their ``info`` there. Differences from CloudVolume, all so that what is written
reads back right and renders in Neuroglancer:

- the first upload to a layer without a skeleton info writes one whose ``vertex_attributes``
  are the ones written (and sets the layer info's ``skeletons`` field if it had none);
  ``"sharding": null`` is never written;
- infos we create store 8/16-bit integer attributes (CloudVolume's ``vertex_types`` uint8) as
  float32: Neuroglancer refuses to draw a skeleton layer with any non-float32 attribute, so
  CloudVolume's default info never renders. An existing info is always followed as it is;
- ``get`` applies the info ``transform`` (stored -> nm) and ``upload`` applies its inverse, so
  a round trip returns the vertices uploaded (CloudVolume applies the transform on read only);
- files are gzip-encoded only where the store serves them decoded (``Content-Encoding`` on
  s3/gs), never as ``.gz`` names on ``file://``, which Neuroglancer cannot find;
- sharded layers merge uploads into their shards (CloudVolume overwrites whole shard files),
  and deletes work on them too.

>>> async with Volume("file:///data/seg") as vol:             # doctest: +SKIP
...     await vol.skeleton.upload(Skeleton(verts, edges, segid=7))
...     skel = await vol.skeleton.get(7)
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Iterable, Sequence

import numpy as np

from .codecs.compression import compress as _compress, decompress as _decompress
from .exceptions import (
    InfoError, OptionError, ReadOnlyException, SkeletonMissingError, SpatialIndexGapError, UnsupportedFeatureError,
)
from .format.sharding import ShardingSpec
from .format.skeleton import (
    DEFAULT_VERTEX_ATTRIBUTES, default_skeleton_info, hashed_sharding, info_transform, parse_skeleton_info,
    renderable_attributes, skeleton_info_to_json,
)
from .format.spatial_index import index_filenames, parse_index_file, precision_of, segids_in
from .objects import skeleton_files
from .objects.skeleton import Skeleton
from .pipeline.fanout import map_bounded
from .pipeline.shardkeys import KeyedShards
from .storage.base import PutItem

_MIP = re.compile(r"skeletons_mip_(\d+)")
#: skeletons encoded per thread hop on upload; writing one batch overlaps encoding the next
ENCODE_BATCH = 64
#: skeletons per encode-and-write hop on a local store, and such hops at once (one per core)
LOCAL_WRITE_BATCH = 32
LOCAL_WRITE_HOPS = 2
#: local read+decode hops in flight
READ_HOPS = 2
#: skeletons read and decoded per hop
READ_BATCH = 32


class SkeletonMetadata:
    """The skeleton ``info`` of a layer (``info`` is a plain dict: edit it, then ``commit_info``)."""

    def __init__(self, vol: Any) -> None:
        self._vol = vol
        self.info: dict[str, Any] = default_skeleton_info()
        self.stored = False  # whether an info exists in storage (as of the last refresh)
        self._loaded = False

    @property
    def skeleton_path(self) -> str:
        given = getattr(self._vol, "skel_dir", None) or self._vol._info.skeletons
        return str(given or "skeletons").strip("/")

    def join(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.skeleton_path, *parts) if p.strip("/"))

    @property
    def transform(self) -> np.ndarray:
        return info_transform(self.info).astype(np.float32)

    @transform.setter
    def transform(self, value: Any) -> None:
        self.info["transform"] = np.asarray(value, dtype=np.float64).reshape(12).tolist()

    @property
    def spatial_index(self) -> Any:
        return self.info.get("spatial_index")

    @property
    def mip(self) -> int | None:
        if "mip" in self.info:
            return int(self.info["mip"])
        found = _MIP.search(self.skeleton_path)
        return int(found.group(1)) if found else None

    @property
    def read_attributes(self) -> list[dict[str, Any]]:
        """The attribute layout of stored files: the info's, or without an info CloudVolume's
        defaults (radius float32, vertex_types uint8), which its info-less uploads contain."""
        if self.stored:
            return list(self.info.get("vertex_attributes", []))
        return [a.to_json() for a in DEFAULT_VERTEX_ATTRIBUTES]

    def is_sharded(self) -> bool:
        return self.info.get("sharding") is not None

    def default_info(self) -> dict[str, Any]:
        return default_skeleton_info()

    async def refresh_info(self) -> dict[str, Any]:
        """Read ``<skeleton dir>/info`` (a default info if there is none)."""
        blob = await self._vol.store.get(self.join("info"))
        if blob is None:
            self.info, self.stored = default_skeleton_info(), False
        else:
            data = await asyncio.to_thread(_decompress, blob.data, blob.encoding)
            try:
                raw = json.loads(bytes(data))
            except ValueError as exc:
                raise InfoError(f"{self._vol.cloudpath}/{self.join('info')}: not JSON ({exc})") from exc
            self.info, self.stored = parse_skeleton_info(raw, f"{self._vol.cloudpath}/{self.join('info')}"), True
        self._loaded = True
        return self.info

    async def ensure_loaded(self) -> None:
        if not self._loaded:
            await self.refresh_info()

    async def commit_info(self) -> None:
        """Write the info (validated; ``null`` sharding and spatial_index left out)."""
        if self._vol.read_only:
            raise ReadOnlyException(f"{self._vol.cloudpath} is read-only; cannot write its skeleton info")
        where = f"{self._vol.cloudpath}/{self.join('info')}"
        data = skeleton_info_to_json(self.info, where)
        await self._vol.store.put(self.join("info"), data, content_type="application/json", cache_control="no-cache")
        self.info, self.stored, self._loaded = json.loads(data), True, True

    def to_sharded(self, num_labels: int, shard_index_bytes: int = 2**13, minishard_index_bytes: int = 2**15,
                   min_shards: int = 1, minishard_index_encoding: str = "gzip", data_encoding: str = "gzip",
                   max_labels_per_shard: int | None = None) -> None:
        """Put a murmurhash ``sharding`` sized for ``num_labels`` skeletons in the info (commit it
        with ``commit_info``). ``max_labels_per_shard`` raises the shard count (it fails with
        NameError in CloudVolume)."""
        if max_labels_per_shard is not None:
            min_shards = max(min_shards, -(-int(num_labels) // max(1, int(max_labels_per_shard))))
        self.info["sharding"] = hashed_sharding(int(num_labels), shard_index_bytes, minishard_index_bytes,
                                                int(min_shards), minishard_index_encoding, data_encoding)

    def to_unsharded(self) -> None:
        self.info.pop("sharding", None)


class SkeletonSource:
    """``vol.skeleton`` of an async :class:`~aiovolume.Volume`."""

    def __init__(self, vol: Any) -> None:
        self._vol = vol
        self.meta = SkeletonMetadata(vol)
        self._sharded: tuple[str, KeyedShards] | None = None

    @property
    def path(self) -> str:
        return self.meta.skeleton_path

    def to_sharded(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`SkeletonMetadata.to_sharded` (in memory; ``await meta.commit_info()``)."""
        self.meta.to_sharded(*args, **kwargs)

    def to_unsharded(self) -> None:
        self.meta.to_unsharded()

    def _shards(self) -> KeyedShards:
        key = json.dumps([self.meta.info.get("sharding"), self.meta.skeleton_path], sort_keys=True)
        if self._sharded is None or self._sharded[0] != key:
            spec = ShardingSpec.from_json(self.meta.info["sharding"])
            self._sharded = (key, KeyedShards(self._vol.store, self.meta.skeleton_path, spec))
        return self._sharded[1]

    # -- reads -----------------------------------------------------------------------------
    async def get(self, segids: Any, allow_missing: bool = False) -> Any:
        """The skeleton of one segment id (a Skeleton), or of each of a list (a list), all fetched
        concurrently, in physical space (the info transform applied). A missing skeleton raises
        :class:`SkeletonMissingError` unless ``allow_missing`` (then it is left out / None)."""
        single = isinstance(segids, (int, np.integer)) or (isinstance(segids, float) and segids.is_integer())
        ids = [int(segids)] if single else [int(s) for s in _as_list(segids)]
        await self.meta.ensure_loaded()
        attrs = self.meta.read_attributes
        transform = info_transform(self.meta.info)
        reader = None if self.meta.is_sharded() else self._vol.store.blocking_reader()
        if reader is not None:
            decoded = await self._read_local(reader, ids, attrs, transform)
        else:
            found = await self._fetch(ids)
            present = [(s, found[s]) for s in dict.fromkeys(ids) if found.get(s) is not None]
            skels = await asyncio.to_thread(skeleton_files.decode_all, present, attrs, transform)
            decoded = {k.id: k for k in skels}
        missing = [s for s in ids if decoded.get(s) is None]
        if missing and not allow_missing:
            raise SkeletonMissingError(f"{self._vol.cloudpath}/{self.path}: no skeleton for segment(s) "
                                       f"{', '.join(map(str, missing[:20]))}{' ...' if len(missing) > 20 else ''}")
        skels = [decoded[s] for s in ids if decoded.get(s) is not None]
        if single:
            return skels[0] if skels else None
        return skels

    async def _read_local(self, reader: Any, ids: list[int], attrs: list[dict[str, Any]],
                          transform: np.ndarray) -> dict[int, Skeleton | None]:
        """Local stores: read and decode a batch in one thread hop (the hand-offs of a store
        read then a decode cost more than reading a file), two batches at a time. A file store
        reads each file straight into its skeleton's arrays (``scatter``): one copy, not two.
        1000 skeletons of 10^4 vertices: 166 ms instead of 412 ms (A/B, benchmarks/ab_skeleton.py);
        a fresh buffer per file with arrays as views of it lost (mmapped 280 KB buffers refault
        every page on each get: 67k page faults against 15k)."""
        unique = list(dict.fromkeys(ids))
        decoded: dict[int, Skeleton | None] = {}
        decode = skeleton_files.Decoder(attrs, transform)

        def read_batch(part: list[int]) -> None:
            placed: list[Any] = []

            def place(size: int, head: bytes) -> list[memoryview]:
                arrays, buffers = decode.place(segid, size, head)
                placed.append(arrays)
                return buffers

            for segid in part:
                placed.clear()
                blob = reader(self.meta.join(str(segid)), scatter=(decode.HEAD, place))
                if blob is None:
                    decoded[segid] = None
                elif blob.span is not None:  # read straight into the skeleton's arrays
                    decoded[segid] = decode.build(segid, placed[-1])
                else:  # readers that return whole objects: decoding copies out of them
                    decoded[segid] = decode(segid, _decompress(blob.data, blob.encoding))

        async def hop(part: list[int]) -> None:
            await asyncio.to_thread(read_batch, part)

        batches = [unique[i:i + READ_BATCH] for i in range(0, len(unique), READ_BATCH)]
        await map_bounded(hop, batches, READ_HOPS)
        return decoded

    async def _fetch(self, ids: list[int]) -> dict[int, bytes | None]:
        if self.meta.is_sharded():
            return await self._shards().get_many(ids)
        blobs = await self._vol.store.get_many([self.meta.join(str(s)) for s in ids])
        raw = [(s, b) for s, b in zip(ids, blobs) if b is not None]
        datas = await asyncio.to_thread(lambda: [bytes(_decompress(b.data, b.encoding)) for _, b in raw])
        found: dict[int, bytes | None] = {s: None for s in ids}
        found.update({s: d for (s, _), d in zip(raw, datas)})
        return found

    async def exists(self, segids: Any) -> Any:
        single = isinstance(segids, (int, np.integer))
        ids = [int(segids)] if single else [int(s) for s in _as_list(segids)]
        await self.meta.ensure_loaded()
        if self.meta.is_sharded():
            present = await self._shards().exists_many(ids)
            flags = [present[s] for s in ids]
        else:
            flags = await self._vol.store.exists_many([self.meta.join(str(s)) for s in ids])
        return flags[0] if single else dict(zip(ids, flags))

    async def list(self) -> np.ndarray:
        """The segment ids that have a skeleton, sorted: from the spatial index over the whole
        layer if there is one (as CloudVolume), else by listing the directory or reading its shards."""
        await self.meta.ensure_loaded()
        if self.meta.spatial_index:
            mip = self.meta.mip or 0
            bounds = self._vol.mip_bounds(mip)
            resolution = np.asarray(self.meta.spatial_index.get("resolution") or
                                    self._vol.info["scales"][mip]["resolution"], np.float64)
            found = await self.spatial_query([np.asarray(bounds.minpt) * resolution,
                                              np.asarray(bounds.maxpt) * resolution])
            return np.array(sorted(found), dtype=np.uint64)
        if self.meta.is_sharded():
            ids = await self._shards().list_keys()
        else:
            prefix = self.meta.join() + "/"
            ids = []
            async for key in self._vol.store.list(prefix):
                name = key[len(prefix):]
                name = name[:-3] if name.endswith(".gz") else name
                if name.isdigit():
                    ids.append(int(name))
        return np.array(sorted(set(ids)), dtype=np.uint64)

    # -- spatial index (CloudVolume/igneous .spatial files) -----------------------------------
    async def spatial_query(self, bbox: Any, allow_missing: bool = False) -> set[int]:
        """Segment ids whose bounding box overlaps ``bbox`` (physical units: a Bbox, or
        ``[minpt, maxpt]``), from the ``.spatial`` files of the skeleton directory, fetched
        concurrently. A missing file raises SpatialIndexGapError unless ``allow_missing``."""
        await self.meta.ensure_loaded()
        index = self.meta.spatial_index
        if not index:
            raise UnsupportedFeatureError(f"{self._vol.cloudpath}/{self.path} has no spatial index "
                                          "(no spatial_index in its skeleton info)")
        mip = self.meta.mip or 0
        resolution = index.get("resolution") or self._vol.info["scales"][mip]["resolution"]
        bounds = self._vol.mip_bounds(mip)
        lo = np.asarray(bounds.minpt, np.float64) * np.asarray(resolution, np.float64)
        hi = np.asarray(bounds.maxpt, np.float64) * np.asarray(resolution, np.float64)
        qlo, qhi = _box(bbox)
        qlo, qhi = np.maximum(qlo, lo), np.minimum(qhi, hi)
        names = index_filenames(lo, hi, index["chunk_size"], qlo, qhi, precision_of(resolution))
        keys = [self.meta.join(n) for n in names]
        blobs = await self._vol.store.get_many(keys)
        missing = [k for k, b in zip(keys, blobs) if b is None]
        if missing and not allow_missing:
            raise SpatialIndexGapError(f"{self._vol.cloudpath}: spatial index file(s) missing: "
                                       f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")

        def parse() -> set[int]:
            found: set[int] = set()
            for key, blob in zip(keys, blobs):
                if blob is not None:
                    entries = parse_index_file(bytes(_decompress(blob.data, blob.encoding)), key)
                    found |= segids_in(entries, qlo, qhi)
            return found

        return await asyncio.to_thread(parse)

    async def get_bbox(self, bbox: Any) -> list[Skeleton]:
        """The skeletons of every segment the spatial index places in ``bbox`` (physical units)."""
        return await self.get(sorted(await self.spatial_query(bbox)))

    # -- writes ----------------------------------------------------------------------------
    async def upload(self, skeletons: Skeleton | Iterable[Skeleton]) -> None:
        """Write skeletons (each needs an ``id``) - physical coordinates, inverted through the
        info transform - creating the skeleton info first when there is none."""
        skels = [skeletons] if isinstance(skeletons, Skeleton) else list(skeletons)
        if not skels:
            return
        self._check_writable()
        await self.meta.ensure_loaded()
        if not self.meta.stored:
            await self._create_info(skels[0])
        await self._point_layer()
        attrs = self.meta.info.get("vertex_attributes", [])
        inverse = info_transform(self.meta.info)
        if self.meta.is_sharded():  # a shard is merged once, with all its new skeletons
            await self._store(await asyncio.to_thread(skeleton_files.encode_all, skels, attrs, inverse))
            return
        await asyncio.to_thread(skeleton_files.check_all, skels, attrs)  # refuse before writing anything
        writer = self._vol.store.blocking_writer() if self._transport_encoding() is None else None
        if writer is not None:  # a local store: each hop encodes its skeletons and writes them
            await self._write_locally(writer, skels, attrs, inverse)
            return

        async def batch(part: Sequence[Skeleton]) -> None:
            await self._store(await asyncio.to_thread(skeleton_files.encode_all, part, attrs, inverse))

        # two batches in flight: one encodes while the other is written
        await map_bounded(batch, [skels[i:i + ENCODE_BATCH] for i in range(0, len(skels), ENCODE_BATCH)], 2)

    put = upload

    async def upload_raw(self, segid: int, vertices: Any, edges: Any, radii: Any = None,
                         vertex_types: Any = None) -> None:
        """Write one skeleton from arrays, vertices as stored (no transform), as CloudVolume."""
        skel = Skeleton(vertices, edges, radii, vertex_types, segid=int(segid))
        self._check_writable()
        await self.meta.ensure_loaded()
        if not self.meta.stored:
            await self._create_info(skel)
        await self._point_layer()
        attrs = self.meta.info.get("vertex_attributes", [])
        files = await asyncio.to_thread(skeleton_files.encode_all, [skel], attrs, None)
        await self._store(files)

    async def delete(self, segids: Any) -> None:
        """Remove the skeletons of these segment ids (missing ones are not an error)."""
        self._check_writable()
        ids = [int(segids)] if isinstance(segids, (int, np.integer)) else [int(s) for s in _as_list(segids)]
        await self.meta.ensure_loaded()
        if self.meta.is_sharded():
            await self._shards().delete_many(ids)
        else:
            await self._vol.store.delete_many([self.meta.join(str(s)) for s in ids])

    async def _write_locally(self, writer: Any, skels: list[Skeleton], attrs: list[dict[str, Any]],
                             inverse: Any) -> None:
        """Encode and write in the same codec-thread hop, each file's arrays handed to ``writev``
        as they are (no join): 1000 skeletons of 10^4 vertices took 0.25 s instead of 0.71 s
        (encode, then join, then the store's threads)."""
        def hop(part: Sequence[Skeleton]) -> None:
            files = skeleton_files.encode_parts_all(part, attrs, inverse)
            writer([PutItem(self.meta.join(str(s)), parts) for s, parts in files.items()])  # type: ignore[arg-type]

        batches = [skels[i:i + LOCAL_WRITE_BATCH] for i in range(0, len(skels), LOCAL_WRITE_BATCH)]
        await map_bounded(lambda part: asyncio.to_thread(hop, part), batches, LOCAL_WRITE_HOPS)

    async def _store(self, files: dict[int, bytes]) -> None:
        if self.meta.is_sharded():
            await self._shards().put_many(files)
            return
        method = self._transport_encoding()
        level = self._vol.compress_level
        payload = await asyncio.to_thread(lambda: {s: _compress(d, method, level) for s, d in files.items()})
        cache_control = self._vol._cache_control_header()  # the volume's cdn_cache, as its chunk writes
        await self._vol.store.put_many([PutItem(self.meta.join(str(s)), d, content_encoding=method,
                                                cache_control=cache_control) for s, d in payload.items()])

    def _transport_encoding(self) -> str | None:
        """gzip where the store serves it decoded under the same name (s3, gs), never on
        file:// or mem:// (``.gz`` names that Neuroglancer cannot find), none if compress=False."""
        return None if self._vol.store.scheme in ("file", "mem") or self._vol.compress is False else "gzip"

    async def _create_info(self, first: Skeleton) -> None:
        """The skeleton info, with the first skeleton's attributes (8/16-bit integer ones stored
        as float32, which Neuroglancer needs to draw the layer) - unless skeleton files are there
        already (CloudVolume writes no info): then the layout they have, CloudVolume's default."""
        if await self._has_files():
            self.meta.info["vertex_attributes"] = self.meta.read_attributes
        else:
            self.meta.info["vertex_attributes"] = renderable_attributes(first.extra_attributes)
        await self.meta.commit_info()

    async def _has_files(self) -> bool:
        prefix = self.meta.join() + "/"
        async for key in self._vol.store.list(prefix):
            if key[len(prefix):] != "info":
                return True
        return False

    async def _point_layer(self) -> None:
        """Set the layer info's ``skeletons`` field if it has none (Neuroglancer finds skeletons
        only through it; CloudVolume never sets it). An explicit ``skel_dir`` is left alone."""
        vol = self._vol
        if vol._info.skeletons is None and not getattr(vol, "skel_dir", None):
            info = vol.info
            info["skeletons"] = self.meta.skeleton_path
            vol.info = info
            await vol.commit_info()

    def _check_writable(self) -> None:
        if self._vol.read_only:
            raise ReadOnlyException(f"{self._vol.cloudpath} is read-only; cannot write skeletons")


def _box(bbox: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(bbox, "minpt"):
        return np.asarray(bbox.minpt, np.float64), np.asarray(bbox.maxpt, np.float64)
    arr = np.asarray(bbox, np.float64)
    if arr.size != 6:
        raise OptionError(f"bbox must be a Bbox or [minpt, maxpt] (physical units), got {bbox!r:.200}")
    return arr.reshape(2, 3)[0], arr.reshape(2, 3)[1]


def _as_list(segids: Any) -> list[Any]:
    if isinstance(segids, np.ndarray):
        return segids.reshape(-1).tolist()
    return list(segids)


__all__ = ["SkeletonSource", "SkeletonMetadata"]
