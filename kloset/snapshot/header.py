"""The snapshot header: one msgpack blob of type SNAPSHOT whose blob ID is the snapshot's ID."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from ..errors import IntegrityError

HEADER_VERSION = 1


@dataclass
class Piece:
    """One content-defined piece of a snapshot table: a blob of rows in snapshot order."""

    id: bytes
    rows: int
    first: bytes  # sort key of the first row (path_key for path-ordered tables, object ID for chunks)


@dataclass
class Summary:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    others: int = 0
    errors: int = 0
    size: int = 0  # logical bytes of regular files
    stored: int = 0  # bytes this snapshot added to the store (after dedup, compression, sealing)
    new_chunks: int = 0
    reused_files: int = 0  # files taken from the parent without reading them

    @property
    def entries(self) -> int:
        """Every entry the snapshot holds, as a backup's progress counts them."""
        return self.files + self.dirs + self.symlinks + self.others


@dataclass
class Header:
    timestamp_ns: int
    duration_ns: int = 0
    hostname: str = ""
    username: str = ""
    os: str = ""
    arch: str = ""
    command_line: str = ""
    name: str = ""
    category: str = ""
    environment: str = ""
    perimeter: str = ""
    job: str = ""
    tags: list[str] = field(default_factory=list)
    importer_type: str = ""
    importer_origin: str = ""
    importer_root: str = ""
    parent: bytes = b""
    summary: Summary = field(default_factory=Summary)
    tables: dict[str, list[Piece]] = field(default_factory=dict)
    nonce: bytes = field(default_factory=lambda: os.urandom(16))
    id: bytes = b""  # the blob ID, filled in once stored or read

    @property
    def short_id(self) -> str:
        return self.id[:4].hex()

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ns / 1e9, tz=UTC)

    def encode(self) -> bytes:
        d = asdict(self)
        del d["id"]
        d["version"] = HEADER_VERSION
        d["tables"] = {k: [[p.id, p.rows, p.first] for p in v] for k, v in self.tables.items()}
        return msgpack.packb(d)

    @classmethod
    def decode(cls, data: bytes, blob_id: bytes) -> Header:
        try:
            d: dict[str, Any] = msgpack.unpackb(data)
            if d.pop("version") != HEADER_VERSION:
                raise IntegrityError("unsupported snapshot header version")
            d["summary"] = Summary(**d["summary"])
            d["tables"] = {k: [Piece(bytes(i), int(n), bytes(f)) for i, n, f in v] for k, v in d["tables"].items()}
            return cls(**d, id=blob_id)
        except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
            raise IntegrityError(f"snapshot {blob_id.hex()[:8]} has a malformed header: {e}") from e
