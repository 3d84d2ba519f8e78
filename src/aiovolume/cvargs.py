"""How aiovolume reads CloudVolume's constructor arguments and path names (no I/O).

Kept out of ``volume.py`` so the Volume holds only what it does with them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Sequence

import numpy as np

from .exceptions import OptionError, UnsupportedFeatureError
from .options import Options

_log = logging.getLogger("aiovolume")
_said_green_threads = False

# CloudVolume's default for progress=: bars in an interactive interpreter, none in scripts
try:
    INTERACTIVE = bool(sys.ps1)  # type: ignore[attr-defined]
except AttributeError:
    INTERACTIVE = bool(sys.flags.interactive)

# our LRU holds decoded chunks, which is CloudVolume's "raw"; "same" is accepted as that
LRU_ENCODINGS = ("same", "raw")


def num_threads(value: Any, name: str) -> int:
    """CloudVolume's reading of ``parallel``/``codec_threads``: True or 0 = every core, False = 1."""
    if isinstance(value, bool):
        return (os.cpu_count() or 1) if value else 1
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise OptionError(f"{name}={value!r} must be a bool or an integer >= 0 (0 = one per core)")
    return int(value) if value else (os.cpu_count() or 1)


def refuse(name: str, value: Any, feature: str, issue: str) -> UnsupportedFeatureError:
    """The error for an argument whose feature has its own open issue."""
    return UnsupportedFeatureError(
        f"{name}={value!r} needs {feature}, which aiovolume does not support yet ({issue}); "
        f"leave {name} at its default"
    )


def check_pending(spatial_index_db: Any, lru_encoding: Any) -> None:
    """Refuse the non-default values of arguments whose feature is still to come."""
    if spatial_index_db is not None:
        from .spatial_sql import sqlite_path

        sqlite_path(spatial_index_db)  # sqlite only: a MySQL/PostgreSQL URL is UnsupportedFeatureError
    if lru_encoding not in LRU_ENCODINGS:
        raise refuse("lru_encoding", lru_encoding, "re-encoded LRU entries", "issue 14")


def say_green_threads() -> None:
    """Log, once per process, that green_threads has no effect."""
    global _said_green_threads
    if not _said_green_threads:
        _said_green_threads = True
        _log.info("green_threads=True has no effect in aiovolume: its I/O is already concurrent (asyncio)")


def basepath(scheme: str, components: Sequence[str]) -> str:
    """CloudVolume's ``basepath``: the path above the layer without the protocol."""
    return ("/" if scheme == "file" else "") + "/".join(components[:-1])


def layerpath(scheme: str, components: Sequence[str]) -> str:
    """CloudVolume's ``layerpath``: ``basepath`` plus the layer."""
    return ("/" if scheme == "file" else "") + "/".join(components)


def cache_path(scheme: str, components: Sequence[str], base: str | None = None) -> str:
    """Where CloudVolume's disk cache keeps a layer: ``base`` (``cache="<dir>"``), else
    ``$CLOUD_VOLUME_CACHE_DIR``, else ``$CLOUD_VOLUME_DIR/cache`` (default ``~/.cloudvolume/cache``),
    then ``protocol/basepath/layer``."""
    if base is not None:
        base = os.path.expanduser(base)
    else:
        base = os.environ.get("CLOUD_VOLUME_CACHE_DIR")
    if base is None:
        home = os.environ.get("CLOUD_VOLUME_DIR", os.path.join(os.path.expanduser("~"), ".cloudvolume"))
        base = os.path.join(home, "cache")
    return os.path.abspath(os.path.join(base, scheme, *components))


class VolumeConfig:
    """CloudVolume's ``vol.config`` (its SharedConfiguration): the shared options, read and set
    live on the volume (``vol.config.mip = 1`` is ``vol.mip = 1``). ``green`` is ``green_threads``."""

    _NAMES = ("cdn_cache", "cache_locking", "codec_threads", "compress", "compress_level", "green", "mip",
              "parallel", "progress", "secrets", "spatial_index_db")

    def __init__(self, vol: object) -> None:
        object.__setattr__(self, "_vol", vol)

    @staticmethod
    def _target(name: str) -> str:
        if name not in VolumeConfig._NAMES:
            raise AttributeError(f"CloudVolume's config has no {name!r}")
        return "green_threads" if name == "green" else name

    def __getattr__(self, name: str) -> object:
        return getattr(self._vol, self._target(name))

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._vol, self._target(name), value)

    def __repr__(self) -> str:
        return "VolumeConfig(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self._NAMES if n != "secrets") + ")"


# Encodings measured faster in 2 worker processes than in threads on 2 cores (512x512x64 reads and
# writes, interleaved A/B; numbers in the Volume docstring): png only. raw/gzip, jpeg and
# compressed_segmentation release the GIL and lose 10-95 % to the process hop (the parent copies a
# write's array into shared memory, workers send encoded bytes back); the crash-prone codecs run in
# processes anyway.
PARALLEL_PROCESS_CODECS = frozenset({"png"})


def engine_options(options: Options, parallel: int) -> Options:
    """The options a volume's reads and writes run with. ``parallel=1`` changes nothing; ``parallel=N``
    decodes crash-prone codecs and :data:`PARALLEL_PROCESS_CODECS` in N worker processes into shared
    memory (unless ``options`` chose ``decode_workers`` or ``process_codecs`` itself)."""
    if parallel == 1:
        return options
    changes: dict[str, Any] = {}
    if options.decode_workers is None:
        changes["decode_workers"] = parallel
    if not options.process_codecs:
        changes["process_codecs"] = PARALLEL_PROCESS_CODECS
    return options.with_(**changes) if changes else options


def cache_control(cdn_cache: Any) -> str | None:
    """CloudVolume's translation of ``cdn_cache`` into a Cache-Control header."""
    if cdn_cache is None or cdn_cache is True:
        return "max-age=3600, s-max-age=3600"
    if cdn_cache is False:
        return "no-cache"
    if isinstance(cdn_cache, str):
        return cdn_cache
    if isinstance(cdn_cache, int):
        return "no-cache" if cdn_cache <= 0 else f"max-age={cdn_cache}, s-max-age={cdn_cache}"
    raise OptionError(f"cdn_cache={cdn_cache!r} must be a bool, int or str")


def secrets_for(vol: Any, url: str | None) -> Any:
    """A volume's ``secrets=`` for the store at ``url`` (None: its own path): they are for the
    volume's own protocol, so a redirect to another one (a BOSS ``cloudvol`` channel's S3 layer)
    finds its credentials the usual way instead of being handed a BOSS token."""
    from .storage.paths import parse_cloudpath

    if url is None or parse_cloudpath(url).scheme == vol._path.scheme:
        return vol.secrets
    return None
