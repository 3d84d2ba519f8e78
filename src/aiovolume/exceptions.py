"""The typed error tree of aiovolume.

Every error derives from :class:`AiovolumeError`. Names follow CloudVolume's
``cloudvolume.exceptions`` and keep its built-in bases (``ValueError``,
``IndexError``...), so ``except`` clauses in existing scripts keep working.
This module imports nothing from the package.
"""

from __future__ import annotations


class AiovolumeError(Exception):
    """Root of every error raised by aiovolume."""


# -- info / metadata -----------------------------------------------------------------
class InfoError(AiovolumeError):
    """The info JSON is malformed or inconsistent."""


class InfoUnavailableError(InfoError):
    """The info file could not be found or read."""


class RedirectError(InfoError):
    """An info redirect could not be followed."""


class TooManyRedirects(RedirectError):
    """More redirects than ``max_redirects``."""


class CyclicRedirect(RedirectError):
    """An info redirect points back to a layer already visited."""


class ScaleUnavailableError(AiovolumeError, IndexError):
    """The requested mip / resolution does not exist in the info."""


class UnsupportedFormatError(AiovolumeError):
    """The layer is not in a format aiovolume can read or write."""


class UnsupportedFeatureError(UnsupportedFormatError, NotImplementedError):
    """The layer (or an option) uses a feature aiovolume does not implement yet.

    Raised instead of guessing: e.g. a sharded scale read as if unsharded would come back as
    zeros, and a write to it would leave chunk files no other reader sees.
    """


# -- request geometry ------------------------------------------------------------------
class DimensionError(AiovolumeError, ValueError):
    """An array or bounding box has the wrong number of dimensions or shape."""


class OutOfBoundsError(AiovolumeError, ValueError):
    """A request reaches outside the volume while ``bounded=True``."""


class EmptyRequestException(AiovolumeError, ValueError):
    """A request selects no voxels."""


class SubvoxelVolumeError(AiovolumeError, ValueError):
    """A bounding box is smaller than one voxel."""


class AlignmentError(AiovolumeError, ValueError):
    """A write is not aligned to the chunk grid while ``non_aligned_writes=False``."""


class DtypeError(AiovolumeError, ValueError, TypeError):
    """Data cannot be cast safely to the layer's data type.

    A ``ValueError`` as in CloudVolume, and a ``TypeError`` because that is what it is.
    """


class ShapeMismatchError(AlignmentError, DimensionError):
    """An array's shape does not match the region it is written to.

    CloudVolume raises ``AlignmentError`` here, so existing ``except`` clauses keep working.
    """


# -- data ------------------------------------------------------------------------------
class EmptyVolumeException(AiovolumeError):
    """A chunk is missing and ``fill_missing=False``."""


class EmptyFileException(AiovolumeError):
    """A stored object is empty where content is required."""


class DecodingError(AiovolumeError):
    """A stored chunk could not be decoded (corrupt, truncated or wrong size)."""


class EncodingError(AiovolumeError):
    """An array could not be encoded with the layer's encoding."""


class UnsupportedCompressionType(AiovolumeError, ValueError):
    """An unknown transport compression (``compress=``) was requested."""


class ReadOnlyException(AiovolumeError):
    """A write was attempted on a read-only layer (http, redirected info)."""


class MeshMissingError(AiovolumeError, ValueError):
    """A mesh was requested but does not exist."""


class MeshDecodeError(AiovolumeError, ValueError):
    """A mesh fragment could not be decoded."""


class SkeletonDecodeError(AiovolumeError, ValueError):
    """A skeleton could not be decoded."""


# -- storage ---------------------------------------------------------------------------
class UnsupportedProtocolError(AiovolumeError, ValueError):
    """The cloudpath names a protocol aiovolume does not support."""


class StorageError(AiovolumeError, OSError):
    """A storage operation failed (after retries where they apply)."""


class AuthenticationError(StorageError):
    """The store refused our credentials (401/403). Never treated as missing."""


class IntegrityError(StorageError):
    """Stored bytes did not match their checksum or length."""


class ResourceLimitError(AiovolumeError, MemoryError):
    """A request needs more memory (shared memory, output array) than is available."""
