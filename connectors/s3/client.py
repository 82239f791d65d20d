"""What the S3 store, importer and exporter share: the location, the client, and the error translation.

A location is ``s3://HOST[:PORT]/BUCKET[/PREFIX]``: HOST:PORT is the endpoint, addressed path-style
(``http(s)://HOST:PORT/BUCKET/KEY``), as MinIO, Ceph and most S3-compatible servers expect.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from kloset.errors import AuthenticationError, ConfigError, KlosetError, NotFound, TransientError

SCHEME = "s3://"
# Short, so that a dead endpoint fails a backup within seconds rather than hanging it. The read timeout
# bounds the wait for each response, not a whole transfer.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
# One retry of botocore's own: the engine wraps every store in a retrying layer of its own.
ATTEMPTS = 2
# The engine reads and writes from several threads, and a multipart transfer adds its own.
POOL_CONNECTIONS = 16
# Keys per listing page: S3's maximum (tests lower it to see paging at work).
PAGE_SIZE = 1000
# Objects this large or larger go up in parts of this size (S3 wants parts of 5 MiB at least).
MULTIPART_THRESHOLD = 16 << 20
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}
# S3's rules for bucket names: 3 to 63 lower-case letters, digits, dots and hyphens.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]\Z")
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_DENIED = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                     "ExpiredToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed", "403"})
# What OpenSSL says when it has a certificate it does not trust (rather than no TLS at all).
_UNVERIFIED = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "Hostname mismatch", "doesn't match")
_BUSY = frozenset({"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "RequestTimeTooSkewed",
                   "OperationAborted", "ConditionalRequestConflict"})


# One session for every client: it loads botocore's service models once (a client then costs a few
# milliseconds, not tens). Sessions are not thread-safe, so clients are made under a lock; the clients
# themselves are.
_SESSION: boto3.session.Session | None = None
_SESSION_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where a connector points: an endpoint, a bucket and a key prefix ("" or ending in "/")."""

    endpoint: str
    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        return self.prefix + name

    def __str__(self) -> str:
        return f"{SCHEME}{self.endpoint}/{self.bucket}/{self.prefix}".rstrip("/")


def parse_location(location: str) -> S3Location:
    if not location.startswith(SCHEME):
        raise ConfigError(f"s3: {location!r} is not an s3:// location")
    endpoint, _, path = location[len(SCHEME):].partition("/")
    bucket, _, prefix = path.partition("/")
    if not endpoint:
        raise ConfigError(f"s3: {location!r} names no endpoint (s3://HOST[:PORT]/BUCKET[/PREFIX])")
    if not _BUCKET.match(bucket):
        raise ConfigError(f"s3: {location!r} names no valid bucket (s3://HOST[:PORT]/BUCKET[/PREFIX])")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f"s3: the prefix of {location!r} has a '.' or '..' component")
    return S3Location(endpoint, bucket, "".join(f"{p}/" for p in parts))


def flag(config: dict[str, str], name: str, default: bool) -> bool:
    value = config.get(name)
    if value is None or not value.strip():
        return default
    word = value.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigError(f"s3: {name} must be true or false, not {value!r}")


def make_client(config: dict[str, str], where: S3Location) -> Any:
    """A boto3 client for the config's endpoint, safe to share between threads."""
    global _SESSION
    scheme = "https" if flag(config, "use_tls", True) else "http"
    access_key, secret = config.get("access_key"), config.get("secret_access_key")
    if bool(access_key) != bool(secret):
        raise ConfigError("s3: access_key and secret_access_key go together")
    settings = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=POOL_CONNECTIONS,
        # Checksums only when the operation requires one: S3-compatible servers do not all know the
        # newer CRC headers that botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        with _SESSION_LOCK:
            if _SESSION is None:
                _SESSION = boto3.session.Session()
            # Without keys, boto3's own chain (environment, shared files, instance roles) supplies them.
            return _SESSION.client(
                "s3", endpoint_url=f"{scheme}://{where.endpoint}", region_name=config.get("region") or "us-east-1",
                aws_access_key_id=access_key or None, aws_secret_access_key=secret or None,
                verify=_verify(config), config=settings)
    except (ValueError, BotoCoreError) as e:
        raise ConfigError(f"s3: cannot use endpoint {where.endpoint!r}: {e}") from e


def ping_bucket(client: Any, where: S3Location) -> None:
    """Raise, translated, unless the bucket answers."""
    try:
        client.head_bucket(Bucket=where.bucket)
    except FOREIGN as e:
        raise translate(e, f"bucket {where.bucket}") from e


def list_objects(client: Any, where: S3Location, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (key, size, LastModified...), page after page, in key order.
    Errors are botocore's: each caller says what a missing bucket means to it."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=prefix,
                                                             PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        yield from page.get("Contents", ())


def _verify(config: dict[str, str]) -> bool | None:
    # None, not True: botocore then verifies against AWS_CA_BUNDLE or the profile's ca_bundle when set
    # (a private CA), else its own bundle.
    return False if flag(config, "tls_no_verify", False) else None


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_missing(e: Exception) -> bool:
    return isinstance(e, ClientError) and (error_code(e) in _MISSING or status(e) == 404)


def translate(e: Exception, what: str) -> KlosetError:
    """A botocore exception met while doing ``what``, as a kloset error naming the connector."""
    message = f"s3: {what}: {e}"
    if isinstance(e, ClientError):
        code, http = error_code(e), status(e)
        if code in _MISSING or http == 404:
            return NotFound(message)
        if code in _DENIED or http in (401, 403):
            return AuthenticationError(f"s3: {what}: the server refused the credentials: {e}")
        if code in _BUSY or http >= 500 or http == 429:
            return TransientError(message)
        return KlosetError(message)
    if isinstance(e, SSLError):
        if any(sign in str(e) for sign in _UNVERIFIED):
            return AuthenticationError(f"s3: {what}: TLS verification of the endpoint failed: {e}")
        return ConfigError(f"s3: {what}: no TLS handshake with the endpoint (use_tls=false for plain HTTP): {e}")
    if isinstance(e, (EndpointConnectionError, ConnectionClosedError, BotoConnectionError, HTTPClientError)):
        return TransientError(message)
    if isinstance(e, (NoCredentialsError, PartialCredentialsError)):
        return ConfigError(f"s3: {what}: no credentials (set access_key and secret_access_key)")
    if isinstance(e, ParamValidationError):
        return ConfigError(message)
    if isinstance(e, OSError):
        return TransientError(message)
    return KlosetError(message)


#: What :func:`translate` handles; connectors catch these at their edge.
FOREIGN: tuple[type[Exception], ...] = (BotoCoreError, ClientError, OSError)
