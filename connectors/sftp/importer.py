"""SFTP source: walks a directory tree on an SFTP server in snapshot order.

Each directory is listed with its children's attributes in one request (OpenSSH reports them as
lstat does: links are not followed); content is opened only when the backup reads a file, and read
in windows of pipelined requests.
"""

from __future__ import annotations

import functools
import io
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar, cast

import paramiko
from paramiko import SFTPAttributes as Attrs

from kloset.connectors.fs.walk import describe, name_bytes
from kloset.importer import Excludes, Importer, ImporterOptions, depth_first
from kloset.objects import FileInfo, Record

from .session import READ_WINDOW, Session, read_range

T = TypeVar("T")
_NS = 1_000_000_000


class SFTPImporter(Importer):
    """Reads a tree of an SFTP server. Only the root is followed when it is a symlink."""

    protocols = ("sftp",)
    ordered = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._session = Session(config)
        self._excluded = Excludes(self.options.excludes)
        self._root = self._session.resolve(self._session.target.path).rstrip("/") or "/"
        self.ping()

    @property
    def origin(self) -> str:
        """The host, with its port when not 22: two servers on one host are two origins."""
        target = self._session.target
        return target.host if target.port == 22 else f"{target.host}:{target.port}"

    @property
    def type(self) -> str:
        return "sftp"

    @property
    def root(self) -> str:
        return self._root

    def ping(self) -> None:
        self._session.call(lambda sftp: sftp.stat(self._root), f"stat {self._root}")

    def scan(self) -> Iterator[Record]:
        root_attrs, error = self._entry_call(lambda sftp: sftp.stat(self._root), "cannot stat")
        if root_attrs is None:
            yield Record(pathname=self._root, error=error)
            return
        record, children = self._visit(self._root, "", root_attrs)
        yield record
        yield from depth_first(self._root, children, lambda attrs: attrs.filename, self._visit)

    def _visit(self, path: str, rel: str, attrs: Attrs) -> tuple[Record, list[Attrs]]:
        """The record of ``path`` and, for a directory, its children's attributes in walk order."""
        mode = attrs.st_mode or 0
        record = Record(pathname=path, info=_info(path, attrs))
        children: list[Attrs] = []
        if stat.S_ISDIR(mode):
            listing, record.error = self._entry_call(lambda sftp: sftp.listdir_attr(path), "cannot list directory")
            children = sorted((a for a in listing or () if not self._excluded(
                f"{rel}/{a.filename}" if rel else a.filename, stat.S_ISDIR(a.st_mode or 0))),
                              key=lambda a: name_bytes(a.filename))
        elif stat.S_ISLNK(mode):
            target, record.error = self._entry_call(lambda sftp: sftp.readlink(path), "cannot read link")
            record.target = target or ""
        elif stat.S_ISREG(mode):
            record.open = functools.partial(self._open, path)
        return record, children

    def _entry_call(self, fn: Callable[[paramiko.SFTPClient], T], what: str) -> tuple[T | None, str | None]:
        """``fn``'s result, or None and what went wrong with the entry. A lost connection raises."""

        def attempt(sftp: paramiko.SFTPClient) -> tuple[T | None, str | None]:
            try:
                return fn(sftp), None
            except OSError as e:
                if isinstance(e, TimeoutError) or Session.lost(sftp):
                    raise
                return None, describe(e, what)
            except UnicodeDecodeError:
                # paramiko decodes names as strict UTF-8, so such a directory cannot be listed.
                return None, f"{what}: a name in it is not valid UTF-8"

        return self._session.call(attempt, what)

    def _open(self, path: str) -> BinaryIO:
        give_back, sftp = self._session.borrow(f"read {path}")
        try:
            f = sftp.open(path, "rb")
            size = f.stat().st_size or 0
        except BaseException as e:
            lost = Session.lost(sftp)
            fatal = lost or isinstance(e, TimeoutError) or not isinstance(e, OSError)
            give_back(fatal)
            if fatal:
                raise self._session.error(e, f"read {path}", dropped=lost) from e
            raise  # an OSError of this file: the backup records it and goes on
        fail = functools.partial(self._session.error, what=f"read {path}", dropped=True)
        return cast(BinaryIO, io.BufferedReader(_RemoteFile(f, size, give_back, fail), READ_WINDOW))

    def close(self) -> None:
        self._session.close()


class _RemoteFile(io.RawIOBase):
    """A remote file read front to back, one window of pipelined requests at a time."""

    def __init__(self, f: paramiko.SFTPFile, size: int, release: Callable[[bool], None],
                 fail: Callable[[BaseException], Exception]) -> None:
        self._f, self._size, self._release, self._fail = f, size, release, fail
        self._pos = 0
        self._failed = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), READ_WINDOW, self._size - self._pos)
        if want <= 0:
            return 0
        try:
            data = read_range(self._f, self._pos, self._pos + want)
        except (EOFError, paramiko.SSHException) as e:
            self._failed = True
            raise self._fail(e) from e
        except OSError as e:
            self._failed = True
            if isinstance(e, TimeoutError) or Session.lost(self._f.sftp):
                raise self._fail(e) from e
            raise
        buffer[: len(data)] = data
        self._pos += len(data)
        if not data:
            self._size = self._pos  # the file shrank since it was opened: its end is here
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._f.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # a connection that is gone closed the handle with it
            finally:
                self._release(self._failed)
        super().close()


def _info(path: str, attrs: Attrs) -> FileInfo:
    # ls -l style fields of a listing's long name carry the owner's and group's names.
    fields = (getattr(attrs, "longname", "") or "").split()
    user, group = (fields[2], fields[3]) if len(fields) > 4 else ("", "")
    # SFTP version 3 has whole seconds and no change time.
    return FileInfo(path.rpartition("/")[2] or "/", attrs.st_size or 0, attrs.st_mode or 0, (attrs.st_mtime or 0) * _NS,
                    uid=attrs.st_uid or 0, gid=attrs.st_gid or 0, username=user, groupname=group)
