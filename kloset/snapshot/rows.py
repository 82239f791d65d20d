"""Conversions between records and index rows."""

from __future__ import annotations

from typing import Any

from ..objects import FileInfo
from .order import bytes_key


def split_path(pathname: str) -> tuple[str, bytes | None]:
    """(display path, raw bytes or None): names that are not UTF-8 keep their bytes in ``raw_path``."""
    try:
        pathname.encode("utf-8")
        return pathname, None
    except UnicodeEncodeError:
        raw = pathname.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace"), raw


def row_pathname(row: dict[str, Any]) -> str:
    """The original path of a row (lone surrogates for bytes that are not UTF-8)."""
    raw = row.get("raw_path")
    return raw.decode("utf-8", "surrogateescape") if raw is not None else str(row["path"])


def row_key(path: str, raw: bytes | None) -> bytes:
    """The snapshot-order key of a stored row (see :func:`kloset.snapshot.order.path_key`)."""
    return bytes_key(raw if raw is not None else path.encode("utf-8"))


def row_info(row: dict[str, Any]) -> FileInfo:
    """FileInfo of an index row (as the restore and the exporters see it)."""
    pathname = row_pathname(row)
    return FileInfo(
        name=pathname.rsplit("/", 1)[-1], size=int(row["size"]), mode=int(row["mode"]),
        mtime_ns=int(row["mtime"]), ctime_ns=int(row["ctime"]), dev=int(row["dev"]), ino=int(row["inode"]),
        uid=int(row["uid"]), gid=int(row["gid"]), nlink=int(row["nlink"]), username=row["user"] or "",
        groupname=row["group"] or "", rdev=int(row["rdev"]),
    )
