"""Dedup-aware analysis of a snapshot: each content object read at most once per analyzer version.

For every regular file of a snapshot whose content type an analyzer wants, the result for (analyzer
key, object ID) is taken, in this order, from: the tables of an earlier analysis of this snapshot or of
its parent (no read at all), results met while the backup read the content (:class:`.tap.Tap`), the
result blobs the store holds (one small read each), and only then from the content, read and analyzed
by worker processes on every core. New results are stored, and an ANALYSIS linking all of them to the
snapshot is committed in one transaction (see docs/format.md, "Analyses").
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..analyzer import Analysis, Analyzer
from ..errors import IntegrityError, NotFound
from ..objects import BlobType
from ..registry import analyzer_class, schemes
from .analysts import Analysts
from .header import Header
from .index import PieceWriter
from .reader import SnapshotReader
from .results import (
    TABLES,
    AnalysisHeader,
    Rows,
    analyses,
    decode_result,
    encode_result,
    latest,
    result_id,
    result_rows,
    table_rows,
)

if TYPE_CHECKING:
    from ..repository.repo import Repository
    from ..repository.transaction import Transaction
    from .snapshot import ProgressFn

def installed() -> list[str]:
    """The names of every installed analyzer."""
    return schemes("analyzer")


@dataclass
class AnalysisReport:
    """What one analysis run did."""

    analysis_id: str = ""
    analyzers: list[str] = field(default_factory=list)  # keys, "name@version"
    objects: int = 0  # distinct content objects some analyzer wanted
    analyzed: int = 0  # of which read and analyzed by this run
    reused: int = 0  # of which every wanted result was known already
    bytes_read: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, error): no result stored


class _Run:
    def __init__(self, repo: Repository, header: Header, names: list[str], options: dict[str, dict[str, str]],
                 fresh: dict[bytes, bytes], progress: ProgressFn | None) -> None:
        self.repo = repo
        self.header = header
        self.reader = SnapshotReader(repo, header)
        self.classes = [analyzer_class(n) for n in names]
        self.options = options
        self.fresh = fresh
        self.progress = progress
        self.keys = {c.name: c.key(options.get(c.name)) for c in self.classes}
        self.report = AnalysisReport(analyzers=list(self.keys.values()))
        self.rows: dict[bytes, Rows] = {}  # object ID -> its rows, every analyzer's
        self._done = 0
        self._lock = threading.Lock()  # reading threads add rows and count

    def wanted(self) -> dict[bytes, tuple[dict[str, Any], list[type[Analyzer]]]]:
        """Object ID -> (the first files row holding it, the analyzers that want it)."""
        out: dict[bytes, tuple[dict[str, Any], list[type[Analyzer]]]] = {}
        for row in self.reader.rows("files", ["path", "type", "object_id", "content_type", "size", "chunks"]):
            oid = row["object_id"]
            if row["type"] != "file" or oid is None or oid in out:
                continue
            classes = [c for c in self.classes if c.wants(row["content_type"] or "", row["path"])]
            if classes:
                out[oid] = (row, classes)
        return out

    def add(self, oid: bytes, cls: type[Analyzer], rows: Rows) -> None:
        with self._lock:
            mine = self.rows.setdefault(oid, {})
            for table, r in rows.items():
                mine.setdefault(table, []).extend(r)

    def reuse_tables(self, wanted: dict[bytes, Any]) -> dict[bytes, set[str]]:
        """Take rows from earlier analyses of this snapshot and its parent: object ID -> keys covered."""
        covered: dict[bytes, set[str]] = {}
        candidates = [self.header.id, *([self.header.parent] if self.header.parent else [])]
        found = [h for sid in candidates for h in analyses(self.repo, sid)]
        objects = set(wanted)
        for cls in self.classes:
            h = latest(found).get(self.keys[cls.name])
            if h is None:
                continue
            try:
                tables = {t: table_rows(self.repo, h, t, cls.name, objects) for t in TABLES}
            except IntegrityError:
                continue  # a damaged analysis is not taken over: its objects' results are read instead
            for table, rows in tables.items():
                for row in rows:
                    self.add(row[0], cls, {table: [row]})
                    if table == "findings":
                        covered.setdefault(row[0], set()).add(self.keys[cls.name])
        return covered

    def tick(self, nbytes: int = 0, analyzed: bool = False, error: tuple[str, str] | None = None) -> None:
        with self._lock:
            self._done += 1
            self.report.bytes_read += nbytes
            self.report.analyzed += analyzed
            if error is not None:
                self.report.errors.append(error)
            if self.progress is not None:
                self.progress(self._done, self.report.bytes_read)


def analyze(repo: Repository, header: Header, names: list[str], *,
            options: dict[str, dict[str, str]] | None = None, processes: int = -1,
            progress: ProgressFn | None = None, fresh: dict[bytes, bytes] | None = None) -> AnalysisReport:
    """Analyze a snapshot with the named analyzers and link the results to it (see the module's text)."""
    r = _Run(repo, header, names, dict(options or {}), dict(fresh or {}), progress)
    mac_key = repo.keyring.mac_key
    with repo.lock():
        repo.refresh()
        wanted = r.wanted()
        r.report.objects = len(wanted)
        covered = r.reuse_tables(wanted)
        stored: list[tuple[bytes, bytes, type[Analyzer]]] = []  # results to read from the store
        to_read: list[tuple[bytes, list[type[Analyzer]]]] = []  # objects to read and analyze
        for oid, (_, classes) in wanted.items():
            missing = []
            for cls in classes:
                if r.keys[cls.name] in covered.get(oid, ()):
                    continue
                rid = result_id(mac_key, r.keys[cls.name], oid)
                plain = r.fresh.get(rid)
                if plain is not None:
                    r.add(oid, cls, result_rows(cls, oid, decode_result(plain)[2]))
                elif repo.has_blob(rid):
                    stored.append((rid, oid, cls))
                else:
                    missing.append(cls)
            if missing:
                to_read.append((oid, missing))
            else:
                r.report.reused += 1
                r.tick()
        txn = repo.transaction()
        try:
            with ThreadPoolExecutor(8) as pool:
                for (_, oid, cls), analysis in zip(stored, pool.map(lambda s: _stored_result(repo, s[0]), stored),
                                                   strict=True):
                    if analysis is None:  # damaged: analyzed again (its blob stays until repaired)
                        to_read.append((oid, [cls]))
                    else:
                        r.add(oid, cls, result_rows(cls, oid, analysis))
            _analyze_content(r, txn, wanted, to_read, processes)
            h = AnalysisHeader(header.id, r.report.analyzers)
            h.tables = _write_tables(txn, r.rows)
            h.id = txn.put(BlobType.ANALYSIS, h.encode())[0]
            txn.commit()
        except BaseException:
            txn.abort()
            raise
    r.report.analysis_id = h.id.hex()
    return r.report


def _stored_result(repo: Repository, rid: bytes) -> Analysis | None:
    try:
        return decode_result(repo.get_blob(BlobType.RESULT, rid))[2]
    except IntegrityError:
        return None


def _analyze_content(r: _Run, txn: Transaction, wanted: dict[bytes, tuple[dict[str, Any], list[type[Analyzer]]]],
                     to_read: list[tuple[bytes, list[type[Analyzer]]]], processes: int) -> None:
    if not to_read:
        return
    n = processes if processes >= 0 else (os.cpu_count() or 1)
    n = min(n, len(to_read)) if n > 1 else 0  # one process would only add its start to the calling thread's work

    def one(job: tuple[bytes, list[type[Analyzer]]], analysts: Analysts) -> None:
        oid, classes = job
        row = wanted[oid][0]
        limit = None if any(c.max_bytes is None for c in classes) else max(c.max_bytes or 0 for c in classes)
        data = bytearray()
        try:
            for piece in r.reader.content(row):
                data += piece
                if limit is not None and len(data) >= limit:
                    break
        except (IntegrityError, NotFound) as e:
            r.tick(error=(row["path"], f"content unreadable: {e}"))
            return
        outcomes = analysts.analyze([c.name for c in classes], row["content_type"] or "", row["path"], bytes(data))
        failed = []
        for cls in classes:
            outcome = outcomes[cls.name]
            if isinstance(outcome, str):
                failed.append(f"{cls.name}: {outcome}")
                continue
            plain = encode_result(r.keys[cls.name], oid, outcome)
            rid = result_id(r.repo.keyring.mac_key, r.keys[cls.name], oid)
            if txn.reserve(rid):
                txn.add(BlobType.RESULT, rid, plain)
            r.add(oid, cls, result_rows(cls, oid, outcome))
        r.tick(len(data), analyzed=not failed, error=(row["path"], "; ".join(failed)) if failed else None)

    with Analysts(sorted({c.name for _, cs in to_read for c in cs}), r.options, n) as analysts:
        pool = ThreadPoolExecutor(max(1, 2 * n), thread_name_prefix="kloset-analyze")
        try:
            for f in [pool.submit(one, job, analysts) for job in to_read]:
                f.result()
        finally:
            # On an error or Ctrl-C, objects not begun are dropped; the few being read end first.
            pool.shutdown(wait=True, cancel_futures=True)


def _write_tables(txn: Transaction, rows: dict[bytes, Rows]) -> dict[str, list[Any]]:
    def put(blob_type: BlobType, data: bytes) -> bytes:
        return txn.put(blob_type, data)[0]

    writers = {t: PieceWriter(t, put) for t in TABLES}
    for oid in sorted(rows):
        for table, table_rows_ in sorted(rows[oid].items()):
            for row in sorted(table_rows_, key=_order):
                writers[table].append(oid + repr(row[1:4]).encode(), row)
    for w in writers.values():
        w.flush()
    return {t: w.pieces for t, w in writers.items() if w.pieces}


def _order(row: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # Numbers as numbers (an mbox's 11th message after its 2nd), text as text, null first.
    return tuple((0, v) if isinstance(v, int) else (1, "" if v is None else str(v)) for v in row[1:4])

