"""``s3://bucket/path``, ``matrix://bucket/path`` and other S3-compatible services.

One :class:`S3Store` holds, per event loop, one aiobotocore client (credentials, listing,
``delete_objects``) and, on the *fast path*, one shared ``aiohttp.ClientSession`` for the hot
single-object calls: GET, PUT, HEAD and DELETE of chunks are signed with botocore's
``S3SigV4Auth`` (credentials from the same aiobotocore session, so refreshable credentials keep
working) and sent directly. That costs about a quarter of the client CPU of a full aiobotocore
call (measured in ``benchmarks/bench_s3.py``). ``S3Store(..., fast_path=False)`` sends
everything through aiobotocore.

Retries live in :mod:`.retry` only: botocore is configured with one attempt, and each whole
operation (request, body read, integrity check) is one retry unit.

Integrity: PUT sends ``Content-MD5`` and checks that the returned ETag is that MD5; a full GET
checks the length and, for single-part ETags, the MD5 of the bytes received. A mismatch raises
:class:`~aiovolume.exceptions.IntegrityError`, which is retried.

Endpoint, in order: the URL (``s3://https://host/bucket/path``) or the alias
(``matrix://``, :func:`register_s3_alias`), the secrets (``secrets=`` or the secret file),
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else AWS. Custom endpoints use path-style
addressing and checksums only "when required" (many S3-compatible stores reject the rest).

Example::

    register_s3_alias("minio", "http://127.0.0.1:9000")
    async with open_store("minio://bucket/ds/image") as store:
        blob = await store.get("info")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import yarl
from botocore import exceptions as bx
from botocore.auth import EMPTY_SHA256_HASH, S3SigV4Auth
from botocore.awsrequest import AWSRequest

from ..exceptions import AuthenticationError, IntegrityError, MD5IntegrityError, StorageError, UnsupportedProtocolError
from ..options import Options
from . import paths
from ._aiohttp import (
    HASH_OFF_LOOP_BYTES, RemoteStore, abandon_sessions, client_session, off_loop, range_header, response_body,
    verify_digest,
)
from .base import Blob, ByteRange, as_bytes, bounded_map, check_encoding, check_prefix, check_range, join_key, slice_range
from .retry import TransientError, parse_retry_after
from .secrets import SecretsArg, aws_credentials, env_endpoint, protect_logs, scrub

__all__ = ["S3Store", "register_s3_alias", "unregister_s3_alias", "s3_aliases"]


DELETE_BATCH = 1000  # S3's DeleteObjects limit
LIST_PAGE = 1000

_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,500})</\1>")
_THROTTLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottledException",
    "ProvisionedThroughputExceededException", "BandwidthLimitExceeded", "EC2ThrottledException",
})
_TRANSIENT_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "ServiceUnavailable", "InternalFailure", "TransactionInProgressException",
})
_AUTH_CODES = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem", "InvalidSecurity",
    "UnauthorizedAccess", "AuthorizationHeaderMalformed",
})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_VERBS = {"get_object": "GET", "head_object": "HEAD", "put_object": "PUT", "delete_object": "DELETE",
          "delete_objects": "DELETE", "list_objects_v2": "LIST"}


# -- the alias registry ----------------------------------------------------------------------------
_BUILTIN_ALIASES = frozenset(paths.S3_ALIASES)


def register_s3_alias(name: str, endpoint: str) -> None:
    """Make ``name://bucket/path`` open the S3-compatible service at ``endpoint``.

    Like CloudFiles' aliases: credentials come from ``{bucket}-{name}-secret.json`` /
    ``{name}-secret.json`` (then the AWS variables). ``matrix`` is built in.

    >>> from aiovolume.storage import open_store
    >>> register_s3_alias("minio", "http://127.0.0.1:9000")
    >>> open_store("minio://bucket/layer").url
    'minio://bucket/layer'
    """
    name = name.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.\-]*", name):
        raise UnsupportedProtocolError(f"alias {name!r} is not a valid URL scheme name")
    if name in paths.SUPPORTED_SCHEMES and name not in paths.S3_ALIASES:
        raise UnsupportedProtocolError(f"{name}:// is a built-in protocol and cannot become an S3 alias")
    split = urlsplit(endpoint)
    if split.scheme not in ("http", "https") or not split.netloc or "@" in split.netloc:
        raise UnsupportedProtocolError(f"alias endpoint must be http(s)://host[:port] without credentials, got {paths.redact(endpoint)!r}")
    paths.S3_ALIASES[name] = f"{split.scheme}://{split.netloc}"


def unregister_s3_alias(name: str) -> None:
    """Forget an alias added with :func:`register_s3_alias` (built-in ones stay)."""
    name = name.lower()
    if name in _BUILTIN_ALIASES:
        raise UnsupportedProtocolError(f"{name}:// is a built-in alias")
    paths.S3_ALIASES.pop(name, None)


def s3_aliases() -> dict[str, str]:
    """Registered S3-compatible aliases: scheme -> endpoint."""
    return dict(paths.S3_ALIASES)


# -- per-loop connection state -----------------------------------------------------------------
@dataclass
class _Conn:
    loop: asyncio.AbstractEventLoop
    stack: contextlib.AsyncExitStack
    client: Any
    session: Any  # aiobotocore session (credentials)
    http: aiohttp.ClientSession | None
    region: str
    base_url: str  # endpoint + bucket, for the fast path
    signed: bool
    abandoned: bool = field(default=False, init=False)

    def abandon(self) -> None:
        self.abandoned = True
        abandon_sessions(self.http)  # aiobotocore's own session cannot be closed without a loop


@dataclass(frozen=True, slots=True)
class _Resp:
    status: int
    headers: Mapping[str, str]  # lower-case names
    data: bytes | memoryview = b""  # a memoryview: a big body of get_buffer


_CONDITION_CODES = {"PreconditionFailed": False, "ConditionalRequestConflict": False}
_GET_CODES: dict[str, Any] = {c: None for c in _MISSING_CODES} | {"InvalidRange": _Resp(416, {})}
_HEAD_CODES: dict[str, Any] = {c: None for c in _MISSING_CODES}


def _xml_fields(body: bytes) -> dict[str, str]:
    """Code and Message of an S3 XML error body; nothing else (it may echo signed headers)."""
    return dict(_XML_FIELD.findall(body[:65536].decode("utf-8", "replace")))


class S3Store(RemoteStore):
    """A store rooted at ``bucket/path`` on S3 or an S3-compatible service."""

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        path: str = "",
        options: Options | None = None,
        *,
        read_only: bool = False,
        endpoint: str | None = None,
        service: str = "s3",
        secrets: SecretsArg = None,
        fast_path: bool | None = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise UnsupportedProtocolError(f"S3 bucket name must be a single non-empty component, got {bucket!r}")
        self.bucket = bucket
        self._root = path.strip("/")
        self.service = service
        if service != "s3":
            self.scheme = service
            endpoint = endpoint or paths.S3_ALIASES.get(service)
            if endpoint is None:
                raise UnsupportedProtocolError(f"{service}:// is not a registered S3 alias")
            prefix = f"{service}://"
        else:
            prefix = f"s3://{endpoint}/" if endpoint else "s3://"
        self._url_endpoint = endpoint.rstrip("/") if endpoint else None
        self._bucket_url = prefix + bucket
        super().__init__(self._bucket_url + (f"/{self._root}" if self._root else ""), options, read_only=read_only)
        self._secrets_arg = secrets
        self.fast_path = self.options.s3_fast_path if fast_path is None else bool(fast_path)
        self._scrub_values: tuple[str, ...] = ()

    # -- plumbing -------------------------------------------------------------------------------
    def _limit(self) -> int:
        if self.scheme in self.options.concurrency:
            return self.options.concurrency_for(self.scheme)
        return self.options.concurrency_for("s3")

    def _name(self, key: str) -> str:
        return join_key(self._root, key)

    def _where(self, name: str) -> str:
        return f"{self._bucket_url}/{name}"

    def _scrub(self, text: str) -> str:
        return scrub(text, self._scrub_values)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Conn:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
        from botocore import UNSIGNED

        creds = await asyncio.to_thread(
            aws_credentials, self.bucket, "aws" if self.service == "s3" else self.service, self._secrets_arg
        )
        self._scrub_values = creds.secret_values if creds else ()
        endpoint = self._url_endpoint or (creds.endpoint if creds else None) or env_endpoint()
        if endpoint is not None:
            split = urlsplit(endpoint)
            if split.scheme not in ("http", "https") or not split.netloc:
                raise StorageError(f"{self.url}: S3 endpoint {paths.redact(endpoint)!r} is not an http(s) URL")
            endpoint = f"{split.scheme}://{split.netloc}"
        session = get_session()
        if creds is not None and not creds.anonymous:
            session.set_credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        try:
            found = await session.get_credentials()
        except Exception as exc:  # a broken ~/.aws profile, an unreachable SSO...
            raise AuthenticationError(
                self._scrub(f"{self.url}: cannot load AWS credentials: {type(exc).__name__}: {exc}")
            ) from None
        signed = found is not None
        if found is not None:
            frozen = await found.get_frozen_credentials()
            self._scrub_values = tuple({*self._scrub_values, *(v for v in (frozen.secret_key, frozen.token) if v)})
        protect_logs(self._scrub_values)
        conc = self._limit()
        cfg: dict[str, Any] = dict(
            max_pool_connections=conc,
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        if endpoint is not None:
            cfg.update(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        if not signed:
            cfg["signature_version"] = UNSIGNED
        region = (creds.region if creds else None) or None
        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                session.create_client("s3", endpoint_url=endpoint, region_name=region, config=AioConfig(**cfg))
            )
            region = region or client.meta.region_name or "us-east-1"
            http = None
            if self.fast_path:
                http = await stack.enter_async_context(client_session(self.options, conc))
        except BaseException:
            await stack.aclose()
            raise
        return _Conn(loop, stack, client, session, http, region, self._base_url(endpoint, region), signed)

    def _base_url(self, endpoint: str | None, region: str) -> str:
        if endpoint is not None:
            return f"{endpoint}/{quote(self.bucket, safe='')}"
        if re.fullmatch(r"[a-z0-9][a-z0-9\-]{1,61}[a-z0-9]", self.bucket):  # DNS-safe, no dots
            return f"https://{self.bucket}.s3.{region}.amazonaws.com"
        return f"https://s3.{region}.amazonaws.com/{quote(self.bucket, safe='')}"

    # -- fast path: one signed aiohttp request ----------------------------------------------------
    async def _signed_headers(self, conn: _Conn, method: str, url: str, headers: dict[str, str],
                              payload_sha256: str | None) -> dict[str, str]:
        if not conn.signed:
            return headers
        creds = await (await conn.session.get_credentials()).get_frozen_credentials()
        request = AWSRequest(method=method, url=url, headers=headers)
        request.context["aiovolume_payload"] = payload_sha256
        if url.startswith("https") and payload_sha256 is None:
            request.context["payload_signing_enabled"] = False
        _Signer(creds, "s3", conn.region).add_auth(request)
        return dict(request.headers.items())

    async def _send(self, conn: _Conn, method: str, name: str, headers: dict[str, str],
                    data: bytes | None = None, payload_sha256: str | None = None,
                    read_body: bool = True, any_buffer: bool = False) -> _Resp:
        url = f"{conn.base_url}/{quote(name, safe='/~')}"
        headers = {"Accept-Encoding": "identity", **headers}
        signed = await self._signed_headers(conn, method, url, headers, payload_sha256)
        assert conn.http is not None
        # aiohttp warns about (and would write in one go) raw bodies over 1 MiB; a BytesIO is
        # streamed in pieces. A fresh one per attempt, so retries resend from the start.
        body: bytes | io.BytesIO | None = io.BytesIO(data) if data is not None and len(data) > HASH_OFF_LOOP_BYTES else data
        async with conn.http.request(method, yarl.URL(url, encoded=True), headers=signed, data=body) as r:
            hdrs = {k.lower(): v for k, v in r.headers.items()}
            content = await response_body(r, any_buffer and r.status < 300) if r.status >= 300 or read_body else b""
            return _Resp(r.status, hdrs, content)

    # -- aiobotocore path ---------------------------------------------------------------------------
    async def _call(self, conn: _Conn, op: str, *, on_code: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``await client.<op>(**kwargs)`` with errors classified; ``on_code`` maps S3 error codes
        that are answers, not failures (e.g. NoSuchKey), to the value to return."""
        try:
            return await getattr(conn.client, op)(**kwargs)
        except bx.ClientError as exc:
            err = exc.response.get("Error", {}) or {}
            code = str(err.get("Code", ""))
            if on_code is not None and code in on_code:
                return on_code[code]
            meta = exc.response.get("ResponseMetadata", {}) or {}
            status = int(meta.get("HTTPStatusCode") or (code if code.isdigit() else 0))
            headers = {k.lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()}
            mapped = self._classify(op, kwargs.get("Key"), status, code, str(err.get("Message", "")), headers)
        except Exception as exc:
            mapped = self._from_botocore(exc, op, kwargs.get("Key"))
            if mapped is None:
                raise
            raise mapped from exc  # transport errors: their messages name only the endpoint
        # Raised outside the except clauses: the botocore exception (whose .response holds the
        # whole error document, request ids and, for signature errors, the canonical request)
        # is not chained; its message is already in ours.
        raise mapped

    def _from_botocore(self, exc: BaseException, op: str, name: str | None) -> Exception | None:
        where = self._where(name) if name else self.url
        text = self._scrub(f"{_VERBS.get(op, op)} {where}: {type(exc).__name__}: {exc}")
        if isinstance(exc, bx.FlexibleChecksumError):
            return IntegrityError(text)
        if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)):
            return AuthenticationError(text + "; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or aws-secret.json")
        if isinstance(exc, (bx.HTTPClientError, bx.ConnectionError, bx.ResponseStreamingError)):
            return TransientError(text)
        if isinstance(exc, bx.BotoCoreError):
            return StorageError(text)
        return None

    def _classify(self, op: str, name: str | None, status: int, code: str, message: str,
                  headers: Mapping[str, str]) -> Exception:
        """The exception for a failed response (never for 404 NoSuchKey: callers handle it)."""
        where = self._where(name) if name else self.url
        op = _VERBS.get(op, op)
        detail = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "")
        detail += f": {message}" if message else ""
        text = self._scrub(f"{op} {where}: {detail}")
        if status in (401, 403) or code in _AUTH_CODES:
            return AuthenticationError(
                f"{text} (check the credentials for bucket {self.bucket!r}: aws-secret.json, "
                "secrets= or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            )
        if code == "BadDigest" or code == "InvalidDigest":
            return IntegrityError(text)
        throttled = status == 429 or code in _THROTTLE_CODES
        if status in (408, 429) or status >= 500 or throttled or code in _TRANSIENT_CODES:
            retry_after = parse_retry_after(headers.get("retry-after"))
            if retry_after is None and headers.get("x-amz-retry-after"):
                ms = parse_retry_after(headers.get("x-amz-retry-after"))
                retry_after = None if ms is None else ms / 1000.0
            return TransientError(text, retry_after=retry_after, throttled=throttled)
        if code == "NoSuchBucket":
            return StorageError(f"{text} (the bucket does not exist at this endpoint)")
        return StorageError(text)

    def _fast_error(self, op: str, name: str, resp: _Resp) -> Exception:
        fields = _xml_fields(resp.data)
        region = resp.headers.get("x-amz-bucket-region")
        conn = self._clients.current
        if region and conn is not None and region != conn.region and resp.status in (301, 307, 400):
            # A bucket in another AWS region: sign for that region and try again at once.
            conn.region, conn.base_url = region, self._base_url(None, region)
            return TransientError(self._scrub(f"{op} {self._where(name)}: bucket is in {region}"), retry_after=0)
        return self._classify(op, name, resp.status, fields.get("Code", ""), fields.get("Message", ""), resp.headers)

    # -- single objects ---------------------------------------------------------------------------
    async def get(self, key: str, byte_range: ByteRange | None = None, *, any_buffer: bool = False) -> Blob | None:
        rng = check_range(byte_range)
        name = self._name(key)
        conn = await self._conn()
        empty = rng is not None and rng[1] is not None and rng[1] <= rng[0]

        async def once() -> Blob | _Resp | None:
            resp = None if empty else await self._get_once(conn, name, rng, any_buffer)
            if resp is None or resp.status == 416:
                return resp
            return await self._verified_blob(name, resp, rng)

        got = await self._retry(once, f"GET {self._where(name)}")
        if isinstance(got, Blob) or (got is None and not empty):
            return got
        # An empty range, or one starting past the end (416): only existence and encoding matter.
        head = await self._head(conn, name)
        return None if head is None else Blob(b"", head.headers.get("content-encoding") or None)

    async def get_buffer(self, key: str) -> Blob | None:
        return await self.get(key, any_buffer=True)  # big bodies into aligned buffers (fast path only)

    async def _get_once(self, conn: _Conn, name: str, rng: ByteRange | None, any_buffer: bool = False) -> _Resp | None:
        headers = {"Range": range_header(rng)} if rng is not None else {}
        if conn.http is not None:
            resp = await self._send(conn, "GET", name, headers, any_buffer=any_buffer)
            if resp.status in (200, 206, 416):
                return resp
            if resp.status == 404 and _xml_fields(resp.data).get("Code", "NoSuchKey") in _MISSING_CODES:
                return None
            raise self._fast_error("GET", name, resp)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if rng is not None:
            kwargs["Range"] = headers["Range"]
        out = await self._call(conn, "get_object", on_code=_GET_CODES, **kwargs)
        if out is None or isinstance(out, _Resp):
            return out
        meta = out["ResponseMetadata"]
        async with out["Body"] as body:
            data = await body.read()
        return _Resp(int(meta["HTTPStatusCode"]), {k.lower(): v for k, v in meta["HTTPHeaders"].items()}, data)

    async def _verified_blob(self, name: str, resp: _Resp, rng: ByteRange | None) -> Blob:
        data, headers = resp.data, resp.headers
        where = self._where(name)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) != len(data):
            raise IntegrityError(f"GET {where}: received {len(data)} bytes, Content-Length says {length}")
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/", headers.get("content-range", ""))
            if m and int(m.group(2)) - int(m.group(1)) + 1 != len(data):
                raise IntegrityError(f"GET {where}: Content-Range {headers['content-range']} but {len(data)} bytes")
        else:  # the whole object: check it against its MD5 ETag
            etag = headers.get("etag", "").strip('"').lower()
            encrypted = headers.get("x-amz-server-side-encryption") == "aws:kms" or (
                "x-amz-server-side-encryption-customer-algorithm" in headers
            )
            if _MD5_ETAG.match(etag) and not encrypted:
                await verify_digest(data, "md5-hex", etag, what=f"GET {where}", source="ETag (MD5)")
            if rng is not None:  # the server ignored Range: cut the slice ourselves
                start, stop = slice_range(len(data), rng)
                data = data[start:stop]
        return Blob(data, headers.get("content-encoding") or None, version=headers.get("etag") or None)

    async def _head(self, conn: _Conn, name: str) -> _Resp | None:
        async def once() -> _Resp | None:
            if conn.http is not None:
                resp = await self._send(conn, "HEAD", name, {}, read_body=False)
                if resp.status == 404:
                    return None
                if resp.status == 200:
                    return resp
                raise self._fast_error("HEAD", name, resp)
            out = await self._call(conn, "head_object", on_code=_HEAD_CODES, Bucket=self.bucket, Key=name)
            if out is None:
                return None
            meta = out["ResponseMetadata"]
            return _Resp(200, {k.lower(): v for k, v in meta["HTTPHeaders"].items()})

        return await self._retry(once, f"HEAD {self._where(name)}")

    async def get_versioned(self, key: str) -> tuple[Blob | None, object]:
        name = self._name(key)
        conn = await self._conn()

        async def once() -> tuple[Blob | None, object]:
            resp = await self._get_once(conn, name, None)
            if resp is None:
                return None, None
            return await self._verified_blob(name, resp, None), resp.headers.get("etag")

        return await self._retry(once, f"GET {self._where(name)}")

    async def put_if(self, key: str, data: bytes, version: object, *, cache_control: str | None = None) -> bool:
        # If-None-Match: * (create only) / If-Match: <ETag>; a 412 means someone else wrote first
        condition = {"If-None-Match": "*"} if version is None else {"If-Match": str(version)}
        return await self._put(key, data, None, "application/octet-stream", cache_control, condition)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_encoding: str | None = None,
        content_type: str = "application/octet-stream",
        cache_control: str | None = None,
    ) -> None:
        await self._put(key, data, content_encoding, content_type, cache_control, None)

    async def _put(self, key: str, data: bytes, content_encoding: str | None, content_type: str,
                   cache_control: str | None, condition: dict[str, str] | None) -> bool:
        self._check_writable()
        encoding = check_encoding(content_encoding)
        body = as_bytes(data)
        name = self._name(key)
        conn = await self._conn()
        want_sha = conn.http is not None and conn.signed and not conn.base_url.startswith("https")
        md5, sha = await _digests(body, want_sha)
        content_md5 = base64.b64encode(md5).decode()
        where = self._where(name)

        async def once() -> bool:
            if conn.http is not None:
                headers = {"Content-MD5": content_md5, "Content-Type": content_type,
                           "Content-Length": str(len(body)), **(condition or {})}
                if encoding:
                    headers["Content-Encoding"] = encoding
                if cache_control:
                    headers["Cache-Control"] = cache_control
                resp = await self._send(conn, "PUT", name, headers, data=body, payload_sha256=sha)
                if resp.status in (409, 412) and condition:
                    return False  # precondition failed (409: a conflicting conditional write in flight)
                if resp.status != 200:
                    raise self._fast_error("PUT", name, resp)
                headers_back = resp.headers
            else:
                kwargs: dict[str, Any] = dict(
                    Bucket=self.bucket, Key=name, Body=body, ContentMD5=content_md5, ContentType=content_type
                )
                if encoding:
                    kwargs["ContentEncoding"] = encoding
                if cache_control:
                    kwargs["CacheControl"] = cache_control
                if condition:
                    kwargs.update({"IfMatch" if k == "If-Match" else "IfNoneMatch": v for k, v in condition.items()})
                out = await self._call(conn, "put_object", on_code=_CONDITION_CODES if condition else None, **kwargs)
                if out is False:
                    return False
                headers_back = {k.lower(): v for k, v in out["ResponseMetadata"]["HTTPHeaders"].items()}
            etag = headers_back.get("etag", "").strip('"').lower()
            encrypted = headers_back.get("x-amz-server-side-encryption") == "aws:kms" or (
                "x-amz-server-side-encryption-customer-algorithm" in headers_back
            )
            if etag and _MD5_ETAG.match(etag) and not encrypted and etag != md5.hex():
                raise MD5IntegrityError(f"PUT {where}: the stored object's ETag {etag} is not the MD5 we sent")
            return True

        return await self._retry(once, f"PUT {where}")

    async def delete(self, key: str) -> None:
        self._check_writable()
        name = self._name(key)
        conn = await self._conn()

        async def once() -> None:
            if conn.http is not None:
                resp = await self._send(conn, "DELETE", name, {})
                if resp.status not in (200, 204, 404):
                    raise self._fast_error("DELETE", name, resp)
                if resp.status == 404 and _xml_fields(resp.data).get("Code") == "NoSuchBucket":
                    raise self._fast_error("DELETE", name, resp)
                return
            await self._call(conn, "delete_object", Bucket=self.bucket, Key=name)

        await self._retry(once, f"DELETE {self._where(name)}")

    async def exists(self, key: str) -> bool:
        name = self._name(key)
        return await self._head(await self._conn(), name) is not None

    async def size(self, key: str) -> int | None:
        name = self._name(key)
        head = await self._head(await self._conn(), name)
        if head is None:
            return None
        length = head.headers.get("content-length")
        if length is None or not length.isdigit():
            raise StorageError(f"HEAD {self._where(name)}: the response has no Content-Length")
        return int(length)

    # -- batches and listing ------------------------------------------------------------------------
    async def delete_many(self, keys: Sequence[str]) -> None:
        self._check_writable()
        names = list(dict.fromkeys(self._name(k) for k in keys))
        if not names:
            return
        conn = await self._conn()
        batches = [names[i : i + DELETE_BATCH] for i in range(0, len(names), DELETE_BATCH)]

        async def delete_batch(batch: list[str]) -> None:
            async def once() -> None:
                out = await self._call(
                    conn, "delete_objects", Bucket=self.bucket,
                    Delete={"Objects": [{"Key": n} for n in batch], "Quiet": True},
                )
                errors = [e for e in out.get("Errors", []) if e.get("Code") not in _MISSING_CODES]
                if errors:
                    first = errors[0]
                    status = 403 if first.get("Code") in _AUTH_CODES else 500 if first.get("Code") in (
                        _TRANSIENT_CODES | _THROTTLE_CODES) else 400
                    raise self._classify(
                        f"DELETE ({len(errors)} of {len(batch)} keys failed)", first.get("Key"), status,
                        str(first.get("Code", "")), str(first.get("Message", "")), {},
                    )

            await self._retry(once, f"DELETE {len(batch)} keys under {self.url}")

        await bounded_map(delete_batch, batches, max(1, min(8, self._limit())))

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        conn = await self._conn()
        root = self._root + "/" if self._root else ""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": root + prefix, "MaxKeys": LIST_PAGE}
            if token:
                kwargs["ContinuationToken"] = token

            async def page(kwargs: dict[str, Any] = kwargs) -> Any:
                return await self._call(conn, "list_objects_v2", **kwargs)

            out = await self._retry(page, f"LIST {self.url}/{prefix}")
            for item in out.get("Contents", []) or []:
                yield item["Key"][len(root):]
            token = out.get("NextContinuationToken")
            if not out.get("IsTruncated") or not token:
                return


# -- helpers -----------------------------------------------------------------------------------------
async def _digests(data: bytes, want_sha256: bool) -> tuple[bytes, str | None]:
    def work(data: bytes) -> tuple[bytes, str | None]:
        return hashlib.md5(data).digest(), hashlib.sha256(data).hexdigest() if want_sha256 else None

    return await off_loop(work, data)


class _Signer(S3SigV4Auth):
    """botocore's S3 SigV4 signer, taking a precomputed payload hash from the request context,
    and without its DEBUG logs (they print the canonical request, session token included)."""

    def add_auth(self, request: Any) -> None:  # SigV4Auth.add_auth minus the logging
        if self.credentials is None:
            raise bx.NoCredentialsError()
        request.context["timestamp"] = _sigv4_timestamp()
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))

    def payload(self, request: Any) -> str:
        pre = request.context.get("aiovolume_payload")
        if pre:
            return pre
        if not self._should_sha256_sign_payload(request):
            return "UNSIGNED-PAYLOAD"
        return EMPTY_SHA256_HASH  # GET / HEAD / DELETE carry no body


def _sigv4_timestamp() -> str:
    from botocore.auth import SIGV4_TIMESTAMP
    from botocore.compat import get_current_datetime

    return get_current_datetime().strftime(SIGV4_TIMESTAMP)
