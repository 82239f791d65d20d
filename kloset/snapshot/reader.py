"""Reading a snapshot: its tables, one file's row, and file content as a stream, alone or by batches."""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, KlosetError, NotFound
from ..objects import BlobType
from ..repository.fetch import Outcome, get_blobs
from ..repository.repo import Repository
from .header import Header
from .index import BLOB_TYPES, decode_piece, pylist_columns, schemas
from .order import path_key
from .rows import row_key

if TYPE_CHECKING:
    import pyarrow as pa


class SnapshotReader:
    def __init__(self, repo: Repository, header: Header) -> None:
        self.repo = repo
        self.header = header
        self._chunk_map: dict[bytes, list[tuple[bytes, int]]] | None = None

    def piece(self, table: str, blob_id: bytes, columns: list[str] | None = None) -> pa.Table:
        return decode_piece(self.repo.get_blob(BLOB_TYPES[table], blob_id), columns)

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        schema = schemas()[name]
        parts = [self.piece(name, p.id, columns) for p in self.header.tables.get(name, [])]
        if not parts:
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        import pyarrow as pa

        return pa.concat_tables(parts)

    def rows(self, name: str, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Rows in snapshot order, one piece in memory at a time."""
        for p in self.header.tables.get(name, []):
            cols = pylist_columns(self.piece(name, p.id, columns))
            names = list(cols)
            for values in zip(*cols.values(), strict=True):
                yield dict(zip(names, values, strict=True))

    def find(self, pathname: str) -> dict[str, Any]:
        """The files row of one path; NotFound when the snapshot has no such entry."""
        key = path_key(pathname)
        pieces = self.header.tables.get("files", [])
        i = bisect.bisect_right([p.first for p in pieces], key) - 1
        if i >= 0:
            cols = pylist_columns(self.piece("files", pieces[i].id))
            for j in range(len(cols["path"])):
                if row_key(cols["path"][j], cols["raw_path"][j]) == key:
                    return {n: c[j] for n, c in cols.items()}
        raise NotFound(f"{pathname}: no such file in snapshot {self.header.short_id}")

    def chunk_map(self) -> dict[bytes, list[tuple[bytes, int]]]:
        """Object ID -> [(chunk ID, size)] for every object of more than one chunk."""
        if self._chunk_map is None:
            m: dict[bytes, list[tuple[bytes, int]]] = {}
            for row in self.rows("chunks", ["object_id", "chunk_id", "size"]):
                m.setdefault(row["object_id"], []).append((row["chunk_id"], row["size"]))
            self._chunk_map = m
        return self._chunk_map

    def chunks_of(self, row: dict[str, Any]) -> list[tuple[bytes, int]]:
        oid, n = row["object_id"], row["chunks"]
        if oid is None or not n:
            return []
        if n == 1:
            return [(oid, int(row["size"]))]
        try:
            return self.chunk_map()[oid]
        except KeyError:
            raise IntegrityError(f"object {oid.hex()[:16]} is missing from the chunks table of snapshot "
                                 f"{self.header.short_id}") from None

    def content(self, row: dict[str, Any]) -> Iterator[bytes]:
        for cid, _ in self.chunks_of(row):
            yield self.repo.get_blob(BlobType.CHUNK, cid)

    def open(self, pathname: str) -> ContentFile:
        return self.open_row(self.find(pathname))

    def open_row(self, row: dict[str, Any]) -> ContentFile:
        """The content of a files row (with ``path``, ``type``, ``size``, ``object_id`` and ``chunks``)."""
        if row["type"] != "file":
            raise NotFound(f"{row.get('path')}: not a regular file (a {row['type']})")
        return ContentFile(self.repo, self.chunks_of(row))


class Batch:
    """The content of several files that are read in order, fetched a window of chunks at a time with
    :func:`kloset.repository.fetch.get_blobs`: on a remote store, a request per run of neighbouring
    chunks rather than one per chunk. Memory holds one window."""

    #: Plaintext bytes fetched at once.
    WINDOW = 16 << 20

    def __init__(self, reader: SnapshotReader, rows: Sequence[dict[str, Any]]) -> None:
        self._repo = reader.repo
        self._ids: list[bytes] = []
        self._sizes: list[int] = []
        self._spans: list[tuple[int, int] | KlosetError] = []
        for row in rows:
            try:
                chunks = reader.chunks_of(row)
            except KlosetError as e:
                self._spans.append(e)
                continue
            self._spans.append((len(self._ids), len(self._ids) + len(chunks)))
            self._ids.extend(cid for cid, _ in chunks)
            self._sizes.extend(size for _, size in chunks)
        self._have: dict[int, Outcome] = {}

    def content(self, i: int) -> Iterator[bytes]:
        """The content of the ``i``-th row, chunk by chunk; a damaged chunk raises when reached."""
        span = self._spans[i]
        if isinstance(span, KlosetError):
            raise span
        for pos in range(*span):
            if pos not in self._have:
                self._fill(pos)
            outcome = self._have.pop(pos)
            if isinstance(outcome, KlosetError):
                raise outcome
            yield outcome

    def _fill(self, pos: int) -> None:
        """Fetch the window of chunks that starts at ``pos`` (earlier ones are done with)."""
        end, total = pos, 0
        while end < len(self._ids) and (end == pos or total + self._sizes[end] <= self.WINDOW):
            total += self._sizes[end]
            end += 1
        self._have = dict(zip(range(pos, end), get_blobs(self._repo, BlobType.CHUNK, self._ids[pos:end]),
                              strict=True))


class ContentFile(io.RawIOBase):
    """A read-only, seekable binary file over a list of chunks, fetched as they are read."""

    def __init__(self, repo: Repository, chunks: list[tuple[bytes, int]]) -> None:
        super().__init__()
        self._repo = repo
        self._chunks = chunks
        self._starts: list[int] = []
        pos = 0
        for _, size in chunks:
            self._starts.append(pos)
            pos += size
        self._size = pos
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _chunk(self, i: int) -> bytes:
        if self._cached is None or self._cached[0] != i:
            self._cached = (i, self._repo.get_blob(BlobType.CHUNK, self._chunks[i][0]))
        return self._cached[1]

    def readinto(self, b: Any) -> int:
        if self._pos >= self._size:
            return 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        data = self._chunk(i)
        off = self._pos - self._starts[i]
        n = min(len(b), len(data) - off)
        b[:n] = data[off : off + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        out = bytearray()
        while self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            out += self._chunk(i)[self._pos - self._starts[i] :]
            self._pos = self._starts[i] + self._chunks[i][1]
        return bytes(out)

    @property
    def size(self) -> int:
        return self._size
