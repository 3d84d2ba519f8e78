"""``vol.cache``: CloudVolume's local disk cache of a layer (its ``CacheService``), on our engine.

Layout, as CloudVolume 12.15's so either library reuses the other's cache:
``<base>/<protocol>/<bucket or path>/<dataset>/<layer>/`` holding ``info``, ``provenance`` and
``<scale key>/<chunk name>[.gz|.br|...]``; ``<base>`` is ``cache=`` when it is a path, else
``$CLOUD_VOLUME_CACHE_DIR``, else ``$CLOUD_VOLUME_DIR/cache`` (``~/.cloudvolume/cache``).

Chunks go through :class:`~aiovolume.pipeline.cachedsource.CachedSource`; this object holds the
switch, the path, the cache's file store, the size cap and CloudVolume's housekeeping methods.
Those are blocking (plain directory operations on a local disk, as in CloudVolume) on the
async ``Volume`` too. The directory is created when the cache is first used, not when a volume opens.

Example::

    vol = CloudVolume("gs://bucket/ds/image", cache=True)
    img = vol[0:512, 0:512, 0:64]            # fetched, and kept on disk
    vol.cache.num_files(), vol.cache.flush()
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from . import cvargs
from .exceptions import CacheError, IndexTypeError, OptionError, VolumeClosedError
from .format.sharding import morton_bit_axes, morton_codes
from .geometry import Bbox
from .pipeline.cachedsource import CachedSource
from .pipeline.executor import thread_pool
from .pipeline.layerformat import resolve_compress
from .pipeline.source import ChunkSource
from .storage import Store, open_store
from .storage.file import TMP_PREFIX
from .storage.fileio import SUFFIX


@dataclass(frozen=True)
class CacheOptions:
    """``cache=CacheOptions(path=None, max_bytes=None)``: a cache with a size cap.

    ``path``: the base directory, as ``cache="<path>"`` (None: the default base). ``max_bytes``:
    when this layer's cache grows past it, the least recently used files (by access or modification
    time, whichever is later) are deleted until it is at 90 % of it. CloudVolume has no cap.
    """

    path: str | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_bytes is not None and (isinstance(self.max_bytes, bool) or int(self.max_bytes) <= 0):
            raise OptionError(f"CacheOptions(max_bytes={self.max_bytes!r}) must be a positive number of bytes")


def _visible(name: str) -> bool:
    return not name.startswith(TMP_PREFIX)  # our atomic writes' temp files are not cache entries


class DiskCache:
    """CloudVolume's ``vol.cache``: ``enabled``, ``path``, ``compress``, the list, count, size and
    flush methods. ``compress``: the transport compression of cached copies (None: as
    CloudVolume, gzip for raw and segmentation encodings unless ``compress=`` says otherwise)."""

    def __init__(self, vol: Any, cache: Any, compress: Any) -> None:  # vol: the Volume (duck-typed)
        if isinstance(cache, CacheOptions):
            base, self.max_bytes = cache.path, cache.max_bytes
        elif isinstance(cache, (str, os.PathLike)):
            base, self.max_bytes = os.fspath(cache) or None, None
        else:  # True/False, and CloudVolume's other spellings of off (None, 0)
            base, self.max_bytes = None, None
        self.bind(vol)
        self._base = base
        self._enabled = bool(cache)
        self._compress = compress
        self._store: Store | None = None
        self._size: int | None = None  # bytes in the cache, counted once then kept up to date
        self._size_lock = threading.Lock()

    def bind(self, vol: Any) -> None:
        """Serve ``vol`` (weakly: a volume dropped without close() must not wait for the cyclic
        garbage collector to free its store's threads)."""
        self._vol_ref = weakref.ref(vol)

    @property
    def _vol(self) -> Any:
        vol = self._vol_ref() if self._vol_ref is not None else None
        if vol is None:
            raise VolumeClosedError("this vol.cache belongs to a volume that no longer exists")
        return vol

    @property
    def path(self) -> str:
        """This layer's cache directory (the environment variables are read each time, as
        ``vol.cache_path`` always did; the open store keeps the directory it was opened on)."""
        return cvargs.cache_path(self._vol._path.scheme, self._vol._path.components, self._base)

    # -- switches --------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: Any) -> None:
        self._enabled = bool(value)
        self._vol._sources.clear()  # sources are rebuilt with or without the cache

    @property
    def compress(self) -> Any:
        return self._compress

    @compress.setter
    def compress(self, value: Any) -> None:
        self._compress = value
        self._vol._sources.clear()

    def encoding(self, mip: int) -> str | None:
        """The transport compression of copies of fetched chunks of ``mip`` (CloudVolume's rules:
        unsharded, gzip for raw and segmentation encodings by default; sharded, none by default)."""
        wanted = self._compress if self._compress is not None else self._vol.compress
        scale = self._vol._info.scales[mip]
        if scale.sharding is not None and wanted is None:
            return None
        return resolve_compress(wanted, scale.encoding)

    # -- the file store and the sources ---------------------------------------------------------
    @property
    def store(self) -> Store:
        """The cache directory as a ``file://`` store (atomic writes), opened on first use."""
        if self._store is None:
            path = self.path
            try:  # once per volume: CloudVolume checks this when it opens
                os.makedirs(path, exist_ok=True)
                usable = os.access(path, os.R_OK | os.W_OK | os.X_OK)
            except OSError as e:
                raise CacheError(f"the cache directory {path} cannot be created ({e}); pass cache=<a writable "
                                 "directory> or set CLOUD_VOLUME_CACHE_DIR") from e
            if not usable:
                raise CacheError(f"the cache directory {path} needs read and write permission")
            self._store = open_store("file://" + path, self._vol.options)
        return self._store

    def wrap(self, source: ChunkSource, mip: int) -> ChunkSource:
        """``source`` with the cache in front of it. A sharded scale's chunks are cached one file
        each, named by Morton code (``<scale key>/<code>``, CloudVolume's name for them): a cached
        chunk needs no shard or minishard index. The indexes stay in the in-memory LRU."""
        scale = self._vol._info.scales[mip]
        keys = None
        if scale.sharding is not None:
            grid, prefix = _grid(scale), scale.key + "/"

            def keys(tasks: Sequence[Any]) -> list[str]:
                if not tasks:
                    return []
                return [prefix + str(c) for c in morton_codes([t.position for t in tasks], grid).reshape(-1).tolist()]

        return CachedSource(source, self.store, self.encoding(mip), self if self.max_bytes else None, keys)

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    def forget_store(self) -> None:
        """Drop the store without closing it: it belongs to another process (after a fork)."""
        self._store = None
        self._size = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"], state["_size"], state["_size_lock"], state["_vol_ref"] = None, None, None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # the unpickled Volume binds itself again
        self._size_lock = threading.Lock()

    async def read(self, name: str) -> bytes | None:
        """A small file of the layer (``info``, ``provenance``) from the cache, or None."""
        if not self._enabled:
            return None
        blob = await self.store.get(name)
        return blob.data if blob is not None and blob.data else None

    async def keep(self, name: str, data: bytes) -> None:
        """Put a small file of the layer into the cache (when enabled)."""
        if self._enabled:
            await self.store.put(name, data)

    # -- size cap --------------------------------------------------------------------------------
    async def used(self, files: Sequence[tuple[str, str | None]]) -> None:
        """Mark cached copies as just used (their times order the evictions; reads alone do not
        reliably update access times, e.g. with ``relatime``). Only with a size cap."""
        paths = [self._dir(key) + SUFFIX.get(enc, "") for key, enc in files]
        await asyncio.get_running_loop().run_in_executor(thread_pool(), _touch, paths)

    async def filled(self, nbytes: int) -> None:
        """``nbytes`` were written to the cache: evict when it is over the cap."""
        with self._size_lock:
            if self._size is not None:
                self._size += nbytes
                if self._size <= self.max_bytes:  # type: ignore[operator]
                    return
        await asyncio.get_running_loop().run_in_executor(thread_pool(), self.evict)

    def evict(self) -> int:
        """Delete the least recently used files until the cache is at 90 % of ``max_bytes``;
        return the bytes it holds now. Safe beside other processes (a file gone is skipped)."""
        entries = []
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                if not _visible(name):
                    continue
                path = os.path.join(root, name)
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                entries.append((max(st.st_atime, st.st_mtime), st.st_size, path))
        total = sum(e[1] for e in entries)
        if self.max_bytes is not None and total > self.max_bytes:
            keep = {os.path.join(self.path, n) for n in ("info", "provenance")}
            target = int(self.max_bytes * 0.9)
            for _, size, path in sorted(entries):
                if total <= target:
                    break
                if path in keep:
                    continue
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
                total -= size
        with self._size_lock:
            self._size = total
        return total

    # -- CloudVolume's housekeeping (blocking, local) ---------------------------------------------
    def _dir(self, sub: str) -> str:
        return os.path.join(self.path, sub)

    def _listdir(self, sub: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._dir(sub)) if _visible(n))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list(self, mip: Any = None) -> list[str]:
        """The cached file names of ``mip`` (default: the volume's), compression suffixes included."""
        return self._listdir(self._vol._info.scales[self._vol.to_mip(mip)].key)

    def list_meshes(self) -> list[str]:
        mesh = self._vol.info.get("mesh")
        return self._listdir(mesh) if mesh else []

    def list_skeletons(self) -> list[str]:
        skel = self._vol.info.get("skeletons")
        return self._listdir(skel) if skel else []

    def _per_mip(self, all_mips: bool, measure: Any) -> Any:
        if not all_mips:
            return measure(self._vol.mip)
        return [measure(m) for m in range(len(self._vol._info.scales))]

    def num_files(self, all_mips: bool = False) -> int | list[int]:
        """Files cached at the volume's mip, or a list over every mip."""
        return self._per_mip(all_mips, lambda m: len(self.list(m)))

    def num_bytes(self, all_mips: bool = False) -> int | list[int]:
        """Bytes cached at the volume's mip (as stored, compressed), or a list over every mip."""
        def size(m: int) -> int:
            d = self._dir(self._vol._info.scales[m].key)
            return sum(_size(os.path.join(d, n)) for n in self.list(m))

        return self._per_mip(all_mips, size)

    def has(self, filename: str) -> bool:
        """Whether ``filename`` (relative to the layer, without a suffix) is cached."""
        path = self._dir(filename)
        return any(os.path.exists(path + s) for s in ("", ".gz", ".br", ".zstd", ".xz", ".bz2"))

    def delete(self, filenames: str | Iterable[str]) -> None:
        """Remove these files (relative to the layer, as stored) from the cache."""
        for name in [filenames] if isinstance(filenames, str) else filenames:
            _remove(self._dir(name))

    def flush_info(self) -> None:
        _remove(self._dir("info"))

    def flush_provenance(self) -> None:
        _remove(self._dir("provenance"))

    def flush(self, preserve: Any = None) -> None:
        """Delete this layer's cache; with ``preserve`` (a box in mip 0 voxels), keep the chunks
        of every mip that meet it (not safe while another process fills the cache)."""
        with self._size_lock:
            self._size = None
        if preserve is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        self._flush_chunks(Bbox.create(preserve), range(len(self._vol._info.scales)), keep_inside=True)

    def flush_region(self, region: Any, mips: Sequence[int] | int | None = None) -> None:
        """Delete the cached chunks meeting ``region`` (mip 0 voxels) at ``mips`` (default: the
        volume's mip). CloudVolume 12.15 compares each mip's chunks with the mip 0 box and so
        deletes the wrong ones above mip 0; here the box is converted to each mip first."""
        with self._size_lock:
            self._size = None
        box = Bbox.create(region, self._vol.mip_bounds(0))  # open slices: mip 0 bounds, as the box is in mip 0
        wanted = [self._vol.mip] if mips is None else ([mips] if isinstance(mips, int) else list(mips))
        self._flush_chunks(box, [self._vol.to_mip(m) for m in wanted], keep_inside=False)

    def _flush_chunks(self, box0: Bbox, mips: Iterable[int], keep_inside: bool) -> None:
        for mip in mips:
            box = self._vol.bbox_to_mip(box0, 0, mip)
            scale = self._vol._info.scales[mip]
            d = self._dir(scale.key)
            for name in self.list(mip):
                chunk = _chunk_box(name, scale)
                if chunk is not None and Bbox.intersects(chunk, box) != keep_inside:
                    _remove(os.path.join(d, name))

    def __repr__(self) -> str:
        return f"DiskCache(enabled={self._enabled}, compress={self._compress!r}, path={self.path!r})"


def _grid(scale: Any) -> tuple[int, int, int]:
    return tuple(-(-int(s) // int(c)) for s, c in zip(scale.size, scale.chunk_size))  # type: ignore[return-value]


def _chunk_box(name: str, scale: Any) -> Bbox | None:
    """The voxels of a cached chunk file: ``x0-x1_y0-y1_z0-z1``, or a Morton code on a sharded
    scale; None for other files (CloudVolume's cached shard indexes, ``*.index``/``*.msi``)."""
    stem = name.split(".", 1)[0]
    if scale.sharding is not None:
        if not stem.isdigit():
            return None
        code, pos, used = int(stem), [0, 0, 0], [0, 0, 0]
        for bit, axis in enumerate(morton_bit_axes(_grid(scale))):
            pos[axis] |= ((code >> bit) & 1) << used[axis]
            used[axis] += 1
        lo = [int(o) + p * int(c) for o, p, c in zip(scale.voxel_offset, pos, scale.chunk_size)]
        hi = [min(a + int(c), int(o) + int(s)) for a, c, o, s in zip(lo, scale.chunk_size, scale.voxel_offset, scale.size)]
        return Bbox(lo, hi)
    try:
        return Bbox.from_filename(name)
    except IndexTypeError:
        return None


def _touch(paths: Sequence[str]) -> None:
    for path in paths:
        try:
            os.utime(path)
        except OSError:
            pass  # evicted or flushed meanwhile


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
