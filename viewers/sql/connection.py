"""A DuckDB connection over one store: its tables as views, documented in docs/sql.md."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb

import kloset

from .contents import register as register_contents
from .index import IndexFileSystem, dataset

if TYPE_CHECKING:
    import pyarrow as pa

# Stored tables, each registered as <name>_pieces, and the views over them that users query.
_STORED = ("files", "chunks", "xattrs", "errors")

_VIEWS = {
    "files": """
        SELECT snapshot_id, path,
               CASE WHEN path = '/' THEN NULL
                    ELSE coalesce(nullif(regexp_replace(path, '/[^/]*$', ''), ''), '/') END AS dirname,
               CASE WHEN path = '/' THEN '/' ELSE regexp_extract(path, '[^/]*$') END AS name,
               type, mode, uid, gid, "user", "group", size, mtime, ctime, inode, nlink, target,
               lower(hex(object_id)) AS object_id, content_type, entropy, chunks, dev, rdev, raw_path
        FROM files_pieces""",
    # Objects of one chunk are stored as that chunk and have no rows of their own in the stored table.
    "chunks": """
        SELECT snapshot_id, lower(hex(object_id)) AS object_id, seq, lower(hex(chunk_id)) AS chunk_id,
               "offset", size
        FROM chunks_pieces
        UNION ALL
        SELECT DISTINCT snapshot_id, lower(hex(object_id)), 0, lower(hex(object_id)), 0, size
        FROM files_pieces WHERE chunks = 1""",
    "objects": """
        SELECT lower(hex(object_id)) AS object_id, any_value(size) AS size, any_value(chunks) AS chunks,
               any_value(content_type) AS content_type, any_value(entropy) AS entropy,
               count(*) AS files, count(DISTINCT snapshot_id) AS snapshots
        FROM files_pieces WHERE object_id IS NOT NULL GROUP BY object_id""",
    "xattrs": "SELECT snapshot_id, path, name, value FROM xattrs_pieces",
    "errors": "SELECT snapshot_id, path, error FROM errors_pieces",
    # Analyses hold results per content object; each path holding the object has them.
    "findings": """
        SELECT f.snapshot_id, p.path, lower(hex(f.object_id)) AS object_id, f.analyzer, f.category,
               round(f.confidence::DOUBLE, 4) AS confidence, f.count, f.sample, f."offset"
        FROM findings_table f JOIN files_pieces p ON p.snapshot_id = f.snapshot_id AND p.object_id = f.object_id
        WHERE f.category IS NOT NULL""",
    "emails": """
        SELECT e.snapshot_id, p.path, lower(hex(e.object_id)) AS object_id, e.seq, e.sender, e.sender_name,
               e.recipients, e.cc, e.date, e.subject, e.message_id, e.attachments
        FROM emails_table e JOIN files_pieces p ON p.snapshot_id = e.snapshot_id AND p.object_id = e.object_id""",
}


def _analysis_table(snaps: list[kloset.Snapshot], name: str) -> pa.Table:
    """One analysis table of every snapshot, with its snapshot's ID in front."""
    import pyarrow as pa

    parts = []
    for s in snaps:
        t = s.analysis_table(name)
        parts.append(t.add_column(0, "snapshot_id", pa.array([s.id] * t.num_rows, pa.string())))
    if not parts:
        t = kloset.table_schemas()[name].empty_table()
        return t.add_column(0, "snapshot_id", pa.array([], pa.string()))
    return pa.concat_tables(parts)


def _snapshots_table(snaps: list[kloset.Snapshot]) -> pa.Table:
    import pyarrow as pa

    rows = []
    for s in snaps:
        h, m = s.header, s.summary
        rows.append({
            "snapshot_id": s.id, "short_id": s.short_id, "timestamp": h.timestamp_ns,
            "duration": h.duration_ns // 1000, "hostname": h.hostname, "username": h.username, "name": h.name,
            "category": h.category, "environment": h.environment, "perimeter": h.perimeter, "job": h.job,
            "tags": list(h.tags), "importer_type": h.importer_type, "origin": h.importer_origin,
            "root": h.importer_root, "files": m.files, "dirs": m.dirs, "symlinks": m.symlinks,
            "errors": m.errors, "size": m.size, "stored_size": m.stored, "parent": h.parent.hex() or None,
            "os": h.os, "arch": h.arch, "command_line": h.command_line})
    schema = pa.schema([  # type: ignore[arg-type]
        ("snapshot_id", pa.string()), ("short_id", pa.string()), ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("duration", pa.duration("us")), ("hostname", pa.string()), ("username", pa.string()),
        ("name", pa.string()), ("category", pa.string()), ("environment", pa.string()),
        ("perimeter", pa.string()), ("job", pa.string()), ("tags", pa.list_(pa.string())),
        ("importer_type", pa.string()), ("origin", pa.string()), ("root", pa.string()), ("files", pa.int64()),
        ("dirs", pa.int64()), ("symlinks", pa.int64()), ("errors", pa.int64()), ("size", pa.int64()),
        ("stored_size", pa.int64()), ("parent", pa.string()), ("os", pa.string()), ("arch", pa.string()),
        ("command_line", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def _packfiles_table(store: kloset.Store) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([  # type: ignore[arg-type]
        ("pack_id", pa.string()), ("blobs", pa.int64()), ("data_blobs", pa.int64()), ("bytes", pa.int64()),
        ("data_bytes", pa.int64())])
    return pa.Table.from_pylist(store.packfiles(), schema=schema)


class StoreConnection:
    """One DuckDB connection whose views follow the store's snapshots."""

    def __init__(self, store: kloset.Store) -> None:
        self.store = store
        self.con = duckdb.connect(":memory:")
        self.fs = index_fs(store)
        register_contents(self.con, store)
        self._seen: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Point the views at the store's snapshots as they are now (cheap when nothing changed)."""
        with self._lock:
            snaps = self.store.snapshots()
            # snapshots() has just looked at the store: its analyses need no second look.
            ids = tuple(s.id for s in snaps) + tuple(a["analysis_id"] for a in self.store.analyses(refresh=False))
            if ids == self._seen:
                return
            for table in _STORED:
                self.con.register(f"{table}_pieces", dataset(self.fs, table, snaps))
            self.con.register("snapshots_table", _snapshots_table(snaps))
            self.con.register("packfiles_table", _packfiles_table(self.store))
            for name in ("findings", "emails"):
                self.con.register(f"{name}_table", _analysis_table(snaps, name))
            self.con.execute("CREATE OR REPLACE TEMP VIEW snapshots AS SELECT * FROM snapshots_table")
            self.con.execute("CREATE OR REPLACE TEMP VIEW packfiles AS SELECT * FROM packfiles_table")
            for name, body in _VIEWS.items():
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")
            self._seen = ids


_connections: weakref.WeakKeyDictionary[Any, StoreConnection] = weakref.WeakKeyDictionary()
_connections_lock = threading.Lock()
_index_fss: weakref.WeakKeyDictionary[Any, IndexFileSystem] = weakref.WeakKeyDictionary()
_index_fss_lock = threading.Lock()  # not the connections' lock: a connection is made holding that one


def index_fs(store: kloset.Store) -> IndexFileSystem:
    """The store's index pieces, and their cache, shared by every connection to the store."""
    with _index_fss_lock:
        fs = _index_fss.get(store)
        if fs is None:
            fs = _index_fss[store] = IndexFileSystem(store)
        return fs


def connect(store: kloset.Store) -> duckdb.DuckDBPyConnection:
    """A new DuckDB connection with the store's tables (``snapshots``, ``files``, ...)."""
    return StoreConnection(store).con


def prepare(store: kloset.Store) -> None:
    """Make the store's connection, and its tables, ready before the first query needs them."""
    _connection(store)


def prewarm(store: kloset.Store) -> None:
    """Read ahead what the first query will likely need, without DuckDB: the latest snapshot's
    ``files`` pieces, and the store's packfile list."""
    snaps = store.snapshots()
    store.packfiles()
    if snaps:
        fs = index_fs(store)
        latest = max(snaps, key=lambda s: s.header.timestamp_ns)
        fs.add(latest)
        for piece_id, _ in latest.table_pieces("files"):
            fs.piece(f"files/{latest.id}/{piece_id}.parquet")


def interrupt(store: kloset.Store) -> None:
    """Stop the query running on the store's connection, if any (it ends with a QueryError)."""
    with _connections_lock:
        conn = _connections.get(store)
    if conn is not None:
        conn.con.interrupt()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """DuckDB's errors as kloset's: QueryError; and a query stopped by SIGINT (Ctrl-C, a notebook's stop
    button) as the KeyboardInterrupt Python code expects, where DuckDB raises a bare RuntimeError."""
    try:
        yield
    except duckdb.Error as e:
        raise kloset.QueryError(str(e)) from e
    except RuntimeError as e:
        if str(e) == "Query interrupted":
            raise KeyboardInterrupt from e
        raise


def _interruptible(con: duckdb.DuckDBPyConnection, fetch: Any) -> Any:
    """``fetch()``, run where an interrupt stops it at once.

    DuckDB notices SIGINT only when its work hands control back to Python, which a long aggregate does
    at its end. Called from the main thread, the work runs on a thread of its own while the main thread
    waits in Python, where KeyboardInterrupt arrives at once; it then interrupts the connection and
    raises KeyboardInterrupt when the work has stopped."""
    if threading.current_thread() is not threading.main_thread():
        return fetch()
    box: list[Any] = []

    def work() -> None:
        try:
            box.append((True, fetch()))
        except BaseException as e:  # handed to the waiting thread
            box.append((False, e))

    worker = threading.Thread(target=work, name="kloset-sql-query", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        con.interrupt()
        worker.join()
        raise
    ok, value = box[0]
    if not ok:
        raise value
    return value


def _connection(store: kloset.Store) -> StoreConnection:
    with _connections_lock:
        conn = _connections.get(store)
        if conn is None:
            return _connections.setdefault(store, StoreConnection(store))  # up to date as made
    conn.refresh()
    return conn


class Result:
    """A query's result, fetched when asked for, as often as asked for.

    Every fetch raises IntegrityError, naming the snapshot, when a piece of the index it read is
    damaged (such a piece reads as empty inside DuckDB's scan, see index.py)."""

    def __init__(self, conn: StoreConnection, relation: duckdb.DuckDBPyRelation | None) -> None:
        self._conn = conn
        #: The DuckDB relation itself, for what this class does not wrap (unchecked for damage).
        self.relation = relation

    @property
    def columns(self) -> list[str]:
        return list(self.relation.columns) if self.relation is not None else []

    def _checked(self, fetch: Any, *args: Any) -> Any:
        self._conn.fs.take_errors()
        with _translated():
            result = _interruptible(self._conn.con, lambda: fetch(*args)) if self.relation is not None else None
        self._raise_damage()
        return result

    def _raise_damage(self) -> None:
        errors = self._conn.fs.take_errors()
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise kloset.IntegrityError(errors[0] + more)

    def df(self) -> Any:
        """The whole result as a pandas DataFrame."""
        return self._checked(lambda: self.relation.df())  # type: ignore[union-attr]

    def arrow(self) -> pa.Table:
        """The whole result as an Arrow table."""
        return self._checked(lambda: self.relation.to_arrow_table())  # type: ignore[union-attr]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._checked(lambda: self.relation.fetchall() if self.relation is not None else [])

    def batches(self, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result as Arrow record batches, for results too large to hold at once."""
        if self.relation is None:
            return
        self._conn.fs.take_errors()
        with _translated():
            yield from self.relation.to_arrow_reader(rows)
        self._raise_damage()


def query(store: kloset.Store, sql: str) -> Result:
    """Run ``sql`` on the store's connection, kept for the store's lifetime (its piece cache stays warm)."""
    conn = _connection(store)
    with _translated():
        return Result(conn, conn.con.sql(sql))


def fetch(store: kloset.Store, sql: str, form: str = "df") -> Any:
    """Run ``sql`` and fetch the whole result: ``df`` (pandas), ``arrow``, or ``rows`` (with column names).

    IntegrityError, naming the snapshot, when a piece of the index the query read is damaged."""
    result = query(store, sql)
    if result.relation is None:  # a statement with no result (SET, PRAGMA...)
        return None
    if form == "rows":
        return result.columns, result.fetchall()
    return result.arrow() if form == "arrow" else result.df()
