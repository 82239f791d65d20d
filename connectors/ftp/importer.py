"""FTP source: walks a server's tree with MLSD (LIST where the server has no MLSD), reads content
with RETR."""

from __future__ import annotations

import contextlib
import errno
import ftplib
import functools
import io
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import BinaryIO, cast

from kloset.connectors.fs.walk import name_bytes
from kloset.errors import AuthenticationError, KlosetError, NotFound, TransientError
from kloset.importer import Excludes, Importer, ImporterOptions, depth_first
from kloset.objects import EntryType, FileInfo, Record

from .listing import Entry, from_facts, modify_ns, parse_facts, parse_list
from .session import Session, listing_lines, refused_as_unknown, translate, wire
from .settings import settings_of


class FTPImporter(Importer):
    """Reads a tree from an FTP server.

    Each directory's entries are listed before its record is yielded and visited sorted by their name
    bytes, depth first, so records come out in snapshot order, the root first. Excludes match paths
    relative to the root, as the fs importer's do (gitignore rules; a directory is matched with a
    trailing slash).
    """

    protocols = ("ftp",)
    ordered = True

    def __init__(self, config: dict[str, str], options: ImporterOptions | None = None) -> None:
        super().__init__(config, options)
        self._settings = settings_of(self.config)
        excludes = self.options.excludes
        self._excluded = Excludes(excludes)
        self._session = Session(self._settings)
        self._mlsd: bool | None = None  # unknown until the server answers (or refuses) one MLSD
        self.ping()

    @property
    def origin(self) -> str:
        return self._settings.origin

    @property
    def type(self) -> str:
        return "ftp"

    @property
    def root(self) -> str:
        return self._settings.path

    def ping(self) -> None:
        self._stat_root()

    def close(self) -> None:
        self._session.close()

    def scan(self) -> Iterator[Record]:
        root = self.root
        root_info = self._stat_root()
        if root_info.type is not EntryType.DIR:
            yield self._record(root, (root_info.name, root_info, "", None))
            return
        children, error = self._children(root, "")
        yield Record(pathname=root, info=root_info, error=error)
        yield from depth_first(root, children, itemgetter(0), self._visit)

    def _visit(self, path: str, rel: str, entry: Entry) -> tuple[Record, list[Entry]]:
        """The record of ``path`` and, for a directory, its entries in walk order."""
        _, info, _, error = entry
        if error is not None or info is None or info.type is not EntryType.DIR:
            return self._record(path, entry), []
        children, error = self._children(path, rel)
        return Record(pathname=path, info=info, error=error), children

    def _record(self, path: str, entry: Entry) -> Record:
        _, info, target, error = entry
        record = Record(pathname=path, info=info, target=target, error=error)
        if error is None and info is not None and info.type is EntryType.FILE:
            # Bound to this importer's pool of connections, so it cannot be pickled: the backup then
            # reads FTP content in threads of this process, where a failure of the server stays a
            # typed error, rather than in worker processes that would each log in again.
            record.open = functools.partial(_open, self._session, path)
        return record

    def _stat_root(self) -> FileInfo:
        path = self.root
        name = path.rpartition("/")[2] or "/"
        what = f"stat {path}"
        if "MLST" in self._session.features():
            reply = self._session.call(functools.partial(_mlst, path), what)
            for line in (reply or "").splitlines()[1:]:
                if line.startswith(" "):
                    _, facts = parse_facts(line[1:])
                    if facts.get("type", "").lower() in ("cdir", "pdir"):
                        facts["type"] = "dir"
                    entry = from_facts(name, facts)
                    if entry is not None and entry[1] is not None:
                        return entry[1]
        # Without MLST all that can be known is that the root is a folder one can enter.
        self._session.call(lambda ftp: ftp.cwd(wire(path)), what)
        return FileInfo(name=name, mode=stat.S_IFDIR | 0o755)

    def _children(self, path: str, rel: str) -> tuple[list[Entry], str | None]:
        """The entries of a directory to visit, in walk order, or the error that kept them unknown."""
        try:
            entries = self._session.call(functools.partial(self._list, path), f"list {path}")
        except NotFound as e:
            return [], f"vanished: cannot list directory: {e}"
        except (TransientError, AuthenticationError):
            raise  # the server, not this directory: the backup stops
        except KlosetError as e:
            return [], f"cannot list directory: {e}"
        entries = [e for e in entries if not self._excluded(
            f"{rel}/{e[0]}" if rel else e[0], e[1] is not None and e[1].type is EntryType.DIR)]
        entries.sort(key=lambda e: name_bytes(e[0]))
        return entries, None

    def _list(self, path: str, ftp: ftplib.FTP) -> list[Entry]:
        if self._mlsd is not False:
            try:
                lines = listing_lines(ftp, f"MLSD {path}")
            except ftplib.error_perm as e:
                if self._mlsd or not refused_as_unknown(e):
                    raise
                self._mlsd = False
            else:
                self._mlsd = True
                return [e for e in (from_facts(*parse_facts(line)) for line in lines) if e is not None]
        entries = parse_list(listing_lines(ftp, f"LIST {path}"), datetime.now(UTC))
        if "MDTM" in self._session.features():
            # ls -l times are to the minute at best; a backup compares exact times to find changes.
            prefix = path.rstrip("/")
            for name, info, _, _ in entries:
                if info is not None and info.type is EntryType.FILE:
                    with contextlib.suppress(ftplib.error_perm, ftplib.error_reply, ValueError):
                        info.mtime_ns = modify_ns(ftp.sendcmd(f"MDTM {wire(f'{prefix}/{name}')}")[4:].strip())
        return entries


def _mlst(path: str, ftp: ftplib.FTP) -> str | None:
    try:
        return ftp.sendcmd(f"MLST {wire(path)}")
    except ftplib.error_perm as e:
        if refused_as_unknown(e):
            return None
        raise


def _open(session: Session, path: str) -> BinaryIO:
    return cast(BinaryIO, RemoteFile(session, path))


class RemoteFile(io.RawIOBase):
    """A file's content as the server sends it. The transfer starts at the first read, so a backup may
    open many files ahead of reading them without holding a connection for each."""

    def __init__(self, session: Session, path: str) -> None:
        super().__init__()
        self._session, self._path = session, path
        self._what = f"read {path}"
        self._transfer: tuple[ftplib.FTP, socket.socket] | None = None
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._ended:
            return 0
        if self._transfer is None:
            self._transfer = self._begin()
        ftp, data = self._transfer
        try:
            n = data.recv_into(buffer)
        except OSError as e:
            self._abandon()
            raise translate(e, self._what) from e
        if not n:
            self._transfer, self._ended = None, True
            try:
                self._session.finish(ftp, data, self._what)
            except (TransientError, AuthenticationError):
                raise
            except KlosetError as e:
                raise _file_error(e) from e
        return n

    def _begin(self) -> tuple[ftplib.FTP, socket.socket]:
        try:
            return self._session.transfer(f"RETR {self._path}", self._what)
        except (TransientError, AuthenticationError):
            raise  # the server, not this file: the backup stops
        except KlosetError as e:
            raise _file_error(e) from e

    def _abandon(self) -> None:
        if self._transfer is not None:
            ftp, data = self._transfer
            self._transfer = None
            data.close()
            self._session.drop(ftp)  # mid-transfer: the control connection's state is unknown

    def close(self) -> None:
        if not self.closed:
            self._abandon()
        super().close()


def _file_error(e: KlosetError) -> OSError:
    """What a failed read of one file raises: an OSError, which the backup records against that file
    (a failure of the server itself is not one of these: the backup stops with its typed error)."""
    if isinstance(e, NotFound):
        return FileNotFoundError(errno.ENOENT, f"vanished: {e}")
    return OSError(errno.EIO, str(e))
