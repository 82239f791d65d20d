"""kloset archive: stream a snapshot, or a subtree of it, out as a tar or zip archive.

Entries are written in snapshot order (a directory before what it holds), one index piece in memory at a
time (:meth:`kloset.Snapshot.entries`), and file content is copied through in pieces: nothing is held
whole. Names are relative to the snapshot's root, or to the directory given; a name that could land
outside the extraction directory is never written (the entry is left out and the exit code says so).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import stat
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import kloset
from kloset import ConfigError, UnsafePathError

from .context import Context, resolve

_COLUMNS = ["path", "type", "mode", "uid", "gid", "user", "group", "size", "mtime", "target", "object_id", "chunks"]
_COPY = 1 << 20
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("tar", "zip"),
                        help="the archive format (default: zip for an output named *.zip, else tar)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    parser.add_argument("snapshot", metavar="SNAP[:PATH]", help="the snapshot, and optionally the entry to archive")


def run(args: argparse.Namespace, context: Context) -> int:
    with context.open_store() as store:
        snap, path = resolve(store, args.snapshot)
        base = path or snap.root or "/"
        fmt = args.format or ("zip" if (args.output or "").lower().endswith(".zip") else "tar")
        if args.output is None:
            if fmt == "zip" and sys.stdout.isatty():
                raise ConfigError("a zip archive is binary: name a file with -o, or redirect stdout")
            unsafe = _write(fmt, sys.stdout.buffer, snap, base)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(args.output, "xb") as out:
                    unsafe = _write(fmt, out, snap, base)
            except FileExistsError as e:
                raise ConfigError(f"{args.output} already exists") from e
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.output)
                raise
    if unsafe:
        raise UnsafePathError(f"{len(unsafe)} entries with unsafe names were left out: {', '.join(unsafe[:5])}")
    return 0


def entries(snap: kloset.Snapshot, base: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name in the archive, files row) of every entry at or below ``base``, in snapshot order."""
    row = snap.stat(base)  # NotFound with the engine's message
    if row["type"] != "dir":
        yield base.rsplit("/", 1)[-1], row
        return
    prefix = base.rstrip("/") + "/"
    for r in snap.entries(_COLUMNS):
        if r["path"].startswith(prefix) and len(r["path"]) > len(prefix):
            yield r["path"][len(prefix):], r


def safe(name: str) -> bool:
    """Whether ``name`` stays inside the directory an archive is extracted into."""
    parts = name.split("/")
    return bool(name) and "\0" not in name and not any(p in ("", ".", "..") for p in parts)


def _write(fmt: str, out: IO[bytes], snap: kloset.Snapshot, base: str) -> list[str]:
    """Write the archive; return the names left out as unsafe."""
    unsafe: list[str] = []
    writer = _tar_entry if fmt == "tar" else _zip_entry
    with _open_archive(fmt, out) as archive:
        for name, row in entries(snap, base):
            if not safe(name):
                unsafe.append(repr(name))
                continue
            writer(archive, snap, name, row)
    return unsafe


def _open_archive(fmt: str, out: IO[bytes]) -> Any:
    if fmt == "tar":
        # "w|": a stream, never seeked back into, so stdout may be a pipe.
        return tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, errors="surrogateescape")
    return zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)


def _tar_entry(tar: tarfile.TarFile, snap: kloset.Snapshot, name: str, row: dict[str, Any]) -> None:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(row["mode"])
    info.mtime = row["mtime"] / 1e9
    info.uid, info.gid = row["uid"], row["gid"]
    info.uname, info.gname = row["user"] or "", row["group"] or ""
    kind = row["type"]
    if kind == "file":
        info.size = row["size"]
        # Buffered: tarfile takes a short read for the end of the data, and content comes chunk by chunk.
        with io.BufferedReader(snap.open_entry(row), _COPY) as f:
            tar.addfile(info, f)
        return
    if kind == "dir":
        info.type = tarfile.DIRTYPE
    elif kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, row["target"] or ""
    elif kind == "fifo":
        info.type = tarfile.FIFOTYPE
    else:
        return  # sockets and device nodes: nothing a tar extracted by a user could make of them
    tar.addfile(info)


def _zip_entry(zf: zipfile.ZipFile, snap: kloset.Snapshot, name: str, row: dict[str, Any]) -> None:
    kind = row["type"]
    if kind not in ("file", "dir", "symlink"):
        return  # zip has no other kind of entry
    info = zipfile.ZipInfo(name + "/" if kind == "dir" else name, _zip_time(row["mtime"]))
    info.external_attr = (row["mode"] & 0xFFFF) << 16 | (0x10 if kind == "dir" else 0)
    info.create_system = 3  # Unix: the high bytes of external_attr are st_mode
    if kind == "dir":
        zf.writestr(info, b"")
    elif kind == "symlink":
        # Info-ZIP's convention (zip -y): a link is an entry of mode S_IFLNK whose content is its target.
        zf.writestr(info, (row["target"] or "").encode("utf-8", "surrogateescape"), zipfile.ZIP_STORED)
    else:
        info.file_size = row["size"]  # known before writing, so zip64 is chosen when needed
        info.compress_type = zipfile.ZIP_DEFLATED
        with snap.open_entry(row) as src, zf.open(info, "w") as dst:
            shutil.copyfileobj(src, dst, _COPY)


def _zip_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    t = time.localtime(mtime_ns / 1e9)[:6]
    return max(_ZIP_EPOCH, (t[0], t[1], t[2], t[3], t[4], t[5]))
