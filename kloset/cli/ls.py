"""kloset ls: the store's snapshots, or the entries of a directory in one snapshot."""

from __future__ import annotations

import argparse
import stat
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import kloset

from . import render
from .context import Context, resolve

_COLUMNS = ["path", "type", "mode", "uid", "gid", "user", "group", "size", "mtime", "target"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", nargs="?", metavar="SNAP[:PATH]",
                        help="list this snapshot's root, or PATH in it (default: list the snapshots)")
    parser.add_argument("-r", "--recursive", action="store_true", help="list everything below PATH")
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        if args.snapshot is None:
            _snapshots(store, args.json)
        else:
            snap, path = resolve(store, args.snapshot)
            _entries(snap, path or snap.root or "/", args.recursive, args.json)
    return 0


def snapshot_record(snap: kloset.Snapshot) -> dict[str, Any]:
    h, s = snap.header, snap.summary
    return {
        "id": snap.id, "short_id": snap.short_id, "timestamp": render.iso_time(snap.timestamp),
        "duration": h.duration_ns / 1e9, "hostname": h.hostname, "username": h.username,
        "importer": h.importer_type, "origin": h.importer_origin, "root": snap.root, "tags": snap.tags,
        "name": h.name, "category": h.category, "environment": h.environment, "perimeter": h.perimeter,
        "job": h.job, "parent": h.parent.hex(), "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
        "others": s.others, "errors": s.errors, "size": s.size, "stored": s.stored,
    }


def _snapshots(store: kloset.Store, as_json: bool) -> None:
    snaps = store.snapshots()
    if as_json:
        render.write_json([snapshot_record(s) for s in snaps])
        return
    rows = [[s.short_id, render.local_time(s.timestamp), render.size(s.summary.size), f"{s.summary.files} files",
             ",".join(s.tags) or "-", s.root] for s in snaps]
    render.write_lines(render.table(rows, right=(2, 3)))


def _rows(snap: kloset.Snapshot, directory: str, recursive: bool) -> tuple[list[dict[str, Any]], str]:
    """The index rows to list, and the prefix to strip from their paths to get their names."""
    row = snap.stat(directory)  # NotFound, with the engine's message, when there is no such entry
    if row["type"] != "dir":
        return [row], directory.rsplit("/", 1)[0] + "/"
    # Filters are built from compute options only: turning a Python value into an Arrow scalar makes
    # pyarrow import pandas, which costs more than the listing itself.
    t = snap.table("files", _COLUMNS)
    prefix = directory.rstrip("/") + "/"
    paths = t.column("path")
    names = pc.utf8_slice_codeunits(paths, len(prefix))
    below = pc.and_(pc.starts_with(paths, prefix), pc.match_substring_regex(names, "(?s)."))
    if not recursive:
        below = pc.and_(below, pc.invert(pc.match_substring(names, "/")))
    t = t.filter(below)
    # to_pylist would turn nanosecond timestamps into pandas Timestamps: list them as integers
    t = t.set_column(t.column_names.index("mtime"), "mtime", t.column("mtime").cast(pa.int64()))
    return t.to_pylist(), prefix


def _entries(snap: kloset.Snapshot, directory: str, recursive: bool, as_json: bool) -> None:
    rows, prefix = _rows(snap, directory, recursive)
    if as_json:
        render.write_json([{
            "path": r["path"], "name": r["path"][len(prefix):], "type": r["type"], "mode": r["mode"],
            "mode_string": stat.filemode(r["mode"]), "user": r["user"], "group": r["group"], "uid": r["uid"],
            "gid": r["gid"], "size": r["size"], "mtime": render.iso_time(r["mtime"]), "target": r["target"] or None,
        } for r in rows])
        return
    lines = []
    for r in rows:
        name = r["path"][len(prefix):]
        if r["type"] == "symlink":
            name += f" -> {r['target']}"
        lines.append([stat.filemode(r["mode"]), r["user"] or str(r["uid"]), r["group"] or str(r["gid"]),
                      render.size(r["size"]), render.local_time(r["mtime"]), name])
    render.write_lines(render.table(lines, right=(3,)))
