"""The snapshot index of a store as Arrow datasets, one Parquet fragment per stored piece.

Each table piece of each snapshot is a fragment of a pyarrow dataset whose ``snapshot_id`` column
comes from the fragment's partition expression, not from the file: a filter on ``snapshot_id`` drops
whole snapshots before any of their pieces is read, and a scan over every snapshot streams a group
of pieces at a time. The pieces are served by a read-only fsspec file system
(``kloset-index://TABLE/SNAPSHOT/PIECE``) that decrypts them through the public API and keeps the
most recent ones in a bounded cache.

The dataset does its own reading (:class:`IndexDataset`): pyarrow's scanner would read the pieces
on its I/O threads, each taking the GIL to call the Python file system, while the thread that
started the scan waits for them holding the GIL (``Scanner.to_reader`` does not release it), and
now and then the two wait for each other forever. Here the pieces are read in the scanning thread
and handed to pyarrow as in-memory buffers, so its threads never need Python.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from fsspec.spec import AbstractFileSystem
from pyarrow.fs import FSSpecHandler, PyFileSystem

import kloset

DAMAGE = "cannot read its"  # marks a damaged piece in the messages DuckDB passes on
CACHE_BYTES = 256 << 20  # decrypted pieces kept for the next query of a warm process


class IndexFileSystem(AbstractFileSystem):
    """Read-only: ``kloset-index://TABLE/SNAPSHOT_ID/PIECE_ID.parquet``."""

    protocol = "kloset-index"
    cachable = False  # one per store: fsspec must not hand one store's instance to another

    def __init__(self, store: kloset.Store, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self._snapshots: dict[str, kloset.Snapshot] = {}
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        #: Pieces that could not be read since the last :meth:`take_errors`, as messages.
        self.errors: list[str] = []

    def take_errors(self) -> list[str]:
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    def add(self, snap: kloset.Snapshot) -> None:
        self._snapshots[snap.id] = snap

    def piece(self, path: str) -> bytes:
        """The decrypted Parquet bytes of a piece (an empty piece when it is damaged, see errors)."""
        path = self._strip_protocol(path)
        with self._lock:
            data = self._cache.get(path)
            if data is not None:
                self._cache.move_to_end(path)
                return data
        table, sid, name = path.split("/")
        snap = self._snapshots[sid]
        try:
            data = snap.read_piece(table, name.removesuffix(".parquet"))
        except kloset.KlosetError as e:
            # Raised inside DuckDB's scan, the error would reach the caller as DuckDB's message about
            # an Arrow stream: the piece reads as empty instead, and the caller raises IntegrityError,
            # naming the snapshot, once the query is done.
            with self._lock:
                self.errors.append(f"snapshot {snap.short_id}: {DAMAGE} {table} table: {e}")
            return _empty_piece(table)
        with self._lock:
            self._cache[path] = data
            self._cached += len(data)
            while self._cached > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached -= len(old)
        return data

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> io.BytesIO:
        if mode != "rb":
            raise PermissionError("the snapshot index is read-only")
        return io.BytesIO(self.piece(path))

    def isfile(self, path: str) -> bool:
        # Answered from the path alone: reading the piece here would hide its damage behind a
        # "file not found" from pyarrow, which asks before it opens.
        parts = self._strip_protocol(path).split("/")
        return len(parts) == 3 and parts[1] in self._snapshots and parts[2].endswith(".parquet")

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        return {"name": path, "size": len(self.piece(path)), "type": "file"}


def _empty_piece(table: str) -> bytes:
    buf = pa.BufferOutputStream()
    pq.write_table(kloset.table_schemas()[table].empty_table(), buf)
    return bytes(buf.getvalue())


#: Pieces read ahead of a scan at once: enough for pyarrow to decode in parallel, few enough that a
#: scan over every snapshot holds a bounded part of them.
GROUP = 128


class IndexDataset(ds.FileSystemDataset):
    """The pieces of one table: pruned by pyarrow, read by kloset (see the module's doc)."""

    index_fs: IndexFileSystem

    def scanner(self, columns: list[str] | None = None, filter: Any = None,  # type: ignore[override]
                **kwargs: Any) -> _Scan:
        return _Scan(self, columns, filter, kwargs)


class _Scan:
    """What DuckDB asks of a pyarrow Scanner: its projected schema, and a reader of its batches."""

    def __init__(self, dataset: IndexDataset, columns: list[str] | None, filter: Any,
                 kwargs: dict[str, Any]) -> None:
        self.dataset, self.columns, self.filter, self.kwargs = dataset, columns, filter, kwargs
        # Made without reading anything: the projected schema, and the filter checked against it.
        self.projected_schema = ds.FileSystemDataset.scanner(
            dataset, columns=columns, filter=filter, **kwargs).projected_schema

    def to_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.projected_schema, self.to_batches())

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        fs, fmt = self.dataset.index_fs, self.dataset.format
        # Pruned by the partition expressions alone: the pieces of snapshots the filter excludes are
        # never read.
        fragments = list(self.dataset.get_fragments(filter=self.filter))
        for start in range(0, len(fragments), GROUP):
            group = [fmt.make_fragment(pa.BufferReader(fs.piece(f.path)),  # type: ignore[arg-type]
                                       partition_expression=f.partition_expression)
                     for f in fragments[start:start + GROUP]]
            loaded = ds.FileSystemDataset(group, self.dataset.schema, fmt)
            yield from loaded.scanner(columns=self.columns, filter=self.filter, **self.kwargs).to_batches()


def dataset(fs: IndexFileSystem, table: str, snapshots: list[kloset.Snapshot]) -> ds.Dataset:
    """One table of every given snapshot, with a ``snapshot_id`` column in front."""
    stored: pa.Schema = kloset.table_schemas()[table]
    schema = pa.schema([pa.field("snapshot_id", pa.string()), *stored])
    fmt = ds.ParquetFileFormat()
    filesystem = PyFileSystem(FSSpecHandler(fs))  # type: ignore[abstract]
    fragments = []
    for snap in snapshots:
        fs.add(snap)
        for piece_id, _ in snap.table_pieces(table):
            fragments.append(fmt.make_fragment(f"{table}/{snap.id}/{piece_id}.parquet", filesystem,
                                               partition_expression=pc.field("snapshot_id") == snap.id))
    result = IndexDataset(fragments, schema, fmt, filesystem)
    result.index_fs = fs
    return result
