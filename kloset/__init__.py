"""kloset: a deduplicating, compressing, encrypting backup engine you can query with SQL.

    import kloset
    store = kloset.create("/backups/store", passphrase="...")
    snap = kloset.backup("~/Documents", store=store)
    snap.files()                      # a pandas DataFrame, one row per entry
    snap.read_text("/home/me/Documents/notes.txt")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .analyzer import Analysis, Analyzer, Finding
from .errors import (
    AuthenticationError,
    CheckFailed,
    ConfigError,
    IntegrityError,
    KlosetError,
    LockError,
    NotFound,
    PluginError,
    QueryError,
    StoreNotFound,
    TransientError,
    UnsafePathError,
    Unsupported,
)
from .exporter import Exporter
from .importer import Importer, ImporterOptions
from .lazy import lazy_names as _lazy_names
from .objects import FileInfo, Record
from .storage import Storage

if TYPE_CHECKING:
    from .lifecycle.maintenance import MaintenanceReport
    from .lifecycle.retention import PruneReport, RetentionPolicy
    from .lifecycle.sync import SyncReport
    from .location import Location, default_location
    from .snapshot.analysis import AnalysisReport
    from .snapshot.check import CheckReport
    from .snapshot.diff import Change
    from .snapshot.listing import Entry
    from .snapshot.restore import RestoreReport
    from .snapshot.snapshot import Snapshot
    from .store import Store, table_schemas

# The engine pulls in pyarrow (and with it NumPy): loaded on first use, so that the command line, which
# imports this package, starts fast and can keep the DataFrame libraries out (see kloset.allocator).
_LAZY = {
    "AnalysisReport": ".snapshot.analysis",
    "CheckReport": ".snapshot.check",
    "Change": ".snapshot.diff",
    "Entry": ".snapshot.listing",
    "MaintenanceReport": ".lifecycle.maintenance",
    "PruneReport": ".lifecycle.retention",
    "RetentionPolicy": ".lifecycle.retention",
    "SyncReport": ".lifecycle.sync",
    "RestoreReport": ".snapshot.restore",
    "Snapshot": ".snapshot.snapshot",
    "Store": ".store",
    "default_location": ".location",
    "table_schemas": ".store",
}


__getattr__ = _lazy_names(__name__, globals(), _LAZY)


__version__ = "0.1.0"


def create(location: Location, *, passphrase: str | None = None, plaintext: bool = False) -> Store:
    """Create a store. Encrypted unless ``plaintext``; the passphrase is resolved as for :func:`open`.

    ``location`` is a path, a URL, ``@name`` (a store entry of the user's config, see docs/config.md), or
    a whole connector config (``{"location": "s3://...", "access_key": ...}``) for a connector that
    needs keys; sources and restore destinations are named the same way."""
    from .store import Store

    return Store.create(location, passphrase=passphrase, plaintext=plaintext)


def open(location: Location | None = None, *, passphrase: str | None = None) -> Store:
    """Open a store (the default one when ``location`` is None).

    The passphrase comes from the argument, the store entry's ``passphrase`` or ``passphrase_cmd`` key,
    ``$KLOSET_PASSPHRASE``, ``$KLOSET_PASSPHRASE_CMD``, or an interactive prompt, in that order."""
    from .location import default_location
    from .store import Store

    return Store.open(location or default_location(), passphrase=passphrase)


def backup(source: Location | Importer, *, store: Store | Location | None = None, tags: Iterable[str] = (),
           exclude: Iterable[str] = (), progress: bool = True, passphrase: str | None = None,
           **options: Any) -> Snapshot:
    """Back up ``source`` into ``store`` (a Store, a location, or the default store, created if missing).

    Returns the new snapshot. ``options`` are snapshot labels (name, category, environment, perimeter,
    job) and ``analyze``, the analyzers to run on the content as it is read (``["gdpr", "email"]``)."""
    from .store import Store, open_or_create_default

    if isinstance(store, Store):
        return store.backup(source, tags=tags, exclude=exclude, progress=progress, **options)
    s = open_or_create_default(passphrase) if store is None else Store.open(store, passphrase=passphrase)
    with s:
        return s.backup(source, tags=tags, exclude=exclude, progress=progress, **options)


__all__ = [
    "Analysis",
    "AnalysisReport",
    "Analyzer",
    "AuthenticationError",
    "Change",
    "CheckFailed",
    "CheckReport",
    "ConfigError",
    "Entry",
    "Exporter",
    "FileInfo",
    "Finding",
    "Importer",
    "ImporterOptions",
    "IntegrityError",
    "KlosetError",
    "LockError",
    "MaintenanceReport",
    "NotFound",
    "PluginError",
    "PruneReport",
    "QueryError",
    "Record",
    "RestoreReport",
    "RetentionPolicy",
    "Snapshot",
    "Storage",
    "Store",
    "StoreNotFound",
    "SyncReport",
    "TransientError",
    "UnsafePathError",
    "Unsupported",
    "__version__",
    "backup",
    "create",
    "default_location",
    "open",
    "table_schemas",
]
