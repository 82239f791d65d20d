"""The columnar snapshot index: Parquet tables cut into content-defined pieces.

Every table is kept in snapshot order and cut after a row whose key hashes to a boundary (CRC-32 of the
key modulo AVERAGE_ROWS == 0, with MIN_ROWS and MAX_ROWS bounds), so a piece's rows depend only on its
own paths: an unchanged region of a tree gives byte-identical pieces, which deduplicate across
snapshots like any blob. Rows hold no per-snapshot value; Parquet is written with fixed options, so the
same rows always encode to the same bytes.
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError
from ..objects import BlobType
from .header import Piece

if TYPE_CHECKING:
    import pyarrow as pa

AVERAGE_ROWS = 1024
MIN_ROWS = 64
MAX_ROWS = 8192

BLOB_TYPES: dict[str, BlobType] = {
    "files": BlobType.FILES,
    "chunks": BlobType.CHUNKS,
    "xattrs": BlobType.XATTRS,
    "errors": BlobType.ERRORS,
    "findings": BlobType.FINDINGS,
    "emails": BlobType.EMAILS,
}


@functools.cache
def schemas() -> dict[str, pa.Schema]:
    """The schema of each table. pyarrow is loaded here, on first use: a backup that finds every piece
    unchanged (their rows come from the local row cache) never needs it."""
    import pyarrow as pa
    import pyarrow.parquet  # loaded with the schemas: every piece encoded or decoded needs it

    ts = pa.timestamp("ns", tz="UTC")
    return {
        "files": pa.schema([  # type: ignore[arg-type]
            ("path", pa.string()),
            ("raw_path", pa.binary()),  # the path's bytes when they are not valid UTF-8, else null
            ("type", pa.string()),
            ("mode", pa.uint32()),
            ("uid", pa.int64()),
            ("gid", pa.int64()),
            ("user", pa.string()),
            ("group", pa.string()),
            ("size", pa.int64()),
            ("mtime", ts),
            ("ctime", ts),
            ("dev", pa.uint64()),
            ("inode", pa.uint64()),
            ("nlink", pa.uint32()),
            ("rdev", pa.uint64()),
            ("target", pa.string()),
            ("object_id", pa.binary(32)),
            ("content_type", pa.string()),
            ("entropy", pa.float32()),
            ("chunks", pa.int32()),
        ]),
        "chunks": pa.schema([  # type: ignore[arg-type]
            ("object_id", pa.binary(32)),
            ("seq", pa.int32()),
            ("chunk_id", pa.binary(32)),
            ("offset", pa.int64()),
            ("size", pa.int32()),
        ]),
        "xattrs": pa.schema([  # type: ignore[arg-type]
            ("path", pa.string()),
            ("raw_path", pa.binary()),
            ("name", pa.string()),
            ("value", pa.binary()),
        ]),
        "errors": pa.schema([  # type: ignore[arg-type]
            ("path", pa.string()),
            ("raw_path", pa.binary()),
            ("error", pa.string()),
        ]),
        # The tables of an analysis (not of a snapshot's header): in object ID order, each row naming
        # the analyzer that wrote it. An object an analyzer read and found nothing in has one findings
        # row with a null category.
        "findings": pa.schema([  # type: ignore[arg-type]
            ("object_id", pa.binary(32)),
            ("analyzer", pa.string()),
            ("category", pa.string()),
            ("sample", pa.string()),
            ("offset", pa.int64()),
            ("confidence", pa.float32()),
            ("count", pa.int64()),
        ]),
        "emails": pa.schema([  # type: ignore[arg-type]
            ("object_id", pa.binary(32)),
            ("analyzer", pa.string()),
            ("seq", pa.int32()),  # the message's place in its object (an mbox holds many)
            ("sender", pa.string()),
            ("sender_name", pa.string()),
            ("recipients", pa.list_(pa.string())),
            ("cc", pa.list_(pa.string())),
            ("date", ts),
            ("subject", pa.string()),
            ("message_id", pa.string()),
            ("attachments", pa.list_(pa.struct([("name", pa.string()), ("content_type", pa.string()),
                                                ("size", pa.int64())]))),
        ]),
    }


_SCHEMA_NAMES = {"FILES_SCHEMA": "files", "CHUNKS_SCHEMA": "chunks", "XATTRS_SCHEMA": "xattrs",
                 "ERRORS_SCHEMA": "errors", "FINDINGS_SCHEMA": "findings", "EMAILS_SCHEMA": "emails"}


def __getattr__(name: str) -> Any:
    # FILES_SCHEMA and the others, built on first use (see schemas()).
    if name in _SCHEMA_NAMES:
        return schemas()[_SCHEMA_NAMES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def encode_piece(schema: pa.Schema, columns: dict[str, list[Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pydict(columns, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, data_page_version="2.0", store_schema=True)
    return buf.getvalue()


def decode_piece(data: bytes, columns: list[str] | None = None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # ParquetFile reads one buffer without the dataset machinery that read_table loads.
    try:
        return pq.ParquetFile(pa.BufferReader(data)).read(columns=columns)
    except (pa.ArrowException, ValueError, OSError) as e:  # pyarrow reports some damage as OSError
        raise IntegrityError(f"a snapshot table piece is malformed: {e}") from e


def pylist_columns(t: pa.Table) -> dict[str, list[Any]]:
    """Columns as Python lists, timestamps as integer nanoseconds (the form rows are written in)."""
    import pyarrow as pa

    return {n: (t.column(n).cast(pa.int64()) if pa.types.is_timestamp(t.schema.field(n).type) else t.column(n))
            .to_pylist() for n in t.column_names}


Reuse = Callable[[bytes, list[tuple[Any, ...]]], bytes | None]
Stored = Callable[[bytes, list[tuple[Any, ...]]], None]


class PieceWriter:
    """Accumulates rows of one table and stores each piece through ``put`` as it closes.

    ``reuse(first key, rows)`` may name an already stored piece with exactly these rows, which is
    then referenced without being encoded again; ``stored(piece ID, rows)`` is told of every piece."""

    def __init__(self, name: str, put: Callable[[BlobType, bytes], bytes], reuse: Reuse | None = None,
                 stored: Stored | None = None) -> None:
        self.name, self.blob_type = name, BLOB_TYPES[name]
        self._put = put
        self._reuse = reuse
        self._stored = stored
        self._rows: list[tuple[Any, ...]] = []
        self._first = b""
        self.pieces: list[Piece] = []

    def append(self, key: bytes, row: tuple[Any, ...]) -> None:
        rows = self._rows
        if not rows:
            self._first = key
        rows.append(row)
        n = len(rows)
        if n >= MAX_ROWS or (n >= MIN_ROWS and zlib.crc32(key) % AVERAGE_ROWS == 0):
            self.flush()

    def flush(self) -> None:
        rows = self._rows
        if not rows:
            return
        pid = self._reuse(self._first, rows) if self._reuse is not None else None
        if pid is None:
            schema = schemas()[self.name]
            columns = dict(zip(schema.names, map(list, zip(*rows, strict=True)), strict=True))
            pid = self._put(self.blob_type, encode_piece(schema, columns))
        self.pieces.append(Piece(pid, len(rows), self._first))
        if self._stored is not None:
            self._stored(pid, rows)
        self._rows = []
