"""The columnar snapshot index: Parquet tables cut into content-defined pieces.

Every table is kept in snapshot order and cut after a row whose key hashes to a boundary (CRC-32 of the
key modulo AVERAGE_ROWS == 0, with MIN_ROWS and MAX_ROWS bounds), so a piece's rows depend only on its
own paths: an unchanged region of a tree gives byte-identical pieces, which deduplicate across
snapshots like any blob. Rows hold no per-snapshot value; Parquet is written with fixed options, so the
same rows always encode to the same bytes.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..objects import BlobType
from .header import Piece

AVERAGE_ROWS = 1024
MIN_ROWS = 64
MAX_ROWS = 8192

_TS = pa.timestamp("ns", tz="UTC")

FILES_SCHEMA = pa.schema([  # type: ignore[arg-type]
    ("path", pa.string()),
    ("raw_path", pa.binary()),  # the path's bytes when they are not valid UTF-8, else null
    ("type", pa.string()),
    ("mode", pa.uint32()),
    ("uid", pa.int64()),
    ("gid", pa.int64()),
    ("user", pa.string()),
    ("group", pa.string()),
    ("size", pa.int64()),
    ("mtime", _TS),
    ("ctime", _TS),
    ("dev", pa.uint64()),
    ("inode", pa.uint64()),
    ("nlink", pa.uint32()),
    ("rdev", pa.uint64()),
    ("target", pa.string()),
    ("object_id", pa.binary(32)),
    ("content_type", pa.string()),
    ("entropy", pa.float32()),
    ("chunks", pa.int32()),
])

CHUNKS_SCHEMA = pa.schema([  # type: ignore[arg-type]
    ("object_id", pa.binary(32)),
    ("seq", pa.int32()),
    ("chunk_id", pa.binary(32)),
    ("offset", pa.int64()),
    ("size", pa.int32()),
])

XATTRS_SCHEMA = pa.schema([  # type: ignore[arg-type]
    ("path", pa.string()),
    ("raw_path", pa.binary()),
    ("name", pa.string()),
    ("value", pa.binary()),
])

ERRORS_SCHEMA = pa.schema([  # type: ignore[arg-type]
    ("path", pa.string()),
    ("raw_path", pa.binary()),
    ("error", pa.string()),
])

TABLES: dict[str, tuple[pa.Schema, BlobType]] = {
    "files": (FILES_SCHEMA, BlobType.FILES),
    "chunks": (CHUNKS_SCHEMA, BlobType.CHUNKS),
    "xattrs": (XATTRS_SCHEMA, BlobType.XATTRS),
    "errors": (ERRORS_SCHEMA, BlobType.ERRORS),
}


def encode_piece(schema: pa.Schema, columns: dict[str, list[Any]]) -> bytes:
    table = pa.Table.from_pydict(columns, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, data_page_version="2.0", store_schema=True)
    return buf.getvalue()


def decode_piece(data: bytes, columns: list[str] | None = None) -> pa.Table:
    # ParquetFile reads one buffer without the dataset machinery that read_table loads.
    return pq.ParquetFile(pa.BufferReader(data)).read(columns=columns)


class PieceWriter:
    """Accumulates rows of one table and stores each piece through ``put`` as it closes."""

    def __init__(self, name: str, put: Callable[[BlobType, bytes], bytes]) -> None:
        self.schema, self.blob_type = TABLES[name]
        self._put = put
        self._cols: dict[str, list[Any]] = {n: [] for n in self.schema.names}
        self._rows = 0
        self._first = b""
        self.pieces: list[Piece] = []

    def append(self, key: bytes, row: tuple[Any, ...]) -> None:
        if self._rows == 0:
            self._first = key
        for col, v in zip(self._cols.values(), row, strict=True):
            col.append(v)
        self._rows += 1
        if self._rows >= MAX_ROWS or (self._rows >= MIN_ROWS and zlib.crc32(key) % AVERAGE_ROWS == 0):
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        data = encode_piece(self.schema, self._cols)
        self.pieces.append(Piece(self._put(self.blob_type, data), self._rows, self._first))
        self._cols = {n: [] for n in self.schema.names}
        self._rows = 0


def iter_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """Rows of a table as dicts (for the few places that walk rows in Python)."""
    cols = {n: table.column(n).to_pylist() for n in table.column_names}
    for i in range(table.num_rows):
        yield {n: c[i] for n, c in cols.items()}
