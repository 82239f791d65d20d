"""The public Store: an open kloset, its snapshots, and the operations on them."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import passphrase as passphrases
from .errors import ConfigError, IntegrityError, NotFound, StoreNotFound
from .importer import Importer, ImporterOptions
from .location import Location, connector_config, default_location, location_of
from .objects import BlobType
from .registry import importer_class, storage_for, viewer
from .repository.config import StoreConfig
from .repository.repo import Repository
from .snapshot.backup import BackupOptions, find_parent, take_snapshot
from .snapshot.check import CheckReport, check
from .snapshot.diff import Change
from .snapshot.header import Header, Summary
from .snapshot.snapshot import Snapshot
from .storage import Storage

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .lifecycle.maintenance import MaintenanceReport
    from .lifecycle.retention import PruneReport, RetentionPolicy
    from .lifecycle.sync import SyncReport

ProgressFn = Callable[[int, int], None]


class Store:
    """An open store. Use :func:`kloset.open` or :func:`kloset.create` to get one."""

    def __init__(self, repo: Repository, location: Location) -> None:
        self._repo = repo
        self.location = location_of(location)
        self._headers: dict[bytes, Header] = {}
        self._packfiles: tuple[frozenset[bytes], list[dict[str, Any]]] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def create(cls, location: Location, *, passphrase: str | None = None, plaintext: bool = False,
               **kwargs: Any) -> Store:
        config, secret = _store_config(location, passphrase)
        storage = storage_for(config)
        return cls(Repository.create(storage, None if plaintext else secret(confirm=True), **kwargs), location)

    @classmethod
    def open(cls, location: Location, *, passphrase: str | None = None) -> Store:
        config, secret = _store_config(location, passphrase)
        storage = storage_for(config)
        store_config = StoreConfig.parse(storage.open())
        keyring = store_config.unlock(secret() if store_config.encrypted else None)
        return cls(Repository(storage, store_config, keyring), location)

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "encrypted" if self._repo.config.encrypted else "plaintext"
        return f"<Store {self.location} ({kind}, {len(self._repo.snapshot_ids())} snapshots)>"

    def _repr_html_(self) -> str | None:
        return _html("store_html", self)

    @property
    def id(self) -> str:
        return self._repo.config.store_id.hex()

    @property
    def encrypted(self) -> bool:
        return self._repo.config.encrypted

    @property
    def storage(self) -> Storage:
        return self._repo.storage

    # -- snapshots ----------------------------------------------------------------------------------

    def _header(self, sid: bytes) -> Header:
        h = self._headers.get(sid)
        if h is None:
            h = self._headers[sid] = Header.decode(self._repo.get_blob(BlobType.SNAPSHOT, sid), sid)
        return h

    def _all_headers(self) -> list[Header]:
        """Every readable snapshot header; damaged ones are left out (``check`` reports them)."""
        self._repo.refresh()  # see what other processes committed since this store was opened
        out = []
        for sid in self._repo.snapshot_ids():
            try:
                out.append(self._header(sid))
            except IntegrityError:
                continue
        return out

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest first."""
        return [Snapshot(self._repo, h) for h in sorted(self._all_headers(), key=lambda h: h.timestamp_ns)]

    def snapshot(self, ref: str = "latest") -> Snapshot:
        """A snapshot by ``latest`` or by a unique prefix of its hex ID."""
        self._repo.refresh()
        ids = self._repo.snapshot_ids()
        if ref == "latest":
            if not ids:
                raise NotFound("the store has no snapshot")
            return Snapshot(self._repo, max(self._all_headers(), key=lambda h: h.timestamp_ns))
        ref = ref.lower()
        matches = [i for i in ids if i.hex().startswith(ref)]
        if not matches or not ref:
            raise NotFound(f"no snapshot {ref!r}")
        if len(matches) > 1:
            raise ConfigError(f"snapshot prefix {ref!r} is ambiguous ({len(matches)} snapshots)")
        return Snapshot(self._repo, self._header(matches[0]))

    def backup(self, source: Location | Importer, *, tags: Iterable[str] = (), exclude: Iterable[str] = (),
               analyze: Iterable[str] = (), progress: bool | ProgressFn = False, **options: Any) -> Snapshot:
        """Back up a source (a location or an importer) and return the new snapshot.

        ``analyze`` names analyzers (``["gdpr", "email"]``) fed the content as the backup reads it; their
        results are linked to the snapshot (see :meth:`Snapshot.findings`)."""
        importer = source if isinstance(source, Importer) else importer_for(source, exclude=exclude)
        bo = BackupOptions(tags=list(tags), analyzers=list(analyze), **options)
        from .progress import bar

        importer.prefetch()  # the source is read while the snapshot list is
        try:
            headers = self._all_headers()
            # The previous snapshot of the source estimates the totals: a bar has an ETA from the second backup on.
            last = find_parent(headers, importer) if progress is True else None
            s = last.summary if last is not None else Summary()
            with bar(progress, "backup", total_items=s.entries, total_bytes=s.size) as fn, \
                    bar(progress if bo.analyzers else None, "analyze", total_items=s.files, total_bytes=s.size) as afn:
                h = take_snapshot(self._repo, importer, bo, headers, fn, afn)
        finally:
            importer.close()
        self._headers[h.id] = h
        return Snapshot(self._repo, h)

    def rm(self, *refs: str) -> list[str]:
        """Forget snapshots (their data stays until garbage collection); return their IDs."""
        snaps = [self.snapshot(r) for r in refs]
        with self._repo.lock():
            txn = self._repo.transaction()
            txn.commit(deleted=[s.header.id for s in snaps])
        return [s.id for s in snaps]

    # -- lifecycle of the data ------------------------------------------------------------------------

    def maintenance(self, *, grace: float | None = None, threshold: float | None = None, dry_run: bool = False,
                    progress: bool | ProgressFn = False) -> MaintenanceReport:
        """Give back the space of data no snapshot uses: delete packs of dead blobs once they have been
        unused for ``grace`` seconds (default 7 days) and repack packs whose live bytes fall below
        ``threshold`` (default 0.5), under an exclusive lock. ``dry_run`` reports what would go."""
        from .lifecycle.maintenance import maintain

        return maintain(self._repo, grace=grace, threshold=threshold, dry_run=dry_run, progress=progress)

    def prune(self, policy: RetentionPolicy, *, dry_run: bool = False) -> PruneReport:
        """Forget the snapshots a retention policy does not keep; the report says what is kept and why."""
        from .lifecycle.retention import prune

        return prune(self, policy, dry_run=dry_run)

    def sync(self, other: Store, *, direction: str = "to", snapshots: Iterable[str] = (),
             progress: bool | ProgressFn = False) -> SyncReport:
        """Copy snapshots ``to`` another store, ``from`` it, or both ways (``with``): only what the
        receiving side lacks travels."""
        from .lifecycle.sync import sync

        return sync(self, other, direction=direction, snapshots=list(snapshots), progress=progress)

    def rebuild_cache(self) -> dict[str, int]:
        """Throw away this store's local caches (index, metadata packs) and rebuild the index from the store;
        what the rebuilt index holds: ``states`` merged, ``packs``, ``blobs`` and ``snapshots``."""
        self._repo.rebuild_cache()
        idx = self._repo.index
        return {"states": len(idx.states), "packs": len(idx.packs), "blobs": len(idx.blobs),
                "snapshots": len(idx.snapshot_ids())}

    def analyses(self, *, refresh: bool = True) -> list[dict[str, Any]]:
        """Every analysis of a snapshot the store has: its ID, snapshot ID, analyzer keys and time.

        ``refresh=False`` lists what the store held at its last look (:meth:`snapshots` takes one)."""
        from .snapshot.results import analyses

        if refresh:
            self._repo.refresh()
        return [{"analysis_id": h.id.hex(), "snapshot_id": h.snapshot.hex(), "analyzers": list(h.analyzers),
                 "time_ns": h.time_ns} for h in analyses(self._repo)]

    def check(self, read_data: bool = True, progress: bool | ProgressFn = False) -> CheckReport:
        """Verify every snapshot and, with ``read_data``, every byte stored. Returns the report."""
        headers: list[Header] = []
        from .progress import bar

        report_headers: dict[str, str] = {}
        self._repo.refresh()
        for sid in self._repo.snapshot_ids():
            try:
                headers.append(self._header(sid))
            except IntegrityError as e:
                report_headers[sid[:4].hex()] = str(e)
        with bar(progress, "check", unit="pack", total_items=len(self._repo.index.packs) if read_data else None) as fn:
            report = check(self._repo, headers, read_data=read_data, progress=fn)
        report.damaged_snapshots.update(report_headers)
        return report

    def locate(self, pattern: str) -> Iterator[tuple[Snapshot, str]]:
        """(snapshot, path) of every entry whose name or path matches a shell pattern."""
        for snap in self.snapshots():
            t = snap.table("files", ["path"])
            paths: list[str] = t.column("path").to_pylist()  # type: ignore[assignment]
            for p in paths:
                if fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(p, pattern):
                    yield snap, p

    def diff(self, old: Snapshot, new: Snapshot) -> Iterator[Change]:
        """What changed from ``old`` to ``new``, streamed in path order (Snapshot.diff, without pandas)."""
        return old.changes(new)

    def info(self) -> dict[str, Any]:
        idx = self._repo.index
        return {"location": self.location, "id": self.id, "encrypted": self.encrypted,
                "snapshots": len(idx.snapshot_ids()), "packs": len(idx.packs), "blobs": len(idx.blobs),
                "size": self._repo.storage.size()}

    def packfiles(self) -> list[dict[str, Any]]:
        """Every packfile the store's index knows: its ID, blob count, and sealed bytes by kind."""
        idx = self._repo.index
        # A pass over every blob: kept until the index changes, since each SQL refresh asks again. The
        # states an index merged say all it holds (maintenance replaces them when it moves packs).
        key = frozenset(idx.states)
        if self._packfiles is not None and self._packfiles[0] == key:
            return list(self._packfiles[1])
        data_types = {int(t) for t in BlobType if t.is_data}
        counts = [[0, 0, 0, 0] for _ in idx.packs]  # blobs, data blobs, bytes, data bytes
        for _, t, no, _, n in idx.entries():
            c = counts[no]
            c[0] += 1
            c[2] += n
            if t in data_types:
                c[1] += 1
                c[3] += n
        packs = [{"pack_id": pid.hex(), "blobs": b, "data_blobs": db, "bytes": n, "data_bytes": dn}
                 for (pid, _), (b, db, n, dn) in zip(idx.packs, counts, strict=True)]
        self._packfiles = (key, packs)
        return list(packs)

    # -- SQL ----------------------------------------------------------------------------------------

    def duckdb(self) -> Any:
        """A DuckDB connection over this store's snapshots (the ``sql`` viewer; ``kloset[sql]``)."""
        return _sql_viewer().connect(self)

    def sql(self, query: str) -> pd.DataFrame:
        """Run a SQL query over the store's snapshots (see docs/sql.md); the result as a DataFrame."""
        return _sql_viewer().fetch(self, query, "df")

    def sql_arrow(self, query: str) -> pa.Table:
        """Run a SQL query; the result as an Arrow table."""
        return _sql_viewer().fetch(self, query, "arrow")

    def sql_rows(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a SQL query; (column names, rows as tuples), with no DataFrame library involved."""
        result = _sql_viewer().fetch(self, query, "rows")
        return result if result is not None else ([], [])

    def query(self, query: str) -> Any:
        """Run a SQL query; its result, fetched when asked for: ``.df()``, ``.arrow()``, ``.fetchall()``,
        or ``.batches()`` (Arrow record batches, for results too large to hold at once)."""
        return _sql_viewer().query(self, query)

    def snapshots_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{
            "snapshot_id": s.id, "short_id": s.short_id, "timestamp": s.timestamp, "hostname": s.header.hostname,
            "root": s.root, "tags": s.tags, "files": s.summary.files, "size": s.summary.size,
            "stored": s.summary.stored} for s in self.snapshots()])


def table_schemas() -> dict[str, pa.Schema]:
    """The Arrow schema of each stored snapshot table (``files``, ``chunks``, ``xattrs``, ``errors``)."""
    from .snapshot.index import schemas

    return schemas()


def _html(renderer: str, obj: object) -> str | None:
    """A notebook's HTML view of ``obj`` from the widgets viewer; None (the plain repr) without it."""
    try:
        html: str = getattr(viewer("widgets"), renderer)(obj)
    except ConfigError:
        return None
    return html


def _sql_viewer() -> Any:
    return viewer("sql")


def _store_config(location: Location, passphrase: str | None) -> tuple[dict[str, str], Callable[..., str]]:
    """A store's connector config, and what resolves its passphrase (see :func:`kloset.passphrase.resolve`).

    The ``passphrase`` and ``passphrase_cmd`` keys (of an entry, or of a config mapping) are taken out:
    they are kloset's, not the connector's, and must not travel with the config (to backup workers)."""
    config = connector_config(location, "store")
    given, command = config.pop("passphrase", None), config.pop("passphrase_cmd", None)
    return config, partial(passphrases.resolve, given if passphrase is None else passphrase, command=command)


def importer_for(source: Location, *, exclude: Iterable[str] = ()) -> Importer:
    """The importer of a location (a path, a URL, ``@name`` or a connector config), as :meth:`Store.backup`
    makes it."""
    config = connector_config(source, "source")
    return importer_class(config["location"])(config, ImporterOptions(excludes=list(exclude)))


def open_or_create_default(passphrase: str | None = None) -> Store:
    """The default store, created on first use."""
    loc = default_location()
    try:
        return Store.open(loc, passphrase=passphrase)
    except StoreNotFound:
        target = connector_config(loc, "store")["location"]
        if "://" not in target:
            Path(target).mkdir(parents=True, exist_ok=True)
        return Store.create(loc, passphrase=passphrase)
