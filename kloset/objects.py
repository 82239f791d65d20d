"""Plain data shared by every layer: IDs, resource and blob types, file metadata, records.

Nothing here does I/O.
"""

from __future__ import annotations

import enum
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

ID_SIZE = 32


class ResourceType(enum.IntEnum):
    """What a store holds; numbers are the plugin protocol's StorageResource values."""

    PACKFILE = 1
    STATE = 2
    LOCK = 3


class BlobType(enum.IntEnum):
    """What a blob inside a packfile is; stored in pack indexes and bound into MACs and AEAD tags."""

    CHUNK = 1  # a piece of file content
    SNAPSHOT = 2  # a snapshot header (msgpack)
    FILES = 3  # a piece of a snapshot's file index (Parquet)
    CHUNKS = 4  # a piece of a snapshot's object -> chunks table (Parquet)
    XATTRS = 5  # a piece of a snapshot's extended attributes table (Parquet)
    ERRORS = 6  # a piece of a snapshot's errors table (Parquet)
    RESULT = 7  # what one analyzer said of one content object (msgpack, ID derived from both)
    ANALYSIS = 8  # an analysis of a snapshot: which analyzers, and its tables (msgpack)
    FINDINGS = 9  # a piece of an analysis's findings table (Parquet)
    EMAILS = 10  # a piece of an analysis's emails table (Parquet)
    PADDING = 15  # random bytes that hide pack layout

    @property
    def is_data(self) -> bool:
        """File content goes to data packs; everything else to metadata ("hot") packs."""
        return self is BlobType.CHUNK


class EntryType(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"
    SOCKET = "socket"
    DEVICE = "device"


def entry_type(mode: int) -> EntryType:
    if stat.S_ISREG(mode):
        return EntryType.FILE
    if stat.S_ISDIR(mode):
        return EntryType.DIR
    if stat.S_ISLNK(mode):
        return EntryType.SYMLINK
    if stat.S_ISFIFO(mode):
        return EntryType.FIFO
    if stat.S_ISSOCK(mode):
        return EntryType.SOCKET
    return EntryType.DEVICE


@dataclass(slots=True)
class FileInfo:
    """What a connector knows of one entry. ``mode`` holds POSIX st_mode bits (type and permissions)."""

    name: str
    size: int = 0
    mode: int = stat.S_IFREG | 0o644
    mtime_ns: int = 0
    ctime_ns: int = 0
    dev: int = 0
    ino: int = 0
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    username: str = ""
    groupname: str = ""
    rdev: int = 0

    @property
    def type(self) -> EntryType:
        return entry_type(self.mode)


Opener = Callable[[], BinaryIO]


@dataclass(slots=True)
class Record:
    """One entry produced by an importer (or handed to an exporter).

    ``pathname`` is absolute and '/'-separated. Names that are not valid UTF-8 carry their bytes as
    lone surrogates (UTF-8 with ``surrogateescape``), so they round-trip. ``open`` lazily opens the content of a
    regular file; ``error`` set means the entry could not be read and carries no content.
    Extended attributes are either given in ``xattrs`` or read on demand by ``load_xattrs``: a backup
    skips reading them for a file it takes unchanged from its parent snapshot (any change to an
    attribute changes the file's ctime).
    """

    pathname: str
    info: FileInfo | None = None
    target: str = ""
    xattrs: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    open: Opener | None = None
    load_xattrs: Callable[[], dict[str, bytes]] | None = None

    def get_xattrs(self) -> dict[str, bytes]:
        if self.load_xattrs is not None:
            self.xattrs = self.load_xattrs()
            self.load_xattrs = None
        return self.xattrs
