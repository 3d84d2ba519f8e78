"""The disk cache switch and the provenance file of a :class:`~aiovolume.Volume` (a mixin).

``vol.cache`` is a :class:`~aiovolume.diskcache.DiskCache`; ``vol.provenance`` is a
:class:`~aiovolume.format.provenance.Provenance` read from (and committed to) the layer's
``provenance`` file, byte for byte as CloudVolume writes it, and kept in the cache when it is on.

Example::

    async with Volume("file:///data/layer") as vol:
        prov = await vol.refresh_provenance()
        prov.processing.append({"method": "downsample", "by": "me@lab.org"})
        await vol.commit_provenance()
"""

from __future__ import annotations

from typing import Any

from .diskcache import DiskCache
from .exceptions import ProvenanceError
from .format.provenance import EMPTY, Provenance, as_provenance, cache_bytes, commit_bytes, parse
from .pipeline.metadata import load_small_file


class CacheAndProvenance:
    """Mixin of Volume: ``cache``, ``compress_cache``, ``provenance`` and its refresh/commit."""

    _disk_cache: DiskCache
    _provenance: Provenance | None = None

    # -- the disk cache ----------------------------------------------------------------------
    @property
    def cache(self) -> DiskCache:
        """CloudVolume's ``vol.cache`` (also when off: ``vol.cache.enabled = True`` turns it on)."""
        return self._disk_cache

    @property
    def compress_cache(self) -> Any:
        """The ``compress_cache`` argument: ``vol.cache.compress``."""
        return self._disk_cache.compress

    @compress_cache.setter
    def compress_cache(self, value: Any) -> None:
        self._disk_cache.compress = value

    @property
    def cache_path(self) -> str:
        """Where the disk cache keeps this layer (``vol.cache.path``), used or not."""
        return self._disk_cache.path

    # -- provenance ----------------------------------------------------------------------------
    @property
    def provenance_loaded(self) -> bool:
        """Whether ``provenance`` was given, set or read (the blocking CloudVolume reads it on first use)."""
        return self._provenance is not None

    @property
    def provenance(self) -> Provenance:
        """The layer's provenance (a dict with ``description``, ``owners``, ``processing``,
        ``sources`` as attributes too). On the async Volume, ``await vol.refresh_provenance()`` first."""
        if self._provenance is None:
            raise ProvenanceError(f"the provenance of {self.cloudpath} has not been read: "  # type: ignore[attr-defined]
                                  "await vol.refresh_provenance() first")
        return self._provenance

    @provenance.setter
    def provenance(self, value: Any) -> None:
        # as CloudVolume, checked when committed, not when set
        if isinstance(value, (str, bytes)):
            value = parse(value)
        if not isinstance(value, dict):
            raise ProvenanceError(f"provenance must be a dict or a JSON object, not {type(value).__name__}")
        self._provenance = value if isinstance(value, Provenance) else Provenance(value)

    async def refresh_provenance(self) -> Provenance:
        """Read the provenance from the disk cache when it holds one, else from the layer (a
        layer without one reads as empty) and keep it in the cache. A file that is not JSON or
        breaks the schema raises ProvenanceError."""
        cached = await self._disk_cache.read("provenance")
        if cached is not None:
            try:
                self._provenance = Provenance(parse(cached))
                return self._provenance
            except ProvenanceError:
                self._disk_cache.flush_provenance()  # a damaged copy: read the layer's instead
        data = await load_small_file(self.store, "provenance")  # type: ignore[attr-defined]
        where = f"{self.cloudpath}/provenance"  # type: ignore[attr-defined]
        prov = as_provenance(parse(data, where) if data else dict(EMPTY), where)
        self._provenance = prov
        await self._disk_cache.keep("provenance", cache_bytes(prov))
        return prov

    async def commit_provenance(self) -> None:
        """Validate the provenance and write it to ``<layer>/provenance`` (and the cache)."""
        self._check_writable()  # type: ignore[attr-defined]
        prov = self._provenance if self._provenance is not None else await self.refresh_provenance()
        data = commit_bytes(prov)
        await self.store.put("provenance", data, content_type="application/json",  # type: ignore[attr-defined]
                             cache_control="no-cache")
        await self._disk_cache.keep("provenance", cache_bytes(prov))
