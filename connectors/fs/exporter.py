"""Local filesystem destination: restores entries under a target directory, never outside it."""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import operator
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from kloset.errors import (
    ConfigError,
    KlosetError,
    NotFound,
    TransientError,
    UnsafePathError,
    Unsupported,
)
from kloset.exporter import Exporter, checked_parts
from kloset.objects import EntryType, FileInfo

_SCHEME = "fs://"
_TEMP_PREFIX = ".kloset-"
# Zero blocks of this size become holes: large enough to keep the written extents few, small enough
# to find the holes inside a chunk.
_HOLE_BLOCK = 64 * 1024
_ZEROS = bytes(_HOLE_BLOCK)
# Errors that mean "this file system cannot hard-link these": the restore falls back to a copy.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
_NOT_SUPPORTED = {errno.ENOTSUP, errno.EOPNOTSUPP}
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TRANSIENT = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE}


class FSExporter(Exporter):
    """Writes a restore into a local directory (created if missing).

    Every path is checked twice: lexically (relative, no empty, ``.`` or ``..`` component) and
    physically (its parent's real path lies inside the root's real path), because a snapshot may
    restore a symlink ``a -> /etc`` and then ask for ``a/passwd``. Operations then go through the
    resolved parent and never follow a symlink in the last component.
    """

    protocols = ("fs",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        location = self.location.removeprefix(_SCHEME)
        if not location:
            raise ConfigError("the fs exporter needs a location")
        self._root = os.path.abspath(os.path.expanduser(location))
        try:
            os.makedirs(self._root, exist_ok=True)
        except FileExistsError as e:
            raise ConfigError(f"{self._root} exists and is not a directory") from e
        except OSError as e:
            raise _translate(e, self._root) from e
        self._real_root = os.path.realpath(self._root)
        self._parents: dict[str, str] = {}

    @property
    def root(self) -> str:
        return self._root

    def mkdir(self, path: str, info: FileInfo) -> None:
        full = self._resolve(path)
        try:
            st = _lstat_or_none(full)
            if st is not None and stat.S_ISDIR(st.st_mode):
                return
            if st is not None:
                os.unlink(full)  # a file or symlink where the snapshot has a directory
            os.makedirs(full, exist_ok=True)
        except OSError as e:
            raise _translate(e, path) from e

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        full = self._resolve(path)
        try:
            # A fresh name is written in place: creating a temporary and renaming it costs several
            # times more on common file systems, and there is nothing to keep atomic yet. An existing
            # entry is replaced atomically through a temporary name.
            fd = os.open(full, _CREATE_NEW, 0o600)
            tmp = None
        except FileExistsError:
            fd, tmp = self._temporary(full, path)
        except FileNotFoundError:
            fd, tmp = self._temporary(full, path)
        except OSError as e:
            raise _translate(e, path) from e
        try:
            pieces = iter(content)
            first = next(pieces, b"")
            if len(first) == info.size and not _has_zero_block(first):
                # The common case, a whole file in one piece with no hole: allocating its blocks up
                # front lets the file system lay it out in one extent, measurably faster than
                # delayed allocation when thousands of small files are written.
                try:
                    if first:
                        os.posix_fallocate(fd, 0, len(first))
                        _write_all(fd, first)
                    os.fchmod(fd, stat.S_IMODE(info.mode) & 0o777)
                finally:
                    os.close(fd)
            else:
                with os.fdopen(fd, "wb") as f:
                    size = 0
                    for piece in itertools.chain((first,), pieces):
                        _write_keeping_holes(f, piece, size)
                        size += len(piece)
                    # Sets the size when the file ends in a hole.
                    f.truncate(size)
                    # Created 0600; give it its permission bits now in case attributes are not applied
                    # (set_attributes adds ownership and the setuid/setgid/sticky bits).
                    os.fchmod(f.fileno(), stat.S_IMODE(info.mode) & 0o777)
            if tmp is not None:
                os.replace(tmp, full)
        except BaseException as e:
            _discard(tmp if tmp is not None else full)
            if isinstance(e, OSError):
                raise _translate(e, path) from e
            raise

    def _temporary(self, full: str, path: str) -> tuple[int, str]:
        parent = os.path.dirname(full)
        try:
            os.makedirs(parent, exist_ok=True)
            return tempfile.mkstemp(dir=parent, prefix=_TEMP_PREFIX, suffix=".tmp")
        except OSError as e:
            raise _translate(e, path) from e

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        full = self._resolve(path)
        try:
            _create_replacing(full, lambda tmp: os.symlink(target, tmp))
        except OSError as e:
            raise _translate(e, path) from e

    def special(self, path: str, info: FileInfo) -> None:
        full = self._resolve(path)
        kind = info.type
        permissions = stat.S_IMODE(info.mode) & 0o777
        create: Callable[[str], None]
        if kind is EntryType.SOCKET:
            return  # a socket only means something while a program listens on it
        if kind is EntryType.FIFO:
            create = functools.partial(os.mkfifo, mode=permissions)
        elif kind is EntryType.DEVICE:
            if os.geteuid() != 0:
                raise Unsupported(f"{path}: device nodes can only be restored by root")
            create = functools.partial(os.mknod, mode=stat.S_IFMT(info.mode) | permissions, device=info.rdev)
        else:
            raise Unsupported(f"{path}: a {kind} is not a special file")
        try:
            _create_replacing(full, create)
        except PermissionError as e:
            if kind is EntryType.DEVICE:  # root without CAP_MKNOD, as in most containers
                raise Unsupported(f"{path}: this system does not allow creating device nodes") from e
            raise _translate(e, path) from e
        except OSError as e:
            raise _translate(e, path) from e

    def hardlink(self, path: str, existing: str) -> bool:
        full = self._resolve(path)
        source = self._resolve(existing)
        try:
            _create_replacing(full, lambda tmp: os.link(source, tmp, follow_symlinks=False))
        except OSError as e:
            if e.errno in _NO_HARDLINK:
                return False
            raise _translate(e, path) from e
        return True

    def set_attributes(self, path: str, info: FileInfo, xattrs: dict[str, bytes]) -> None:
        full = self._resolve(path)
        try:
            st = os.lstat(full)
            is_link = stat.S_ISLNK(st.st_mode)
            # The order matters: chown clears setuid/setgid bits and security.capability, so it goes
            # first; xattrs go before chmod because writing user.* needs write permission; times go
            # last because everything before may touch them. What already holds is not done again.
            owned = st.st_uid == info.uid and st.st_gid == info.gid
            if not owned:
                self._chown(full, info)
            _set_xattrs(full, xattrs)
            # chmod would follow a link, and Linux links have no mode anyway.
            if not is_link and (not owned or stat.S_IMODE(st.st_mode) != stat.S_IMODE(info.mode)):
                os.chmod(full, stat.S_IMODE(info.mode))
            os.utime(full, ns=(info.mtime_ns, info.mtime_ns), follow_symlinks=False)
        except OSError as e:
            raise _translate(e, path) from e

    def _chown(self, full: str, info: FileInfo) -> None:
        try:
            os.chown(full, info.uid, info.gid, follow_symlinks=False)
        except PermissionError:
            if os.geteuid() == 0:
                raise
            # Not root: files belong to whoever restores them, as with tar.

    def _resolve(self, path: str) -> str:
        """The absolute path to operate on for ``path``, or UnsafePathError."""
        parts = checked_parts(path)
        rel_parent = path.rpartition("/")[0]
        parent = self._parents.get(rel_parent)
        if parent is None:
            parent = os.path.realpath(os.path.join(self._real_root, *parts[:-1]))
            if parent != self._real_root and not parent.startswith(self._real_root.rstrip("/") + "/"):
                raise UnsafePathError(f"refusing {path!r}: it would be written outside {self._root}")
            if os.path.isdir(parent):
                # A directory stays one for the rest of the restore: nothing here renames a link or a
                # file over a directory (the kernel refuses), so its check need not be repeated.
                self._parents[rel_parent] = parent
        return os.path.join(parent, parts[-1])


def _write_keeping_holes(f: BinaryIO, piece: bytes, offset: int) -> None:
    """Write ``piece`` at ``offset`` (the current position), seeking over runs of zero blocks.

    Seeking instead of writing zeros leaves holes, so a sparse file stays sparse. Content pieces are
    chunks of up to several MiB, so zeros are looked for block by block, not only piece by piece."""
    view = memoryview(piece)
    for is_zero, run in itertools.groupby(_blocks(piece, offset), key=operator.itemgetter(2)):
        blocks = list(run)
        start, end = blocks[0][0], blocks[-1][1]
        if is_zero:
            f.seek(end - start, os.SEEK_CUR)
        else:
            f.write(view[start:end])


def _has_zero_block(piece: bytes) -> bool:
    return any(zero for _, _, zero in _blocks(piece, 0))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _blocks(piece: bytes, offset: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, all zero) of the blocks of ``piece``, aligned on file offsets so that a skipped
    block covers whole file-system blocks."""
    start = 0
    while start < len(piece):
        end = min(len(piece), start + _HOLE_BLOCK - (offset + start) % _HOLE_BLOCK)
        # Slicing and comparing is a memcmp: several GB/s, unlike a byte loop.
        yield start, end, piece[start:end] == _ZEROS[: end - start]
        start = end


def _lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _create_replacing(full: str, create: Callable[[str], None]) -> None:
    """Create an entry under a fresh name beside ``full`` with ``create``, then rename it over ``full``.

    Renaming replaces a file or symlink atomically and never follows a symlink at ``full``."""
    parent = os.path.dirname(full)
    os.makedirs(parent, exist_ok=True)
    while True:
        tmp = os.path.join(parent, f"{_TEMP_PREFIX}{secrets.token_hex(8)}.tmp")
        try:
            create(tmp)
            break
        except FileExistsError:
            continue
    try:
        os.replace(tmp, full)
    except BaseException:
        _discard(tmp)
        raise


def _discard(path: str) -> None:
    with contextlib.suppress(OSError):  # already gone: nothing left to clean
        os.unlink(path)


def _set_xattrs(full: str, xattrs: dict[str, bytes]) -> None:
    if not xattrs or not hasattr(os, "setxattr"):
        return
    for name, value in xattrs.items():
        try:
            os.setxattr(full, name, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in _NOT_SUPPORTED:
                raise


def _translate(e: OSError, path: str) -> KlosetError:
    what = f"{path}: {e.strerror or e}"
    if isinstance(e, FileNotFoundError):
        return NotFound(what)
    if isinstance(e, PermissionError):
        return KlosetError(f"permission denied: {what}")
    if e.errno in _NOT_SUPPORTED:
        return Unsupported(what)
    if e.errno in _TRANSIENT:
        return TransientError(what)
    return KlosetError(what)
