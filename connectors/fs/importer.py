"""Local filesystem source: walks a directory tree in snapshot order without following symlinks."""

from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import socket
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

from pathspec import GitIgnoreSpec

from kloset.errors import ConfigError, KlosetError, NotFound
from kloset.importer import Importer, ImporterOptions, LocationFlags
from kloset.objects import FileInfo, Record

_SCHEME = "fs://"


class FSImporter(Importer):
    """Reads a local directory tree.

    ``scan`` visits each directory's entries sorted by their name bytes, depth first, so records come
    out in :func:`kloset.snapshot.order.path_key` order. Only the root is followed when it is a symlink
    (naming a link to a directory means "back up that directory"); nothing below it is.
    """

    protocols = ("fs",)
    ordered = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._root = _root_from_location(self.config.get("location", ""), self.options.cwd)
        self._origin = self.options.hostname or socket.gethostname()
        self._excludes = GitIgnoreSpec.from_lines(self.options.excludes) if self.options.excludes else None
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}
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
        record, children = self._visit(self._root, "", follow=True)
        yield record
        # An explicit stack rather than recursion: trees deeper than the recursion limit exist, and
        # nested generators would cost O(depth) per record.
        stack: list[tuple[str, str, Iterator[str]]] = [(self._root, "", iter(children))]
        while stack:
            parent, parent_rel, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            path = _join(parent, name)
            rel = f"{parent_rel}/{name}" if parent_rel else name
            record, children = self._visit(path, rel)
            yield record
            if children:
                stack.append((path, rel, iter(children)))

    def _visit(self, path: str, rel: str, follow: bool = False) -> tuple[Record, list[str]]:
        """The record of ``path`` and, for a readable directory, its children's names in walk order.

        The directory is listed before its record is returned so that a listing failure can be carried
        by the record itself."""
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except OSError as e:
            return Record(pathname=path, error=_describe(e, "cannot stat")), []
        record = Record(pathname=path, info=self._info(path, st))
        children: list[str] = []
        if stat.S_ISDIR(st.st_mode):
            try:
                children = self._list(path, rel)
            except OSError as e:
                record.error = _describe(e, "cannot list directory")
        elif stat.S_ISLNK(st.st_mode):
            try:
                record.target = os.readlink(path)
            except OSError as e:
                record.error = _describe(e, "cannot read link")
        elif stat.S_ISREG(st.st_mode):
            record.open = functools.partial(_open_regular, path)
        if not self.options.no_xattr:
            record.load_xattrs = functools.partial(_read_xattrs, path, follow)
        return record, children

    def _list(self, path: str, rel: str) -> list[str]:
        names: list[str] = []
        with os.scandir(path) as entries:
            for entry in entries:
                if self._excludes is not None and self._excluded(entry, rel):
                    continue
                names.append(entry.name)
        names.sort(key=_name_bytes)
        return names

    def _excluded(self, entry: os.DirEntry[str], parent_rel: str) -> bool:
        assert self._excludes is not None
        rel = f"{parent_rel}/{entry.name}" if parent_rel else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False  # it vanished: the walk reports that when it gets there
        # gitignore tells directories apart by a trailing slash ("build/" must not match a file).
        return self._excludes.match_file(rel + "/" if is_dir else rel)

    def _info(self, path: str, st: os.stat_result) -> FileInfo:
        return FileInfo(
            name=os.path.basename(path) or "/",
            size=st.st_size,
            mode=st.st_mode,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            dev=st.st_dev,
            ino=st.st_ino,
            uid=st.st_uid,
            gid=st.st_gid,
            nlink=st.st_nlink,
            username=self._username(st.st_uid),
            groupname=self._groupname(st.st_gid),
            rdev=st.st_rdev,
        )

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


def _join(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


def _describe(e: OSError, what: str) -> str:
    reason = e.strerror or str(e)
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return f"vanished: {what}: {reason}"
    if isinstance(e, PermissionError):
        return f"permission denied: {what}"
    return f"{what}: {reason}"


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
        return os.fdopen(fd, "rb", buffering=0)
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


def _name_bytes(name: str) -> bytes:
    """A name's bytes as the snapshot order compares them (see kloset.snapshot.order.path_key)."""
    return name.encode("utf-8", "surrogateescape")


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
