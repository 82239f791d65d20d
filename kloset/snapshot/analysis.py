"""Dedup-aware analysis of a snapshot: each content object read at most once per analyzer version.

For every regular file of a snapshot whose content type an analyzer wants, the result for (analyzer
key, object ID) is taken, in this order, from: the tables of an earlier analysis of this snapshot or of
its parent (no read at all), results met while the backup read the content (:class:`Tap`), the
result blobs the store holds (one small read each), and only then from the content, read and analyzed
by worker processes on every core. New results are stored, and an ANALYSIS linking all of them to the
snapshot is committed in one transaction (see docs/format.md, "Analyses").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..analyzer import Analysis, Analyzer
from ..errors import IntegrityError, NotFound
from ..objects import BlobType
from ..registry import analyzer_class, schemes
from .analysts import Analysts
from .header import Header
from .index import BLOB_TYPES, PieceWriter, decode_piece, pylist_columns, schemas
from .reader import SnapshotReader
from .results import AnalysisHeader, decode_result, encode_result, result_id

if TYPE_CHECKING:
    from ..repository.repo import Repository
    from ..repository.transaction import Transaction
    from .snapshot import ProgressFn

TABLES = ("findings", "emails")
Rows = dict[str, list[tuple[Any, ...]]]  # table -> rows of one (analyzer, object)


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


class Tap:
    """Analyzers fed the content a backup reads, so that it is read once for backup and analysis."""

    def __init__(self, names: list[str], options: dict[str, dict[str, str]] | None = None) -> None:
        self.names = list(names)
        self.options = dict(options or {})
        self.classes = [analyzer_class(n) for n in names]

    def start(self, txn: Transaction, content_type: str, path: str, object_id: bytes | None) -> list[Analyzer]:
        """Fresh analyzers for one file's content: those that want its type. With the content's object ID
        known before it is fed, those with a result for it are left out, and the rest claim theirs."""
        out = []
        for c in self.classes:
            try:
                if not c.wants(content_type, path):
                    continue
                key = c.key(self.options.get(c.name))
                if object_id is not None and not txn.reserve(result_id(txn.repo.keyring.mac_key, key, object_id)):
                    continue
                out.append(c(self.options.get(c.name), content_type=content_type, path=path))
            except Exception:  # an analyzer's bug never fails a backup: the analysis after it reports it
                continue
        return out

    @staticmethod
    def feed(analyzers: list[Analyzer], offset: int, piece: bytes | memoryview) -> None:
        """The next piece of the content, at ``offset``, to each analyzer (up to its ``max_bytes``)."""
        for a in list(analyzers):
            limit = a.max_bytes
            try:
                if limit is None or offset < limit:
                    a.feed(bytes(piece if limit is None else piece[: limit - offset]))
            except Exception:  # the analysis that follows the backup runs it again, and reports it
                analyzers.remove(a)

    @staticmethod
    def finish(txn: Transaction, object_id: bytes, analyzers: list[Analyzer],
               claimed: bool = False) -> list[tuple[bytes, bytes]]:
        """Store the result of each analyzer the store has none from (``claimed``: known to have none);
        (result ID, plaintext) of each."""
        out = []
        for a in analyzers:
            rid = result_id(txn.repo.keyring.mac_key, a.key(a.options), object_id)
            if not claimed and rid in txn.repo.index.blobs:
                continue  # content met before: its result is known
            try:
                plain = encode_result(a.key(a.options), object_id, a.finish())
            except Exception:  # as in start()
                continue
            if claimed or txn.reserve(rid):
                txn.add(BlobType.RESULT, rid, plain)
                out.append((rid, plain))
        return out


def analyses(repo: Repository, snapshot_id: bytes | None = None) -> list[AnalysisHeader]:
    """Every readable analysis (of one snapshot, if given), oldest first."""
    out = []
    for aid in repo.index.analysis_ids():
        h = repo.decoded.get(aid)
        if h is None:
            try:
                h = repo.decoded[aid] = AnalysisHeader.decode(repo.get_blob(BlobType.ANALYSIS, aid), aid)
            except IntegrityError:
                continue  # a damaged analysis is check's to report; the snapshot can be analyzed again
        if snapshot_id is None or h.snapshot == snapshot_id:
            out.append(h)
    return sorted(out, key=lambda h: h.time_ns)


def latest(headers: Iterable[AnalysisHeader]) -> dict[str, AnalysisHeader]:
    """Analyzer key -> the newest analysis that ran it."""
    by_key: dict[str, AnalysisHeader] = {}
    for h in sorted(headers, key=lambda h: h.time_ns):
        for k in h.analyzers:
            by_key[k] = h
    return by_key


def table_rows(repo: Repository, h: AnalysisHeader, table: str, analyzer: str | None = None,
               objects: set[bytes] | None = None) -> list[tuple[Any, ...]]:
    """An analysis's rows of one table, in schema order (of one analyzer, of some objects, if given)."""
    rows: list[tuple[Any, ...]] = []
    for p in h.tables.get(table, []):
        cols = pylist_columns(decode_piece(repo.get_blob(BLOB_TYPES[table], p.id)))
        for row in zip(*cols.values(), strict=True):
            if (objects is None or row[0] in objects) and (analyzer is None or row[1] == analyzer):
                rows.append(row)
    return rows


def linked_rows(repo: Repository, snapshot_id: bytes, table: str) -> list[tuple[Any, ...]]:
    """A snapshot's rows of one analysis table: each analyzer's from the newest analysis that ran it."""
    newest: dict[str, AnalysisHeader] = {}
    for key, h in latest(analyses(repo, snapshot_id)).items():
        name = key.rpartition("@")[0]
        if name not in newest or newest[name].time_ns < h.time_ns:
            newest[name] = h
    return [row for name, h in sorted(newest.items()) for row in table_rows(repo, h, table, name)]


def result_rows(cls: type[Analyzer], object_id: bytes, analysis: Analysis) -> Rows:
    """The table rows one result stands for."""
    rows: Rows = {"findings": [(object_id, cls.name, f.category, f.sample, f.offset, f.confidence, f.count)
                               for f in analysis.findings] or [(object_id, cls.name, None, None, None, None, None)]}
    if cls.table in TABLES and cls.table != "findings" and analysis.record is not None:
        fields = list(schemas()[cls.table])[3:]  # after object_id, analyzer and seq
        rows[cls.table] = [(object_id, cls.name, seq, *(_value(f.type, r.get(f.name)) for f in fields))
                           for seq, r in enumerate(cls.rows(analysis.record))]
    return rows


def _value(kind: Any, v: Any) -> Any:
    """A record's value in the form table rows hold: timestamps as integer nanoseconds."""
    import pyarrow as pa

    if not pa.types.is_timestamp(kind) or v is None or isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return None
    if isinstance(v, datetime) and v.tzinfo is not None:
        return int(v.timestamp() * 1_000_000) * 1000
    return None


class _Run:
    def __init__(self, repo: Repository, header: Header, names: list[str], options: dict[str, dict[str, str]],
                 fresh: dict[bytes, bytes], progress: ProgressFn | None) -> None:
        self.repo = repo
        self.header = header
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
        reader = SnapshotReader(self.repo, self.header)
        for row in reader.rows("files", ["path", "type", "object_id", "content_type", "size", "chunks"]):
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
        todo: list[tuple[bytes, list[type[Analyzer]]]] = []  # objects to read and analyze
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
                todo.append((oid, missing))
            else:
                r.report.reused += 1
                r.tick()
        txn = repo.transaction()
        try:
            with ThreadPoolExecutor(8) as pool:
                for (_, oid, cls), analysis in zip(stored, pool.map(lambda s: _stored_result(repo, s[0]), stored),
                                                   strict=True):
                    if analysis is None:  # damaged: analyzed again (its blob stays until repaired)
                        todo.append((oid, [cls]))
                    else:
                        r.add(oid, cls, result_rows(cls, oid, analysis))
            _analyze_content(r, txn, wanted, todo, processes)
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
                     todo: list[tuple[bytes, list[type[Analyzer]]]], processes: int) -> None:
    if not todo:
        return
    reader = SnapshotReader(r.repo, r.header)
    n = processes if processes >= 0 else (os.cpu_count() or 1)
    n = min(n, len(todo)) if n > 1 else 0  # one process would only add its start to the calling thread's work

    def one(job: tuple[bytes, list[type[Analyzer]]], analysts: Analysts) -> None:
        oid, classes = job
        row = wanted[oid][0]
        limit = None if any(c.max_bytes is None for c in classes) else max(c.max_bytes or 0 for c in classes)
        data = bytearray()
        try:
            for piece in reader.content(row):
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

    with Analysts(sorted({c.name for _, cs in todo for c in cs}), r.options, n) as analysts:
        pool = ThreadPoolExecutor(max(1, 2 * n), thread_name_prefix="kloset-analyze")
        try:
            for f in [pool.submit(one, job, analysts) for job in todo]:
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


def _order(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in row[1:4])

