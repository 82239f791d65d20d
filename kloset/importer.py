"""The source connector interface: where backups read from."""

from __future__ import annotations

import enum
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from .buffers import Parts
from .errors import ConfigError, NotFound
from .objects import Record

Entry = TypeVar("Entry")
Result = TypeVar("Result")


class LocationFlags(enum.IntFlag):
    """The plugin protocol's location flags."""

    NONE = 0
    LOCALFS = 1
    FILE = 2
    STREAM = 4
    NEEDACK = 8
    NOMERGE = 16
    EXPORTXATTR = 32


@dataclass(slots=True)
class ImporterOptions:
    hostname: str = ""
    cwd: str = ""
    max_concurrency: int = 0  # 0: the connector's choice; 1: everything in the calling thread's process
    excludes: list[str] = field(default_factory=list)
    no_xattr: bool = False


class BatchOpener(ABC):
    """An opener (see :class:`~kloset.objects.Record`) whose source reads many files faster together
    than one by one, as a plugin does, whose reads are calls over one connection: a backup gives
    :meth:`fetch` a whole batch of them."""

    __slots__ = ()

    @abstractmethod
    def __call__(self) -> BinaryIO: ...

    @abstractmethod
    def fetch(self, batch: list[BatchOpener]) -> list[Parts | OSError]:
        """The content of each opener of ``batch`` (all of this one's source), as parts, or the error
        that reading it met; a failure of the source itself is raised."""


class Importer(ABC):
    """A source of records. ``config`` is flat (``location`` plus connector keys).

    ``origin`` names the machine or server, ``type`` the connector (``fs``, ``imap``...), ``root`` the
    absolute path inside the origin that the backup covers; the three together choose the parent of an
    incremental backup.
    """

    protocols: tuple[str, ...] = ()
    #: True when :meth:`scan` yields records in snapshot order (see :func:`kloset.snapshot.order.path_key`);
    #: otherwise the backup sorts them itself.
    ordered: bool = False
    #: True when :meth:`scan` spends its time waiting (on a network, a disk): the backup then runs it in
    #: a thread beside its own work. False when it is quick or does its work in another process.
    scan_blocks: bool = True
    #: True when reading a file's content waits on a network: a plugin then serves reads side by side.
    #: False when reads are local and quick: a plugin serves them one after another on its connection's
    #: thread, which costs far less per file.
    reads_block: bool = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        self.config = dict(config)
        self.options = options or ImporterOptions()

    @property
    @abstractmethod
    def origin(self) -> str: ...

    @property
    @abstractmethod
    def type(self) -> str: ...

    @property
    @abstractmethod
    def root(self) -> str: ...

    @property
    def flags(self) -> LocationFlags:
        return LocationFlags(0)

    @abstractmethod
    def scan(self) -> Iterator[Record]:
        """Yield one record per entry under root, the root directory included.

        An entry that cannot be read is yielded with ``error`` set, never raised: a backup records it and
        goes on. ``Record.open`` opens a regular file's content lazily; it may raise OSError, which the
        backup records as an error of that file."""

    def prefetch(self) -> None:
        """Start scanning in the background, ahead of :meth:`scan`, for a caller that has other work to
        do first. Optional: the default does nothing, and :meth:`scan` works without it."""

    def ping(self) -> None:
        """Raise if the source cannot be reached."""

    def close(self) -> None:
        """Release connections."""


class Excludes:
    """The gitignore-style patterns of :attr:`ImporterOptions.excludes`, matched against paths relative
    to a scan's root. Made when the importer is, so that a malformed pattern fails before anything is read.
    (The fs walk matches them itself, in its child process: see :func:`depth_first`.)"""

    def __init__(self, patterns: list[str]) -> None:
        from pathspec import GitIgnoreSpec  # loaded by importers that have patterns, not by the command line

        self._spec = GitIgnoreSpec.from_lines(patterns) if patterns else None

    def __bool__(self) -> bool:
        """Whether there are patterns at all: a walk then need not tell directories apart to ask."""
        return self._spec is not None

    def __call__(self, rel: str, is_dir: bool) -> bool:
        """Whether the entry at ``rel`` (a directory when ``is_dir``) is excluded."""
        # gitignore tells directories apart by a trailing slash ("build/" must not match a file).
        return self._spec is not None and self._spec.match_file(rel + "/" if is_dir else rel)


def read_exclude_file(path: str) -> list[str]:
    """The patterns of a gitignore-style exclude file: blank lines and ``#`` comments dropped."""
    try:
        # Decoded like file names are, so a pattern can name a non-UTF-8 file.
        with open(path, encoding=sys.getfilesystemencoding(), errors=sys.getfilesystemencodeerrors()) as f:
            lines = f.read().splitlines()
    except FileNotFoundError as e:
        raise NotFound(f"exclude file {path}: no such file") from e
    except OSError as e:
        raise ConfigError(f"exclude file {path}: {e.strerror}") from e
    return [line for line in lines if line.strip() and not line.startswith("#")]


def depth_first(root: str, children: Iterable[Entry], name: Callable[[Entry], str],
                visit: Callable[[str, str, Entry], tuple[Result, Iterable[Entry]]]) -> Iterator[Result]:
    """What ``visit`` makes of each entry below ``root``, depth first, each directory's ``children`` in the
    order given (a scan in snapshot order gives them sorted by name bytes). ``visit(path, rel, entry)``
    gets the entry's absolute path and its path relative to ``root``, and returns its result and its own
    children (none for anything but a directory).

    An explicit stack rather than recursion: trees deeper than the recursion limit exist, and nested
    generators would cost O(depth) per entry. (The fs walk keeps a copy of this loop: it runs as a script
    of its own, which imports nothing of kloset so that it starts in milliseconds.)"""
    stack: list[tuple[str, str, Iterator[Entry]]] = [(root, "", iter(children))]
    while stack:
        parent, parent_rel, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        n = name(entry)
        path = f"/{n}" if parent == "/" else f"{parent}/{n}"
        rel = f"{parent_rel}/{n}" if parent_rel else n
        result, below = visit(path, rel, entry)
        yield result
        if below:
            stack.append((path, rel, iter(below)))
