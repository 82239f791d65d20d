"""Snapshot order: the one order in which entries are stored, walked, merged and restored."""

from __future__ import annotations


def path_key(path: str) -> bytes:
    """Sort key of an absolute path: its bytes (UTF-8, undecodable bytes as they were) with '/' as NUL.

    Comparing keys compares paths component by component (NUL sorts below every byte a name can hold),
    which is the order of a depth-first walk that visits each directory's entries sorted by name bytes:
    parents come before their children, and ``/a/b`` before ``/a.b``."""
    return bytes_key(path.encode("utf-8", "surrogateescape"))


def bytes_key(path: bytes) -> bytes:
    """:func:`path_key` of a path already in bytes."""
    return path.replace(b"/", b"\x00")
