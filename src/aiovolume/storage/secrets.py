"""Credentials for S3 and GCS, found the way CloudVolume / CloudFiles find them.

Lookup order (the first hit wins, nothing is merged across sources except the fallbacks noted):

S3 and S3-compatible services (``service`` is ``"aws"`` for ``s3://``, the alias name for
``matrix://`` and other registered aliases, as in CloudFiles):
  1. ``secrets=`` given to ``open_store`` / ``Volume`` / ``CloudVolume``: a dict, a path to a JSON
     file, or a JSON string;
  2. ``{bucket}-{service}-secret.json`` in the secrets directories, then ``{service}-secret.json``;
  3. ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``) in the environment;
  4. nothing: botocore's own chain (``~/.aws``, SSO, instance metadata), else anonymous requests.
  The region falls back to ``AWS_DEFAULT_REGION`` / ``AWS_REGION``. Secret files may also carry
  an endpoint (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3`` or ``endpoint``; an aiovolume
  extension that CloudFiles ignores).

GCS:
  1. ``secrets=`` (a service-account dict, a path to its JSON file, or a JSON string);
  2. ``{bucket}-google-secret.json``, then ``google-secret.json``;
  3. nothing: application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
     well-known file, the metadata server), resolved by gcloud-aio-auth.

BOSS (``boss://``): ``secrets=`` (``{"token", "protocol", "host"}``), then ``boss-secret.json`` with the
same keys; ``host`` defaults to ``api.bossdb.io`` and ``protocol`` to ``https``.

Secrets directories, in order: ``$CLOUD_VOLUME_DIR/secrets`` (default ``~/.cloudvolume/secrets``)
and ``$CLOUD_FILES_DIR/secrets`` (default ``~/.cloudfiles/secrets``).

Credentials objects never show secret values in their repr, and :func:`scrub` removes them from
any text (error messages) that might have picked them up.

Example::

    creds = aws_credentials("my-bucket")          # AwsCredentials(access_key_id='AKIA…', source=...)
    gcreds = google_credentials("my-bucket")      # None -> application default credentials
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import AuthenticationError
from .paths import redact

__all__ = [
    "AwsCredentials",
    "BossCredentials",
    "GoogleCredentials",
    "aws_credentials",
    "boss_credentials",
    "google_credentials",
    "protect_logs",
    "scrub",
    "secrets_dirs",
]

SecretsArg = Mapping[str, Any] | str | os.PathLike | None

# Query-string signatures and tokens of presigned URLs, and Authorization header values.
_SIGNED_QUERY = re.compile(
    r"(?i)\b(X-Amz-(?:Signature|Credential|Security-Token)|X-Goog-(?:Signature|Credential)|"
    r"Signature|AWSAccessKeyId|access_token|GoogleAccessId)=[^&\s'\"]*"
)
_AUTH_HEADER = re.compile(r"(?i)\b(authorization|x-amz-security-token)(['\"]?\s*[:=]\s*['\"]?)[^'\"\n]*")


def secrets_dirs() -> list[str]:
    """Directories searched for secret files, in order (read from the environment each call)."""
    home = os.path.expanduser("~")
    cv = os.environ.get("CLOUD_VOLUME_DIR") or os.path.join(home, ".cloudvolume")
    cf = os.environ.get("CLOUD_FILES_DIR") or os.path.join(home, ".cloudfiles")
    dirs = [os.path.join(cv, "secrets"), os.path.join(cf, "secrets")]
    return list(dict.fromkeys(dirs))


def _find_secret_file(names: Iterable[str]) -> str | None:
    # CloudFiles: the bucket-specific name in any directory beats the default name.
    for name in names:
        for directory in secrets_dirs():
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
    return None


def _read_json_file(path: str, what: str) -> dict[str, Any]:
    problem: str | None = None
    data: Any = None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        text = ""
    if problem is None:
        try:
            data = json.loads(text)
        except ValueError as exc:
            # Position only: the message of a JSONDecodeError is safe, its .doc is the secret.
            problem = f"invalid JSON ({getattr(exc, 'msg', 'parse error')} at line "
            problem += f"{getattr(exc, 'lineno', '?')} column {getattr(exc, 'colno', '?')})"
    if problem is None and not isinstance(data, dict):
        problem = f"expected a JSON object, found {type(data).__name__}"
    if problem is not None:
        # Raised outside the except blocks on purpose: no chained exception carries file content.
        raise AuthenticationError(f"cannot read {what} from {path}: {problem}; fix or remove the file")
    return data


def _from_arg(secrets: SecretsArg, what: str) -> tuple[dict[str, Any], str] | None:
    """The ``secrets=`` argument as (dict, source), or None when it was not given."""
    if secrets is None:
        return None
    if isinstance(secrets, Mapping):
        return dict(secrets), "secrets argument"
    if isinstance(secrets, (str, os.PathLike)):
        text = os.fspath(secrets)
        if isinstance(text, str) and text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise AuthenticationError(f"the secrets argument is not a valid JSON object for {what}")
            return data, "secrets argument"
        path = os.path.abspath(os.path.expanduser(str(text)))
        if not os.path.isfile(path):
            raise AuthenticationError(f"secrets file {path} for {what} does not exist")
        return _read_json_file(path, what), path
    raise AuthenticationError(f"unusable secrets for {what}: pass a dict, a path or a JSON string, not {type(secrets).__name__}")


# -- AWS ---------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AwsCredentials:
    """Static S3 credentials (and optionally region and endpoint) from one source."""

    access_key_id: str | None
    secret_access_key: str | None = field(default=None, compare=False)
    session_token: str | None = field(default=None, compare=False)
    region: str | None = None
    endpoint: str | None = None
    source: str = ""

    @property
    def secret_values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.secret_access_key, self.session_token) if v)

    @property
    def anonymous(self) -> bool:
        return not (self.access_key_id and self.secret_access_key)

    def __repr__(self) -> str:
        key = self.access_key_id
        shown = f"{key[:4]}…" if key else None
        token = ", session_token=***" if self.session_token else ""
        return (
            f"AwsCredentials(access_key_id={shown!r}, secret_access_key=***{token}, "
            f"region={self.region!r}, endpoint={self.endpoint!r}, source={self.source!r})"
        )

    __str__ = __repr__


def _aws_from_dict(data: Mapping[str, Any], source: str, env: Mapping[str, str]) -> AwsCredentials:
    def get(*names: str) -> str | None:
        for name in names:
            value = data.get(name)
            if value:
                return str(value)
        return None

    return AwsCredentials(
        access_key_id=get("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        secret_access_key=get("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
        session_token=get("AWS_SESSION_TOKEN", "aws_session_token"),
        region=get("AWS_DEFAULT_REGION", "AWS_REGION", "region") or _env_region(env),
        endpoint=get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "endpoint"),
        source=source,
    )


def _env_region(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or None


def aws_credentials(
    bucket: str = "",
    service: str = "aws",
    secrets: SecretsArg = None,
    env: Mapping[str, str] | None = None,
) -> AwsCredentials | None:
    """S3 credentials for ``bucket`` (see the module docstring for the order), or None.

    None means "no explicit credentials": let botocore's default chain decide. Reads small
    files: call it off the event loop (``asyncio.to_thread``).
    """
    env = os.environ if env is None else env
    service = "aws" if service in ("s3", "aws", "") else service
    given = _from_arg(secrets, f"{service} credentials")
    if given is not None:
        return _aws_from_dict(given[0], given[1], env)
    names = ([f"{bucket}-{service}-secret.json"] if bucket else []) + [f"{service}-secret.json"]
    path = _find_secret_file(names)
    if path is not None:
        return _aws_from_dict(_read_json_file(path, f"{service} credentials"), path, env)
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return AwsCredentials(
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            region=_env_region(env),
            source="environment",
        )
    return None


def env_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (botocore's names), else None."""
    env = os.environ if env is None else env
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


# -- Google ------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class GoogleCredentials:
    """A service-account (or other gcloud credential) JSON document and where it came from."""

    info: Mapping[str, Any] = field(compare=False)
    source: str = ""

    @property
    def project_id(self) -> str | None:
        value = self.info.get("project_id")
        return str(value) if value else None

    @property
    def secret_values(self) -> tuple[str, ...]:
        keys = ("private_key", "private_key_id", "client_secret", "refresh_token")
        return tuple(str(self.info[k]) for k in keys if self.info.get(k))

    def __repr__(self) -> str:
        return (
            f"GoogleCredentials(type={self.info.get('type')!r}, project_id={self.project_id!r}, "
            f"source={self.source!r})"
        )

    __str__ = __repr__


def google_credentials(bucket: str = "", secrets: SecretsArg = None) -> GoogleCredentials | None:
    """GCS credentials for ``bucket``, or None for application default credentials."""
    given = _from_arg(secrets, "google credentials")
    if given is not None:
        return GoogleCredentials(given[0], given[1])
    names = ([f"{bucket}-google-secret.json"] if bucket else []) + ["google-secret.json"]
    path = _find_secret_file(names)
    if path is not None:
        return GoogleCredentials(_read_json_file(path, "google credentials"), path)
    return None


# -- BOSS ---------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class BossCredentials:
    """A BOSS API token and the service it is for (``protocol://host``)."""

    token: str | None = field(compare=False)
    protocol: str = "https"
    host: str = "api.bossdb.io"
    source: str = ""

    @property
    def secret_values(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()

    @property
    def endpoint(self) -> str:
        return f"{self.protocol}://{self.host}"

    def __repr__(self) -> str:
        token = "***" if self.token else None
        return f"BossCredentials(token={token}, endpoint={self.endpoint!r}, source={self.source!r})"

    __str__ = __repr__


def boss_credentials(secrets: SecretsArg = None) -> BossCredentials:
    """The BOSS token and endpoint: ``secrets=``, else ``boss-secret.json``, else no token
    (requests then go out without one and the service answers 401 for private data)."""
    given = _from_arg(secrets, "BOSS credentials")
    if given is None:
        path = _find_secret_file(["boss-secret.json"])
        given = (_read_json_file(path, "BOSS credentials"), path) if path is not None else ({}, "none")
    data, source = given
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise AuthenticationError(f"the BOSS token from {source} is not a string")
    protocol = str(data.get("protocol") or "https").lower()
    host = str(data.get("host") or "api.bossdb.io").strip().rstrip("/")
    if "://" in host:  # "https://api.bossdb.io": the protocol typed into the host
        protocol, _, host = host.partition("://")
        protocol = protocol.lower()
    if protocol not in ("http", "https"):
        raise AuthenticationError(f"BOSS protocol {protocol!r} from {source} is neither https nor http")
    if not host or "/" in host or "@" in host:
        raise AuthenticationError(f"BOSS host {host!r} from {source} is not a host[:port]")
    return BossCredentials(token or None, protocol, host, source)


# -- scrubbing -----------------------------------------------------------------------------------
def scrub(text: str, secret_values: Iterable[str] = ()) -> str:
    """``text`` with URL passwords, signatures, auth headers and the given secrets removed."""
    text = redact(str(text))
    text = _SIGNED_QUERY.sub(lambda m: f"{m.group(1)}=***", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    for value in secret_values:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
            # PEM keys reach messages with escaped newlines too
            if "\n" in value:
                text = text.replace(value.replace("\n", "\\n"), "***")
    return text


# -- logs of the libraries we drive -------------------------------------------------------------------
class _ScrubFilter(logging.Filter):
    """Rewrites records that contain a registered secret (botocore's DEBUG logs print request
    headers, e.g. ``X-Amz-Security-Token``, and canonical requests)."""

    def __init__(self) -> None:
        super().__init__("aiovolume-secrets")
        self.values: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        values = self.values
        if values:
            try:
                message = record.getMessage()
            except Exception:  # a broken record is the logging module's problem, not ours
                return True
            if any(v in message for v in values):
                record.msg, record.args = scrub(message, values), None
        return True


_LOG_FILTER = _ScrubFilter()
_LOG_LOCK = threading.Lock()
_LOGGER_ROOTS = ("botocore", "aiobotocore", "gcloud", "aiohttp")


def protect_logs(secret_values: Iterable[str]) -> None:
    """Keep ``secret_values`` out of the records of botocore, aiobotocore, gcloud and aiohttp.

    Filters run only for records that are actually emitted (the DEBUG level is off by default),
    so this costs nothing in normal operation. The values are remembered for the life of the
    process, like the clients that hold them.
    """
    new = {v for v in secret_values if v and len(v) >= 4}
    with _LOG_LOCK:
        if not new <= _LOG_FILTER.values:
            _LOG_FILTER.values = _LOG_FILTER.values | new
        for name in list(logging.Logger.manager.loggerDict):
            if name.split(".", 1)[0] in _LOGGER_ROOTS:
                logger = logging.getLogger(name)
                if _LOG_FILTER not in logger.filters:
                    logger.addFilter(_LOG_FILTER)
