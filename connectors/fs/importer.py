"""Local filesystem source: walks a directory tree in snapshot order without following symlinks."""

from __future__ import annotations

import errno
import functools
import grp
import io
import os
import pwd
import socket
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

from kloset.errors import ConfigError, KlosetError, NotFound
from kloset.importer import Excludes, Importer, ImporterOptions, LocationFlags
from kloset.objects import FileInfo, Record

from .walk import ChildWalk, Entry, WalkFailed, walk

_SCHEME = "fs://"


class FSImporter(Importer):
    """Reads a local directory tree.

    ``scan`` visits each directory's entries sorted by their name bytes, depth first, so records come
    out in :func:`kloset.snapshot.order.path_key` order. Only the root is followed when it is a symlink
    (naming a link to a directory means "back up that directory"); nothing below it is.
    """

    protocols = ("fs",)
    ordered = True
    scan_blocks = False  # the walk runs in a child process (see walk.py)
    reads_block = False

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._root = _root_from_location(self.config.get("location", ""), self.options.cwd)
        self._origin = self.options.hostname or socket.gethostname()
        Excludes(self.options.excludes)  # a malformed pattern fails here, not in the walk
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}
        self._walk: ChildWalk | None = None
        self.ping()

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def type(self) -> str:
        return "fs"

    @property
    def root(self) -> str:
        return self._root

    @property
    def flags(self) -> LocationFlags:
        return LocationFlags.LOCALFS

    def ping(self) -> None:
        try:
            os.stat(self._root)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise NotFound(f"{self._root}: no such file or directory") from e
        except OSError as e:
            raise KlosetError(f"{self._root}: {e.strerror}") from e

    def scan(self) -> Iterator[Record]:
        in_process = self.options.max_concurrency == 1
        entries = walk(self._root, self.options.excludes) if in_process else self._in_child()
        users, groups, xattrs = self._users, self._groups, not self.options.no_xattr
        follow = True  # only the root, the first entry, is followed
        for path, error, st, target in entries:
            if st is None:
                yield Record(pathname=path, error=error)
                follow = False
                continue
            mode, size, mtime, ctime, dev, ino, uid, gid, nlink, rdev = st
            record = Record(
                pathname=path,
                info=FileInfo(path.rpartition("/")[2] or "/", size, mode, mtime, ctime, dev, ino, uid, gid, nlink,
                              users.get(uid) or self._username(uid), groups.get(gid) or self._groupname(gid), rdev),
                target=target,
                error=error,
            )
            if error is None and stat.S_ISREG(mode):
                record.open = functools.partial(_open_regular, path)
            if xattrs:
                record.load_xattrs = functools.partial(_read_xattrs, path, follow)
            follow = False
            yield record

    def prefetch(self) -> None:
        if self.options.max_concurrency != 1 and self._walk is None:
            self._walk = self._start_walk()

    def _start_walk(self) -> ChildWalk:
        try:
            return ChildWalk(self._root, self.options.excludes)
        except OSError as e:
            raise KlosetError(f"cannot walk {self._root}: {e}") from e

    def _in_child(self) -> Iterator[Entry]:
        child, self._walk = self._walk or self._start_walk(), None
        try:
            yield from child.entries()
        except (WalkFailed, OSError) as e:
            raise KlosetError(f"cannot walk {self._root}: {e}") from e

    def close(self) -> None:
        if self._walk is not None:
            self._walk.close()
            self._walk = None

    def _username(self, uid: int) -> str:
        return _cached_name(self._users, uid, lambda i: pwd.getpwuid(i).pw_name)

    def _groupname(self, gid: int) -> str:
        return _cached_name(self._groups, gid, lambda i: grp.getgrgid(i).gr_name)




def _root_from_location(location: str, cwd: str) -> str:
    path = location.removeprefix(_SCHEME)
    if not path:
        raise ConfigError("the fs importer needs a location")
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(path)))
    # POSIX lets normpath keep a leading "//"; kloset paths have exactly one.
    return "/" + path.lstrip("/")


_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_CLOEXEC
    # A file swapped for a symlink or a FIFO after the scan must not make the backup read something
    # else (a symlink to /etc/shadow) or block forever.
    | os.O_NOFOLLOW
    | os.O_NONBLOCK
)
_O_NOATIME = getattr(os, "O_NOATIME", 0)


def _open_regular(path: str) -> BinaryIO:
    try:
        # Reading for a backup should not look like use: keep atime when allowed (owner or root).
        fd = os.open(path, _OPEN_FLAGS | _O_NOATIME)
    except PermissionError:
        if not _O_NOATIME:
            raise
        fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "no longer a regular file", path)
        # O_NONBLOCK does not apply to regular files, so it need not be cleared; unbuffered, since
        # content is read in large pieces straight into the chunker.
        return io.FileIO(fd, "rb")  # what os.fdopen gives for this, without its checks in Python
    except BaseException:
        os.close(fd)
        raise


def _read_xattrs(path: str, follow: bool) -> dict[str, bytes]:
    if not hasattr(os, "listxattr"):
        return {}
    # An attribute that cannot be read is skipped, not fatal: file systems without xattrs, attributes
    # in namespaces the user may not read, or the entry vanishing in between.
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError:
        return {}
    xattrs: dict[str, bytes] = {}
    for name in sorted(names):
        try:
            xattrs[name] = os.getxattr(path, name, follow_symlinks=follow)
        except OSError:
            continue
    return xattrs


def _cached_name(cache: dict[int, str], ident: int, lookup: Callable[[int], str]) -> str:
    """A user or group name from the system databases, asked once per ID ("" when it has none)."""
    name = cache.get(ident)
    if name is None:
        try:
            name = lookup(ident)
        except KeyError:
            name = ""
        cache[ident] = name
    return name
