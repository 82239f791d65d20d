"""Taking a snapshot: walk a source, store new content, write the columnar index and the header.

The importer's records are walked in snapshot order on the calling thread, while a pool of workers
reads, chunks, hashes, compresses and seals file content (the libraries doing that release the GIL, so
both cores stay busy). Rows are emitted in order through a bounded window of pending files. A file whose
metadata matches the parent snapshot's row is not read: its row is taken from the parent.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import platform
import queue
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import KlosetError
from ..importer import Importer
from ..objects import BlobType, EntryType, FileInfo, Record
from ..repository.repo import Repository
from ..repository.transaction import Transaction
from .analysis import analyze
from .content import Content, ContentReader
from .header import Header, Piece
from .index import BLOB_TYPES, PieceWriter, decode_piece, pylist_columns, schemas
from .order import path_key
from .rowcache import RowCache
from .rows import row_key, split_path
from .tap import Tap
from .workers import Item, Loaded, ProcessReaders, picklable, read_batch

ProgressFn = Callable[[int, int], None]
_WINDOW = 4096


@dataclass
class BackupOptions:
    tags: list[str] = field(default_factory=list)
    name: str = ""
    category: str = ""
    environment: str = ""
    perimeter: str = ""
    job: str = ""
    command_line: str = ""
    workers: int = 0  # reader threads; 0: chosen from the CPU count
    processes: int = -1  # reader processes for large backups; -1: one per CPU, 0 or 1: threads only
    parent: bool = True  # False forces every file to be read
    analyzers: list[str] = field(default_factory=list)  # fed the content as it is read, then linked
    analyzer_options: dict[str, dict[str, str]] = field(default_factory=dict)
    # Bytes uploaded between two checkpoints of the transaction (0: none), so that a run that is killed
    # leaves its content in the index for the next one. Packs of reader processes are not covered.
    checkpoint: int = 256 << 20


#: Reads a batch of files into the store through a transaction, in place of the chunking reader: how a
#: copy from another store hands over content it has in chunks already (see kloset.lifecycle.sync).
BatchRead = Callable[[Transaction, list[Item]], list[Content]]
#: The header fields a copy of a snapshot takes from the original, rather than from this run.
_LABELS = ("timestamp_ns", "duration_ns", "hostname", "username", "os", "arch", "command_line", "name", "category",
           "environment", "perimeter", "job", "tags")


class ParentRows:
    """The parent snapshot's rows: its file rows walked once in step with the new records (a merge join),
    and its side tables (chunks, xattrs) held whole.

    Rows are tuples in table schema order, exactly as the new snapshot would write them, so a piece of
    the new index whose rows equal a parent piece's rows is that piece and need not be encoded again.
    Each piece's rows come from the local row cache when it has them, else from the store."""

    _KEEP = 4  # recently read file pieces kept for reuse: a new piece closes at most a piece behind

    def __init__(self, repo: Repository, header: Header | None, cache: RowCache) -> None:
        self._pieces = iter(header.tables.get("files", []) if header else [])
        self._repo = repo
        self._cache = cache
        self.cached: set[bytes] = set()  # pieces whose rows came from the cache
        self._keys: list[bytes] = []
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0
        self._recent: dict[bytes, tuple[bytes, list[tuple[Any, ...]]]] = {}
        # table -> first key of a piece -> (piece ID, rows)
        self._side: dict[str, dict[bytes, tuple[bytes, list[tuple[Any, ...]]]]] = {"chunks": {}, "xattrs": {}}
        self.chunks: dict[bytes, list[tuple[bytes, int]]] = {}
        self.xattrs: dict[bytes, list[tuple[str, bytes]]] = {}
        if header is None:
            return
        for p in header.tables.get("xattrs", []):
            rows = self._piece_rows("xattrs", p)
            self._side["xattrs"][p.first] = (p.id, rows)
            for path, raw, name, value in rows:
                self.xattrs.setdefault(row_key(path, raw), []).append((name, value))
        for p in header.tables.get("chunks", []):
            rows = self._piece_rows("chunks", p)
            self._side["chunks"][p.first] = (p.id, rows)
            for oid, _seq, cid, _offset, size in rows:
                self.chunks.setdefault(oid, []).append((cid, size))

    def _piece_rows(self, table: str, piece: Piece) -> list[tuple[Any, ...]]:
        rows = self._cache.get(piece.id)
        if rows is not None:
            self.cached.add(piece.id)
            return rows
        cols = pylist_columns(decode_piece(self._repo.get_blob(BLOB_TYPES[table], piece.id)))
        return list(zip(*cols.values(), strict=True))

    def _fill(self) -> bool:
        piece = next(self._pieces, None)
        if piece is None:
            return False
        self._rows = self._piece_rows("files", piece)
        self._keys = [row_key(r[0], r[1]) for r in self._rows]
        self._at = 0
        self._recent[piece.first] = (piece.id, self._rows)
        if len(self._recent) > self._KEEP:
            del self._recent[next(iter(self._recent))]
        return True

    def same_side_piece(self, table: str) -> Callable[[bytes, list[tuple[Any, ...]]], bytes | None]:
        """The ``reuse`` hook of a side table's PieceWriter (see same_piece)."""
        pieces = self._side[table]

        def same(first: bytes, rows: list[tuple[Any, ...]]) -> bytes | None:
            hit = pieces.get(first)
            return hit[0] if hit is not None and hit[1] == rows else None

        return same

    def find(self, key: bytes) -> tuple[Any, ...] | None:
        keys = self._keys
        while True:
            while self._at < len(keys) and keys[self._at] < key:
                self._at += 1
            if self._at < len(keys):
                return self._rows[self._at] if keys[self._at] == key else None
            if not self._fill():
                return None
            keys = self._keys

    def same_piece(self, first: bytes, rows: list[tuple[Any, ...]]) -> bytes | None:
        """The ID of the parent piece holding exactly ``rows``, if there is one."""
        hit = self._recent.get(first)
        return hit[0] if hit is not None and hit[1] == rows else None


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


# Positions in a files row (FILES_SCHEMA order) that the builder reads back from the parent.
(_TYPE, _MODE, _UID, _GID, _USER, _GROUP, _SIZE, _MTIME, _CTIME, _DEV, _INODE, _NLINK, _RDEV, _TARGET, _OID, _CTYPE,
 _ENTROPY, _CHUNKS) = range(2, 20)
_BATCH = 256
# Files are read in batches: few enough per batch to keep workers evenly fed, enough to make the
# hand-over cost small next to the reading.
_BATCH_FILES = 64
_BATCH_BYTES = 8 << 20
# Worker processes start once this much content has been sent to be read: a small backup is done
# before they would be up.
_PROCESSES_AFTER = 16 << 20
# Whether the batch that starts the workers waits for them to be up (tests that must see them used).
_AWAIT_WORKERS = False
# A source whose openers cannot travel to the worker processes (a plugin's read over its connection)
# has its files read here, a batch at a time by a few threads, and sent to the workers with the batch.
# A file above this size is read and packed here instead: memory never holds a whole big file.
_LOAD_MAX = 64 << 20
_LOADERS = 2


class _Batch:
    __slots__ = ("future", "items", "size")

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.size = 0
        self.future: Future[list[Content]] | None = None



# How an entry compares with its parent row: not at all; same inode and ctime (so same attributes); or
# same in every metadata field (so the parent row is the entry's row).
_DIFFERENT, _SAME_INODE, _IDENTICAL = 0, 1, 2
# (record, key, parent row to reuse, slot of its content in a read batch, one of the above)
_Pending = tuple[Record, bytes, "tuple[Any, ...] | None", "tuple[_Batch, int] | None", int]


def _identical(row: tuple[Any, ...], info: FileInfo, target: str) -> bool:
    """Whether an entry's metadata equals a parent row's (the path is known equal; mode implies type)."""
    return (row[_CTIME] == info.ctime_ns and row[_MTIME] == info.mtime_ns and row[_SIZE] == info.size
            and row[_INODE] == info.ino and row[_MODE] == info.mode and row[_UID] == info.uid
            and row[_GID] == info.gid and row[_DEV] == info.dev and row[_NLINK] == info.nlink
            and row[_RDEV] == info.rdev and row[_USER] == info.username and row[_GROUP] == info.groupname
            and row[_TARGET] == target)


class Builder:
    def __init__(self, repo: Repository, txn: Transaction, parent: Header | None, progress: ProgressFn | None,
                 workers: int, processes: int = 0, cache: RowCache | None = None, tap: Tap | None = None,
                 read: BatchRead | None = None, fresh: Callable[[bytes], bool] | None = None) -> None:
        self.repo = repo
        self._read = read
        self._fresh = fresh
        self.txn = txn
        self.cache = cache or RowCache(None, repo.keyring, ("", "", ""))
        self.parent = ParentRows(repo, parent, self.cache)
        self.progress = progress
        self.workers = workers
        self.tap = tap
        self.results: dict[bytes, bytes] = {}  # analyzer results met while reading: ID -> plaintext
        self.reader = ContentReader(txn, repo.config.chunking, tap)
        put = self._put
        self.files = PieceWriter("files", put, self.parent.same_piece, self._stored)
        self.xattrs = PieceWriter("xattrs", put, self.parent.same_side_piece("xattrs"), self._stored)
        self.errors = PieceWriter("errors", put)
        self.chunk_lists: dict[bytes, list[tuple[bytes, int]]] = {}
        self.header = Header(timestamp_ns=time.time_ns())
        self._done_files = 0
        self._done_bytes = 0
        self.processes = processes
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="kloset-backup")
        self._procs: ProcessReaders | None = None
        self._portable: bool | None = None
        self._loaders: ThreadPoolExecutor | None = None
        self._switched = False  # batches go to the worker processes
        self._in_threads: list[Future[list[Content]]] = []  # batches given to the threads, not known done
        self._sent = 0

    def _put(self, blob_type: BlobType, data: bytes) -> bytes:
        return self.txn.put(blob_type, data)[0]

    def _stored(self, piece_id: bytes, rows: list[tuple[Any, ...]]) -> None:
        self.cache.put(piece_id, rows, known=piece_id in self.parent.cached)

    def run(self, records: Iterator[Record], prefetch: bool = True) -> None:
        pending: deque[_Pending] = deque()
        find = self.parent.find
        fresh = self._fresh
        batch = _Batch()
        last = b""
        try:
            for chunk in _prefetched(records) if prefetch else _batched(records):
                for rec in chunk:
                    key = path_key(rec.pathname)
                    if key < last:
                        # A source that says its records come in order and does not would make a snapshot
                        # whose lookups and merges go wrong; nothing is committed instead.
                        raise KlosetError(f"the source gave {rec.pathname!r} after {_path_of(last)!r}: its "
                                          "records are not in snapshot order")
                    last = key
                    reuse: tuple[Any, ...] | None = None
                    slot: tuple[_Batch, int] | None = None
                    info = rec.info
                    same = _DIFFERENT
                    if rec.error is None and info is not None:
                        prow = find(key)
                        if prow is not None and fresh is not None and fresh(key):
                            prow = None  # its content is known to differ from the parent's: read it
                        if prow is not None and _identical(prow, info, rec.target):
                            # The parent's row as it is: its pieces can then be taken over as they are.
                            if pending:
                                pending.append((rec, key, prow, None, _IDENTICAL))
                                batch = self._drain(pending, batch)
                            else:
                                self._emit_identical(rec, key, prow)
                            continue
                        kind = info.type
                        if (prow is not None and prow[_CTIME] == info.ctime_ns and prow[_INODE] == info.ino
                                and prow[_TYPE] == kind.value):
                            same = _SAME_INODE
                        if kind is EntryType.FILE:
                            if same and prow[_SIZE] == info.size and prow[_MTIME] == info.mtime_ns:  # type: ignore[index]
                                reuse = prow
                            elif info.size > 0 and rec.open is not None:
                                slot = (batch, len(batch.items))
                                batch.items.append((rec.pathname, info.size, rec.open))
                                batch.size += info.size
                                if len(batch.items) >= _BATCH_FILES or batch.size >= _BATCH_BYTES:
                                    self._dispatch(batch)
                                    batch = _Batch()
                    pending.append((rec, key, reuse, slot, same))
                    batch = self._drain(pending, batch)
            if batch.items:
                self._dispatch(batch)
            while pending:
                self._emit(*pending.popleft())
            if self._procs is not None:
                if self._switched:
                    self._procs.finish(self.txn)
                else:  # the backup was done before they were up: they hold nothing
                    self._procs.close()
                self._procs = None
        finally:
            self._threads.shutdown(wait=True, cancel_futures=True)
            if self._loaders is not None:
                self._loaders.shutdown(wait=True, cancel_futures=True)
            if self._procs is not None:
                self._procs.close()

    def _drain(self, pending: deque[_Pending],
               batch: _Batch) -> _Batch:
        """Emit the entries at the head of ``pending`` that are ready; returns the batch being filled."""
        while pending:
            head = pending[0][3]
            if head is not None and head[0].future is None:
                if len(pending) <= _WINDOW:
                    break
                self._dispatch(batch)  # the head waits on the batch being filled
                batch = _Batch()
            elif head is not None and len(pending) <= _WINDOW and not head[0].future.done():  # type: ignore[union-attr]
                break
            self._emit(*pending.popleft())
        return batch

    def _dispatch(self, batch: _Batch) -> None:
        """Send a batch of files to be read: to worker processes once the backup is big enough to pay
        for starting them, the source's openers can travel there and the workers are up; else to the
        thread pool."""
        if not self._sent:
            # Content changed, so table pieces will be encoded: load Parquet while this thread mostly
            # waits on readers rather than when the first piece closes.
            threading.Thread(target=schemas, name="kloset-preload", daemon=True).start()
        # Analysis is Python work, held to one core in this process: with it, workers pay at once.
        if self._procs is None and self.processes > 1 and (self._sent >= _PROCESSES_AFTER or self.tap):
            if self._portable is None:
                self._portable = picklable(batch.items[0][2])
            self._procs = ProcessReaders(self.repo, self.processes, analyzers=self.tap.names if self.tap else None,
                                         analyzer_options=self.tap.options if self.tap else None)
            if _AWAIT_WORKERS:
                self._procs.wait_ready()
        if self._procs is not None and not self._switched:
            # While the workers start, the threads stay busy but no busier: a batch queued to them now
            # is one that the workers, on both cores, will not read.
            self._in_threads = [f for f in self._in_threads if not f.done()]
            if len(self._in_threads) >= self.workers:
                self._procs.wait_ready()
        if self._procs is not None and not self._switched and self._procs.ready():
            # From here on workers pack content: let go of this process's half-filled data pack and of
            # the reading threads' buffers.
            self._threads.shutdown(wait=True)
            self.reader = ContentReader(self.txn, self.repo.config.chunking, self.tap)
            self.txn.ship_data()
            self._switched = True
        if self._switched and self._portable:
            batch.future = self._procs.submit(batch.items)  # type: ignore[union-attr]
        elif self._switched:
            if self._loaders is None:
                self._loaders = ThreadPoolExecutor(_LOADERS, thread_name_prefix="kloset-load")
            batch.future = Future()
            self._loaders.submit(self._load, batch.future, batch.items)
        elif self._read is not None:
            batch.future = self._threads.submit(self._read, self.txn, batch.items)
        else:
            batch.future = self._threads.submit(read_batch, self.reader, batch.items)
            # Only batches still being read are tracked: a done one's results must not be held here.
            self._in_threads = [f for f in self._in_threads if not f.done()]
            self._in_threads.append(batch.future)
        self._sent += batch.size

    def _load(self, result: Future[list[Content]], items: list[Item]) -> None:
        """Read a batch's files here and have the workers chunk and pack them (see _LOAD_MAX); ``result``
        gets the contents once the workers are done, while this thread goes on to the next batch."""
        try:
            small = [i for i, item in enumerate(items) if item[1] <= _LOAD_MAX]
            loaded = Loaded.load([items[i][2] for i in small])
            future = self._procs.submit([(items[i][0], items[i][1], c)  # type: ignore[union-attr]
                                         for i, c in zip(small, loaded, strict=True)])
            big = [i for i, item in enumerate(items) if item[1] > _LOAD_MAX]
            out: list[Content | None] = [None] * len(items)
            for i, c in zip(big, read_batch(self.reader, [items[i] for i in big]), strict=True):
                out[i] = c
        except BaseException as e:
            result.set_exception(e)
            return

        def done(f: Future[list[Content]]) -> None:
            try:
                for i, c in zip(small, f.result(), strict=True):
                    out[i] = c
            except BaseException as e:
                result.set_exception(e)
            else:
                result.set_result(out)  # type: ignore[arg-type]

        future.add_done_callback(done)

    def _emit_identical(self, rec: Record, key: bytes, row: tuple[Any, ...]) -> None:
        """Emit an entry whose metadata equals its parent row's: that row, content and attributes too."""
        reused = row[_TYPE] == "file"
        if reused:
            self._reuse_chunks(row[_OID], row[_CHUNKS])
        self._add(rec, key, row, _SAME_INODE, reused)

    def _emit(self, rec: Record, key: bytes, reuse: tuple[Any, ...] | None, slot: tuple[_Batch, int] | None,
              same: int) -> None:
        if same == _IDENTICAL:
            self._emit_identical(rec, key, reuse)  # type: ignore[arg-type]
            return
        path, raw = split_path(rec.pathname)
        if rec.error is not None or rec.info is None:
            self._error(key, path, raw, rec.error or "no metadata")
            return
        info = rec.info
        kind = info.type
        oid: bytes | None = None
        ctype, ent, nchunks, size = "", None, 0, 0
        if kind is EntryType.FILE:
            if reuse is not None:
                oid, ctype, ent = reuse[_OID], reuse[_CTYPE], reuse[_ENTROPY]
                nchunks, size = reuse[_CHUNKS], reuse[_SIZE]
                self._reuse_chunks(oid, nchunks)
            elif slot is not None:
                c = slot[0].future.result()[slot[1]]  # type: ignore[union-attr]
                if c.error is not None:
                    self._error(key, path, raw, c.error)
                    return
                if c.size != info.size:
                    self._error(key, path, raw, f"changed while being read ({info.size} -> {c.size} bytes)")
                oid, ctype, nchunks, size = c.object_id, c.content_type, len(c.chunks), c.size
                self.results.update(c.results)
                # Stored as float32: rounded now, so that a row equals what reading it back gives.
                ent = struct.unpack("f", struct.pack("f", c.entropy))[0]
                if nchunks > 1 and oid is not None:
                    self.chunk_lists[oid] = c.chunks
        row = (path, raw, kind.value, info.mode, info.uid, info.gid, info.username, info.groupname, size,
               info.mtime_ns, info.ctime_ns, info.dev, info.ino, info.nlink, info.rdev, rec.target, oid, ctype,
               ent, nchunks)
        self._add(rec, key, row, same, reuse is not None)

    def _reuse_chunks(self, oid: bytes, nchunks: int) -> None:
        if nchunks > 1:
            self.chunk_lists[oid] = self.parent.chunks[oid]

    def _error(self, key: bytes, path: str, raw: bytes | None, error: str) -> None:
        self.header.summary.errors += 1
        self.errors.append(key, (path, raw, error))

    def _add(self, rec: Record, key: bytes, row: tuple[Any, ...], same: int, reused: bool) -> None:
        """Write an entry's row and attributes, and count it in the summary."""
        s = self.header.summary
        kind, size = row[_TYPE], row[_SIZE]
        if kind == "file":
            s.files += 1
            s.size += size
            s.reused_files += reused
        elif kind == "dir":
            s.dirs += 1
        elif kind == "symlink":
            s.symlinks += 1
        else:
            s.others += 1
        self.files.append(key, row)
        if same and rec.load_xattrs is not None:
            xattrs = self.parent.xattrs.get(key, [])  # unchanged ctime: unchanged attributes
        else:
            xa = rec.get_xattrs()
            xattrs = [(name, xa[name]) for name in sorted(xa)]
        for name, value in xattrs:
            self.xattrs.append(key, (row[0], row[1], name, value))
        self._done_files += 1
        self._done_bytes += size
        if self.progress is not None:
            self.progress(self._done_files, self._done_bytes)

    def finish(self) -> dict[str, list[Piece]]:
        chunks = PieceWriter("chunks", self._put, self.parent.same_side_piece("chunks"), self._stored)
        for oid in sorted(self.chunk_lists):
            offset = 0
            for seq, (cid, size) in enumerate(self.chunk_lists[oid]):
                chunks.append(oid, (oid, seq, cid, offset, size))
                offset += size
        for w in (self.files, self.xattrs, self.errors, chunks):
            w.flush()
        return {"files": self.files.pieces, "chunks": chunks.pieces, "xattrs": self.xattrs.pieces,
                "errors": self.errors.pieces}


def _path_of(key: bytes) -> str:
    return key.replace(b"\x00", b"/").decode("utf-8", "surrogateescape")


def _batched(records: Iterator[Record]) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    yield batch


def _prefetched(records: Iterator[Record]) -> Iterator[list[Record]]:
    """Batches of records scanned by a thread of their own.

    The scan spends much of its time in system calls (listing, lstat, xattrs), which release the GIL:
    running it beside the loop that compares and emits rows overlaps the two."""
    q: queue.Queue[list[Record] | BaseException | None] = queue.Queue(maxsize=16)
    stop = threading.Event()

    def scan() -> None:
        try:
            for batch in _batched(records):
                q.put(batch)
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(e)

    t = threading.Thread(target=scan, name="kloset-scan", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


def take_snapshot(repo: Repository, importer: Importer, options: BackupOptions, headers: Iterable[Header],
                  progress: ProgressFn | None = None, analysis_progress: ProgressFn | None = None, *,
                  like: Header | None = None, read: BatchRead | None = None,
                  fresh: Callable[[bytes], bool] | None = None) -> Header:
    """Back up ``importer`` into ``repo`` and return the new snapshot's header (then, with
    ``options.analyzers``, link their results to it: ``analysis_progress`` follows that part).

    A copy of a snapshot of another store gives the original's header as ``like``: the copy takes its
    time and labels. ``read`` stores a batch of files' content instead of the chunking reader; the
    content is then read by threads of this process only. ``fresh(path key)`` is asked of each entry that
    has a parent row: True when its content is known to differ from the parent's whatever their metadata
    says, so that it is read rather than taken over."""
    start = time.monotonic_ns()
    with repo.lock():
        repo.refresh()
        parent = find_parent(headers, importer) if options.parent else None
        txn = repo.transaction()
        txn.checkpoint_every = options.checkpoint
        try:
            workers = options.workers or min(3, (os.cpu_count() or 1) + 1)
            processes = options.processes if options.processes >= 0 else (os.cpu_count() or 1)
            if read is not None:
                processes = 0
            cache = RowCache(repo.cache_dir, repo.keyring, (importer.type, importer.origin, importer.root))
            tap = Tap(options.analyzers, options.analyzer_options) if options.analyzers else None
            b = Builder(repo, txn, parent, progress, workers, processes, cache, tap, read, fresh)
            b.run(_ordered(importer), prefetch=importer.scan_blocks)
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
            for name in _LABELS if like is not None else ():
                setattr(h, name, getattr(like, name))
            h.summary.stored = txn.stored_bytes
            h.summary.new_chunks = txn.new_blobs
            h.id = txn.put(BlobType.SNAPSHOT, h.encode())[0]
            txn.commit()
        except BaseException:
            txn.abort()
            raise
    cache.retain()
    if options.analyzers:
        # A transaction of its own, after the snapshot's: objects the backup did not read (unchanged
        # files, content stored before) may need reading from the store, which sees only what is committed.
        analyze(repo, h, options.analyzers, options=options.analyzer_options, processes=processes,
                progress=analysis_progress, fresh=b.results)
    return h


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
