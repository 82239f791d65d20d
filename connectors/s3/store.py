"""A store in an S3 bucket, under a key prefix, in the fs store's layout::

    PREFIX/CONFIG                       the config bytes, written once (create-only) by create()
    PREFIX/packfiles/<2 hex>/<64 hex>   packfiles
    PREFIX/states/<2 hex>/<64 hex>      index deltas
    PREFIX/locks/<64 hex>               locks

An S3 PUT is atomic, whole or multipart: a reader sees all of an object or none of it, so no
temporary names are needed. Large resources go up as multipart uploads through boto3's managed
transfer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from kloset.errors import ConfigError, KlosetError, NotFound, StoreNotFound
from kloset.objects import ID_SIZE, ResourceType
from kloset.storage import Storage

from .client import (
    FOREIGN,
    MULTIPART_THRESHOLD,
    error_code,
    is_missing,
    list_objects,
    make_client,
    parse_location,
    status,
    translate,
)

_TYPE_DIRS = {ResourceType.PACKFILE: "packfiles", ResourceType.STATE: "states", ResourceType.LOCK: "locks"}
_BUCKETED = frozenset({ResourceType.PACKFILE, ResourceType.STATE})
_ID_NAME = re.compile(r"[0-9a-f]{64}\Z")
#: Resources up to this size go up in one PUT: a pack closes just past the default pack size (16 MiB),
#: and a multipart upload of it would cost four requests instead of one. Larger ones go in parts of
#: MULTIPART_THRESHOLD bytes.
SINGLE_PUT_MAX = 64 << 20
_TRANSFER = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
                           max_concurrency=4)
_CONFIG = "CONFIG"


class S3Store(Storage):
    """A store on AWS S3 or an S3-compatible server (MinIO, Ceph, moto...)."""

    protocols = ("s3",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self.where = parse_location(self.location)
        self._storage_class = config.get("storage_class") or "STANDARD"
        self._region = config.get("region") or "us-east-1"
        self._client: Any = make_client(self.config, self.where)

    def create(self, config: bytes) -> None:
        """Make the bucket when missing, then write CONFIG only if no object has that name (a
        conditional PUT), so two racing creates cannot both win."""
        self._ensure_bucket()
        try:
            listed = self._client.list_objects_v2(Bucket=self.where.bucket, Prefix=self.where.prefix, MaxKeys=1)
            if listed.get("KeyCount", 0):
                raise ConfigError(f"s3: {self.where} already holds {self._what_is_there()}")
            self._client.put_object(Bucket=self.where.bucket, Key=self.where.key(_CONFIG), Body=config,
                                    IfNoneMatch="*", StorageClass=self._storage_class)
        except ClientError as e:
            if status(e) == 412 or error_code(e) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ConfigError(f"s3: a store already exists at {self.where}") from e
            raise translate(e, f"create store {self.where}") from e
        except FOREIGN as e:
            raise translate(e, f"create store {self.where}") from e

    def _what_is_there(self) -> str:
        try:
            self._client.head_object(Bucket=self.where.bucket, Key=self.where.key(_CONFIG))
        except ClientError as e:
            if is_missing(e):
                return "objects but no store"
            raise
        return "a store"

    def _ensure_bucket(self) -> None:
        bucket = self.where.bucket
        try:
            self._client.head_bucket(Bucket=bucket)
            return
        except ClientError as e:
            if not is_missing(e):
                raise translate(e, f"bucket {bucket}") from e
        except FOREIGN as e:
            raise translate(e, f"bucket {bucket}") from e
        args: dict[str, Any] = {"Bucket": bucket}
        if self._region != "us-east-1":  # the one region that refuses to be named
            args["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(**args)
        except ClientError as e:
            if error_code(e) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise translate(e, f"create bucket {bucket}") from e
        except FOREIGN as e:
            raise translate(e, f"create bucket {bucket}") from e

    def open(self) -> bytes:
        try:
            return bytes(self._client.get_object(Bucket=self.where.bucket, Key=self.where.key(_CONFIG))["Body"].read())
        except FOREIGN as e:
            if is_missing(e):
                raise StoreNotFound(f"s3: no store at {self.where}") from e
            raise translate(e, f"open store {self.where}") from e

    def list(self, rtype: ResourceType) -> list[bytes]:
        """IDs under the type's prefix; a name that is not an ID, or in the wrong bucket, is skipped."""
        top = self.where.key(_TYPE_DIRS[rtype] + "/")
        bucketed = rtype in _BUCKETED
        ids: list[bytes] = []
        for key, _ in self._objects(top, f"list {_TYPE_DIRS[rtype]}"):
            bucket, _, name = key[len(top):].rpartition("/")
            if _ID_NAME.match(name) and (bucket == name[:2] if bucketed else not bucket):
                ids.append(bytes.fromhex(name))
        return ids

    def put(self, rtype: ResourceType, rid: bytes, data: bytes | bytearray) -> int:
        key = self._key(rtype, rid)
        try:
            if len(data) <= SINGLE_PUT_MAX:
                self._client.put_object(Bucket=self.where.bucket, Key=key, Body=bytes(data),
                                        StorageClass=self._storage_class)
            else:
                self._client.upload_fileobj(io.BytesIO(data), self.where.bucket, key, Config=_TRANSFER,
                                            ExtraArgs={"StorageClass": self._storage_class})
        except FOREIGN as e:  # the managed transfer raises what failed, as a plain call would
            raise self._error(e, f"put {key}") from e
        return len(data)

    def get(self, rtype: ResourceType, rid: bytes, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        key = self._key(rtype, rid)
        args: dict[str, Any] = {"Bucket": self.where.bucket, "Key": key}
        try:
            if length == 0:
                self._client.head_object(**args)  # an empty range still says whether the resource exists
                return b""
            if offset or length is not None:
                end = "" if length is None else str(offset + length - 1)
                args["Range"] = f"bytes={offset}-{end}"
            return bytes(self._client.get_object(**args)["Body"].read())
        except ClientError as e:
            if status(e) == 416 or error_code(e) == "InvalidRange":
                return b""  # the range starts at or past the end
            raise self._error(e, f"get {key}") from e
        except FOREIGN as e:
            raise self._error(e, f"get {key}") from e

    def delete(self, rtype: ResourceType, rid: bytes) -> None:
        key = self._key(rtype, rid)
        try:
            self._client.delete_object(Bucket=self.where.bucket, Key=key)
        except FOREIGN as e:
            if is_missing(e):
                return
            raise translate(e, f"delete {key}") from e

    def size(self) -> int:
        return sum(size for _, size in self._objects(self.where.prefix, f"size of {self.where}"))

    def ping(self) -> None:
        try:
            self._client.head_object(Bucket=self.where.bucket, Key=self.where.key(_CONFIG))
        except FOREIGN as e:
            if is_missing(e):
                raise StoreNotFound(f"s3: no store at {self.where}") from e
            raise translate(e, f"ping {self.where}") from e

    def close(self) -> None:
        self._client.close()

    def _objects(self, prefix: str, what: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``, page by page."""
        try:
            for obj in list_objects(self._client, self.where, prefix):
                yield obj["Key"], obj["Size"]
        except FOREIGN as e:
            raise self._error(e, what) from e

    def _key(self, rtype: ResourceType, rid: bytes) -> str:
        if len(rid) != ID_SIZE:
            raise ValueError(f"a resource ID is {ID_SIZE} bytes, not {len(rid)}")
        name = rid.hex()
        if rtype in _BUCKETED:
            return self.where.key(f"{_TYPE_DIRS[rtype]}/{name[:2]}/{name}")
        return self.where.key(f"{_TYPE_DIRS[rtype]}/{name}")

    def _error(self, e: Exception, what: str) -> KlosetError:
        # A missing bucket is a missing store, not a missing resource.
        if isinstance(e, ClientError) and error_code(e) == "NoSuchBucket":
            return StoreNotFound(f"s3: no store at {self.where}")
        error = translate(e, what)
        return error if not isinstance(error, NotFound) else NotFound(f"s3: {what}: no such resource")
