"""The destination connector interface: where restores write to.

The restore engine calls these methods in snapshot order (parents before children) with paths made
relative to the destination root and already checked: no empty, ``.`` or ``..`` component, no leading
``/``. An exporter still refuses, with UnsafePathError, any write that would land outside its root
(for example through a symlink that the restore itself created).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from .errors import UnsafePathError, Unsupported
from .objects import FileInfo


class Exporter(ABC):
    protocols: tuple[str, ...] = ()

    def __init__(self, config: dict[str, str]) -> None:
        self.config = dict(config)
        self.location = config.get("location", "")

    @property
    @abstractmethod
    def root(self) -> str: ...

    @abstractmethod
    def mkdir(self, path: str, info: FileInfo) -> None:
        """Create a directory (idempotent)."""

    @abstractmethod
    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        """Write a regular file from its content pieces, replacing any file of that name atomically."""

    @abstractmethod
    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        """Create a symbolic link."""

    def special(self, path: str, info: FileInfo) -> None:
        """Create a FIFO or device node. The default refuses: not every destination has them."""
        raise Unsupported(f"{type(self).__name__} cannot create special files")

    def hardlink(self, path: str, existing: str) -> bool:
        """Make ``path`` another name of the already restored ``existing``; False when unsupported."""
        return False

    def set_attributes(self, path: str, info: FileInfo, xattrs: dict[str, bytes]) -> None:
        """Apply mode, ownership, times and extended attributes after content (directories last)."""

    def ping(self) -> None:
        """Raise if the destination cannot be reached; the default has nothing to check."""

    def close(self) -> None:
        """Flush and release resources."""


def checked_parts(path: str, connector: str = "", also: str = "") -> list[str]:
    """The components of a path the restore engine passed, refused with UnsafePathError unless it is
    plainly relative: no empty, ``.`` or ``..`` component and no NUL (nor any character of ``also``,
    for a protocol that cannot carry it). Every exporter checks this before it writes."""
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or any(c in path for c in "\0" + also):
        raise UnsafePathError(f"{connector + ': ' if connector else ''}refusing unsafe path {path!r}")
    return parts
