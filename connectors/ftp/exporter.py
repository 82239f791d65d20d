"""FTP destination: restores directories and regular files onto a server, under a target folder."""

from __future__ import annotations

import contextlib
import ftplib
import functools
import secrets
import stat
import time
from collections.abc import Iterable

from kloset.errors import KlosetError, NotFound, Unsupported
from kloset.exporter import Exporter, checked_parts
from kloset.objects import EntryType, FileInfo

from .session import Session, refused_as_unknown, translate, wire
from .settings import settings_of

_TEMP_PREFIX = ".kloset-"


class FTPExporter(Exporter):
    """Writes a restore onto an FTP server, into the location's folder (created if missing).

    A file is uploaded under a temporary name in its folder, then renamed into place, so a reader never
    sees half a file and an interrupted restore leaves only ``.kloset-*.tmp`` names behind. Content
    goes to the server piece by piece as the store gives it. FTP has no symbolic links, hard links or
    special files: those are Unsupported (a hard link is restored as a copy). Modification times are
    set with MFMT where the server has it, permission bits with SITE CHMOD where it allows it.
    """

    protocols = ("ftp",)

    def __init__(self, config: dict[str, str]) -> None:
        super().__init__(config)
        self._settings = settings_of(self.config)
        self._session = Session(self._settings)
        self._chmod = True  # until the server says it has no SITE CHMOD
        self._session.features()  # connects: a wrong password or a dead server fails here, not per file
        if self.root != "/":
            self._session.call(functools.partial(_make_dirs, self.root), f"create {self.root}")

    @property
    def root(self) -> str:
        return self._settings.path

    def mkdir(self, path: str, info: FileInfo) -> None:
        full = self._full(path)
        self._session.call(functools.partial(_make_dir, full), f"create {full}")

    def write_file(self, path: str, info: FileInfo, content: Iterable[bytes]) -> None:
        full = self._full(path)
        folder = full.rpartition("/")[0] or "/"
        temporary = f"{folder.rstrip('/')}/{_TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
        what = f"write {full}"
        try:
            ftp, data = self._session.transfer(f"STOR {temporary}", what)
        except NotFound:  # its folder is missing: the restore writes parents first, a caller may not
            self._session.call(functools.partial(_make_dirs, folder), f"create {folder}")
            ftp, data = self._session.transfer(f"STOR {temporary}", what)
        try:
            for piece in content:
                data.sendall(piece)
        except BaseException as e:
            data.close()
            self._session.drop(ftp)
            self._discard(temporary)
            if isinstance(e, OSError):
                raise translate(e, what) from e
            raise
        try:
            self._session.finish(ftp, data, what)
            self._session.call(functools.partial(_replace, temporary, full), f"rename {temporary} to {full}")
        except KlosetError:
            self._discard(temporary)
            raise

    def symlink(self, path: str, target: str, info: FileInfo) -> None:
        self._full(path)
        raise Unsupported(f"ftp: {path}: FTP cannot create symbolic links")

    def special(self, path: str, info: FileInfo) -> None:
        self._full(path)
        raise Unsupported(f"ftp: {path}: FTP cannot create a {info.type}")

    def hardlink(self, path: str, existing: str) -> bool:
        self._full(path)
        self._full(existing)
        return False  # FTP has no hard links: the restore writes the content again

    def set_attributes(self, path: str, info: FileInfo, xattrs: dict[str, bytes]) -> None:
        full = self._full(path)
        mfmt = "MFMT" in self._session.features()
        self._session.call(functools.partial(self._apply, full, info, mfmt), f"set the attributes of {full}")

    def close(self) -> None:
        self._session.close()

    def _apply(self, full: str, info: FileInfo, mfmt: bool, ftp: ftplib.FTP) -> None:
        if mfmt:
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(info.mtime_ns // 1_000_000_000))
            try:
                ftp.voidcmd(f"MFMT {stamp} {wire(full)}")
            except ftplib.error_perm:
                if info.type is not EntryType.DIR:
                    raise
                # Many servers (pyftpdlib among them) set the times of files only.
        if self._chmod:
            try:
                ftp.voidcmd(f"SITE CHMOD {stat.S_IMODE(info.mode):o} {wire(full)}")
            except ftplib.error_perm as e:
                # Permission bits are kept where the server lets them be set, as ownership is by the fs
                # exporter where the user may set it: a refusal is no failure of the restore.
                if refused_as_unknown(e):
                    self._chmod = False

    def _full(self, path: str) -> str:
        """The server path of ``path`` (relative to the root), or UnsafePathError."""
        checked_parts(path, "ftp", also="\r\n")  # a line end would end the FTP command early
        return f"{self.root.rstrip('/')}/{path}"

    def _discard(self, temporary: str) -> None:
        # Best effort: a temporary the server cannot delete now is left under its .kloset- name.
        with contextlib.suppress(KlosetError):
            self._session.call(lambda ftp: ftp.delete(wire(temporary)), f"delete {temporary}")


def _make_dir(full: str, ftp: ftplib.FTP) -> None:
    try:
        ftp.voidcmd(f"MKD {wire(full)}")
    except ftplib.error_perm as refused:
        try:
            ftp.cwd(wire(full))
            return  # it is there already
        except ftplib.error_perm:
            pass
        try:
            ftp.delete(wire(full))  # a file where the snapshot has a directory
        except ftplib.error_perm:
            raise refused from None
        ftp.voidcmd(f"MKD {wire(full)}")


def _make_dirs(full: str, ftp: ftplib.FTP) -> None:
    parts = full.strip("/").split("/")
    for i in range(len(parts)):
        _make_dir("/" + "/".join(parts[: i + 1]), ftp)


def _replace(temporary: str, full: str, ftp: ftplib.FTP) -> None:
    ftp.sendcmd(f"RNFR {wire(temporary)}")
    try:
        ftp.voidcmd(f"RNTO {wire(full)}")
    except ftplib.error_perm:
        # Some servers refuse to rename onto an existing file: it goes first.
        ftp.delete(wire(full))
        ftp.sendcmd(f"RNFR {wire(temporary)}")
        ftp.voidcmd(f"RNTO {wire(full)}")
