"""SFTP destination: restores entries under a directory of an SFTP server, never outside it.

Files are written to a temporary name and moved into place with the posix-rename extension, which
replaces an existing entry atomically and never follows a symlink at the final name. Ownership is
restored only when logged in as root and the server lets it change owners. Hard links are made with
the ``hardlink@openssh.com`` extension where the server has it.
"""

from __future__ import annotations

import contextlib
import secrets
import stat
from collections.abc import Callable, Iterable

import paramiko
from paramiko.sftp import CMD_EXTENDED

from kloset.errors import UnsafePathError
from kloset.exporter import Exporter, checked_parts
from kloset.objects import FileInfo

from .session import Session, makedirs

_TEMP_PREFIX = ".kloset-"
_HARDLINK = "hardlink@openssh.com"
_NS = 1_000_000_000


class SFTPExporter(Exporter):
    """Writes a restore into a directory of an SFTP server (created if missing).

    Every path is checked twice: lexically, and physically, the server resolving its parent (through
    any symlink) to a path that must lie inside the root's real path, because a snapshot may restore
    a symlink ``a -> /etc`` and then ask for ``a/passwd``."""

    protocols = ("sftp",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._session = Session(config)
        self._root = self._session.resolve(self._session.target.path).rstrip("/") or "/"

        def make_root(sftp: paramiko.SFTPClient) -> str:
            makedirs(sftp, self._root, 0o777)  # the server's umask applies, as with mkdir -p
            return sftp.normalize(self._root).rstrip("/") or "/"

        self._real_root = self._session.call(make_root, f"create {self._root}")
        self._parents: dict[str, str] = {}
        self._may_chown = self._session.target.username == "root"

    @property
    def root(self) -> str:
        return self._root

    def mkdir(self, path: str, info: FileInfo) -> None:
        full = self._resolve(path)

        def mkdir(sftp: paramiko.SFTPClient) -> None:
            existing = _lstat_or_none(sftp, full)
            if existing is not None and stat.S_ISDIR(existing.st_mode or 0):
                return
            if existing is not None:
                sftp.remove(full)  # a file or symlink where the snapshot has a directory
            sftp.mkdir(full)

        self._session.call(mkdir, f"mkdir {path}")

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        full = self._resolve(path)

        def write(sftp: paramiko.SFTPClient) -> None:
            def fill(tmp: str) -> None:
                with sftp.open(tmp, "wbx") as f:
                    f.set_pipelined(True)  # no wait for each 32 KiB request's answer
                    for piece in content:
                        f.write(piece)
                    f.chmod(stat.S_IMODE(info.mode) & 0o777)

            _create_replacing(sftp, full, fill)

        # Not replayed: the content is an iterator, read once.
        self._session.call(write, f"write {path}", retry=False)

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        full = self._resolve(path)
        self._session.call(lambda sftp: _create_replacing(sftp, full, lambda tmp: sftp.symlink(target, tmp)),
                           f"symlink {path}")

    def hardlink(self, path: str, existing: str) -> bool:
        """A second name through OpenSSH's ``hardlink@openssh.com``; False when the server or its file
        system cannot, and the restore then writes a copy."""
        full, source = self._resolve(path), self._resolve(existing)

        def link(sftp: paramiko.SFTPClient) -> bool:
            try:
                # paramiko sends extended requests this way for its own posix_rename; it has no public
                # call for this extension.
                _create_replacing(sftp, full, lambda tmp: sftp._request(CMD_EXTENDED, _HARDLINK, source, tmp))
            except OSError:
                if Session.lost(sftp):
                    raise
                return False
            return True

        return self._session.call(link, f"hardlink {path}")

    def set_attributes(self, path: str, info: FileInfo, xattrs: dict[str, bytes]) -> None:
        full = self._resolve(path)

        def apply(sftp: paramiko.SFTPClient) -> None:
            attrs = sftp.lstat(full)
            if stat.S_ISLNK(attrs.st_mode or 0):
                return  # SFTP's setstat follows links, and a link's own attributes do not matter
            # chown clears setuid and setgid bits, so it goes before chmod; times go last.
            if self._may_chown and (attrs.st_uid, attrs.st_gid) != (info.uid, info.gid):
                try:
                    sftp.chown(full, info.uid, info.gid)
                except PermissionError:
                    self._may_chown = False  # the server does not allow it: files are the login's
            if stat.S_IMODE(attrs.st_mode or 0) != stat.S_IMODE(info.mode):
                sftp.chmod(full, stat.S_IMODE(info.mode))
            seconds = info.mtime_ns // _NS
            sftp.utime(full, (seconds, seconds))

        self._session.call(apply, f"set attributes of {path}")

    def close(self) -> None:
        self._session.close()

    def _resolve(self, path: str) -> str:
        """The server path to operate on for ``path``, or UnsafePathError."""
        parts = checked_parts(path, "sftp")
        rel_parent = path.rpartition("/")[0]
        parent = self._parents.get(rel_parent)
        if parent is None:
            parent, is_dir = self._session.call(lambda sftp: self._real_parent(sftp, parts[:-1]),
                                                f"resolve {path}")
            if is_dir:
                # A directory stays one for the rest of the restore: nothing here renames a link or a
                # file over a directory, so its check need not be repeated.
                self._parents[rel_parent] = parent
        return f"{parent}/{parts[-1]}"

    def _real_parent(self, sftp: paramiko.SFTPClient, parts: list[str]) -> tuple[str, bool]:
        """The real path of the parent named by ``parts``, whether it is a directory, or UnsafePathError.

        Missing directories are resolved through their nearest existing ancestor, since they will be
        made under it."""
        for depth in range(len(parts), -1, -1):
            try:
                real = sftp.normalize("/".join([self._root, *parts[:depth]])).rstrip("/") or "/"
            except FileNotFoundError:
                continue
            if real != self._real_root and not real.startswith(self._real_root.rstrip("/") + "/"):
                raise UnsafePathError(f"sftp: refusing {'/'.join(parts)!r}: it would be written outside {self._root}")
            if depth < len(parts):
                return "/".join([real, *parts[depth:]]), False
            attrs = sftp.stat(real)
            return real, stat.S_ISDIR(attrs.st_mode or 0)
        raise UnsafePathError(f"sftp: refusing {'/'.join(parts)!r}: {self._root} cannot be resolved")


def _lstat_or_none(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    try:
        return sftp.lstat(path)
    except FileNotFoundError:
        return None


def _create_replacing(sftp: paramiko.SFTPClient, full: str, create: Callable[[str], None]) -> None:
    """Create an entry under a fresh name beside ``full`` with ``create``, then rename it over ``full``."""
    tmp = f"{full.rpartition('/')[0]}/{_TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
    try:
        create(tmp)
        sftp.posix_rename(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            sftp.remove(tmp)
        raise
