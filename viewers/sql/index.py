"""The snapshot index of a store as Arrow datasets, one Parquet fragment per stored piece.

Each table piece of each snapshot is a fragment of a pyarrow dataset whose ``snapshot_id`` column
comes from the fragment's partition expression, not from the file: a filter on ``snapshot_id`` drops
whole snapshots before any of their pieces is read, and a scan over every snapshot streams piece by
piece. The pieces are served by a read-only fsspec file system (``kloset-index://TABLE/SNAPSHOT/PIECE``)
that decrypts them through the public API and keeps the most recent ones in a bounded cache.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractFileSystem

import kloset

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

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

    def _piece(self, path: str) -> bytes:
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
            # Raising here, inside DuckDB's scan of the Arrow dataset, can leave the query waiting
            # forever: the piece reads as empty instead, and the caller raises once the query is done.
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
        return io.BytesIO(self._piece(path))

    def isfile(self, path: str) -> bool:
        # Answered from the path alone: reading the piece here would hide its damage behind a
        # "file not found" from pyarrow, which asks before it opens.
        parts = self._strip_protocol(path).split("/")
        return len(parts) == 3 and parts[1] in self._snapshots and parts[2].endswith(".parquet")

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        return {"name": path, "size": len(self._piece(path)), "type": "file"}


def _empty_piece(table: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(kloset.table_schemas()[table].empty_table(), buf)
    return bytes(buf.getvalue())


def dataset(fs: IndexFileSystem, table: str, snapshots: list[kloset.Snapshot]) -> ds.Dataset:
    """One table of every given snapshot, with a ``snapshot_id`` column in front."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    stored: pa.Schema = kloset.table_schemas()[table]
    schema = pa.schema([pa.field("snapshot_id", pa.string()), *stored])
    paths: list[str] = []
    partitions = []
    for snap in snapshots:
        fs.add(snap)
        for piece_id, _ in snap.table_pieces(table):
            paths.append(f"{table}/{snap.id}/{piece_id}.parquet")
            partitions.append(pc.field("snapshot_id") == snap.id)
    return ds.FileSystemDataset.from_paths(paths, schema=schema, format=ds.ParquetFileFormat(),
                                           filesystem=PyFileSystem(FSSpecHandler(fs)),  # type: ignore[abstract]
                                           partitions=partitions)
