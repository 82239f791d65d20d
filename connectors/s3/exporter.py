"""S3 destination: restores files as objects under a bucket's key prefix.

A file becomes the object ``PREFIX/<path>``; its content is streamed, in parts of
:data:`~.client.MULTIPART_THRESHOLD` bytes for a large file (a multipart upload, aborted if the restore of
that file fails), so no more than one part is held in memory. A directory becomes a zero-byte
``PREFIX/<path>/`` marker object, the "folder" of S3 consoles, so that empty directories survive and
the S3 importer reads them back as directories. Each object carries its original modification time
in the ``mtime`` metadata field (seconds since the epoch, with a fraction, as rclone writes it); S3
keeps its own LastModified. Symlinks, hard links, FIFOs and devices are not supported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from kloset.errors import KlosetError, Unsupported
from kloset.exporter import Exporter, checked_parts
from kloset.objects import FileInfo

from .client import FOREIGN, MULTIPART_THRESHOLD, make_client, parse_location, ping_bucket, translate


class S3Exporter(Exporter):
    protocols = ("s3",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self.where = parse_location(self.location)
        self._storage_class = config.get("storage_class") or "STANDARD"
        self._client: Any = make_client(self.config, self.where)

    @property
    def root(self) -> str:
        return str(self.where)

    def ping(self) -> None:
        ping_bucket(self._client, self.where)

    def mkdir(self, path: str, info: FileInfo) -> None:
        self._put(self._key(path) + "/", b"", info)

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        key = self._key(path)
        buffer = bytearray()
        upload: _Upload | None = None
        try:
            for piece in content:
                buffer += piece
                while len(buffer) >= MULTIPART_THRESHOLD:
                    upload = upload or _Upload(self, key, info)
                    upload.part(buffer[:MULTIPART_THRESHOLD])
                    del buffer[:MULTIPART_THRESHOLD]
            if upload is None:
                self._put(key, bytes(buffer), info)
                return
            if buffer:
                upload.part(buffer)
            upload.complete()
        except BaseException:
            if upload is not None:
                upload.abort()
            raise

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        self._key(path)
        raise Unsupported(f"s3: {path}: S3 has no symbolic links")

    def special(self, path: str, info: FileInfo) -> None:
        self._key(path)
        raise Unsupported(f"s3: {path}: S3 has no FIFOs, sockets or devices")

    def hardlink(self, path: str, existing: str) -> bool:
        self._key(path)
        self._key(existing)
        return False  # S3 has no hard links: the restore writes the content again

    def close(self) -> None:
        self._client.close()

    def _key(self, path: str) -> str:
        checked_parts(path, "s3")
        return self.where.key(path)

    def _put(self, key: str, data: bytes, info: FileInfo) -> None:
        try:
            self._client.put_object(Bucket=self.where.bucket, Key=key, Body=data, Metadata=_metadata(info),
                                    StorageClass=self._storage_class)
        except FOREIGN as e:
            raise translate(e, f"put {key}") from e


class _Upload:
    """One multipart upload in progress."""

    def __init__(self, exporter: S3Exporter, key: str, info: FileInfo) -> None:
        self._client = exporter._client
        self._bucket = exporter.where.bucket
        self._key = key
        self._parts: list[dict[str, Any]] = []
        self._id: str = self._call("start upload", "create_multipart_upload", Metadata=_metadata(info),
                                   StorageClass=exporter._storage_class)["UploadId"]

    def part(self, data: bytearray) -> None:
        number = len(self._parts) + 1
        done = self._call(f"upload part {number}", "upload_part", UploadId=self._id, PartNumber=number,
                          Body=bytes(data))
        self._parts.append({"PartNumber": number, "ETag": done["ETag"]})

    def complete(self) -> None:
        self._call("complete upload", "complete_multipart_upload", UploadId=self._id,
                   MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        # Best effort: the server may be what failed. A bucket's lifecycle rule for incomplete uploads
        # reclaims the parts then.
        with contextlib.suppress(KlosetError):
            self._call("abort upload", "abort_multipart_upload", UploadId=self._id)

    def _call(self, what: str, operation: str, **args: Any) -> Any:
        try:
            return getattr(self._client, operation)(Bucket=self._bucket, Key=self._key, **args)
        except FOREIGN as e:
            raise translate(e, f"{what} of {self._key}") from e


def _metadata(info: FileInfo) -> dict[str, str]:
    seconds, ns = divmod(info.mtime_ns, 1_000_000_000)
    return {"mtime": f"{seconds}.{ns:09d}"}
