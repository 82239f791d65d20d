"""kloset: a deduplicating, compressing, encrypting backup engine you can query with SQL.

    import kloset
    store = kloset.create("/backups/store", passphrase="...")
    snap = kloset.backup("~/Documents", store=store)
    snap.files()                      # a pandas DataFrame, one row per entry
    snap.read_text("/home/me/Documents/notes.txt")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import (
    AuthenticationError,
    CheckFailed,
    ConfigError,
    IntegrityError,
    KlosetError,
    LockError,
    NotFound,
    PluginError,
    StoreNotFound,
    TransientError,
    UnsafePathError,
    Unsupported,
)
from .exporter import Exporter
from .importer import Importer, ImporterOptions
from .objects import FileInfo, Record
from .snapshot.check import CheckReport
from .snapshot.diff import Change
from .snapshot.restore import RestoreReport
from .snapshot.snapshot import Snapshot
from .storage import Storage
from .store import Store, default_location
from .store import open_or_create_default as _open_or_create_default

__version__ = "0.1.0"


def create(location: str, *, passphrase: str | None = None, plaintext: bool = False) -> Store:
    """Create a store. Encrypted unless ``plaintext``; the passphrase is resolved as for :func:`open`."""
    return Store.create(location, passphrase=passphrase, plaintext=plaintext)


def open(location: str | None = None, *, passphrase: str | None = None) -> Store:
    """Open a store (the default one when ``location`` is None).

    The passphrase comes from the argument, ``$KLOSET_PASSPHRASE``, ``$KLOSET_PASSPHRASE_CMD``, or an
    interactive prompt, in that order."""
    return Store.open(location or default_location(), passphrase=passphrase)


def backup(source: str | Importer, *, store: Store | str | None = None, tags: Iterable[str] = (),
           exclude: Iterable[str] = (), progress: bool = True, passphrase: str | None = None,
           **options: Any) -> Snapshot:
    """Back up ``source`` into ``store`` (a Store, a location, or the default store, created if missing).

    Returns the new snapshot. ``options`` are snapshot labels: name, category, environment, perimeter,
    job."""
    if isinstance(store, Store):
        return store.backup(source, tags=tags, exclude=exclude, progress=progress, **options)
    s = _open_or_create_default(passphrase) if store is None else Store.open(store, passphrase=passphrase)
    with s:
        return s.backup(source, tags=tags, exclude=exclude, progress=progress, **options)


__all__ = [
    "AuthenticationError",
    "Change",
    "CheckFailed",
    "CheckReport",
    "ConfigError",
    "Exporter",
    "FileInfo",
    "Importer",
    "ImporterOptions",
    "IntegrityError",
    "KlosetError",
    "LockError",
    "NotFound",
    "PluginError",
    "Record",
    "RestoreReport",
    "Snapshot",
    "Storage",
    "Store",
    "StoreNotFound",
    "TransientError",
    "UnsafePathError",
    "Unsupported",
    "__version__",
    "backup",
    "create",
    "default_location",
    "open",
]
