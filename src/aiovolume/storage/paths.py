"""Parse the cloudpaths users type into a :class:`CloudPath`.

The grammar follows CloudVolume's, restricted to the Precomputed format::

    [precomputed://]SCHEME://BUCKET/PATH        gs, s3, matrix, mem
    s3://https://ENDPOINT/BUCKET/PATH           S3-compatible service at an explicit endpoint
    http(s)://HOST[:PORT]/PATH
    file:///abs/path  file://rel/path  file://~/path  /abs/path  rel/path
    boss://COLLECTION/EXPERIMENT/CHANNEL  a channel of The BOSS (bossdb.io), through its REST API

Local paths are made absolute against the working directory (``~`` expanded), as
CloudVolume does. Credentials typed into a URL (``https://user:pass@host``) are kept
out of ``url``, ``repr`` and every error message.

>>> parse_cloudpath("precomputed://gs://bucket/ds/image/").url
'gs://bucket/ds/image'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from ..exceptions import UnsupportedProtocolError

SUPPORTED_SCHEMES: tuple[str, ...] = ("file", "mem", "gs", "s3", "matrix", "http", "https", "boss")

# Named S3-compatible services: scheme -> endpoint (the same official alias CloudFiles ships).
S3_ALIASES: dict[str, str] = {"matrix": "https://s3-hpcrc.rc.princeton.edu"}

# Formats CloudVolume knows but aiovolume does not read: a clearer error than "bad protocol".
_OTHER_FORMATS = frozenset(
    {"graphene", "n5", "zarr", "zarr2", "zarr3", "brainmaps", "deepzoom",
     "nggraph", "render", "vtk", "nifti", "dvid"}
)
_NG_SUFFIX = "|neuroglancer-precomputed:"
_TAIL_FORMAT = re.compile(r"\|([\w-]+):$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# Greedy on purpose: a password may contain "/" or "@"; over-redacting a message is harmless.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^@\s]*@")
_BUCKET = re.compile(r"^[\w.\-~]+(?::\d+)?$")
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[\w.\-~]+)(?::\d*)?$")


def redact(text: str) -> str:
    """Replace ``user:password@`` after any ``scheme://`` in ``text`` with ``***@``."""
    return _USERINFO.sub(r"\1***@", text)


@dataclass(frozen=True, slots=True)
class CloudPath:
    """A parsed, normalised cloudpath.

    scheme: ``file``, ``mem``, ``gs``, ``s3``, ``matrix``, ``http``, ``https`` or ``boss``.
    bucket: the bucket; the ``host[:port]`` for http(s); the collection for boss; None for file.
    path: the absolute filesystem path for file; otherwise the path inside the bucket/host
        without leading or trailing slashes (may be empty).
    url: the normalised URL, credential-free (``file:///abs``, ``gs://b/p``, ``https://h/p``).
    endpoint: ``scheme://host`` of an S3-compatible service (``s3://https://...``, ``matrix://``).
    auth: ``(user, password)`` typed into the URL, for the backend only; never shown.
    """

    scheme: str
    bucket: str | None
    path: str
    url: str
    endpoint: str | None = None
    auth: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.url

    @property
    def components(self) -> list[str]:
        """Path components the way CloudVolume counts them (bucket/host first, except for file)."""
        parts = [p for p in self.path.split("/") if p]
        return parts if self.bucket is None else [self.bucket, *parts]

    @property
    def layer(self) -> str:
        """Last component (CloudVolume's ``layer``); ``''`` for a bare root."""
        parts = self.components
        return parts[-1] if parts else ""

    @property
    def dataset_name(self) -> str:
        """Second-to-last component (CloudVolume's ``dataset_name``); ``''`` if there is none."""
        parts = self.components
        return parts[-2] if len(parts) >= 2 else ""

    @property
    def base_cloudpath(self) -> str:
        """The URL without its last component (CloudVolume's ``base_cloudpath``)."""
        head, _, _ = self.url.rpartition("/")
        return head + "/" if head.endswith(":/") or head.endswith("//") else head


def parse_cloudpath(cloudpath: str | CloudPath) -> CloudPath:
    """Parse ``cloudpath``; raises :class:`UnsupportedProtocolError` for what cannot be opened.

    >>> parse_cloudpath("mem://scratch/ds/layer")
    CloudPath(scheme='mem', bucket='scratch', path='ds/layer', url='mem://scratch/ds/layer', endpoint=None)
    """
    if isinstance(cloudpath, CloudPath):
        return cloudpath
    if not isinstance(cloudpath, str):
        raise UnsupportedProtocolError(f"a cloudpath is a str, got {type(cloudpath).__name__}")
    shown = redact(cloudpath)
    text = cloudpath.strip()
    if not text:
        raise UnsupportedProtocolError("empty cloudpath; expected e.g. gs://bucket/dataset/layer")

    # Neuroglancer's newer spelling: "gs://b/x/|neuroglancer-precomputed:"
    text = text.removesuffix(_NG_SUFFIX)
    tail = _TAIL_FORMAT.search(text)
    if tail:
        _unsupported_format(tail.group(1), shown)

    scheme, rest = _pop_scheme(text)
    if scheme == "precomputed":
        scheme, rest = _pop_scheme(rest)
        if scheme == "precomputed":
            raise _error(f"'precomputed://' appears twice in {shown}")
    elif scheme in _OTHER_FORMATS:
        _unsupported_format(scheme, shown)

    if scheme is None:  # bare local path, as CloudVolume allows
        return _file(rest)
    if scheme not in SUPPORTED_SCHEMES and scheme not in S3_ALIASES:
        raise _error(f"unsupported protocol {scheme}:// in {shown}")
    if scheme == "file":
        _no_nested_scheme(rest, shown)
        return _file(rest)
    if scheme in ("http", "https"):
        return _http(scheme, rest, shown)
    if scheme == "boss":
        return _boss(rest, shown)
    return _bucketed(scheme, rest, shown)


# -- per-scheme parsers -----------------------------------------------------------------------
def _pop_scheme(text: str) -> tuple[str | None, str]:
    m = _SCHEME.match(text)
    if not m:
        return None, text
    return m.group(1).lower(), text[m.end():]


def _no_nested_scheme(rest: str, shown: str) -> None:
    if _SCHEME.match(rest):
        raise _error(f"more than one protocol in {shown}")


def _file(rest: str) -> CloudPath:
    # CloudVolume resolves file paths with expanduser + abspath: file://rel is relative to the cwd.
    path = os.path.abspath(os.path.expanduser(rest)) if rest else os.getcwd()
    return CloudPath("file", None, path, "file://" + path)


def _split_netloc(netloc: str) -> tuple[str, tuple[str, str] | None]:
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return netloc, None
    user, _, password = userinfo.partition(":")
    return host, (unquote(user), unquote(password))


def _http(scheme: str, rest: str, shown: str) -> CloudPath:
    netloc, _, path = rest.partition("/")
    host, auth = _split_netloc(netloc)
    if not host or not _HOST.match(host):
        raise _error(f"missing or malformed host in {shown}")
    path = path.strip("/")
    url = f"{scheme}://{host}" + (f"/{path}" if path else "")
    return CloudPath(scheme, host, path, url, auth=auth)


def _bucketed(scheme: str, rest: str, shown: str) -> CloudPath:
    endpoint: str | None = S3_ALIASES.get(scheme)
    auth = None
    prefix = f"{scheme}://"
    if scheme == "s3":
        inner, after = _pop_scheme(rest)
        if inner in ("http", "https"):  # s3://https://endpoint/bucket/path
            netloc, _, rest = after.partition("/")
            host, auth = _split_netloc(netloc)
            if not host or not _HOST.match(host):
                raise _error(f"missing or malformed S3 endpoint in {shown}")
            endpoint = f"{inner}://{host}"
            prefix = f"s3://{endpoint}/"
    _no_nested_scheme(rest, shown)
    bucket, _, path = rest.rstrip("/").partition("/")
    if not bucket:
        raise _error(f"missing bucket name in {shown}; expected {scheme}://BUCKET/PATH")
    if not _BUCKET.match(bucket):
        raise _error(f"malformed bucket name in {shown}")
    path = path.strip("/")
    url = prefix + bucket + (f"/{path}" if path else "")
    return CloudPath(scheme, bucket, path, url, endpoint=endpoint, auth=auth)


# BOSS resource names (its URL patterns: ``[\w_-]+``)
_BOSS_NAME = re.compile(r"^[\w-]+$")


def _boss(rest: str, shown: str) -> CloudPath:
    """``boss://collection/experiment/channel``: exactly three names, as BOSS spells them."""
    _no_nested_scheme(rest, shown)
    parts = rest.strip("/").split("/")
    if len(parts) != 3 or not all(_BOSS_NAME.match(p) for p in parts):
        raise _error(f"malformed BOSS path {shown}; expected boss://COLLECTION/EXPERIMENT/CHANNEL "
                     "(letters, digits, '_' and '-')")
    collection, experiment, channel = parts
    return CloudPath("boss", collection, f"{experiment}/{channel}", f"boss://{collection}/{experiment}/{channel}")


# -- errors -----------------------------------------------------------------------------------
def _error(message: str) -> UnsupportedProtocolError:
    supported = ", ".join(f"{s}://" for s in dict.fromkeys((*SUPPORTED_SCHEMES, *S3_ALIASES)))
    return UnsupportedProtocolError(
        f"{message}. Supported protocols: {supported} (optionally behind precomputed://), "
        "or a local path. Example: gs://bucket/dataset/layer"
    )


def _unsupported_format(fmt: str, shown: str) -> None:
    raise UnsupportedProtocolError(
        f"format {fmt}:// in {shown} is not supported; aiovolume reads and writes Neuroglancer "
        "Precomputed only (precomputed:// or no format prefix)"
    )


# -- use_https ----------------------------------------------------------------------------------
_PUBLIC_HTTPS = {"gs": "https://storage.googleapis.com", "s3": "https://s3.amazonaws.com"}


def to_https(path: CloudPath) -> CloudPath:
    """CloudVolume's ``use_https=True``: a bucket path as its public (read-only) HTTPS URL.

    ``gs://b/p`` -> ``https://storage.googleapis.com/b/p``, ``s3://b/p`` -> ``https://s3.amazonaws.com/b/p``,
    an S3-compatible service (``s3://https://host/b/p``, ``matrix://b/p``) -> ``https://host/b/p``,
    as cloud-files' ``to_https_protocol``; other paths are returned unchanged.

    >>> to_https(parse_cloudpath("gs://bucket/ds/layer")).url
    'https://storage.googleapis.com/bucket/ds/layer'
    """
    if path.scheme not in ("gs", "s3") and path.scheme not in S3_ALIASES:
        return path
    host = path.endpoint or _PUBLIC_HTTPS[path.scheme]
    return parse_cloudpath(f"{host}/{path.bucket}" + (f"/{path.path}" if path.path else ""))
