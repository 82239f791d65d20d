"""Taking a snapshot: walk a source, store new content, write the columnar index and the header.

The importer's records are walked in snapshot order on the calling thread, while a pool of workers
reads, chunks, hashes, compresses and seals file content (the libraries doing that release the GIL, so
both cores stay busy). Rows are emitted in order through a bounded window of pending files. A file whose
metadata matches the parent snapshot's row is not read: its row is taken from the parent.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..importer import Importer
from ..objects import BlobType, EntryType, Record
from ..repository.repo import Repository
from ..repository.transaction import Transaction
from .content import Content, ContentReader
from .header import Header, Piece
from .index import PieceWriter, decode_piece
from .order import path_key
from .rows import row_key, split_path

ProgressFn = Callable[[int, int], None]
_WINDOW = 512
_REUSE = ("type", "size", "mtime", "ctime", "inode")


@dataclass
class BackupOptions:
    tags: list[str] = field(default_factory=list)
    name: str = ""
    category: str = ""
    environment: str = ""
    perimeter: str = ""
    job: str = ""
    command_line: str = ""
    workers: int = 0  # 0: chosen from the CPU count
    parent: bool = True  # False forces every file to be read


class ParentRows:
    """The parent snapshot's file rows, walked once in step with the new records (a merge join)."""

    _COLS = ("path", "raw_path", "type", "size", "mtime", "ctime", "inode", "object_id", "content_type",
             "entropy", "chunks")

    def __init__(self, repo: Repository, header: Header | None) -> None:
        self._pieces = iter(header.tables.get("files", []) if header else [])
        self._repo = repo
        self._rows: deque[tuple[bytes, dict[str, Any]]] = deque()
        self.chunks: dict[bytes, list[tuple[bytes, int]]] = {}
        if header is not None:
            for p in header.tables.get("chunks", []):
                t = decode_piece(repo.get_blob(BlobType.CHUNKS, p.id))
                oids: list[bytes] = t.column("object_id").to_pylist()  # type: ignore[assignment]
                cids: list[bytes] = t.column("chunk_id").to_pylist()  # type: ignore[assignment]
                sizes: list[int] = t.column("size").to_pylist()  # type: ignore[assignment]
                for oid, cid, size in zip(oids, cids, sizes, strict=True):
                    self.chunks.setdefault(oid, []).append((cid, size))

    def _fill(self) -> bool:
        piece = next(self._pieces, None)
        if piece is None:
            return False
        t = decode_piece(self._repo.get_blob(BlobType.FILES, piece.id), list(self._COLS))
        cols = {n: (t.column(n).cast(pa.int64()) if n in ("mtime", "ctime") else t.column(n)).to_pylist()
                for n in self._COLS}
        for i in range(t.num_rows):
            row = {n: cols[n][i] for n in self._COLS}
            self._rows.append((row_key(str(row["path"]), row["raw_path"]), row))
        return True

    def find(self, key: bytes) -> dict[str, Any] | None:
        while True:
            while self._rows and self._rows[0][0] < key:
                self._rows.popleft()
            if self._rows:
                k, row = self._rows[0]
                return row if k == key else None
            if not self._fill():
                return None


def find_parent(headers: Iterable[Header], importer: Importer) -> Header | None:
    """The latest snapshot of the same source: same importer type, origin and root."""
    same = [h for h in headers
            if (h.importer_type, h.importer_origin, h.importer_root) == (importer.type, importer.origin, importer.root)]
    return max(same, key=lambda h: h.timestamp_ns, default=None)


def _ordered(importer: Importer) -> Iterator[Record]:
    records = importer.scan()
    if importer.ordered:
        return records
    return iter(sorted(records, key=lambda r: path_key(r.pathname)))


class Builder:
    def __init__(self, repo: Repository, txn: Transaction, parent: Header | None, progress: ProgressFn | None,
                 workers: int) -> None:
        self.repo = repo
        self.txn = txn
        self.parent = ParentRows(repo, parent)
        self.progress = progress
        self.workers = workers
        self.reader = ContentReader(txn, repo.config.chunking)
        put = self._put
        self.files = PieceWriter("files", put)
        self.xattrs = PieceWriter("xattrs", put)
        self.errors = PieceWriter("errors", put)
        self.chunk_lists: dict[bytes, list[tuple[bytes, int]]] = {}
        self.header = Header(timestamp_ns=time.time_ns())
        self._done_files = 0
        self._done_bytes = 0

    def _put(self, blob_type: BlobType, data: bytes) -> bytes:
        return self.txn.put(blob_type, data)[0]

    def run(self, records: Iterator[Record]) -> None:
        pending: deque[tuple[Record, bytes, dict[str, Any] | None, Future[Content] | None]] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="kloset-backup") as pool:
            for rec in records:
                key = path_key(rec.pathname)
                reuse: dict[str, Any] | None = None
                fut: Future[Content] | None = None
                info = rec.info
                if rec.error is None and info is not None and info.type is EntryType.FILE:
                    prow = self.parent.find(key)
                    if prow is not None and _unchanged(prow, rec):
                        reuse = prow
                    elif info.size > 0 and rec.open is not None:
                        fut = pool.submit(self.reader.read, rec)
                pending.append((rec, key, reuse, fut))
                while pending and (len(pending) > _WINDOW or pending[0][3] is None or pending[0][3].done()):
                    self._emit(*pending.popleft())
            while pending:
                self._emit(*pending.popleft())

    def _emit(self, rec: Record, key: bytes, reuse: dict[str, Any] | None, fut: Future[Content] | None) -> None:
        s = self.header.summary
        path, raw = split_path(rec.pathname)
        if rec.error is not None or rec.info is None:
            s.errors += 1
            self.errors.append(key, (path, raw, rec.error or "no metadata"))
            return
        info = rec.info
        kind = info.type
        oid: bytes | None = None
        ctype, ent, nchunks, size = "", None, 0, 0
        if kind is EntryType.FILE:
            if reuse is not None:
                oid, ctype, ent, nchunks, size = (reuse["object_id"], reuse["content_type"], reuse["entropy"],
                                                  reuse["chunks"], reuse["size"])
                if nchunks > 1:
                    self.chunk_lists[oid] = self.parent.chunks[oid]
                s.reused_files += 1
            elif fut is not None:
                c = fut.result()
                if c.error is not None:
                    s.errors += 1
                    self.errors.append(key, (path, raw, c.error))
                    return
                if c.size != info.size:
                    s.errors += 1
                    self.errors.append(key, (path, raw, f"changed while being read ({info.size} -> {c.size} bytes)"))
                oid, ctype, ent, nchunks, size = c.object_id, c.content_type, c.entropy, len(c.chunks), c.size
                if nchunks > 1 and oid is not None:
                    self.chunk_lists[oid] = c.chunks
            s.files += 1
            s.size += size
        elif kind is EntryType.DIR:
            s.dirs += 1
        elif kind is EntryType.SYMLINK:
            s.symlinks += 1
        else:
            s.others += 1
        self.files.append(key, (
            path, raw, kind.value, info.mode, info.uid, info.gid, info.username, info.groupname, size,
            info.mtime_ns, info.ctime_ns, info.dev, info.ino, info.nlink, info.rdev, rec.target, oid, ctype,
            ent, nchunks,
        ))
        for name in sorted(rec.xattrs):
            self.xattrs.append(key, (path, raw, name, rec.xattrs[name]))
        self._done_files += 1
        self._done_bytes += size
        if self.progress is not None:
            self.progress(self._done_files, self._done_bytes)

    def finish(self) -> dict[str, list[Piece]]:
        chunks = PieceWriter("chunks", self._put)
        for oid in sorted(self.chunk_lists):
            offset = 0
            for seq, (cid, size) in enumerate(self.chunk_lists[oid]):
                chunks.append(oid, (oid, seq, cid, offset, size))
                offset += size
        for w in (self.files, self.xattrs, self.errors, chunks):
            w.flush()
        return {"files": self.files.pieces, "chunks": chunks.pieces, "xattrs": self.xattrs.pieces,
                "errors": self.errors.pieces}


def _unchanged(prow: dict[str, Any], rec: Record) -> bool:
    info = rec.info
    assert info is not None
    return (prow["type"] == "file" and prow["size"] == info.size and prow["mtime"] == info.mtime_ns
            and prow["ctime"] == info.ctime_ns and prow["inode"] == info.ino)


def take_snapshot(repo: Repository, importer: Importer, options: BackupOptions, headers: Iterable[Header],
                  progress: ProgressFn | None = None) -> Header:
    """Back up ``importer`` into ``repo`` and return the new snapshot's header."""
    start = time.monotonic_ns()
    with repo.lock():
        repo.refresh()
        parent = find_parent(headers, importer) if options.parent else None
        txn = repo.transaction()
        try:
            workers = options.workers or min(3, (os.cpu_count() or 1) + 1)
            b = Builder(repo, txn, parent, progress, workers)
            b.run(_ordered(importer))
            tables = b.finish()
            h = b.header
            h.tables = tables
            h.hostname = importer.options.hostname or socket.gethostname()
            h.username = _username()
            h.os, h.arch = sys.platform, platform.machine()
            h.command_line = options.command_line
            h.name, h.category, h.environment = options.name, options.category, options.environment
            h.perimeter, h.job, h.tags = options.perimeter, options.job, list(options.tags)
            h.importer_type, h.importer_origin, h.importer_root = importer.type, importer.origin, importer.root
            h.parent = parent.id if parent else b""
            h.duration_ns = time.monotonic_ns() - start
            h.summary.stored = txn.stored_bytes
            h.summary.new_chunks = txn.new_blobs
            h.id = txn.put(BlobType.SNAPSHOT, h.encode())[0]
            txn.commit()
        except BaseException:
            txn.abort()
            raise
    return h


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
