"""File contents inside snapshots as a read-only fsspec file system: ``kloset://SNAPSHOT/PATH``.

SNAPSHOT is ``latest`` or a unique prefix of a snapshot ID; PATH is the file's absolute path in the
snapshot, so ``kloset://latest/home/me/notes.csv`` is ``/home/me/notes.csv`` of the latest snapshot.
Registered on every SQL connection, it lets DuckDB's ``read_text``, ``read_blob``, ``read_csv``,
``read_json`` and ``read_parquet`` read files inside a backup, globs included.
"""

from __future__ import annotations

import posixpath
import threading
from typing import Any

from fsspec.spec import AbstractFileSystem

import kloset

_KINDS = {"file": "file", "dir": "directory"}


class ContentsFileSystem(AbstractFileSystem):
    protocol = "kloset"
    cachable = False  # one per store

    def __init__(self, store: kloset.Store, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self._listings: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def _split(self, path: str) -> tuple[str, kloset.Snapshot, str]:
        """(the snapshot as the path names it, the snapshot, the absolute path inside it)."""
        ref, _, inner = self._strip_protocol(path).lstrip("/").partition("/")
        snap = self.store.snapshot(ref)
        return ref, snap, "/" + posixpath.normpath(inner).lstrip("/") if inner else "/"

    def _listing(self, snap: kloset.Snapshot, ref: str) -> dict[str, list[dict[str, Any]]]:
        """Directory -> its entries, built once per snapshot from the files table (paths and sizes only).

        Kept per name of the snapshot too: the entries' names start with it."""
        with self._lock:
            cached = self._listings.get((snap.id, ref))
        if cached is not None:
            return cached
        table = snap.table("files", ["path", "type", "size"]).to_pydict()
        listing: dict[str, list[dict[str, Any]]] = {}
        for path, kind, size in zip(table["path"], table["type"], table["size"], strict=True):
            if path == "/":
                continue
            parent = posixpath.dirname(path)
            listing.setdefault(parent, []).append(
                {"name": f"{ref}{path}", "size": size or 0, "type": _KINDS.get(kind, "other")})
        with self._lock:
            self._listings[(snap.id, ref)] = listing
        return listing

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        ref, snap, inner = self._split(path)
        entries = self._listing(snap, ref).get(inner)
        if entries is None:
            info = self.info(path)
            if info["type"] != "directory":
                return [info] if detail else [info["name"]]
            entries = []
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        ref, snap, inner = self._split(path)
        try:
            row = snap.stat(inner)
        except kloset.NotFound as e:
            raise FileNotFoundError(path) from e
        return {"name": f"{ref}{inner}", "size": row.get("size") or 0, "type": _KINDS.get(row["type"], "other")}

    def glob(self, path: str, **kwargs: Any) -> Any:
        # A plain path that names nothing is an error, as it is for local files, not an empty result.
        if not any(c in path for c in "*?[") and not self.exists(path):
            raise FileNotFoundError(f"{path}: no such file in the snapshot")
        return super().glob(path, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError("snapshots are read-only")
        _, snap, inner = self._split(path)
        try:
            return snap.open(inner)
        except kloset.NotFound as e:
            raise FileNotFoundError(path) from e


def register(con: Any, store: kloset.Store) -> None:
    """The ``kloset://`` file system and the scalar functions over one file, on a DuckDB connection."""
    fs = ContentsFileSystem(store)
    con.register_filesystem(fs)

    def read_bytes(snapshot: str, path: str) -> bytes:
        return store.snapshot(snapshot).read_bytes(path)

    def read_text(snapshot: str, path: str) -> str:
        return store.snapshot(snapshot).read_text(path, errors="replace")

    con.create_function("kloset_read_blob", read_bytes, ["VARCHAR", "VARCHAR"], "BLOB")
    con.create_function("kloset_read_text", read_text, ["VARCHAR", "VARCHAR"], "VARCHAR")
