"""The typed error tree of aiovolume: every class lives here, all under :class:`AiovolumeError`.

Names follow CloudVolume's ``cloudvolume.exceptions`` (which re-exports cloud-files' and osteoid's)
and keep its built-in bases (``ValueError``, ``IndexError``...), so ``except`` clauses in existing
scripts keep working. This module imports nothing from the package.

    AiovolumeError
    ├── InfoError ─────────────────────── malformed or inconsistent info JSON
    │   ├── InfoUnavailableError           no info file where one must be
    │   └── RedirectError
    │       ├── TooManyRedirects
    │       └── CyclicRedirect
    ├── ScaleUnavailableError (IndexError) no such mip / resolution
    ├── UnsupportedFormatError             a layer we cannot read or write
    │   └── UnsupportedFeatureError (NotImplementedError)   e.g. sharded scales, until supported
    ├── DimensionError (ValueError)
    │   └── ShapeMismatchError (+ AlignmentError)
    ├── OutOfBoundsError (ValueError)
    ├── EmptyRequestException (ValueError)
    ├── SubvoxelVolumeError (ValueError)
    ├── AlignmentError (ValueError)
    ├── DtypeError (ValueError, TypeError)
    ├── IndexTypeError (TypeError)         an index, coordinate or box of a type that names no voxels
    ├── EmptyVolumeException               a chunk is missing and fill_missing=False
    ├── EmptyFileException
    ├── SharedMemoryReadError (OSError)     upload_from_file: missing file or wrong size
    ├── DecodingError                      a stored chunk is corrupt, truncated or the wrong size
    │   └── DecompressionError             its transport compression (gzip, br, ...) is corrupt
    ├── EncodingError
    │   └── CompressionError
    ├── UnsupportedCompressionType (ValueError)
    ├── ReadOnlyException
    ├── WriteLockAcquisitionError, WriteLockReleaseError   vol.meta.lock_mips / unlock_mips failed
    ├── OptionError (ValueError)           an option value that cannot be used (lru_bytes=-1, cdn_cache=[])
    ├── VolumeClosedError (RuntimeError)   I/O on a Volume that is not open (or already closed)
    ├── BlockingCallInLoopError (RuntimeError)   a blocking facade call from aiovolume's own loop
    ├── MeshMissingError (ValueError), MeshDecodeError (ValueError)
    ├── SkeletonDecodeError (ValueError), SkeletonEncodeError (ValueError),
    │   SkeletonUnassignedEdgeError, SkeletonTransformError, SkeletonAttributeMixingError,
    │   SkeletonSmoothingError (ValueError), SkeletonMissingError (SkeletonDecodeError, EmptyFileException)
    ├── SpatialIndexGapError               a .spatial file a spatial-index query needs is missing
    ├── SpecViolation (ValueError)         bytes or JSON that break the Precomputed spec
    ├── ProvenanceError (ValueError)       a provenance file or value that is not valid JSON or breaks its schema
    ├── UnsupportedProtocolError (ValueError)
    ├── InvalidKeyError (ValueError)       a storage key or prefix that cannot name an object
    ├── InvalidRangeError (ValueError)     a byte range that cannot be read (negative, stop < start)
    ├── StorageError (OSError)             a storage operation failed
    │   ├── AuthenticationError            401/403: never treated as "missing"
    │   ├── IntegrityError                 bytes that do not match their checksum or length
    │   │   ├── MD5IntegrityError
    │   │   └── CRC32CIntegrityError
    │   ├── TransientError                 worth retrying (5xx, 429, resets); internal to retries
    │   ├── RetriesExhausted               a transient failure that outlasted the retry policy
    │   ├── ConcurrentModificationError    other writers kept changing a shard we were merging into
    │   ├── CacheError                     the local disk cache directory cannot be used
    │   └── ListingNotSupported (NotImplementedError)   http(s) cannot list
    └── ResourceLimitError (MemoryError)   more memory than is available or allowed
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


class IndexTypeError(AiovolumeError, TypeError):
    """An index, coordinate or box whose type cannot name voxels (a float index, a string,
    a Bbox with fractional corners). A ``TypeError``, as Python raises for such indices."""


class ShapeMismatchError(AlignmentError, DimensionError):
    """An array's shape does not match the region it is written to.

    CloudVolume raises ``AlignmentError`` here, so existing ``except`` clauses keep working.
    """


# -- data ------------------------------------------------------------------------------
class EmptyVolumeException(AiovolumeError):
    """A chunk is missing and ``fill_missing=False``."""


class SharedMemoryReadError(AiovolumeError, OSError):
    """A file given to ``upload_from_file`` is missing or its size does not match the array
    it should hold (CloudVolume's name, from ``cloudvolume.sharedmemory``)."""


class EmptyFileException(AiovolumeError):
    """A stored object is empty where content is required."""


class DecodingError(AiovolumeError):
    """A stored chunk could not be decoded (corrupt, truncated or wrong size)."""


class DecompressionError(DecodingError):
    """Stored bytes could not be decompressed (cloud-files' name, re-exported by CloudVolume)."""


class EncodingError(AiovolumeError):
    """An array could not be encoded with the layer's encoding."""


class CompressionError(EncodingError):
    """Bytes could not be compressed (cloud-files' name, re-exported by CloudVolume)."""


class UnsupportedCompressionType(AiovolumeError, ValueError):
    """An unknown transport compression (``compress=``) was requested."""


class ReadOnlyException(AiovolumeError):
    """A write was attempted on a read-only layer (http, redirected info)."""


class WriteLockAcquisitionError(AiovolumeError):
    """``vol.meta.lock_mips`` could not read or write the info (the cause is chained)."""


class WriteLockReleaseError(AiovolumeError):
    """``vol.meta.unlock_mips`` could not read or write the info (the cause is chained)."""


class OptionError(AiovolumeError, ValueError):
    """An option value that cannot be used, e.g. ``lru_bytes=-1`` or ``cdn_cache=[]``."""


class VolumeClosedError(AiovolumeError, RuntimeError):
    """The Volume is not open: use ``async with Volume(...)`` or ``await Volume.open(...)``."""


class BlockingCallInLoopError(AiovolumeError, RuntimeError):
    """A blocking (facade) call was made on aiovolume's own event loop, where it would deadlock."""


class SpecViolation(AiovolumeError, ValueError):
    """Bytes or JSON that break the Precomputed specification."""


# -- meshes and skeletons (CloudVolume / osteoid names) ---------------------------------------
class ProvenanceError(AiovolumeError, ValueError):
    """A provenance file that is not JSON, or provenance fields of the wrong type (CloudVolume
    raises ValueError or a jsonschema ValidationError here); nothing was written."""


class MeshMissingError(AiovolumeError, ValueError):
    """A mesh was requested but does not exist."""


class MeshDecodeError(AiovolumeError, ValueError):
    """A mesh fragment could not be decoded."""


class SpatialIndexGapError(AiovolumeError):
    """A spatial index file (``*.spatial``) that the query needs is missing."""


class SkeletonDecodeError(AiovolumeError, ValueError):
    """A skeleton could not be decoded (missing file, truncated or inconsistent bytes)."""


class SkeletonEncodeError(AiovolumeError, ValueError):
    """A skeleton could not be encoded."""


class SkeletonUnassignedEdgeError(AiovolumeError):
    """A skeleton edge names a vertex that does not exist."""


class SkeletonTransformError(AiovolumeError):
    """A skeleton transform is not an invertible 3x4 matrix."""


class SkeletonAttributeMixingError(AiovolumeError):
    """Skeletons with different vertex attributes cannot be merged."""


class SkeletonMissingError(SkeletonDecodeError, EmptyFileException):
    """A requested skeleton is not stored (CloudVolume raises SkeletonDecodeError for unsharded
    layers and EmptyFileException for sharded ones: this is both)."""


class SpatialIndexGapError(AiovolumeError):
    """A spatial index file that the query needs is missing (CloudVolume's name)."""


class SkeletonSmoothingError(AiovolumeError, ValueError):
    """Smoothing would move a skeleton vertex outside its radius (osteoid raises ValueError)."""


# -- storage ---------------------------------------------------------------------------
class UnsupportedProtocolError(AiovolumeError, ValueError):
    """The cloudpath names a protocol aiovolume does not support."""


class InvalidKeyError(AiovolumeError, ValueError):
    """A storage key or list prefix that cannot name an object (absolute, NUL byte, ``..`` above the root)."""


class InvalidRangeError(AiovolumeError, ValueError):
    """A byte range that cannot be read: not integers, negative where not allowed, or stop < start."""


class StorageError(AiovolumeError, OSError):
    """A storage operation failed (after retries where they apply)."""


class AuthenticationError(StorageError):
    """The store refused our credentials (401/403). Never treated as missing."""


class IntegrityError(StorageError):
    """Stored bytes did not match their checksum or length."""


class ShardChangedError(IntegrityError):
    """A shard file was replaced while we read it (its bytes are of another version than the
    index that located them). Readers drop the cached index and read again once; this reaches
    the caller only when the shard changed again meanwhile."""


class MD5IntegrityError(IntegrityError):
    """Bytes did not match their MD5 (Content-MD5, ETag or GCS md5Hash)."""


class CRC32CIntegrityError(IntegrityError):
    """Bytes did not match their GCS CRC32C."""


class TransientError(StorageError):
    """A failure worth retrying. ``retry_after`` (seconds) comes from the server when it says."""

    def __init__(self, message: str, *, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class RetriesExhausted(StorageError):
    """A transient failure that kept happening until the attempt cap or the deadline."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class ConcurrentModificationError(StorageError):
    """A read-merge-write of a shard file lost the race to other writers too many times in a
    row; nothing of ours was written and nothing of theirs was lost. Retry the write later."""


class CacheError(StorageError):
    """The local disk cache (``cache=``) cannot be used: its directory is not readable and writable."""


class ListingNotSupported(StorageError, NotImplementedError):
    """HTTP has no listing: the server only answers for names we already know."""


class ResourceLimitError(AiovolumeError, MemoryError):
    """A request needs more memory (shared memory, output array) than is available or allowed."""


class ServerStartError(AiovolumeError, OSError):
    """A viewer or file server could not listen on 127.0.0.1 at the port asked (e.g. in use)."""
